"""Edits and extensions: their requests parsed strictly, and planned into a create.

``POST /v1/videos/edits`` takes ``{prompt, video: {id}}`` or an uploaded clip as
``video``; ``POST /v1/videos/extensions`` the same plus ``seconds``, the new segment
(4, 8, 12, 16 or 20). A source named by id must be the caller's, completed, of a model
that offers the operation; it fixes the size and the model, and the new job runs on
its channel and key. An uploaded clip fixes the size (it must be one the model
renders) and its length. An edit lasts (and costs) as long as its source; an
extension lasts the stitched whole but costs its segment only, at most six in a chain
and 120 s in all. Every refusal is a 400 naming the parameter, before any job exists.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelgate.catalog import (
    EXTENSION_SECONDS,
    MAX_EXTENSIONS,
    MAX_TOTAL_SECONDS,
    Catalog,
    ModelSpec,
    Operation,
    Refusal,
)
from reelgate.errors import InvalidRequest
from reelgate.jobs.model import Job
from reelgate.jobs.origin import Origin
from reelgate.jobs.requests import DEFAULT_MODEL, CreateParams, parse_prompt
from reelgate.media.derive import VideoInfo, probe

__all__ = ["Derived", "clip_model", "inspect_clip", "parse_derived", "plan_from_clip",
           "plan_from_job"]

_FIELDS = {Operation.EDIT: frozenset({"prompt", "video", "model"}),
           Operation.EXTEND: frozenset({"prompt", "video", "model", "seconds"})}
_VERB = {Operation.EDIT: "edited", Operation.EXTEND: "extended"}


def _bad(message: str, param: str | None, code: str = "invalid_value") -> InvalidRequest:
    return InvalidRequest(message, param=param, code=code)


@dataclass(frozen=True)
class Derived:
    """An edit or extension as asked: of the video ``video_id``, or of the uploaded clip."""

    operation: Operation
    prompt: str
    video_id: str | None
    #: an extension's new segment
    segment: int | None
    model: str | None


def _string(fields: Mapping[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is not None and not isinstance(value, str):
        raise _bad(f"Invalid type for '{name}': expected a string, got "
                   f"{type(value).__name__}.", name, "invalid_type")
    return value


def parse_derived(fields: Mapping[str, Any], operation: Operation, *, clip: bool,
                  max_prompt_chars: int) -> Derived:
    for name in fields:
        if name not in _FIELDS[operation]:
            raise _bad(f"Unrecognized request argument supplied: {name}", name,
                       "unknown_parameter")
    prompt = parse_prompt(fields, max_prompt_chars)
    video = fields.get("video")
    video_id = None
    if clip:
        if video is not None:
            raise _bad("Parameter 'video' was given more than once.", "video",
                       "duplicate_parameter")
    elif video is None:
        raise _bad("Missing required parameter: 'video' (an object {\"id\": \"video_...\"} "
                   "or an uploaded MP4).", "video", "missing_required_parameter")
    elif (not isinstance(video, dict) or set(video) != {"id"}
          or not isinstance(video["id"], str) or not video["id"]):
        raise _bad("'video' must be an object {\"id\": \"video_...\"} or an uploaded file.",
                   "video", "invalid_type")
    else:
        video_id = str(video["id"])
    segment = None
    if operation is Operation.EXTEND:
        seconds = _string(fields, "seconds")
        if seconds is None:
            raise _bad("Missing required parameter: 'seconds'.", "seconds",
                       "missing_required_parameter")
        if seconds not in EXTENSION_SECONDS:
            raise _bad(f"Invalid value for 'seconds': {seconds!r}. An extension adds "
                       f"{', '.join(repr(s) for s in EXTENSION_SECONDS)} seconds (strings).",
                       "seconds")
        segment = int(seconds)
    return Derived(operation, prompt, video_id, segment, _string(fields, "model"))


def _refuse(refusal: Refusal | None) -> None:
    if refusal is not None:
        raise refusal.error()


def _lengths(req: Derived, source_seconds: int, extensions: int) -> tuple[int, int | None]:
    """(seconds of the new video, extensions in its chain)."""
    if req.operation is Operation.EDIT:
        return source_seconds, None
    assert req.segment is not None
    if extensions + 1 > MAX_EXTENSIONS:
        raise _bad(f"This video was extended {extensions} times already; a chain may be "
                   f"extended at most {MAX_EXTENSIONS} times.", "video", "too_many_extensions")
    total = source_seconds + req.segment
    if total > MAX_TOTAL_SECONDS:
        raise _bad(f"Extending a {source_seconds} s video by {req.segment} s makes "
                   f"{total} s; an extended video is at most {MAX_TOTAL_SECONDS} s.",
                   "seconds", "video_too_long")
    return total, extensions + 1


def plan_from_job(req: Derived, source: Job, catalog: Catalog) -> tuple[CreateParams, Origin]:
    """The create an edit or extension of the caller's job ``source`` makes."""
    if source.status != "completed":
        raise _bad(f"Video '{source.id}' cannot be {_VERB[req.operation]}: its status is "
                   f"'{source.status}'; only completed videos can be.", "video",
                   "invalid_video_status")
    if "video" not in source.media:
        raise _bad(f"Video '{source.id}' cannot be {_VERB[req.operation]}: its content has "
                   "expired.", "video", "video_expired")
    spec = catalog.get(source.model)
    if spec is None:
        raise _bad(f"The model of video '{source.id}' ({source.model}) no longer exists.",
                   "video", "model_not_found")
    asked = catalog.get(req.model) if req.model is not None else spec
    if asked is None or asked.id != spec.id:
        raise _bad(f"Invalid value for 'model': {req.model!r}. An edit or extension of "
                   f"'{source.id}' renders with its model, {spec.id}.", "model")
    _refuse(spec.operation_refusal(req.operation, "video"))
    seconds = round(source.rendered_seconds or source.seconds)
    seconds, chain = _lengths(req, seconds, source.extensions or 0)
    params = CreateParams(spec, req.prompt, source.rendered_size or source.size, seconds, None,
                          alias=source.model_alias)
    return params, Origin(req.operation, source, segment_seconds=req.segment, extensions=chain)


