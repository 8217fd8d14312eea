"""Bearer-key authentication as a FastAPI dependency (and for the retrieve fast path)."""

from __future__ import annotations

from fastapi import Request

from reelgate.api.deps import gateway
from reelgate.auth.principal import Principal
from reelgate.bootstrap import Gateway
from reelgate.errors import AuthenticationError

__all__ = ["authenticate", "principal"]


async def principal(request: Request) -> Principal:
    found = await authenticate(gateway(request), request.headers.get("authorization", ""))
    request.state.principal = found
    return found


async def authenticate(gw: Gateway, header: str) -> Principal:
    """The caller named by an ``Authorization`` header value, or a 401."""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError(
            "You didn't provide an API key. Provide it in the Authorization header as "
            "'Bearer YOUR_KEY'.", code="missing_api_key")
    found = await gw.keys.authenticate(token)
    if found is None:
        raise AuthenticationError("Incorrect API key provided, or the key was revoked or "
                                  "has expired.")
    return found
