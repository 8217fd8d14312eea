"""NUL is not text: a request naming something with a NUL character is a 400.

PostgreSQL cannot store or even compare a text value holding U+0000, so a NUL in a
path, a query parameter or a body field used to reach the database and come back as
a 500 (found by the fuzzer on PostgreSQL). Paths and query strings are checked here,
before any route; JSON and form bodies where they are decoded
(:mod:`reelgate.api.decode`); anything else that still gets through (a body FastAPI
parses for an admin route) is answered as a 400 by :func:`unstorable_text`.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["NulGuard", "unstorable_text"]

#: PostgreSQL's "character not in repertoire" and "untranslatable character"
_TEXT_SQLSTATES = frozenset({"22021", "22P05"})


def _where(scope: Scope) -> tuple[bool, str | None]:
    """(refused, the parameter to name)."""
    if "\x00" in scope.get("path", ""):
        return True, None
    raw: bytes = scope.get("query_string", b"")
    if b"%00" not in raw.lower() and b"\x00" not in raw:
        return False, None
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    bad = next((name for name, value in pairs if "\x00" in name + value), None)
    return True, None if bad is None or "\x00" in bad else bad


class NulGuard:
    """ASGI middleware: a NUL in the path or the query string is a 400 at once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused, param = _where(scope)
            if refused:
                where = f"'{param}'" if param else "the URL"
                body = json.dumps({"error": {
                    "message": f"Invalid value for {where}: it holds a NUL character.",
                    "type": "invalid_request_error", "param": param,
                    "code": "invalid_value"}}).encode()
                await send({"type": "http.response.start", "status": 400, "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def unstorable_text(exc: BaseException) -> bool:
    """Whether ``exc`` is the database refusing a text value it cannot hold (a NUL);
    told by its SQLSTATE, so the API need not import the database driver."""
    seen: BaseException | None = exc
    while seen is not None:
        for candidate in (seen, getattr(seen, "orig", None)):
            if getattr(candidate, "sqlstate", None) in _TEXT_SQLSTATES:
                return True
        seen = seen.__cause__ or seen.__context__
    return False
