"""Vidu (Shengshu) enterprise API: ``/ent/v2/text2video`` and ``/ent/v2/img2video``.

``Authorization: Token <key>`` (not Bearer). A job with a reference image goes to
``img2video`` (one image, as a ``data:`` URL with its content type, as Vidu asks),
any other to ``text2video``; both are polled at ``/ent/v2/tasks/{id}/creations``,
whose ``state`` is ``created | queueing | processing | success | failed``. Our ``WxH``
becomes ``resolution`` by the short side (540 → ``540p``, 720 → ``720p``, 1080 →
``1080p``) and, for text-to-video, the nearest ``aspect_ratio``; image-to-video takes
the image's own. ``duration`` is an integer number of seconds. Our job id travels in
``payload`` (Vidu's pass-through field) for operators; Vidu cannot look a task up by
it, so a create lost in a crash cannot be recovered.

Errors are ``{"code", "reason", "message"}``: ``CreditInsufficient`` (a 400) is the
account's problem, so the job moves to the next key; the policy reasons
(``TaskPromptPolicyViolation``, ``AuditSubmitIllegal``, ``CreationPolicyViolation``)
are ``moderation_blocked``. Result URLs (``creations[].url``) expire within a day
(the docs say one hour in one place, 24 hours in another): we copy them at once.
"""

from __future__ import annotations

import base64
import logging
import math
from collections.abc import Mapping
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
from reelgate.providers.http import json_object, map_status, upstream_error

__all__ = ["ViduProvider", "rendered_size", "vidu_error", "vidu_shape"]

MODERATION_CODE = "moderation_blocked"
BALANCE_CODE = "upstream_insufficient_balance"
_STATES = {
    "created": UpstreamStatus.QUEUED,
    "queueing": UpstreamStatus.QUEUED,
    "processing": UpstreamStatus.IN_PROGRESS,
    "success": UpstreamStatus.COMPLETED,
    "failed": UpstreamStatus.FAILED,
}
_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4")
_MODERATION = frozenset({"TaskPromptPolicyViolation", "AuditSubmitIllegal",
                         "CreationPolicyViolation"})
#: reason -> (kind, our code); reasons not listed keep the kind their HTTP status gives
_REASONS: dict[str, tuple[ErrorKind, str]] = {
    "CreditInsufficient": (ErrorKind.AUTH, BALANCE_CODE),
    **{reason: (ErrorKind.REJECTED, MODERATION_CODE) for reason in _MODERATION},
    "OperationInProcess": (ErrorKind.RATE_LIMITED, "rate_limited"),  # "retry later"
    "ModelUnavailable": (ErrorKind.REJECTED, "upstream_model_unavailable"),
}
_INVALID = frozenset({"BadRequest", "FieldLacking", "FieldUnwanted", "FieldItemCountOutOfRange",
                      "FieldInvalid", "PageSizeOutOfRange", "ImageFormatInvalid",
                      "ImageDownloadFailure"})
#: err_code of a failed task -> our code (others are passed on as Vidu wrote them)
_TASK_CODES = {**dict.fromkeys(_MODERATION, MODERATION_CODE), "UserCancelled": "cancelled",
               "Canceled": "cancelled", "CreditInsufficient": BALANCE_CODE}

log = logging.getLogger(__name__)


def vidu_shape(width: int, height: int) -> tuple[str, str]:
    """(aspect_ratio, resolution) for a requested size; see the module docstring."""
    target = math.log(width / height)

    def distance(ratio: str) -> float:
        a, b = ratio.split(":")
        return abs(math.log(int(a) / int(b)) - target)

    short = min(width, height)
    resolution = "540p" if short <= 540 else "720p" if short <= 720 else "1080p"
    return min(_RATIOS, key=distance), resolution


def rendered_size(resolution: Any, ratio: Any) -> str | None:
    """``"720p"`` + ``"16:9"`` → ``"1280x720"``; None for anything else."""
    if not isinstance(resolution, str) or ratio not in ("16:9", "9:16"):
        return None
    try:
        short = int(resolution.lower().removesuffix("p"))
    except ValueError:
        return None
    long = 2 * round(short * 16 / 9 / 2)
    return f"{long}x{short}" if ratio == "16:9" else f"{short}x{long}"


def vidu_error(response: httpx.Response, *, creates: bool) -> UpstreamError:
    """The shared HTTP mapping, corrected by Vidu's ``reason``."""
    exc = upstream_error(response, creates=creates)
    try:
        body = response.json()
    except ValueError:
        body = None
    reason = body.get("reason") if isinstance(body, dict) else None
    if not isinstance(reason, str) or not reason:
        return exc
    if response.status_code == 499 and creates:  # "canceled by client": it may exist
        kind, code = ErrorKind.AMBIGUOUS, reason
    elif reason in _REASONS:
        kind, code = _REASONS[reason]
    else:
        kind, code = exc.kind, "upstream_invalid_request" if reason in _INVALID else reason
    return UpstreamError(kind, f"Vidu {reason}: {exc.message}", status_code=exc.status_code,
                         code=code, retry_after=exc.retry_after)


def _api_root(base_url: str) -> str:
    """The bare host, as Vidu documents it; tolerate a channel configured with the path."""
    return base_url.rstrip("/").removesuffix("/ent/v2")


