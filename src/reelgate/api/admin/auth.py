"""The admin API's bearer check: the admin token, compared in constant time."""

from __future__ import annotations

from fastapi import Request

from reelgate.api.deps import gateway
from reelgate.auth.admin_token import token_matches
from reelgate.errors import AuthenticationError

__all__ = ["require_admin"]


async def require_admin(request: Request) -> None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token_matches(gateway(request).admin_token,
                                                       token.strip()):
        raise AuthenticationError("This route needs the admin token as a Bearer credential.",
                                  code="invalid_admin_token")
