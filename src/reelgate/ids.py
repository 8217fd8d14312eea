"""Public identifiers: a type prefix plus randomness, never an upstream's id."""

from __future__ import annotations

import secrets
import time

__all__ = ["new_id", "now"]


def new_id(prefix: str, nbytes: int = 16) -> str:
    return f"{prefix}_{secrets.token_hex(nbytes)}"


def now() -> float:
    return time.time()