class ViduProvider(HostedProvider):
    """Provider for Vidu's ``/ent/v2`` API; one instance per channel."""

    name = "vidu"
    label = "Vidu"

    @staticmethod
    def _client_channel(channel: ChannelSpec) -> ChannelSpec:
        return replace(channel, base_url=_api_root(channel.base_url))

    def _auth(self, credential: Credential) -> dict[str, str]:
        return {"Authorization": f"Token {credential.secret}"}

    def _url(self, *parts: str) -> str:
        return self._http.url("ent/v2/" + "/".join(quote(p, safe="") for p in parts))

    async def _call(self, method: str, url: str, credential: Credential, *,
                    creates: bool = False, **kwargs: Any) -> dict[str, Any]:
        """One guarded, bounded request (transport failures mapped by the client);
        Vidu's ``reason`` read from any error answer."""
        response = await self._http.request_any(method, url, creates=creates,
                                                headers=self._auth(credential), **kwargs)
        if not response.is_success:
            raise vidu_error(response, creates=creates)
        return json_object(response)

    # --- Provider protocol --------------------------------------------------------------

    async def submit(self, request: SubmitRequest, credential: Credential) -> UpstreamJob:
        if request.remix_of:
            raise UpstreamError(ErrorKind.REJECTED, "Vidu cannot remix", code="unsupported")
        ratio, resolution = vidu_shape(request.width, request.height)
        body: dict[str, Any] = {
            "model": request.model,
            "prompt": request.prompt,
            "duration": int(request.seconds),
            "resolution": resolution,
            "payload": request.job_id,
        }
        if request.reference is not None:
            route = "img2video"
            encoded = base64.b64encode(request.reference.data).decode("ascii")
            body["images"] = [f"data:{request.reference.mime};base64,{encoded}"]
        else:
            route = "text2video"
            body["aspect_ratio"] = ratio
        answer = await self._call("POST", self._url(route), credential, creates=True, json=body)
        task_id = answer.get("task_id")
        if not isinstance(task_id, str | int) or not str(task_id):
            raise UpstreamError(ErrorKind.PROTOCOL, f"Vidu {route} returned no task_id")
        job = self._to_job(answer, str(task_id))
        echoed = answer.get("duration")
        seconds = float(echoed) if isinstance(echoed, int | float) and echoed > 0 else None
        return replace(job, seconds=seconds or float(request.seconds),
                       size=rendered_size(answer.get("resolution", resolution), ratio))

    async def fetch(self, upstream_id: str, credential: Credential) -> UpstreamJob:
        body = await self._call("GET", self._url("tasks", upstream_id, "creations"), credential)
        return self._to_job(body, upstream_id)

    async def delete(self, upstream_id: str, credential: Credential) -> None:
        """Cancel the task; Vidu refuses (400) once it is scheduled or done, which is
        logged and accepted: there is nothing more to ask of it."""
        try:
            await self._call("POST", self._url("tasks", upstream_id, "cancel"), credential,
                             json={"id": upstream_id})
        except UpstreamError as exc:
            if exc.status_code != 400:
                raise
            log.info("%s: Vidu would not cancel %s: %s", self.channel.name, upstream_id,
                     exc.message)

    async def recover(self, job_id: str, credential: Credential) -> UpstreamJob | None:
        """Vidu cannot find a task by our reference (``payload`` is not searchable)."""
        return None

    async def check(self, credential: Credential) -> None:
        """List recent tasks: authenticated, free, and creates nothing."""
        body = await self._call("GET", self._url("tasks"), credential)
        if not isinstance(body.get("tasks", []), list):
            raise UpstreamError(ErrorKind.PROTOCOL,
                                "the base URL answered, but not with Vidu's task list")

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- helpers ------------------------------------------------------------------------

    def _to_job(self, body: Mapping[str, Any], upstream_id: str) -> UpstreamJob:
        raw = str(body.get("state") or "")
        status = _STATES.get(raw) or map_status(raw, upstream=self.channel.name, job=upstream_id)
        creations = body.get("creations")
        first = creations[0] if isinstance(creations, list) and creations else None
        first = first if isinstance(first, dict) else {}
        url = first.get("url") if isinstance(first.get("url"), str) else None
        seconds, size = _rendered(first.get("video"))
        job = UpstreamJob(upstream_id, status, raw_status=raw, seconds=seconds, size=size,
                          extra={k: body[k] for k in ("credits",) if k in body})
        if status is UpstreamStatus.COMPLETED and url:
            return replace(job, progress=100, result_url=url)
        if status is UpstreamStatus.COMPLETED:  # "success" without a creation
            return replace(job, status=UpstreamStatus.FAILED, error_code="no_output",
                           error_message="Vidu reported success but returned no video.")
        if status is UpstreamStatus.FAILED:
            err = str(body.get("err_code") or "")
            code = _TASK_CODES.get(err, err or "generation_failed")
            text = f"Vidu reported the task failed ({err})." if err else "Vidu reported failure."
            return replace(job, error_code=code, error_message=text)
        return job


def _rendered(video: Any) -> tuple[float | None, str | None]:
    """(seconds, WxH) from a creation's ``video`` block, when Vidu includes one."""
    if not isinstance(video, dict):
        return None, None
    duration = video.get("duration")
    seconds = float(duration) if isinstance(duration, int | float) and duration > 0 else None
    frame = video.get("resolution")
    size = None
    if isinstance(frame, dict):
        width, height = frame.get("width"), frame.get("height")
        if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
            size = f"{width}x{height}"
    return seconds, size
