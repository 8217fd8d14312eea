"""Request bodies and task answers of DashScope's video-synthesis API, as plain data.

Wan 2.2, 2.5 and 2.6 (the "classic" protocol) have one model per kind:
``wan2.5-t2v-preview`` renders text, ``wan2.5-i2v-preview`` animates a first frame.
A channel maps a public model to the text-to-video name; a job with a reference
image is sent to its image-to-video twin, the same name with ``i2v`` for ``t2v``
(:func:`model_for`). Text-to-video takes the exact frame as ``parameters.size``
(``"1280*720"``); image-to-video takes ``input.img_url`` (a ``data:`` URL: DashScope
accepts base64 there) and a ``parameters.resolution`` tier (``480P``, ``720P``,
``1080P``), keeping the image's aspect ratio, which reelgate requires to be the
requested size's. ``duration`` is whole seconds. Wan 2.7 (the newer protocol) takes a
``resolution`` tier and a ``ratio`` (``16:9``, ``9:16``, ``1:1``, ``4:3``, ``3:4``) for
text-to-video; its first frame goes in ``input.media`` as a URL DashScope fetches,
which reelgate does not have for an uploaded image, so it is text-to-video only here.

A task answer is ``{"output": {"task_id", "task_status", "video_url", "code",
"message", ...}, "usage": {...}}``. ``PENDING | RUNNING | SUCCEEDED | FAILED |
CANCELED`` are mapped; ``UNKNOWN`` means DashScope no longer knows the task (ids
expire 24 h after creation) and is raised as NOT_FOUND, so a job is failed as lost
(and refunded) after a few such answers instead of being polled forever. Any other
word stays IN_PROGRESS and is logged. Billing reads ``usage.duration`` (Wan 2.5+;
``output_video_duration`` the same), else ``usage.video_duration`` (Wan 2.2).
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping
from typing import Any

from reelgate.providers.base import (
    ErrorKind,
    SubmitRequest,
    UpstreamError,
    UpstreamJob,
    UpstreamStatus,
)
from reelgate.providers.dashscope.errors import MODERATION_CODE, is_moderation
from reelgate.providers.vocabulary import map_status

__all__ = ["TIERS", "create_body", "model_for", "ratio", "resolution", "task_job",
           "uses_media_protocol"]

_WORDS: Mapping[str, UpstreamStatus] = {
    "PENDING": UpstreamStatus.QUEUED,
    "RUNNING": UpstreamStatus.IN_PROGRESS,
    "SUCCEEDED": UpstreamStatus.COMPLETED,
    "FAILED": UpstreamStatus.FAILED,
    "CANCELED": UpstreamStatus.FAILED,
}
#: the ratios Wan 2.7 takes, as width / height
_RATIOS: Mapping[str, float] = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0, "4:3": 4 / 3,
                                "3:4": 3 / 4}
#: resolution tier -> its pixel count (the tier's 16:9 frame)
TIERS: Mapping[str, int] = {"480P": 832 * 480, "720P": 1280 * 720, "1080P": 1920 * 1080}


def model_for(model: str, *, image: bool) -> str:
    """The upstream model for a job: the ``i2v`` twin of a ``t2v`` name when the job
    brings a first frame. An image-to-video-only model without one is refused here."""
    if image:
        return model.replace("t2v", "i2v", 1)
    if "i2v" in model and "t2v" not in model:
        raise UpstreamError(ErrorKind.REJECTED, f"{model} needs an input_reference image",
                            code="upstream_invalid_request")
    return model


def resolution(width: int, height: int) -> str:
    """The tier whose pixel count is nearest: 624x624 is ``480P``, 1088x832 ``720P``."""
    area = width * height
    return min(TIERS, key=lambda tier: abs(TIERS[tier] - area))


def uses_media_protocol(model: str) -> bool:
    """Wan 2.7 and later speak the newer protocol (``resolution`` + ``ratio``, inputs
    in ``input.media``); ``wan2.6-t2v`` and older the classic one."""
    found = re.match(r"wanx?(\d+)\.(\d+)", model)
    return found is not None and (int(found.group(1)), int(found.group(2))) >= (2, 7)


def ratio(width: int, height: int) -> str:
    """The documented ratio nearest ``width/height``: 1088x832 is ``4:3``."""
    return min(_RATIOS, key=lambda r: abs(math.log(_RATIOS[r] * height / width)))


def create_body(request: SubmitRequest) -> dict[str, Any]:
    image = request.reference
    body_input: dict[str, Any] = {"prompt": request.prompt}
    parameters: dict[str, Any] = {"duration": int(request.seconds)}
    if uses_media_protocol(request.model):
        if image is not None:  # its first frame goes in input.media, as a URL
            raise UpstreamError(ErrorKind.REJECTED, f"{request.model} takes a first frame "
                                "only as a URL it fetches", code="unsupported_operation")
        parameters["resolution"] = resolution(request.width, request.height)
        parameters["ratio"] = ratio(request.width, request.height)
        return {"model": request.model, "input": body_input, "parameters": parameters}
    if image is None:
        parameters["size"] = f"{request.width}*{request.height}"
    else:
        encoded = base64.b64encode(image.data).decode("ascii")
        body_input["img_url"] = f"data:{image.mime};base64,{encoded}"
        parameters["resolution"] = resolution(request.width, request.height)
    return {"model": model_for(request.model, image=image is not None), "input": body_input,
            "parameters": parameters}


def task_job(body: Mapping[str, Any], task_id: str, *, upstream: str) -> UpstreamJob:
    """A task answer (or a create answer) as an :class:`UpstreamJob`."""
    output = _object(body.get("output"))
    task_id = str(output.get("task_id") or task_id)
    raw = str(output.get("task_status") or "")
    if raw == "UNKNOWN":
        raise UpstreamError(ErrorKind.NOT_FOUND, f"DashScope does not know task {task_id} "
                            "(UNKNOWN: task ids expire 24 h after creation)",
                            status_code=200, code="upstream_task_expired")
    status = _WORDS.get(raw) or map_status(raw, upstream=upstream, job=task_id)
    usage = _object(body.get("usage"))
    seconds = (_number(usage.get("duration")) or _number(usage.get("output_video_duration"))
               or _number(usage.get("video_duration")))
    url = output.get("video_url")
    job = UpstreamJob(task_id, status, raw_status=raw, seconds=seconds,
                      size=_size(usage.get("size")) or _size(usage.get("video_ratio")),
                      result_url=url if isinstance(url, str) and url else None,
                      extra={"usage": usage} if usage else {})
    if status is UpstreamStatus.COMPLETED:
        if job.result_url is None:
            return job.failed("no_output", "DashScope reported success but gave no video_url.")
        return UpstreamJob(task_id, status, progress=100, raw_status=raw, seconds=seconds,
                           size=job.size, result_url=job.result_url, extra=job.extra)
    if raw == "CANCELED":
        return job.failed("cancelled", "The DashScope task was cancelled.")
    if status is UpstreamStatus.FAILED:
        code, message = str(output.get("code") or ""), str(output.get("message") or "")
        if is_moderation(code):
            return job.failed(MODERATION_CODE,
                           f"{message or 'Blocked by content moderation.'} (DashScope {code})")
        return job.failed("generation_failed", "DashScope could not generate the video "
                       f"({code or raw}: {message or 'no reason given'}).")
    return job


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _size(value: Any) -> str | None:
    """``"1280*720"`` → ``"1280x720"``; None for anything else (``"16:9"``)."""
    if not isinstance(value, str):
        return None
    width, star, height = value.partition("*")
    if not star or not width.isdigit() or not height.isdigit():
        return None
    return f"{int(width)}x{int(height)}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number > 0 else None
