"""Channels in the console: add (with keys, models, options), edit, enable and disable,
add and remove keys, and a live test with each key's verdict.

Every change goes through the same :class:`~reelgate.routing.manage.ChannelService` as
``reelgate channels`` and ``/admin/api/channels``; model maps and options are read as
the CLI reads them (:mod:`reelgate.routing.specs`). Keys go in once and only ever come
back masked.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from reelgate.api.admin_ui.forms import NO_REFUSAL, Fields, Refusal, done, read_fields
from reelgate.api.admin_ui.session import Session, require_session
from reelgate.api.admin_ui.views import page
from reelgate.api.deps import gateway
from reelgate.errors import APIError
from reelgate.providers.registry import provider_names
from reelgate.routing.manage import ChannelChanges, ChannelDraft, ChannelView
from reelgate.routing.probe import KeyCheck
from reelgate.routing.specs import format_models, format_options, parse_models, parse_options

__all__ = ["router"]

router = APIRouter(prefix="/admin")


def _link(view: ChannelView) -> str:
    return f"/admin/channels/{view.channel.id}"


async def _list(request: Request, session: Session, refusal: Refusal = NO_REFUSAL,
                status: int = 200) -> Response:
    views = await gateway(request).channels.views()
    return page(request, "channels.html", session, status, section="channels", views=views,
                providers=provider_names(), refusal=refusal,
                done=request.query_params.get("done"))


async def _detail(request: Request, session: Session, ref: str, *,
                  refusal: Refusal = NO_REFUSAL, checks: list[KeyCheck] | None = None,
                  status: int = 200) -> Response:
    shown = await gateway(request).channels.view(ref)
    ch = shown.channel
    return page(request, "channel.html", session, status, section="channels", view=shown,
                ch=ch, models_text="\n".join(format_models(ch.models)),
                options_text="\n".join(format_options(ch.options)),
                structured=sorted(k for k, v in ch.options.items()
                                  if isinstance(v, dict | list)),
                refusal=refusal, checks=checks, done=request.query_params.get("done"))


@router.get("/channels")
async def channels_page(request: Request) -> Response:
    return await _list(request, require_session(request))


def _draft(fields: Fields) -> ChannelDraft:
    return ChannelDraft(
        name=fields.get("name"), provider=fields.get("provider"),
        base_url=fields.get("base_url"), keys=fields.lines("keys"),
        models=parse_models(fields.lines("models")),
        priority=fields.integer("priority", 0), weight=fields.integer("weight", 1),
        max_concurrent=fields.integer("max_concurrent", 0),
        options=parse_options(fields.lines("options")), enabled=not fields.flag("disabled"))


@router.post("/channels")
async def add_channel(request: Request) -> Response:
    session, fields = await read_fields(request)
    try:
        shown = await gateway(request).channels.create(_draft(fields))
    except APIError as exc:
        return await _list(request, session, fields.refusal("add", exc), exc.status)
    count = len(shown.keys)
    return done(_link(shown), f"Added channel {shown.channel.name} ({count} key"
                              f"{'' if count == 1 else 's'}). Test it below.")


@router.get("/channels/{ref}")
async def channel_page(ref: str, request: Request) -> Response:
    return await _detail(request, require_session(request), ref)


def _changes(fields: Fields, current: dict[str, Any]) -> ChannelChanges:
    """The edit form holds every field: what it no longer lists is removed (structured
    options, which the form does not show, are kept)."""
    typed = parse_options(fields.lines("options"))
    dropped = {k: None for k, v in current.items()
               if k not in typed and not isinstance(v, dict | list)}
    return ChannelChanges(
        name=fields.get("name"), base_url=fields.get("base_url"),
        models=parse_models(fields.lines("models")) or {},
        priority=fields.integer("priority", 0), weight=fields.integer("weight", 1),
        max_concurrent=fields.integer("max_concurrent", 0), options={**dropped, **typed})


@router.post("/channels/{ref}")
async def edit_channel(ref: str, request: Request) -> Response:
    session, fields = await read_fields(request)
    service = gateway(request).channels
    try:
        current = await service.view(ref)
        shown = await service.update(current.channel.id,
                                     _changes(fields, dict(current.channel.options)))
    except APIError as exc:
        return await _detail(request, session, ref, refusal=fields.refusal("edit", exc),
                             status=exc.status)
    return done(_link(shown), f"Saved channel {shown.channel.name}.")


async def _set_enabled(request: Request, ref: str, enabled: bool) -> Response:
    _, fields = await read_fields(request)
    shown = await gateway(request).channels.set_enabled(ref, enabled)
    word = "takes new jobs again" if enabled else \
        "takes no new jobs; its running jobs finish on it"
    back = fields.get("back")
    target = "/admin/channels" if back == "list" else _link(shown)
    return done(target, f"Channel {shown.channel.name} {word}.")


@router.post("/channels/{ref}/enable")
async def enable_channel(ref: str, request: Request) -> Response:
    return await _set_enabled(request, ref, True)


@router.post("/channels/{ref}/disable")
async def disable_channel(ref: str, request: Request) -> Response:
    return await _set_enabled(request, ref, False)


@router.post("/channels/{ref}/test")
async def test_channel(ref: str, request: Request) -> Response:
    """A live check of every enabled key: shown on the channel's page, not stored."""
    session, _ = await read_fields(request)
    checks = await gateway(request).channels.test(ref)
    return await _detail(request, session, ref, checks=checks)


@router.post("/channels/{ref}/keys")
async def add_key(ref: str, request: Request) -> Response:
    session, fields = await read_fields(request)
    try:
        info = await gateway(request).channels.add_key(ref, fields.get("key"),
                                                       fields.get("label"))
    except APIError as exc:
        return await _detail(request, session, ref, refusal=fields.refusal("add-key", exc),
                             status=exc.status)
    return done(f"/admin/channels/{info.channel_id}", f"Added key {info.label} {info.masked}.")


@router.post("/channels/{ref}/keys/{key_ref}/remove")
async def remove_key(ref: str, key_ref: str, request: Request) -> Response:
    _, fields = await read_fields(request)
    service = gateway(request).channels
    channel = (await service.view(ref)).channel
    outcome = await service.remove_key(channel.id, key_ref, purge=fields.flag("purge"))
    note = "" if outcome == "deleted" else " (kept for the follow-ups of jobs it created)"
    return done(f"/admin/channels/{channel.id}", f"Key {fields.get('label') or key_ref} "
                                                 f"{outcome}{note}.")

