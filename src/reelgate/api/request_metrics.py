"""Counting every HTTP request by its route template, method and status, and timing it.

A pure ASGI wrapper, outside every other middleware, so its cost is two clock reads,
a wrapped ``send``, one dict lookup for the route's template and
:meth:`HttpMetrics.observe`. The label is the template of the route that answered
(``/v1/videos/{video_id}``, never the raw path, so the labels stay few), with the
prefixes of included routers (``/admin/api/...``); every template is worked out once,
on the first request. Requests answered before routing (``OPTIONS``, a NUL in the
path) or by a mount (the admin UI's static files) are matched against the templates
afterwards; a path no route has is ``unmatched``. A request head over the limit is
refused by the server before the app sees it, so it is not counted here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from time import perf_counter
from typing import Any

import fastapi.routing
from starlette.routing import BaseRoute, Mount, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reelgate.metrics.http import RequestObserver

__all__ = ["UNMATCHED", "RequestMetrics", "Templates", "flatten_routes"]

UNMATCHED = "unmatched"

_Pattern = tuple[re.Pattern[str], str, frozenset[str] | None]


class RequestMetrics:
    def __init__(self, app: ASGIApp, *, metrics: RequestObserver,
                 routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes
        self._templates: Templates | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        path, method = scope["path"], scope["method"]
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            templates = self._templates or self._build()
            # no answer began: the app raised (the server answers 500)
            self.metrics.observe(templates.of(scope.get("route"), path, method), method,
                                 status or 500, perf_counter() - started)

    def _build(self) -> Templates:
        self._templates = Templates(self.routes)
        return self._templates


class Templates:
    """The full template of every route of an app, by route object and by path."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        #: id(route) -> (route, template); the route is kept so its id is never reused
        self._by_route: dict[int, tuple[BaseRoute, str]] = {}
        self._patterns: list[_Pattern] = []
        for route, template in flatten_routes(routes):
            if isinstance(route, Mount):  # everything under its prefix
                prefix = template.rstrip("/").removesuffix("/{path}")
                regex, template = re.compile("^" + re.escape(prefix) + "/"), prefix + "/{path}"
            else:
                regex = compile_path(template)[0]
            self._by_route.setdefault(id(route), (route, template))
            methods = getattr(route, "methods", None)
            self._patterns.append((regex, template, frozenset(methods) if methods else None))

    def of(self, route: BaseRoute | None, path: str, method: str) -> str:
        """The template of ``route`` (the one that answered), else of ``path``."""
        if route is not None:
            known = self._by_route.get(id(route))
            if known is not None and known[0] is route:
                return known[1]
        return self.match(path, method)

    def match(self, path: str, method: str) -> str:
        partial = None
        for regex, template, methods in self._patterns:
            if regex.match(path):
                if methods is None or method in methods:
                    return template
                partial = partial or template
        return partial or UNMATCHED


def flatten_routes(routes: Sequence[BaseRoute]) -> Iterator[tuple[BaseRoute, str]]:
    """Each route with its full template (included routers' prefixes too)."""
    contexts: Callable[[Sequence[BaseRoute]], Iterator[Any]] | None = getattr(
        fastapi.routing, "iter_route_contexts", None)
    if contexts is None:  # FastAPI before 0.13x keeps a flat list of full paths
        for route in routes:
            yield route, _own_template(route)
        return
    for ctx in contexts(routes):
        yield ctx.original_route, str(ctx.path_format or _own_template(ctx.original_route))


def _own_template(route: BaseRoute) -> str:
    return str(getattr(route, "path_format", None) or getattr(route, "path", "") or UNMATCHED)
