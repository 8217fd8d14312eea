"""``GET /metrics`` in the Prometheus text format: the database's numbers (the same
from every process) and this process's own (HTTP requests, CPU, memory).

A scrape reads the running totals and the jobs still in flight (tens of milliseconds,
however long the history), and the text is reused for a second or two: several
scrapers, or a dashboard refreshing, cost one computation.
"""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from reelgate.api.deps import GatewayDep
from reelgate.auth.admin_token import token_matches
from reelgate.errors import AuthenticationError
from reelgate.metrics import LocalMetrics, render, snapshot

__all__ = ["check_token", "router"]

router = APIRouter()

FRESH_SECONDS = 2.0


class _Cache:
    def __init__(self) -> None:
        self.at = -FRESH_SECONDS
        self.body = b""
        self.lock = asyncio.Lock()


def check_token(request: Request, expected: str) -> None:
    """With ``REELGATE_METRICS_TOKEN`` set, a scrape must bring it as a Bearer credential."""
    if not expected:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token_matches(expected, token.strip()):
        raise AuthenticationError("GET /metrics needs the metrics token as a Bearer "
                                  "credential.", code="invalid_metrics_token")


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, gw: GatewayDep) -> Response:
    check_token(request, gw.settings.metrics_token)
    cache: _Cache | None = getattr(request.app.state, "metrics_cache", None)
    if cache is None:
        cache = request.app.state.metrics_cache = _Cache()
    async with cache.lock:  # concurrent scrapes wait for one computation
        if time.monotonic() - cache.at > FRESH_SECONDS:
            snap = await snapshot(gw.db, by_tenant=gw.settings.metrics_tenant_label)
            local: LocalMetrics | None = getattr(request.app.state, "local_metrics", None)
            cache.body = render(snap) + (local.render() if local is not None else b"")
            cache.at = time.monotonic()
        body = cache.body
    return Response(body, media_type=CONTENT_TYPE_LATEST)
