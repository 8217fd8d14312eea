"""Webhooks in the console: add an endpoint (its signing secret shown once), rotate the
secret (the new one shown once), remove it; the delivery log, dead letters, replays.

Every change goes through :class:`~reelgate.webhooks.service.WebhookService`, as
``reelgate webhooks`` does, so a URL is checked against private ranges the same way.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from reelgate.api.admin_ui.auth_pages import safe_next
from reelgate.api.admin_ui.forms import NO_REFUSAL, Refusal, done, read_fields
from reelgate.api.admin_ui.session import Session, require_session
from reelgate.api.admin_ui.views import page
from reelgate.api.deps import gateway
from reelgate.errors import APIError
from reelgate.webhooks.events import ALL_EVENTS, DEFAULT_EVENTS
from reelgate.webhooks.repository import DEAD, Endpoint

__all__ = ["endpoint_labels", "router"]

router = APIRouter(prefix="/admin")


def endpoint_labels(endpoints: list[Endpoint]) -> dict[str, str]:
    return {e.id: f"{e.tenant_name}: {e.url}" for e in endpoints}


async def _webhooks(request: Request, session: Session, *, refusal: Refusal = NO_REFUSAL,
                    secret: Endpoint | None = None, note: str | None = None,
                    status: int = 200) -> Response:
    gw = gateway(request)
    endpoints = await gw.webhooks.endpoints()
    recent = await gw.webhooks.deliveries(limit=100)
    tenants = [t.name for t in await gw.tenants.list_all()]
    return page(request, "webhooks.html", session, status, section="webhooks",
                endpoints=endpoints, deliveries=recent, title="Recent deliveries",
                endpoint_labels=endpoint_labels(endpoints), tenants=tenants,
                all_events=ALL_EVENTS, default_events=DEFAULT_EVENTS, refusal=refusal,
                secret=secret, note=note, done=request.query_params.get("done"))


@router.get("/webhooks")
async def webhooks_page(request: Request) -> Response:
    return await _webhooks(request, require_session(request))


@router.post("/webhooks")
async def add_endpoint(request: Request) -> Response:
    session, fields = await read_fields(request)
    tenant = fields.get("tenant")
    try:
        made = await gateway(request).webhooks.register(
            tenant=tenant, url=fields.get("url"), events=fields.all("events") or None,
            allow_private=fields.flag("allow_private"))
    except APIError as exc:
        return await _webhooks(request, session, refusal=fields.refusal("add", exc),
                               status=exc.status)
    return await _webhooks(request, session, secret=made,
                           note=f"Added endpoint {made.id} for tenant {tenant} "
                                f"({', '.join(made.events)}).")


@router.post("/webhooks/{endpoint_id}/rotate-secret")
async def rotate_secret(endpoint_id: str, request: Request) -> Response:
    session, _ = await read_fields(request)
    rotated = await gateway(request).webhooks.rotate_secret(endpoint_id)
    return await _webhooks(request, session, secret=rotated,
                           note=f"New signing secret for {rotated.id}; every delivery from "
                                "now on is signed with it.")


@router.post("/webhooks/{endpoint_id}/remove")
async def remove_endpoint(endpoint_id: str, request: Request) -> Response:
    await read_fields(request)
    await gateway(request).webhooks.remove(endpoint_id)
    return done("/admin/webhooks", f"Removed {endpoint_id} and its delivery log.")


@router.get("/dead-letters")
async def dead_letters(request: Request) -> Response:
    session = require_session(request)
    webhooks = gateway(request).webhooks
    dead = await webhooks.deliveries(status=DEAD, limit=500)
    endpoints = await webhooks.endpoints()
    return page(request, "dead.html", session, section="dead", deliveries=dead,
                endpoint_labels=endpoint_labels(endpoints))


@router.post("/webhooks/deliveries/{delivery_id}/replay")
async def replay(delivery_id: str, request: Request) -> Response:
    _, fields = await read_fields(request)
    gw = gateway(request)
    await gw.webhooks.replay(delivery_id)
    gw.dispatcher.wake()
    return RedirectResponse(safe_next(fields.get("back") or "/admin/dead-letters"),
                            status_code=303)
