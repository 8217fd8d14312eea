"""A short-lived in-process cache of authenticated keys.

Every API call authenticates, and a database round trip per call was the largest
cost of a retrieve. Entries live ``ttl`` seconds (default 2), so a key revoked from
another process stops working within that time; revocations made through this
process (admin API, UI) clear the cache at once.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from reelgate.auth.keys import hash_key
from reelgate.auth.principal import Principal

__all__ = ["PrincipalCache"]


class PrincipalCache:
    def __init__(self, ttl: float = 2.0, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, Principal]] = OrderedDict()

    def get(self, secret: str) -> Principal | None:
        if self.ttl <= 0:
            return None
        digest = hash_key(secret)
        entry = self._entries.get(digest)
        if entry is None:
            return None
        stored_at, principal = entry
        now = time.monotonic()
        expired_key = principal.expires_at is not None and principal.expires_at <= time.time()
        if now - stored_at > self.ttl or expired_key:
            self._entries.pop(digest, None)
            return None
        return principal

    def put(self, secret: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        self._entries[hash_key(secret)] = (time.monotonic(), principal)
        self._entries.move_to_end(hash_key(secret))
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
