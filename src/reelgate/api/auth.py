"""Bearer-key authentication as a FastAPI dependency."""

from __future__ import annotations

from fastapi import Request

from reelgate.api.deps import gateway as gateway_of
from reelgate.auth.principal import Principal
from reelgate.auth.repository import find_principal
from reelgate.errors import AuthenticationError

__all__ = ["principal"]


async def principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError(
            "You didn't provide an API key. Provide it in the Authorization header as "
            "'Bearer YOUR_KEY'.", code="missing_api_key")
    gateway = gateway_of(request)
    found = gateway.principals.get(token)
    if found is None:
        async with gateway.db.read() as conn:
            found = await find_principal(conn, token)
        if found is not None:
            gateway.principals.put(token, found)
    if found is None:
        raise AuthenticationError("Incorrect API key provided, or the key was revoked or "
                                  "has expired.")
    request.state.principal = found
    return found
