"""``GET /v1/videos/{id}`` answered in front of the framework: the poll clients repeat.

A client polls its job every second or so, and most of what a retrieve cost was the
way there, not the answer: FastAPI's routing, dependency resolution and four layers
of middleware, against one cached key check and one indexed read. This pure-ASGI
layer answers exactly that request (a GET with no body on that path) with the same
steps the declared route takes, through the same functions: the bearer check
(:func:`reelgate.api.auth.authenticate`), the poll rate limit
(:func:`reelgate.api.limits.check_rate`), the tenant-scoped read (another tenant's
job is a 404) and :func:`reelgate.api.render.video_object`; errors leave in the
same envelope, with the same headers. Everything else, HEAD and OPTIONS included,
goes on to the application, whose route for this path stays declared so the
OpenAPI document is unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from reelgate.api.auth import authenticate
from reelgate.api.deps import scope_gateway
from reelgate.api.errors import error_response, unexpected_response
from reelgate.api.limits import check_rate
from reelgate.api.render import poll_after_ms, video_object
from reelgate.api.request_metrics import flatten_routes as _flatten
from reelgate.errors import APIError

__all__ = ["RetrieveFastPath"]

_PREFIX = "/v1/videos/"
#: the declared route's path
ROUTE = "/v1/videos/{video_id}"


def _video_id(scope: Scope) -> str | None:
    """The id if this is a bodiless ``GET /v1/videos/{id}``, else None."""
    if scope["type"] != "http" or scope["method"] != "GET":
        return None
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    if not path.startswith(_PREFIX):
        return None
    video_id = path[len(_PREFIX):]
    if not video_id or "/" in video_id or video_id == "quote":
        return None
    for name, _ in scope["headers"]:
        if name in (b"content-length", b"transfer-encoding"):
            return None  # a body, even an empty one: the full stack applies its limits
    return video_id


def _header(scope: Scope, wanted: bytes) -> str:
    for name, value in scope["headers"]:
        if name == wanted:
            return str(value.decode("latin-1"))
    return ""


class RetrieveFastPath:
    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute] = ()) -> None:
        self.app = app
        self.routes = routes
        self._route: BaseRoute | None = None

    def _declared(self) -> BaseRoute | None:
        """The route this answers for (so what reads ``scope["route"]``, such as the
        request metrics, sees the same route the framework would have chosen)."""
        if self._route is None:
            self._route = next((route for route, path in _flatten(self.routes)
                                if path == ROUTE
                                and "GET" in (getattr(route, "methods", None) or ())), None)
        return self._route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        video_id = _video_id(scope)
        if video_id is None:
            await self.app(scope, receive, send)
            return
        route = self._declared()
        if route is not None:
            scope["route"] = route
        limit_headers: dict[str, str] | None = None
        try:
            gw = scope_gateway(scope)
            caller = await authenticate(gw, _header(scope, b"authorization"))
            limit_headers = await check_rate(gw.limiter, caller, "polls",
                                             caller.polls_per_minute)
            job = await gw.videos.retrieve(caller, video_id)
        except APIError as exc:
            response = error_response(exc)
        except Exception as exc:  # the same 500 (or NUL 400) the application sends
            response = unexpected_response(exc)
        else:
            await _send_json(send, video_object(job), poll_after_ms(job), limit_headers)
            return
        if limit_headers:  # as RateLimitHeaders adds them to the route's errors
            for name, value in limit_headers.items():
                if name not in response.headers:
                    response.headers[name] = value
        await response(scope, receive, send)


async def _send_json(send: Send, content: dict[str, Any], hint: int | None,
                     extra: dict[str, str] | None) -> None:
    """The body and headers :class:`~starlette.responses.JSONResponse` would send."""
    body = json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None,
                      separators=(",", ":")).encode("utf-8")
    headers = [(b"content-length", str(len(body)).encode()),
               (b"content-type", b"application/json")]
    if hint is not None:
        headers.insert(0, (b"openai-poll-after-ms", str(hint).encode()))
    if extra:
        headers += [(k.encode(), v.encode()) for k, v in extra.items()]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
