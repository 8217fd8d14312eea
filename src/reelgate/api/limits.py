"""Per-key request rates over HTTP: FastAPI dependencies, and the middleware that reports them.

Creates (``POST /v1/videos``, remix) and polls (retrieve, list, content) are separate
buckets per key, because a create costs money and an upstream slot while a poll is a
database read: a client polling hard must never lose its ability to create, nor
the other way round. Allowed responses carry OpenAI's ``x-ratelimit-*-requests``
headers; a refusal is a 429 ``rate_limit_exceeded`` with ``Retry-After`` too.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import Depends, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reelgate.api.auth import principal
from reelgate.api.deps import gateway
from reelgate.auth.principal import Principal
from reelgate.errors import RateLimited
from reelgate.limits.rate import Decision, RateLimiter

__all__ = ["RateLimitHeaders", "check_rate", "limit_creates", "limit_polls",
           "ratelimit_headers"]

_STATE_KEY = "reelgate_ratelimit_headers"


def _duration(seconds: float) -> str:
    """OpenAI's reset format: ``20ms``, ``6s``, ``1m0s``."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    whole = math.ceil(seconds)
    return f"{whole // 60}m{whole % 60}s" if whole >= 60 else f"{whole}s"


def ratelimit_headers(decision: Decision) -> dict[str, str]:
    headers = {
        "x-ratelimit-limit-requests": str(decision.limit),
        "x-ratelimit-remaining-requests": str(decision.remaining),
        "x-ratelimit-reset-requests": _duration(decision.reset_after),
    }
    if not decision.allowed:
        headers["retry-after"] = str(max(1, math.ceil(decision.retry_after)))
        headers["retry-after-ms"] = str(max(1, math.ceil(decision.retry_after * 1000)))
    return headers


async def check_rate(limiter: RateLimiter, caller: Principal, kind: str,
                     limit: int | None) -> dict[str, str] | None:
    """The headers to send with an allowed request (None: no limit), or a 429."""
    if not limit:
        return None
    decision = await limiter.hit(f"{kind}:{caller.key_id}", limit)
    headers = ratelimit_headers(decision)
    if not decision.allowed:
        raise RateLimited(f"Rate limit reached for {kind} on this API key: {limit} per "
                          f"minute. Try again in {headers['retry-after']}s.",
                          code="rate_limit_exceeded", headers=headers)
    return headers


async def _check(request: Request, caller: Principal, kind: str, limit: int | None) -> None:
    headers = await check_rate(gateway(request).limiter, caller, kind, limit)
    if headers is not None:
        setattr(request.state, _STATE_KEY, headers)


async def limit_creates(request: Request,
                        caller: Annotated[Principal, Depends(principal)]) -> None:
    await _check(request, caller, "creates", caller.creates_per_minute)


async def limit_polls(request: Request,
                      caller: Annotated[Principal, Depends(principal)]) -> None:
    await _check(request, caller, "polls", caller.polls_per_minute)


class RateLimitHeaders:
    """Adds the headers a limit dependency left in the request state to the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = scope.get("state", {}).get(_STATE_KEY)
                if extra:
                    raw = list(message.get("headers", []))
                    present = {k.lower() for k, _ in raw}
                    raw += [(k.encode(), v.encode()) for k, v in extra.items()
                            if k.encode() not in present]
                    message = {**message, "headers": raw}
            await send(message)

        await self.app(scope, receive, send_with_headers)
