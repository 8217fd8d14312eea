"""Bearer-key authentication as a FastAPI dependency."""

from __future__ import annotations

from fastapi import Request

from reelgate.api.deps import gateway
from reelgate.auth.principal import Principal
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
    found = await gateway(request).keys.authenticate(token)
    if found is None:
        raise AuthenticationError("Incorrect API key provided, or the key was revoked or "
                                  "has expired.")
    request.state.principal = found
    return found
