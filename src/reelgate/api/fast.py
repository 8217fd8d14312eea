"""The two calls every job is made of, answered in front of the framework.

``GET /v1/videos/{id}``: a client polls its job every second or so, and most of what
a retrieve cost was the way there, not the answer: FastAPI's routing, dependency
resolution and four layers of middleware, against one cached key check and one
indexed read. ``POST /v1/videos`` with a JSON body: routing, middleware and
dependencies were a fifth of a create's CPU in the API process.

This pure-ASGI layer answers exactly those requests (a GET with no body on that path;
a POST there whose body is JSON) with the same steps the declared routes take,
through the same functions: the bearer check (:func:`reelgate.api.auth.authenticate`),
the rate limit of its kind (:func:`reelgate.api.limits.check_rate`), then for a
retrieve the tenant-scoped read (another tenant's job is a 404) and
:func:`reelgate.api.render.video_object`, for a create the route's own endpoint
function (:func:`reelgate.api.videos.create_video`) behind the same body limit
(:class:`reelgate.api.body.BodyLimit`). Errors leave in the same envelope, with the
same headers. Everything else (multipart creates, HEAD, OPTIONS) goes on to the
application, whose routes for these paths stay declared so the OpenAPI document is
unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from reelgate.api.auth import authenticate
from reelgate.api.body import BodyLimit
from reelgate.api.deps import scope_gateway
from reelgate.api.errors import error_response, unexpected_response
from reelgate.api.limits import check_rate
from reelgate.api.render import poll_after_ms, video_object
from reelgate.api.request_metrics import flatten_routes as _flatten
from reelgate.api.videos import create_video
from reelgate.auth.principal import Principal
from reelgate.bootstrap import Gateway
from reelgate.errors import APIError

__all__ = ["FastPaths"]

_PREFIX = "/v1/videos/"
#: the declared routes' paths
ROUTE = "/v1/videos/{video_id}"
CREATE_ROUTE = "/v1/videos"


def _path(scope: Scope, method: str) -> str | None:
    """The application-relative path of an HTTP request with ``method``, else None."""
    if scope["type"] != "http" or scope["method"] != method:
        return None
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


def _video_id(scope: Scope) -> str | None:
    """The id if this is a bodiless ``GET /v1/videos/{id}``, else None."""
    path = _path(scope, "GET")
    if path is None or not path.startswith(_PREFIX):
        return None
    video_id = path[len(_PREFIX):]
    if not video_id or "/" in video_id or video_id == "quote":
        return None
    for name, _ in scope["headers"]:
        if name in (b"content-length", b"transfer-encoding"):
            return None  # a body, even an empty one: the full stack applies its limits
    return video_id


def _is_json_create(scope: Scope) -> bool:
    """Is this ``POST /v1/videos`` with a JSON body (multipart takes the framework)?"""
    if _path(scope, "POST") != CREATE_ROUTE:
        return False
    kind = _header(scope, b"content-type").split(";")[0].strip().lower()
    return kind == "application/json"


def _header(scope: Scope, wanted: bytes) -> str:
    for name, value in scope["headers"]:
        if name == wanted:
            return str(value.decode("latin-1"))
    return ""


class FastPaths:
    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute] = (), *,
                 max_json_bytes: int = 1 << 20) -> None:
        self.app = app
        self.routes = routes
        self._found: dict[tuple[str, str], BaseRoute | None] = {}
        # the JSON limit the application's BodyLimit would apply to this body
        self._create = BodyLimit(self._create_app, max_bytes=max_json_bytes,
                                 max_json_bytes=max_json_bytes)

    def _mark(self, scope: Scope, path: str, method: str) -> None:
        """Name the declared route this answers for in the scope (so what reads
        ``scope["route"]``, such as the request metrics, sees the route the framework
        would have chosen)."""
        if (path, method) not in self._found:
            self._found[path, method] = next(
                (route for route, where in _flatten(self.routes)
                 if where == path and method in (getattr(route, "methods", None) or ())),
                None)
        route = self._found[path, method]
        if route is not None:
            scope["route"] = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        video_id = _video_id(scope)
        if video_id is not None:
            self._mark(scope, ROUTE, "GET")
            await self._retrieve(scope, receive, send, video_id)
        elif _is_json_create(scope):
            self._mark(scope, CREATE_ROUTE, "POST")
            await self._create(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _retrieve(self, scope: Scope, receive: Receive, send: Send,
                        video_id: str) -> None:
        admitted: _Admitted | None = None
        try:
            admitted = await _admit(scope, "polls")
            job = await admitted.gw.videos.retrieve(admitted.caller, video_id)
        except Exception as exc:
            await _failed(exc, admitted)(scope, receive, send)
        else:
            await _send_json(send, video_object(job), poll_after_ms(job),
                             admitted.limit_headers)

    async def _create_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The declared route's steps: the key, the create limit, then its endpoint."""
        admitted: _Admitted | None = None
        try:
            admitted = await _admit(scope, "creates")
            request = Request(scope, receive)
            request.state.principal = admitted.caller
            response: Response = await create_video(request, admitted.gw, admitted.caller)
        except Exception as exc:
            response = _failed(exc, admitted)
        else:
            _add_missing(response, admitted.limit_headers)
        await response(scope, receive, send)


@dataclass(frozen=True, slots=True)
class _Admitted:
    """A request past the key check and its rate limit (and that limit's headers)."""

    gw: Gateway
    caller: Principal
    limit_headers: dict[str, str] | None


async def _admit(scope: Scope, kind: str) -> _Admitted:
    """The bearer check, then the limit of ``kind`` ("polls" or "creates"), as the
    declared routes' dependencies do them; an error (401, 429) is raised."""
    gw = scope_gateway(scope)
    caller = await authenticate(gw, _header(scope, b"authorization"))
    limit = caller.polls_per_minute if kind == "polls" else caller.creates_per_minute
    return _Admitted(gw, caller, await check_rate(gw.limiter, caller, kind, limit))


def _failed(exc: Exception, admitted: _Admitted | None) -> Response:
    """The error the application sends for ``exc`` (its envelope, its 500 or NUL 400),
    with the rate-limit headers :class:`~reelgate.api.limits.RateLimitHeaders` adds
    once the limit let the request in."""
    response = error_response(exc) if isinstance(exc, APIError) else unexpected_response(exc)
    _add_missing(response, admitted.limit_headers if admitted is not None else None)
    return response


def _add_missing(response: Response, headers: dict[str, str] | None) -> None:
    for name, value in (headers or {}).items():
        if name not in response.headers:
            response.headers[name] = value


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
