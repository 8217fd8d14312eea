"""The OpenAI Videos API. Handlers parse, call the video service, render."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from reelgate.api.auth import principal
from reelgate.api.body import read_fields
from reelgate.api.deps import GatewayDep
from reelgate.api.limits import limit_creates, limit_polls
from reelgate.api.openapi import (
    BINARY,
    CONTENT_EXTRA,
    IDEMPOTENCY_KEY,
    answers,
    request_body,
)
from reelgate.api.render import deleted_object, poll_after_ms, video_object
from reelgate.api.schemas import (
    CreateVideoForm,
    CreateVideoJSON,
    RemixVideo,
    Video,
    VideoDeleted,
    VideoList,
)
from reelgate.auth.principal import Principal
from reelgate.catalog import Operation
from reelgate.errors import InvalidRequest, NotFound
from reelgate.jobs.model import Job
from reelgate.jobs.origin import Origin
from reelgate.jobs.requests import CreateParams, parse_create, parse_remix
from reelgate.media.images import ReferenceImage
from reelgate.media.responder import media_response
from reelgate.providers.base import Variant

__all__ = ["router"]

router = APIRouter(prefix="/v1")
Caller = Annotated[Principal, Depends(principal)]
CREATES = [Depends(limit_creates)]  # rate limits: creates and polls are separate buckets
POLLS = [Depends(limit_polls)]
_VARIANTS = ("video", "thumbnail", "spritesheet")
_FILENAMES = {v.value: v.extension for v in Variant}


def _idempotency(request: Request, fields: dict[str, Any],
                 ref: ReferenceImage | None, extra: str = "") -> tuple[str | None, str]:
    key = request.headers.get("idempotency-key")
    if key is not None and not (0 < len(key) <= 255):
        raise InvalidRequest("Idempotency-Key must be 1 to 255 characters.",
                             param="Idempotency-Key", code="invalid_value")
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode())
    digest.update(extra.encode())
    if ref is not None:
        digest.update(hashlib.sha256(ref.data).digest())
    return key, digest.hexdigest()


def _video(job: Job, status_code: int = 200) -> JSONResponse:
    headers = {}
    hint = poll_after_ms(job)
    if hint is not None:
        headers["openai-poll-after-ms"] = str(hint)
    return JSONResponse(video_object(job), status_code=status_code, headers=headers)


async def _create(gw: GatewayDep, caller: Principal, params: CreateParams, key: str | None,
                  digest: str, source: Job | None = None,
                  origin: Origin | None = None) -> JSONResponse:
    videos = gw.videos
    if key is not None:
        existing = await videos.find_idempotent(caller, key, digest)
        if existing is not None:
            return _video(existing)
    job = await videos.create(caller, params, idempotency_key=key, request_hash=digest,
                              remixed_from=source, origin=origin)
    return _video(job)


@router.post("/videos", dependencies=CREATES,
             responses=answers(Video, 400, 401, 403, 404, 409, 413, 429),
             openapi_extra=request_body(CreateVideoJSON, CreateVideoForm,
                                        headers=(IDEMPOTENCY_KEY,)))
async def create_video(request: Request, gw: GatewayDep, caller: Caller) -> JSONResponse:
    fields, ref = await read_fields(request, max_image_bytes=gw.settings.max_upload_bytes)
    params = parse_create(fields, ref, gw.catalog, max_prompt_chars=gw.settings.max_prompt_chars)
    await gw.availability.admit(params.model)  # no job that could only fail later
    origin = None
    if params.characters:  # the job goes where its characters were made
        refs = await gw.characters.refs(caller, params.characters)
        await gw.operations.admit_pinned(refs[0].channel_id, Operation.CHARACTERS,
                                         param="characters", what="these characters",
                                         model=params.model.id)
        origin = Origin(characters=refs)
    key, digest = _idempotency(request, fields, ref)
    return await _create(gw, caller, params, key, digest, origin=origin)


@router.get("/videos", dependencies=POLLS, responses=answers(VideoList, 400, 401, 429))
async def list_videos(
    gw: GatewayDep, caller: Caller,
    after: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Annotated[Literal["asc", "desc"], Query()] = "desc",
) -> JSONResponse:
    page = await gw.videos.list(caller, after=after, limit=limit, order=order)
    data = [video_object(j) for j in page.jobs]
    return JSONResponse({
        "object": "list", "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": page.has_more,
    })


@router.get("/videos/{video_id}", dependencies=POLLS,
            responses=answers(Video, 401, 404, 429))
async def retrieve_video(video_id: str, gw: GatewayDep, caller: Caller) -> JSONResponse:
    return _video(await gw.videos.retrieve(caller, video_id))


@router.delete("/videos/{video_id}", responses=answers(VideoDeleted, 401, 404))
async def delete_video(video_id: str, gw: GatewayDep, caller: Caller) -> JSONResponse:
    job = await gw.videos.delete(caller, video_id)
    return JSONResponse(deleted_object(job.id))


@router.post("/videos/{video_id}/remix", dependencies=CREATES,
             responses=answers(Video, 400, 401, 403, 404, 409, 413, 429),
             openapi_extra=request_body(RemixVideo, RemixVideo, headers=(IDEMPOTENCY_KEY,)))
async def remix_video(video_id: str, request: Request, gw: GatewayDep,
                      caller: Caller) -> JSONResponse:
    source = await gw.videos.get(caller, video_id)
    fields, _ = await read_fields(request, max_image_bytes=0, allow_files=False)
    prompt = parse_remix(fields, max_prompt_chars=gw.settings.max_prompt_chars)
    if source.status != "completed":
        raise InvalidRequest(f"Video '{video_id}' cannot be remixed: its status is "
                             f"'{source.status}'; only completed videos can be remixed.",
                             param="video_id", code="invalid_video_status")
    spec = gw.catalog.get(source.model)
    if spec is None or not spec.supports_remix:
        raise InvalidRequest(f"Model '{source.model}' does not support remix.",
                             param="video_id", code="unsupported_operation")
    await gw.operations.admit_pinned(source.channel_id, Operation.REMIX, param="video_id",
                                     what=f"video '{video_id}'")
    params = CreateParams(spec, prompt, source.size, source.seconds, None,
                          alias=source.model_alias)
    key, digest = _idempotency(request, fields, None, extra=f"remix:{video_id}")
    return await _create(gw, caller, params, key, digest, source)


_CONTENT = answers(BINARY, 400, 401, 404, 416, 429, media=("video/mp4", "image/webp"),
                   description="The file (an MP4 video, or a WEBP image for the thumbnail and "
                               "spritesheet variants).", more=CONTENT_EXTRA)


@router.get("/videos/{video_id}/content", dependencies=POLLS, responses=_CONTENT,
            response_class=Response)
@router.head("/videos/{video_id}/content", dependencies=POLLS, responses=_CONTENT,
             response_class=Response, name="video_content_head")
async def video_content(
    video_id: str, request: Request, gw: GatewayDep, caller: Caller,
    variant: Annotated[Literal["video", "thumbnail", "spritesheet"], Query()] = "video",
) -> Response:
    if variant not in _VARIANTS:
        raise InvalidRequest(f"Invalid value for 'variant': {variant!r}. Supported: "
                             f"{', '.join(_VARIANTS)}.", param="variant", code="invalid_value")
    ref = await gw.videos.content(caller, video_id, variant)
    if gw.settings.storage_redirect:
        url = await gw.storage.presigned_url(ref.key, 600)
        if url:
            return RedirectResponse(url, status_code=307)
    try:
        return await media_response(gw.storage, ref, request,
                                    filename=f"{video_id}.{_FILENAMES[variant]}")
    except FileNotFoundError as exc:
        raise NotFound(f"The content of video '{video_id}' is missing from storage.",
                       param="video_id", code="content_missing") from exc
