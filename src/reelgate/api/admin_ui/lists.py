"""Prices, webhooks and dead letters: lists, and replaying a webhook delivery."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from reelgate.api.admin_ui.auth_pages import safe_next
from reelgate.api.admin_ui.session import check_csrf, require_session
from reelgate.api.admin_ui.views import page
from reelgate.api.deps import gateway
from reelgate.webhooks.repository import DEAD, Endpoint

__all__ = ["endpoint_labels", "router"]

router = APIRouter(prefix="/admin")


def endpoint_labels(endpoints: list[Endpoint]) -> dict[str, str]:
    return {e.id: f"{e.tenant_name}: {e.url}" for e in endpoints}


@router.get("/prices")
async def prices_page(request: Request) -> Response:
    session = require_session(request)
    prices = gateway(request).prices
    return page(request, "prices.html", session, section="prices",
                table=await prices.table(), overrides=await prices.overrides())


@router.get("/webhooks")
async def webhooks_page(request: Request) -> Response:
    session = require_session(request)
    webhooks = gateway(request).webhooks
    endpoints = await webhooks.endpoints()
    recent = await webhooks.deliveries(limit=100)
    return page(request, "webhooks.html", session, section="webhooks", endpoints=endpoints,
                deliveries=recent, title="Recent deliveries",
                endpoint_labels=endpoint_labels(endpoints))


@router.get("/dead-letters")
async def dead_letters(request: Request) -> Response:
    session = require_session(request)
    webhooks = gateway(request).webhooks
    dead = await webhooks.deliveries(status=DEAD, limit=500)
    endpoints = await webhooks.endpoints()
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
