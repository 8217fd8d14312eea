"""Request bodies and task answers of MiniMax's two video APIs, as plain data.

V1 (``/v1/video_generation``) serves Hailuo 02 / 2.3 and the 01 models; V2
(``/v2/video_generation``) serves MiniMax-H3. Nothing here does I/O: the provider
sends what these build and hands the answers back here to be read.

Every status word is mapped; an unknown one stays IN_PROGRESS and is logged. A
"success" without a file (V1) or a URL (V2) is never reported as COMPLETED.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from reelgate.providers.base import SubmitRequest, UpstreamJob, UpstreamStatus
from reelgate.providers.http import map_status
from reelgate.providers.minimax.errors import MODERATION_CODE, SENSITIVE, base_resp_code
from reelgate.providers.minimax.shapes import (
    v1_resolution,
    v2_ratio,
    v2_resolution,
    v2_size,
)

__all__ = ["V2_PREFIX", "is_v2_model", "v1_body", "v1_job", "v2_body", "v2_job"]

#: upstream ids of V2 tasks carry this prefix, so follow-ups know which API to ask
V2_PREFIX = "v2/"

_V1_WORDS: Mapping[str, UpstreamStatus] = {
    "preparing": UpstreamStatus.QUEUED,
    "queueing": UpstreamStatus.QUEUED,
    "processing": UpstreamStatus.IN_PROGRESS,
    "success": UpstreamStatus.COMPLETED,
    "fail": UpstreamStatus.FAILED,
}
_V2_WORDS: Mapping[str, UpstreamStatus] = {
    "queued": UpstreamStatus.QUEUED,
    "running": UpstreamStatus.IN_PROGRESS,
    "succeeded": UpstreamStatus.COMPLETED,
    "failed": UpstreamStatus.FAILED,
    "cancelled": UpstreamStatus.FAILED,
    "expired": UpstreamStatus.FAILED,
}


def is_v2_model(model: str) -> bool:
    """MiniMax-H3 (and its Max variants) live on the V2 API; everything else on V1."""
    return model.lower().startswith("minimax-h3")


def _data_url(request: SubmitRequest) -> str | None:
    if request.reference is None:
        return None
    encoded = base64.b64encode(request.reference.data).decode("ascii")
    return f"data:{request.reference.mime};base64,{encoded}"


def _status(words: Mapping[str, UpstreamStatus], raw: str, *, upstream: str,
            job: str) -> UpstreamStatus:
    known = words.get(raw.strip().lower())
    return known if known is not None else map_status(raw, upstream=upstream, job=job)


# --- V1 -------------------------------------------------------------------------------


def v1_body(request: SubmitRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model,
        "prompt": request.prompt,
        "duration": int(request.seconds),
        "resolution": v1_resolution(request.width, request.height),
    }
    image = _data_url(request)
    if image is not None:
        body["first_frame_image"] = image
    return body


def v1_job(body: Mapping[str, Any], task_id: str, *, upstream: str) -> UpstreamJob:
    """A V1 query answer (already checked for a base_resp error by the caller).

    The caller resolves ``file_id`` to a download URL; until then ``result_url`` is None.
    """
    raw = str(body.get("status") or "")
    status = _status(_V1_WORDS, raw, upstream=upstream, job=task_id)
    width, height = _int(body.get("video_width")), _int(body.get("video_height"))
    size = f"{width}x{height}" if width and height else None
    file_id = body.get("file_id")
    extra: dict[str, Any] = {"file_id": str(file_id)} if file_id not in (None, "") else {}
    job = UpstreamJob(task_id, status, raw_status=raw, size=size, extra=extra)
    if status is UpstreamStatus.COMPLETED and not extra:
        return job.failed("no_output", "MiniMax reported success but named no file.")
    if status is UpstreamStatus.FAILED:
        code, message = base_resp_code(body)
        if code in SENSITIVE:
            return job.failed(MODERATION_CODE,
                           f"{message or 'Blocked by content moderation.'} (MiniMax {code})")
        return job.failed("generation_failed",
                       f"MiniMax could not generate the video ({message or raw}, code {code}).")
    if status is UpstreamStatus.COMPLETED:
        return UpstreamJob(task_id, status, progress=100, raw_status=raw, size=size,
                           extra=extra)
    return job


# --- V2 -------------------------------------------------------------------------------


def v2_body(request: SubmitRequest) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": request.prompt}]
    body: dict[str, Any] = {
        "model": request.model,
        "content": content,
        "resolution": v2_resolution(request.width, request.height),
        "duration": int(request.seconds),
    }
    image = _data_url(request)
    if image is None:  # text-only requests must name a ratio; with a frame it follows it
        body["ratio"] = v2_ratio(request.width, request.height)
    else:
        content.append({"type": "image_url", "image_url": {"url": image},
                        "role": "first_frame"})
    return body


def v2_job(body: Mapping[str, Any], task_id: str, *, upstream: str) -> UpstreamJob:
    """A V2 ``{"task": {...}}`` answer, with our ``v2/`` prefixed id."""
    task = _object(body.get("task"))
    our_id = V2_PREFIX + str(task.get("id") or task_id)
    raw = str(task.get("status") or "")
    status = _status(_V2_WORDS, raw, upstream=upstream, job=our_id)
    content, usage = _object(task.get("content")), _object(task.get("usage"))
    seconds = (_number(task.get("duration")) or _number(content.get("duration"))
               or _number(usage.get("output_seconds")) or _number(usage.get("total_seconds")))
    url = content.get("url")
    job = UpstreamJob(
        our_id, status, raw_status=raw, seconds=seconds,
        size=v2_size(task.get("resolution"), task.get("ratio")),
        result_url=url if isinstance(url, str) and url else None,
        extra={"usage": usage} if usage else {},
    )
    if status is UpstreamStatus.FAILED:
        return _v2_failure(job, raw, task.get("error"))
    if status is UpstreamStatus.COMPLETED:
        if job.result_url is None:
            return job.failed("no_output", "MiniMax reported success but gave no video URL.")
        return UpstreamJob(our_id, status, progress=100, raw_status=raw, seconds=seconds,
                           size=job.size, result_url=job.result_url, extra=job.extra)
    return job


def _v2_failure(job: UpstreamJob, raw: str, error: Any) -> UpstreamJob:
    word = raw.strip().lower()
    if word in ("cancelled", "expired"):
        return job.failed(word, f"The MiniMax task was {word}.")
    code = str(error.get("code") or "") if isinstance(error, dict) else ""
    message = str(error.get("message") or "") if isinstance(error, dict) else ""
    if (code.isdigit() and int(code) in SENSITIVE) or "sensitive" in message.lower():
        return job.failed(MODERATION_CODE,
                       f"{message or 'Blocked by content moderation.'} (MiniMax {code})")
    return job.failed("generation_failed",
                   f"MiniMax could not generate the video ({message or raw}, code {code}).")


# --- helpers --------------------------------------------------------------------------


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number > 0 else None
