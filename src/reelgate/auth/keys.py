"""API keys: generated once, shown once, stored as a SHA-256 hash.

Keys carry 256 bits of randomness, so a fast unsalted hash is enough: nobody can
brute-force the preimage, and a lookup by hash stays a single indexed query.
"""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["KEY_PREFIX", "display_prefix", "generate_key", "hash_key"]

KEY_PREFIX = "sk-rg-"


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def display_prefix(key: str) -> str:
    """What lists may show of a key: enough to recognise it, useless to an attacker."""
    return key[: len(KEY_PREFIX) + 4]
