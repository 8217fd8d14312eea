"""``POST /v1/videos/edits`` and ``POST /v1/videos/extensions``: a new video from a
completed one (``video: {id}``, JSON or ``video[id]`` in multipart) or from an
uploaded clip (multipart ``video``). Parse, plan (:mod:`reelgate.jobs.derive`), check
that the channel that would run it can, create; the handler holds no rule itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from reelgate.api.auth import principal
from reelgate.api.body import Body, read_body
from reelgate.api.deps import GatewayDep
from reelgate.api.limits import limit_creates
from reelgate.api.openapi import IDEMPOTENCY_KEY, answers, request_body
from reelgate.api.render import poll_after_ms, video_object
from reelgate.api.schemas import (
    EditVideoForm,
    EditVideoJSON,
    ExtendVideoForm,
    ExtendVideoJSON,
    Video,
)
from reelgate.auth.principal import Principal
from reelgate.catalog import Operation
from reelgate.errors import InvalidRequest, NotFound
from reelgate.jobs.derive import (
    clip_model,
    inspect_clip,
    parse_derived,
    plan_from_clip,
    plan_from_job,
)
from reelgate.jobs.model import Job
from reelgate.jobs.origin import Origin
from reelgate.jobs.requests import CreateParams

__all__ = ["clip_body", "router", "upload_dir"]

router = APIRouter(prefix="/v1")
Caller = Annotated[Principal, Depends(principal)]
CREATES = [Depends(limit_creates)]
_ANSWERS = answers(Video, 400, 401, 403, 404, 409, 413, 429)


def upload_dir(gw: GatewayDep) -> Path:
    """Where uploaded clips wait while a request is handled (the data disk, not memory)."""
    return gw.settings.data_dir / "tmp" / "uploads"


def _video(job: Job) -> JSONResponse:
    hint = poll_after_ms(job)
    headers = {"openai-poll-after-ms": str(hint)} if hint is not None else {}
    return JSONResponse(video_object(job), headers=headers)


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


async def _idempotency(request: Request, body: Body, op: Operation) -> tuple[str | None, str]:
    key = request.headers.get("idempotency-key")
    if key is not None and not (0 < len(key) <= 255):
        raise InvalidRequest("Idempotency-Key must be 1 to 255 characters.",
                             param="Idempotency-Key", code="invalid_value")
    digest = hashlib.sha256(json.dumps(body.fields, sort_keys=True, default=str).encode())
    digest.update(op.value.encode())
    if body.clip is not None:
        digest.update((await asyncio.to_thread(_hash_file, body.clip)).encode())
    return key, digest.hexdigest()


async def _plan(gw: GatewayDep, caller: Principal, body: Body,
                op: Operation) -> tuple[CreateParams, Origin]:
    req = parse_derived(body.fields, op, clip=body.clip is not None,
                        max_prompt_chars=gw.settings.max_prompt_chars)
    if req.video_id is not None:
        try:
            source = await gw.videos.get(caller, req.video_id)
        except NotFound as exc:
            raise NotFound(exc.message, param="video", code="video_not_found") from exc
        params, origin = plan_from_job(req, source, gw.catalog)
        await gw.operations.admit_pinned(source.channel_id, op, param="video",
                                         what=f"video '{source.id}'")
        return params, origin
    assert body.clip is not None
    spec, alias = clip_model(req, gw.catalog)
    params, origin = plan_from_clip(req, spec, alias, body.clip, await inspect_clip(body.clip))
    await gw.availability.admit(spec)
    await gw.operations.admit(spec, op, param="video")
    return params, origin


def clip_body(gw: GatewayDep) -> dict[str, Any]:
    """``read_body`` arguments of a route that takes a clip (``video``) and no image."""
    return {"max_image_bytes": 0, "reference": False, "clip_dir": upload_dir(gw),
            "max_clip_bytes": gw.settings.max_clip_bytes}


async def _derive(request: Request, gw: GatewayDep, caller: Principal, body: Body,
                  op: Operation) -> JSONResponse:
    try:
        params, origin = await _plan(gw, caller, body, op)
        key, digest = await _idempotency(request, body, op)
        if key is not None:
            existing = await gw.videos.find_idempotent(caller, key, digest)
            if existing is not None:
                return _video(existing)
        return _video(await gw.videos.create(caller, params, idempotency_key=key,
                                             request_hash=digest, origin=origin))
    finally:
        body.discard()


@router.post("/videos/edits", dependencies=CREATES, responses=_ANSWERS,
             openapi_extra=request_body(EditVideoJSON, EditVideoForm,
                                        headers=(IDEMPOTENCY_KEY,)))
async def edit_video(request: Request, gw: GatewayDep, caller: Caller) -> JSONResponse:
    """A new video: the source's frames re-rendered under a new prompt, as long as it."""
    body = await read_body(request, **clip_body(gw))
    return await _derive(request, gw, caller, body, Operation.EDIT)


@router.post("/videos/extensions", dependencies=CREATES, responses=_ANSWERS,
             openapi_extra=request_body(ExtendVideoJSON, ExtendVideoForm,
                                        headers=(IDEMPOTENCY_KEY,)))
async def extend_video(request: Request, gw: GatewayDep, caller: Caller) -> JSONResponse:
    """A new video: the source, then ``seconds`` more; its ``seconds`` is the whole."""
    body = await read_body(request, **clip_body(gw))
    return await _derive(request, gw, caller, body, Operation.EXTEND)