async def inspect_clip(path: Path) -> VideoInfo:
    """The uploaded clip's size and length; a 400 if it is not a video that decodes."""
    try:
        return await asyncio.to_thread(probe, path)
    except (ValueError, OSError) as exc:
        raise _bad(f"'video' is not a readable video: {exc}", "video", "invalid_video") from exc


def clip_model(req: Derived, catalog: Catalog) -> tuple[ModelSpec, str | None]:
    """The model an uploaded clip is edited or extended with (``model``, else the
    default), and the alias asked for."""
    name = DEFAULT_MODEL if req.model is None else req.model
    resolved = catalog.resolve(name)
    if isinstance(resolved, Refusal):
        raise resolved.error()
    spec = resolved.spec
    _refuse(spec.operation_refusal(req.operation, "video"))
    alias = name if resolved.redirected_from is None and name != spec.id else None
    return spec, alias


def plan_from_clip(req: Derived, spec: ModelSpec, alias: str | None, clip: Path,
                   info: VideoInfo) -> tuple[CreateParams, Origin]:
    """The create an edit or extension of an uploaded clip makes."""
    size = f"{info.width}x{info.height}"
    if size not in spec.sizes:
        raise _bad(f"'video' is {size}; {spec.id} renders {', '.join(spec.sizes)}.", "video",
                   "invalid_video_dimensions")
    seconds = max(1, round(info.seconds))
    if seconds > MAX_TOTAL_SECONDS:
        raise _bad(f"'video' is {info.seconds:.1f} s long; at most {MAX_TOTAL_SECONDS} s is "
                   "taken.", "video", "video_too_long")
    seconds, chain = _lengths(req, seconds, 0)
    params = CreateParams(spec, req.prompt, size, seconds, None, alias=alias)
    return params, Origin(req.operation, clip=clip, segment_seconds=req.segment,
                          extensions=chain)
