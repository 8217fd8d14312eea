"""``POST /v1/videos/characters`` (multipart ``name`` + ``video``) and
``GET /v1/videos/characters/{id}``: a tenant's characters, as the Videos API shapes them
(``{id, name, created_at}``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from reelgate.api.auth import principal
from reelgate.api.body import read_body
from reelgate.api.deps import GatewayDep
from reelgate.api.derived import clip_body
from reelgate.api.limits import limit_creates, limit_polls
from reelgate.api.openapi import answers, request_body
from reelgate.api.schemas import Character, CharacterForm
from reelgate.auth.principal import Principal
from reelgate.characters.repository import CharacterRecord
from reelgate.characters.service import MAX_NAME
from reelgate.errors import InvalidRequest
from reelgate.jobs.derive import inspect_clip

__all__ = ["character_object", "router"]

router = APIRouter(prefix="/v1")
Caller = Annotated[Principal, Depends(principal)]


def character_object(record: CharacterRecord) -> dict[str, Any]:
    return {"id": record.id, "name": record.name, "created_at": int(record.created_at)}


def _name(fields: dict[str, Any]) -> str:
    for field in fields:
        if field != "name":
            raise InvalidRequest(f"Unrecognized request argument supplied: {field}",
                                 param=field, code="unknown_parameter")
    name = fields.get("name")
    if name is None:
        raise InvalidRequest("Missing required parameter: 'name'.", param="name",
                             code="missing_required_parameter")
    if not isinstance(name, str):
        raise InvalidRequest("'name' must be a string.", param="name", code="invalid_type")
    if not name.strip() or len(name) > MAX_NAME:
        raise InvalidRequest(f"'name' must be 1 to {MAX_NAME} characters, not {len(name)}.",
                             param="name", code="invalid_value")
    return name


@router.post("/videos/characters", dependencies=[Depends(limit_creates)],
             responses=answers(Character, 400, 401, 413, 429, 503),
             openapi_extra=request_body(None, CharacterForm))
async def create_character(request: Request, gw: GatewayDep, caller: Caller) -> JSONResponse:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != \
            "multipart/form-data":
        raise InvalidRequest("Characters are created from multipart/form-data (a 'name' and "
                             "a 'video' file).", code="invalid_content_type")
    body = await read_body(request, **clip_body(gw))
    try:
        name = _name(body.fields)
        if body.clip is None:
            raise InvalidRequest("Missing required parameter: 'video' (an MP4 file).",
                                 param="video", code="missing_required_parameter")
        await inspect_clip(body.clip)
        record = await gw.characters.create(caller, name, body.clip)
    finally:
        body.discard()
    return JSONResponse(character_object(record))


@router.get("/videos/characters/{character_id}", dependencies=[Depends(limit_polls)],
            responses=answers(Character, 401, 404, 429))
async def get_character(character_id: str, gw: GatewayDep, caller: Caller) -> JSONResponse:
    return JSONResponse(character_object(await gw.characters.get(caller, character_id)))
