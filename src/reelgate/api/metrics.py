"""``GET /metrics`` in the Prometheus text format, computed from the database."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from reelgate.bootstrap import Gateway
from reelgate.metrics import render, snapshot

__all__ = ["router"]

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    return Response(render(await snapshot(gw.db)), media_type=CONTENT_TYPE_LATEST)
