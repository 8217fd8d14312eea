"""ByteDance Seedance on Volcengine Ark / BytePlus ModelArk (content generation tasks).

The task answer names the duration, resolution and ratio actually rendered, which is
what billing must use. The finished video is a CDN URL valid about 24 hours; the Ark
key is never sent to that host, only to the channel's own.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from reelgate.providers.base import (
    Credential,
    ErrorKind,
    SubmitRequest,
    UpstreamError,
    UpstreamJob,
    UpstreamStatus,
)
from reelgate.providers.hosted import HostedProvider
from reelgate.providers.http import json_object, map_status

__all__ = ["SeedanceProvider", "rendered_size", "seedance_ratio", "seedance_resolution"]

_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "9:21")
_TASKS = "contents/generations/tasks"
_ENDINGS = frozenset({"cancelled", "canceled", "expired"})


def seedance_ratio(width: int, height: int) -> str:
    """The supported ratio closest to ``width/height`` (compared on a log scale)."""
    target = math.log(width / height)

    def distance(ratio: str) -> float:
        a, b = ratio.split(":")
        return abs(math.log(int(a) / int(b)) - target)

    return min(_RATIOS, key=distance)


def seedance_resolution(width: int, height: int) -> str:
    short = min(width, height)
    return "480p" if short <= 480 else "720p" if short <= 720 else "1080p"


def rendered_size(resolution: Any, ratio: Any) -> str | None:
    """``"720p"`` + ``"16:9"`` → ``"1280x720"``; None when either is missing or odd."""
    if not isinstance(resolution, str) or not isinstance(ratio, str):
        return None
    try:
        short = int(resolution.lower().removesuffix("p"))
        a, b = (int(part) for part in ratio.split(":"))
    except ValueError:
        return None
    if short <= 0 or a <= 0 or b <= 0:
        return None
    long = 2 * round(short * max(a, b) / min(a, b) / 2)
    return f"{long}x{short}" if a >= b else f"{short}x{long}"


class SeedanceProvider(HostedProvider):
    """Provider for Ark's ``/contents/generations/tasks``; one instance per channel."""

    name = "seedance"
    label = "Seedance"

    def _task_url(self, task_id: str = "") -> str:
        return self._http.url(f"{_TASKS}/{quote(task_id, safe='')}" if task_id else _TASKS)

    async def submit(self, request: SubmitRequest, credential: Credential) -> UpstreamJob:
        if request.remix_of:
            raise UpstreamError(ErrorKind.REJECTED, "Seedance cannot remix", code="unsupported")
        content: list[dict[str, Any]] = [{"type": "text", "text": request.prompt}]
        if request.reference is not None:
            encoded = base64.b64encode(request.reference.data).decode("ascii")
            content.append(
                {
                    "type": "image_url",
                    "image_url": {"url": f"data:{request.reference.mime};base64,{encoded}"},
                    "role": "first_frame",
                }
            )
        ratio = seedance_ratio(request.width, request.height)
        resolution = seedance_resolution(request.width, request.height)
        body = {
            "model": request.model,
            "content": content,
            "ratio": ratio,
            "resolution": resolution,
            "duration": int(request.seconds),
        }
        answer = await self._http.request_json(
            "POST", self._task_url(), creates=True, headers=self._auth(credential), json=body
        )
        task_id = answer.get("id")
        if not isinstance(task_id, str) or not task_id:
            raise UpstreamError(ErrorKind.PROTOCOL, "task creation returned no id")
        return UpstreamJob(
            task_id,
            UpstreamStatus.QUEUED,
            progress=0,
            raw_status="queued",
            seconds=float(request.seconds),
            size=rendered_size(resolution, ratio),
        )

    async def fetch(self, upstream_id: str, credential: Credential) -> UpstreamJob:
        response = await self._http.request(
            "GET", self._task_url(upstream_id), headers=self._auth(credential)
        )
        return self._to_job(json_object(response), upstream_id)

    async def delete(self, upstream_id: str, credential: Credential) -> None:
        """Cancels a queued task or deletes the record of a finished one."""
        await self._http.request(
            "DELETE", self._task_url(upstream_id), headers=self._auth(credential)
        )

    async def recover(self, job_id: str, credential: Credential) -> UpstreamJob | None:
        """Tasks carry no client reference, so a lost create cannot be found again."""
        return None

    async def check(self, credential: Credential) -> None:
        """List one task: cheap, authenticated, and creates nothing."""
        await self._http.probe(
            self._task_url(), headers=self._auth(credential), params={"page_size": "1"}
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    def _to_job(self, body: Mapping[str, Any], upstream_id: str) -> UpstreamJob:
        task_id = str(body.get("id") or upstream_id)
        raw = str(body.get("status") or "")
        status = map_status(raw, upstream=self.channel.name, job=task_id)
        content = body.get("content")
        video_url = content.get("video_url") if isinstance(content, dict) else None
        error = body.get("error")
        code = message = None
        if isinstance(error, dict):
            code = str(error["code"]) if error.get("code") else None
            message = str(error["message"]) if error.get("message") else None
        if code is not None and "Sensitive" in code:  # Ark's moderation codes, one name for all
            message = f"{message or 'Blocked by content moderation.'} (upstream code {code})"
            code = "moderation_blocked"
        if status is UpstreamStatus.FAILED and code is None and raw.lower() in _ENDINGS:
            code = raw.lower()  # cancelled / expired: the word itself is the reason
        duration = body.get("duration")
        return UpstreamJob(
            upstream_id=task_id,
            status=status,
            progress=100 if status is UpstreamStatus.COMPLETED else None,
            raw_status=raw,
            seconds=_number(duration),
            size=rendered_size(body.get("resolution"), body.get("ratio")),
            error_code=code,
            error_message=message,
            result_url=video_url if isinstance(video_url, str) and video_url else None,
            extra={k: body[k] for k in ("usage", "seed", "framespersecond") if k in body},
        )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None
