"""``/admin/api/channels``: upstream channels, their keys (masked) and live checks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from reelgate.api.deps import GatewayDep
from reelgate.api.openapi import answers
from reelgate.api.schemas import ObjectList, SomeObject
from reelgate.routing.manage import ChannelChanges, ChannelDraft, ChannelView

__all__ = ["router"]

router = APIRouter(prefix="/channels", tags=["admin: channels"])

Number = int | float | str | bool


class NewChannel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    provider: str = Field(min_length=1, max_length=40)
    base_url: str = Field("", max_length=500)
    keys: list[Annotated[str, Field(min_length=1, max_length=4096)]] = Field(
        default_factory=list, max_length=100)
    models: dict[str, str] | None = None
    priority: int = 0
    weight: int = 1
    max_concurrent: int = 0
    options: dict[str, Number] = Field(default_factory=dict)
    enabled: bool = True


class ChannelPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=100)
    base_url: str | None = Field(None, max_length=500)
    models: dict[str, str] | None = None
    priority: int | None = None
    weight: int | None = None
    max_concurrent: int | None = None
    options: dict[str, Number | None] | None = None
    enabled: bool | None = None


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=4096)
    label: str = Field("", max_length=200)


def _json(shown: ChannelView, status_code: int = 200) -> JSONResponse:
    return JSONResponse({"object": "channel", **shown.as_dict()}, status_code=status_code)


@router.get("", responses=answers(ObjectList, 401))
async def list_channels(gw: GatewayDep) -> JSONResponse:
    views = await gw.channels.views()
    data = [{"object": "channel", **v.as_dict()} for v in views]
    return JSONResponse({"object": "list", "data": data})


@router.post("", status_code=201, responses=answers(SomeObject, 400, 401, 409, 413, status=201))
async def add_channel(body: NewChannel, gw: GatewayDep) -> JSONResponse:
    draft = ChannelDraft(**body.model_dump())
    return _json(await gw.channels.create(draft), 201)


@router.get("/{ref}", responses=answers(SomeObject, 401, 404))
async def get_channel(ref: str, gw: GatewayDep) -> JSONResponse:
    return _json(await gw.channels.view(ref))


@router.patch("/{ref}", responses=answers(SomeObject, 400, 401, 404, 409, 413))
async def update_channel(ref: str, body: ChannelPatch, gw: GatewayDep) -> JSONResponse:
    service = gw.channels
    fields: dict[str, Any] = body.model_dump(exclude_unset=True)
    enabled = fields.pop("enabled", None)
    shown = await service.update(ref, ChannelChanges(**fields))
    if enabled is not None:
        shown = await service.set_enabled(shown.channel.id, bool(enabled))
    return _json(shown)


@router.post("/{ref}/enable", responses=answers(SomeObject, 401, 404))
async def enable_channel(ref: str, gw: GatewayDep) -> JSONResponse:
    return _json(await gw.channels.set_enabled(ref, True))


@router.post("/{ref}/disable", responses=answers(SomeObject, 401, 404))
async def disable_channel(ref: str, gw: GatewayDep) -> JSONResponse:
    return _json(await gw.channels.set_enabled(ref, False))


@router.post("/{ref}/keys", status_code=201,
             responses=answers(SomeObject, 400, 401, 404, 409, 413, status=201))
async def add_key(ref: str, body: NewKey, gw: GatewayDep) -> JSONResponse:
    info = await gw.channels.add_key(ref, body.key, body.label)
    return JSONResponse({"object": "channel.key", "id": info.id, "label": info.label,
                         "key": info.masked, "enabled": info.enabled}, status_code=201)


@router.delete("/{ref}/keys/{key_ref}", responses=answers(SomeObject, 400, 401, 404))
async def remove_key(ref: str, key_ref: str, gw: GatewayDep,
                     purge: Annotated[bool, Query()] = False) -> JSONResponse:
    outcome = await gw.channels.remove_key(ref, key_ref, purge=purge)
    return JSONResponse({"object": "channel.key", "id": key_ref, "outcome": outcome})


@router.post("/{ref}/test", responses=answers(SomeObject, 401, 404))
async def test_channel(ref: str, gw: GatewayDep) -> JSONResponse:
    results = await gw.channels.test(ref)
    return JSONResponse({"object": "channel.test", "ok": all(r.ok for r in results),
                         "results": [r.as_dict() for r in results]})
