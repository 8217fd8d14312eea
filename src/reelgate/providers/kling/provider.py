"""Kling (Kuaishou) video generation: ``/v1/videos/text2video`` and ``/image2video``.

A job with a reference image goes to ``image2video`` (the image as bare base64, the
way Kling wants it: no ``data:`` prefix), any other to ``text2video``. Each kind has
its own poll URL, so the kind is part of the upstream id we store:
``text2video:<task_id>`` / ``image2video:<task_id>``.

Our ``WxH`` becomes Kling's ``aspect_ratio`` (``16:9`` landscape, ``9:16`` portrait,
``1:1`` square; image-to-video takes the image's own) and ``mode`` by the short side:
720 → ``std`` (720p), 1080 → ``pro`` (1080p), 2160 → ``4k`` (kling-v3 only).
``duration`` is sent as the string Kling documents (``"5"``, ``"10"``; v3: ``"3"`` …
``"15"``). Our job id goes along as ``external_task_id``, by which a task lost in a
crash mid-submit can be looked up again. Kling has no cancel: a deleted job's task
runs to its end upstream. Results are CDN links kept 30 days; we copy them at once.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import httpx

from reelgate.providers.base import (
    ChannelSpec,
    Credential,
    ErrorKind,
    SubmitRequest,
    UpstreamError,
    UpstreamJob,
    UpstreamStatus,
)
from reelgate.providers.hosted import HostedProvider
from reelgate.providers.http import map_status
from reelgate.providers.kling.auth import authorization
from reelgate.providers.kling.errors import MODERATION_CODE, from_body, refine

__all__ = ["KINDS", "KlingProvider", "kling_shape", "parse_upstream_id", "rendered_size"]

KINDS = ("text2video", "image2video")
_STATES = {
    "submitted": UpstreamStatus.QUEUED,
    "processing": UpstreamStatus.IN_PROGRESS,
    "succeed": UpstreamStatus.COMPLETED,
    "failed": UpstreamStatus.FAILED,
}
_SHORT_SIDE = {"std": 720, "pro": 1080, "4k": 2160}
# Words Kling's task_status_msg uses when its content review stops a task.
_MODERATION_HINTS = ("risk control", "moderation", "content security", "policy", "sensitive",
                     "violat", "风控", "审核", "违规", "敏感")

log = logging.getLogger(__name__)


def kling_shape(width: int, height: int) -> tuple[str, str]:
    """(aspect_ratio, mode) for a requested size; see the module docstring."""
    ratio = "16:9" if width > height else "9:16" if width < height else "1:1"
    short = min(width, height)
    mode = "std" if short <= 720 else "pro" if short <= 1080 else "4k"
    return ratio, mode


def rendered_size(ratio: str, mode: str) -> str | None:
    """The frame Kling renders for a ratio and mode; None where it is not documented."""
    short = _SHORT_SIDE.get(mode)
    if short is None or ratio not in ("16:9", "9:16"):
        return None
    long = short * 16 // 9
    return f"{long}x{short}" if ratio == "16:9" else f"{short}x{long}"


def parse_upstream_id(upstream_id: str) -> tuple[str, str]:
    """``"image2video:123"`` → ``("image2video", "123")``; a bare id is text-to-video."""
    kind, colon, task_id = upstream_id.partition(":")
    if colon and kind in KINDS and task_id:
        return kind, task_id
    return "text2video", upstream_id


def _api_root(base_url: str) -> str:
    """Kling documents the bare domain; tolerate a channel configured with ``/v1``."""
    return base_url.rstrip("/").removesuffix("/v1")


class KlingProvider(HostedProvider):
    """Provider for the Kling API; one instance per channel.

    ``clock`` exists for tests that need tokens from the past or the future.
    """

    name = "kling"
    label = "Kling"

    def __init__(
        self,
        channel: ChannelSpec,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(channel, transport=transport)
        self._clock = clock

    @staticmethod
    def _client_channel(channel: ChannelSpec) -> ChannelSpec:
        return replace(channel, base_url=_api_root(channel.base_url))

    def _auth(self, credential: Credential) -> dict[str, str]:
        return authorization(credential.secret, self._clock)

    def _url(self, kind: str, task_id: str = "") -> str:
        path = f"v1/videos/{kind}"
        return self._http.url(f"{path}/{quote(task_id, safe='')}" if task_id else path)

    async def _call(self, method: str, url: str, credential: Credential, *,
                    creates: bool = False, **kwargs: Any) -> dict[str, Any]:
        """One request, freshly signed; Kling's service codes mapped (even under a 200)."""
        try:
            body = await self._http.request_json(method, url, creates=creates,
                                                 headers=self._auth(credential), **kwargs)
        except UpstreamError as exc:
            raise refine(exc) from exc
        code = body.get("code")
        if code not in (0, "0", None):
            raise from_body(code, body.get("message"), status=200)
        return body

    # --- Provider protocol --------------------------------------------------------------

    async def submit(self, request: SubmitRequest, credential: Credential) -> UpstreamJob:
        if request.remix_of:
            raise UpstreamError(ErrorKind.REJECTED, "Kling cannot remix", code="unsupported")
        ratio, mode = kling_shape(request.width, request.height)
        body: dict[str, Any] = {
            "model_name": request.model,
            "prompt": request.prompt,
            "mode": mode,
            "duration": str(request.seconds),
            "external_task_id": request.job_id,
        }
        if request.reference is not None:
            kind = "image2video"
            body["image"] = base64.b64encode(request.reference.data).decode("ascii")
        else:
            kind = "text2video"
            body["aspect_ratio"] = ratio
        answer = await self._call("POST", self._url(kind), credential, creates=True, json=body)
        data = answer.get("data")
        task_id = data.get("task_id") if isinstance(data, dict) else None
        if not isinstance(task_id, str | int) or not str(task_id):
            raise UpstreamError(ErrorKind.PROTOCOL, "Kling created no task_id")
        job = self._to_job(kind, data if isinstance(data, dict) else {}, str(task_id))
        return replace(job, seconds=float(request.seconds), size=rendered_size(ratio, mode))

    async def fetch(self, upstream_id: str, credential: Credential) -> UpstreamJob:
        kind, task_id = parse_upstream_id(upstream_id)
        body = await self._call("GET", self._url(kind, task_id), credential)
        data = body.get("data")
        if not isinstance(data, dict):
            raise UpstreamError(ErrorKind.PROTOCOL, "Kling task answer has no data object")
        return self._to_job(kind, data, task_id)

    async def delete(self, upstream_id: str, credential: Credential) -> None:
        """Kling offers no cancel or delete: the task finishes (and is billed) upstream."""
        log.info("%s: Kling cannot cancel %s; it runs to its end upstream",
                 self.channel.name, upstream_id)

    async def recover(self, job_id: str, credential: Credential) -> UpstreamJob | None:
        """Look the task up by ``external_task_id`` (our job id) under both kinds."""
        for kind in KINDS:
            try:
                body = await self._call("GET", self._url(kind, job_id), credential)
            except UpstreamError as exc:
                if exc.kind is ErrorKind.NOT_FOUND:
                    continue
                raise
            data = body.get("data")
            info = data.get("task_info") if isinstance(data, dict) else None
            if isinstance(info, dict) and info.get("external_task_id") == job_id:
                assert isinstance(data, dict)
                return self._to_job(kind, data, "")
        return None

    async def check(self, credential: Credential) -> None:
        """List one text-to-video task: authenticated, free, and creates nothing."""
        body = await self._call("GET", self._url("text2video"), credential,
                                params={"pageNum": "1", "pageSize": "1"})
        if not isinstance(body.get("data"), list):
            raise UpstreamError(ErrorKind.PROTOCOL,
                                "the base URL answered, but not with Kling's task list")

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- helpers ------------------------------------------------------------------------

    def _to_job(self, kind: str, data: Mapping[str, Any], task_id: str) -> UpstreamJob:
        task_id = str(data.get("task_id") or task_id)
        raw = str(data.get("task_status") or "")
        status = _STATES.get(raw) or map_status(raw, upstream=self.channel.name, job=task_id)
        result = data.get("task_result")
        videos = result.get("videos") if isinstance(result, dict) else None
        video = videos[0] if isinstance(videos, list) and videos else None
        video = video if isinstance(video, dict) else {}
        url = video.get("url") if isinstance(video.get("url"), str) else None
        job = UpstreamJob(
            upstream_id=f"{kind}:{task_id}",
            status=status,
            raw_status=raw,
            seconds=_seconds(video.get("duration")),
            extra={k: data[k] for k in ("final_unit_deduction", "task_info") if k in data},
        )
        if status is UpstreamStatus.COMPLETED and url:
            return replace(job, progress=100, result_url=url)
        if status is UpstreamStatus.COMPLETED:  # "succeed" with nothing to download
            return replace(job, status=UpstreamStatus.FAILED, error_code="no_output",
                           error_message="Kling reported success but returned no video.")
        if status is UpstreamStatus.FAILED:
            message = str(data.get("task_status_msg") or "Kling reported the task failed.")
            lowered = message.lower()
            moderated = any(hint in lowered for hint in _MODERATION_HINTS)
            return replace(job, error_code=MODERATION_CODE if moderated else "generation_failed",
                           error_message=message)
        return job


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds > 0 else None
