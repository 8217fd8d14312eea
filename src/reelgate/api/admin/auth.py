"""The admin token: a bearer secret, compared in constant time.

It comes from ``REELGATE_ADMIN_TOKEN`` or, when unset, is generated once into
``<data_dir>/admin.token`` (mode 0600) and printed by ``reelgate serve``.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from fastapi import Request

from reelgate.errors import AuthenticationError

__all__ = ["admin_token", "require_admin"]


def admin_token(configured: str, data_dir: Path) -> str:
    if configured:
        return configured
    path = data_dir / "admin.token"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("rg-admin-" + secrets.token_urlsafe(32))
    return path.read_text().strip()


def token_matches(request: Request, presented: str) -> bool:
    expected: str = request.app.state.gateway.admin_token
    return bool(presented) and hmac.compare_digest(presented.encode(), expected.encode())


async def require_admin(request: Request) -> None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token_matches(request, token.strip()):
        raise AuthenticationError("This route needs the admin token as a Bearer credential.",
                                  code="invalid_admin_token")
