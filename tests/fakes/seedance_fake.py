"""A fake Volcengine Ark / BytePlus Seedance upstream (content generation tasks).

Provider ``base_url`` = ``{server}/api/v3``. Finished tasks carry ``content.video_url``
on a CDN host (another origin, no credential); once ``content_ttl`` has passed the
CDN answers 403 "Request has expired" like a signed TOS URL. ``snap_durations`` makes
the fake render a different duration than requested (Seedance 1.x only renders 5 or
10 s), so tests can check that rendered seconds, not requested ones, are reported.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .core import FakeJob, FakeUpstream
from .media import render_mp4

__all__ = ["SeedanceFake"]

TASKS = "/api/v3/contents/generations/tasks"
_SHORT_SIDE = {"480p": 480, "720p": 720, "1080p": 1080}
_RATIOS = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1), "4:3": (4, 3), "3:4": (3, 4),
           "21:9": (21, 9), "9:21": (9, 21)}  # fmt: skip
_CODES = {401: "AuthenticationError", 404: "ResourceNotFound", 429: "RateLimitExceeded"}


def frame_size(resolution: str, ratio: str) -> tuple[int, int]:
    short = _SHORT_SIDE[resolution]
    a, b = _RATIOS[ratio]
    long = 2 * round(short * max(a, b) / min(a, b) / 2)
    return (long, short) if a >= b else (short, long)


class SeedanceFake(FakeUpstream):
    public_prefixes = ("/cdn/",)

    def __init__(self, *, snap_durations: Iterable[int] | None = None, **options: Any) -> None:
        self.snap_durations = sorted(snap_durations) if snap_durations else None
        super().__init__(**options)

    def base_url(self, server_url: str) -> str:
        return f"{server_url}/api/v3"

    def routes(self) -> list[BaseRoute]:
        return [
            Route(TASKS, self.create, methods=["POST"]),
            Route(TASKS, self.list, methods=["GET"]),
            Route(TASKS + "/{task_id}", self.retrieve, methods=["GET"]),
            Route(TASKS + "/{task_id}", self.delete, methods=["DELETE"]),
            Route("/cdn/{name}", self.cdn, methods=["GET"]),
        ]

    def credential(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else None

    def error_response(self, status: int, message: str, code: str | None) -> Response:
        code = _CODES.get(status, code or ("InternalServiceError" if status >= 500 else None))
        body = {"error": {"code": code or "InvalidParameter", "message": message}}
        return JSONResponse(body, status_code=status)

    def not_found_response(self, job_id: str) -> Response:
        return self.error_response(404, f"The specified task {job_id} is not found.", None)

    # --- handlers ---------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        body = await request.json()
        text = next((c.get("text") for c in body.get("content", []) if c.get("type") == "text"), "")
        ratio, resolution = body.get("ratio", "16:9"), body.get("resolution", "720p")
        duration = body.get("duration", 5)
        if not text or ratio not in _RATIOS or resolution not in _SHORT_SIDE:
            return self.error_response(400, "invalid content, ratio or resolution", None)
        if not isinstance(duration, int) or not 2 <= duration <= 12:
            return self.error_response(400, "duration must be an integer in [2, 12]", None)
        image = _first_frame(body.get("content", []))
        if image is False:
            return self.error_response(400, "image_url must be a base64 data URL", None)
        width, height = frame_size(resolution, ratio)
        task_id = f"cgt-{time.strftime('%Y%m%d%H%M%S')}-{self.token(5)}"
        self.new_job(
            request,
            task_id,
            model=str(body.get("model") or ""),
            prompt=text,
            width=width,
            height=height,
            seconds=self._snap(duration),
            extra={"reference": image, "ratio": ratio, "resolution": resolution},
        )
        return JSONResponse({"id": task_id})

    async def list(self, request: Request) -> Response:
        caller = request.scope["fake.credential"]
        mine = [j for j in self.jobs.values() if j.creator == caller]
        size = int(request.query_params.get("page_size", "10"))
        items = [self._task(request, j) for j in mine[:size]]
        return JSONResponse({"items": items, "total": len(mine)})

    async def retrieve(self, request: Request) -> Response:
        job = self.owned_job(request, request.path_params["task_id"])
        job.polls += 1
        return JSONResponse(self._task(request, job))

    async def delete(self, request: Request) -> Response:
        job = self.owned_job(request, request.path_params["task_id"])
        if job.phase()[0] == "queued":
            job.cancelled = True
        else:
            del self.jobs[job.id]
        return JSONResponse({})

    async def cdn(self, request: Request) -> Response:
        job = self.jobs.get(request.path_params["name"].removesuffix(".mp4"))
        if job is None or job.phase()[0] != "completed":
            return Response("<Error><Code>NoSuchKey</Code></Error>", status_code=404)
        if self.content_expired(job):
            body = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
            return Response(body, status_code=403, media_type="application/xml")
        data = await asyncio.to_thread(render_mp4, job.width, job.height, float(job.seconds))
        return Response(data, media_type="video/mp4")

    # --- helpers ----------------------------------------------------------------------

    def _snap(self, duration: int) -> int:
        if not self.snap_durations:
            return duration
        return next((d for d in self.snap_durations if d >= duration), self.snap_durations[-1])

    def _task(self, request: Request, job: FakeJob) -> dict[str, Any]:
        phase, _ = job.phase()
        status = {"in_progress": "running", "completed": "succeeded"}.get(phase, phase)
        task: dict[str, Any] = {
            "id": job.id,
            "model": job.model,
            "status": status,
            "created_at": int(job.created_at),
            "updated_at": int(min(time.time(), job.completed_at)),
            "seed": 42,
            "resolution": job.extra["resolution"],
            "ratio": job.extra["ratio"],
            "duration": job.seconds,
            "framespersecond": 24,
        }
        if phase == "completed":
            task["content"] = {"video_url": f"{self.cdn_base(request)}/cdn/{job.id}.mp4"}
            tokens = job.width * job.height * 24 * job.seconds // 1024
            task["usage"] = {"completion_tokens": tokens, "total_tokens": tokens}
        elif phase == "failed":
            task["error"] = _task_error(job)
        return task


def _task_error(job: FakeJob) -> dict[str, str]:
    if job.outcome == "moderation":
        return {
            "code": "OutputVideoSensitiveContentDetected",
            "message": "The request failed because the output video may contain sensitive "
            "information.",
        }
    return {"code": "InternalServiceError", "message": "The service encountered an error."}


def _first_frame(content: list[dict[str, Any]]) -> bytes | bool | None:
    """The decoded first frame image, None if there is none, False if it is malformed."""
    for item in content:
        if item.get("type") == "image_url":
            url = str((item.get("image_url") or {}).get("url", ""))
            head, _, data = url.partition(";base64,")
            if not head.startswith("data:image/") or not data:
                return False
            try:
                return base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                return False
    return None
