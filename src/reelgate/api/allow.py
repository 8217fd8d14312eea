"""``Allow`` as the whole application sees it, for ``OPTIONS`` and for every ``405``.

Starlette answers a method a path does not take with the methods of the *first* route
that matched the path: ``/v1/videos`` is a POST route and a GET route, so it said
``Allow: POST``. Here the methods of every route on the path are gathered.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["AllowOptions", "allow_header", "allowed_methods"]

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> set[str]:
    """Every method some route takes at ``scope``'s path (empty: no route has the path).

    Asked of each route through ``matches``, the one question every route (an included
    router too) answers, once per method."""
    found: set[str] = set()
    for method in _METHODS:
        probe = {**scope, "method": method}
        if any(route.matches(probe)[0] is Match.FULL for route in routes):
            found.add(method)
    return found


def allow_header(methods: set[str]) -> str:
    return ", ".join(sorted(methods | {"OPTIONS"}))


class AllowOptions:
    """``OPTIONS`` on a known path: ``204`` with ``Allow``; unknown paths go on (404)."""

    def __init__(self, app: ASGIApp, routes: Iterable[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            methods = allowed_methods(self.routes, scope)
            if methods:
                await send({"type": "http.response.start", "status": 204,
                            "headers": [(b"allow", allow_header(methods).encode())]})
                await send({"type": "http.response.body", "body": b""})
                return
        await self.app(scope, receive, send)
