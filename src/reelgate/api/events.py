"""``GET /v1/videos/{id}/events``: live status as Server-Sent Events.

Each change of the ``video`` object is one event, named after its status, with the
object as data; the stream ends after ``completed`` or ``failed``. Changes are seen by
reading the job row every half second, never from in-process state, so the stream
works when the job runs in another process or on another machine.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from reelgate.api.auth import principal
from reelgate.api.deps import GatewayDep
from reelgate.api.openapi import answers
from reelgate.api.render import video_object
from reelgate.auth.principal import Principal
from reelgate.jobs.queries import JobQueries

__all__ = ["job_events", "router", "sse_response"]

router = APIRouter(prefix="/v1")

POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
#: a stream ends after this long even if the job has not; clients reconnect
MAX_STREAM_SECONDS = 3600.0


def _frame(event: str, data: dict[str, Any], event_id: int) -> bytes:
    return (f"id: {event_id}\nevent: {event}\n"
            f"data: {json.dumps(data, separators=(',', ':'))}\n\n").encode()


async def job_events(queries: JobQueries, job_id: str, *, tenant_id: str | None,
                     poll_seconds: float = POLL_SECONDS) -> AsyncIterator[bytes]:
    """Frames for every change of the job's public object, until it is terminal.

    ``tenant_id`` None (the admin UI) sees every tenant's jobs.
    """
    last: dict[str, Any] | None = None
    started = quiet_since = time.monotonic()
    yield b"retry: 1000\n\n"
    while time.monotonic() - started < MAX_STREAM_SECONDS:
        job = await queries.snapshot(job_id, tenant_id=tenant_id)
        if job is None:
            return
        current = video_object(job)
        if current != last:
            last = current
            quiet_since = time.monotonic()
            yield _frame(current["status"], current, job.version)
            if job.is_terminal or job.deleted_at is not None:
                return
        elif time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
            quiet_since = time.monotonic()
            yield b": keep-alive\n\n"
        await asyncio.sleep(poll_seconds)


def sse_response(frames: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(frames, media_type="text/event-stream", headers={
        "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/videos/{video_id}/events", response_class=StreamingResponse, responses=answers(
    {"type": "string"}, 401, 404, media="text/event-stream",
    description="Server-Sent Events: one per change of the video object (its status as the "
                "event name, the object as data), until it is completed or failed."))
async def video_events(video_id: str, gw: GatewayDep,
                       caller: Principal = Depends(principal)) -> StreamingResponse:
    await gw.videos.get(caller, video_id)  # 404 before the stream starts
    return sse_response(job_events(gw.job_queries, video_id, tenant_id=caller.tenant_id))
