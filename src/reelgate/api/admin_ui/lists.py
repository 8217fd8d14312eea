"""Read-only lists (channels, tenants, prices; the CLI and admin API edit them) plus
the two actions the UI offers: revoking a key and replaying a webhook delivery."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from reelgate.api.admin_ui.auth_pages import safe_next
from reelgate.api.admin_ui.session import check_csrf, require_session
from reelgate.api.admin_ui.views import page
from reelgate.api.deps import gateway
from reelgate.auth import repository as auth_repo
from reelgate.billing import tenants as tenant_repo
from reelgate.errors import NotFound
from reelgate.jobs.states import ACTIVE
from reelgate.routing import channels as channel_repo
from reelgate.store.tables import prices, tenants
from reelgate.webhooks import repository as wh_repo

__all__ = ["endpoint_labels", "router"]

router = APIRouter(prefix="/admin")


def endpoint_labels(endpoints: list[wh_repo.Endpoint]) -> dict[str, str]:
    return {e.id: f"{e.tenant_name}: {e.url}" for e in endpoints}


@router.get("/channels")
async def channels_page(request: Request) -> Response:
    session = require_session(request)
    async with gateway(request).db.read() as conn:
        rows = await channel_repo.list_channels(conn)
        pairs = await channel_repo.active_counts(conn, [c.id for c in rows],
                                                 [s.value for s in ACTIVE])
    busy: dict[str, int] = {}
    for (channel_id, _), n in pairs.items():
        busy[channel_id] = busy.get(channel_id, 0) + n
    return page(request, "channels.html", session, section="channels", channels=rows,
                busy=busy)


@router.get("/keys")
async def keys_page(request: Request) -> Response:
    session = require_session(request)
    async with gateway(request).db.read() as conn:
        keys = await auth_repo.list_keys(conn)
    return page(request, "keys.html", session, section="keys", keys=keys)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(key_id: str, request: Request,
                     csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    check_csrf(require_session(request).csrf, csrf)
    async with gateway(request).db.begin() as conn:
        if not await auth_repo.revoke_key(conn, key_id):
            raise NotFound(f"No active key '{key_id}'.", param="key_id")
    gateway(request).principals.clear()  # after the commit, so no request re-caches it
    return RedirectResponse("/admin/keys", status_code=303)


@router.get("/tenants")
async def tenants_page(request: Request) -> Response:
    session = require_session(request)
    async with gateway(request).db.read() as conn:
        rows = await tenant_repo.list_all(conn)
    return page(request, "tenants.html", session, section="tenants", tenants=rows,
                mode=tenant_repo.mode)


@router.get("/prices")
async def prices_page(request: Request) -> Response:
    session = require_session(request)
    gw = gateway(request)
    async with gw.db.read() as conn:
        table = await gw.pricer.table(conn)
        overrides = (await conn.execute(
            select(prices, tenants.c.name.label("tenant_name"))
            .join(tenants, tenants.c.id == prices.c.tenant_id)
            .order_by(tenants.c.name, prices.c.model, prices.c.size))).all()
    return page(request, "prices.html", session, section="prices", table=table,
                overrides=overrides)


@router.get("/webhooks")
async def webhooks_page(request: Request) -> Response:
    session = require_session(request)
    async with gateway(request).db.read() as conn:
        endpoints = await wh_repo.list_endpoints(conn)
        recent = await wh_repo.list_deliveries(conn, limit=100)
    return page(request, "webhooks.html", session, section="webhooks", endpoints=endpoints,
                deliveries=recent, title="Recent deliveries",
                endpoint_labels=endpoint_labels(endpoints))


@router.get("/dead-letters")
async def dead_letters(request: Request) -> Response:
    session = require_session(request)
    async with gateway(request).db.read() as conn:
        dead = await wh_repo.list_deliveries(conn, status=wh_repo.DEAD, limit=500)
        endpoints = await wh_repo.list_endpoints(conn)
    return page(request, "dead.html", session, section="dead", deliveries=dead,
                endpoint_labels=endpoint_labels(endpoints))


@router.post("/webhooks/deliveries/{delivery_id}/replay")
async def replay(delivery_id: str, request: Request,
                 csrf: Annotated[str, Form(max_length=200)] = "",
                 back: Annotated[str, Form(max_length=2000)] = "") -> Response:
    check_csrf(require_session(request).csrf, csrf)
    gw = gateway(request)
    await gw.webhooks.replay(delivery_id)
    gw.dispatcher.wake()
    return RedirectResponse(safe_next(back or "/admin/dead-letters"), status_code=303)
