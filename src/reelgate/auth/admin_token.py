"""The operator's admin token: where it comes from, and how it is compared.

It is ``REELGATE_ADMIN_TOKEN`` or, when that is unset, generated once into
``<data_dir>/admin.token`` (mode 0600) and printed by ``reelgate serve``. The HTTP
side (bearer header, UI session) lives in ``api/``; this module knows no HTTP.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

__all__ = ["admin_token", "token_matches"]


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


def token_matches(expected: str, presented: str) -> bool:
    """Constant-time, so the comparison leaks nothing about how much of it matched."""
    return bool(presented) and hmac.compare_digest(presented.encode(), expected.encode())
