"""The one way a handler gets the gateway: a FastAPI dependency over the app's state.

Handlers declare ``gw: GatewayDep``; helpers that only hold the request call
:func:`gateway`. Nothing else in ``api/`` reads ``app.state.gateway`` or imports
``bootstrap``, so the wiring stays in one place.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection
from starlette.types import Scope

from reelgate.bootstrap import Gateway

__all__ = ["GatewayDep", "gateway", "scope_gateway"]


def gateway(conn: HTTPConnection) -> Gateway:
    gw: Gateway = conn.app.state.gateway
    return gw


def scope_gateway(scope: Scope) -> Gateway:
    """:func:`gateway` for pure ASGI code, which holds a scope and no request object."""
    gw: Gateway = scope["app"].state.gateway
    return gw


async def _gateway_dependency(conn: HTTPConnection) -> Gateway:
    """:func:`gateway` as a coroutine: FastAPI runs a plain ``def`` dependency in its
    thread pool, a thread round trip on every request for a dictionary look-up."""
    return gateway(conn)


GatewayDep = Annotated[Gateway, Depends(_gateway_dependency)]
