"""Closed buckets, computed once: what makes a 30-day window cheap at a million jobs.

Every time the dashboard buckets by is written once, at the moment it describes
(``finished_at``, ``started_at``, ``created_at``, a ledger entry's ``created_at``), so
a bucket that ended a while ago never changes again. :class:`SlotCache` keeps each
closed bucket's aggregate and queries only the buckets after the last cached one: on
the second load of a window the database scans the open bucket, not the window.

"A while" is :data:`GRACE`: a transaction commits a moment after it took its time
stamp, and machines' clocks differ a little; a row stamped more than GRACE before the
reader's clock when it commits is missed by a bucket already cached (the live
database still has it, and a restart or another process counts it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from reelgate.reporting.windows import DAY, Buckets

__all__ = ["GRACE", "SlotCache"]

#: seconds after its end before a bucket counts as closed
GRACE = 300.0
#: buckets older than this before the newest end asked for are dropped
KEEP = 31 * DAY

Fetch = Callable[[Buckets], Awaitable[Sequence[Any]]]


class SlotCache:
    """Per process: (what, width, start) -> the aggregate of that closed bucket."""

    def __init__(self) -> None:
        self._closed: dict[tuple[str, int, float], Any] = {}
        self.hits = 0
        self.misses = 0

    async def slots(self, what: str, b: Buckets, fetch: Fetch) -> list[Any]:
        """One value per bucket of ``b``: cached ones as they were, the rest from one
        ``fetch`` of the buckets from the first uncached one to ``b.end``."""
        keys = [(what, b.step, edge) for edge in b.edges()]
        first = 0
        while first < b.count and keys[first] in self._closed:
            first += 1
        out = [self._closed[k] for k in keys[:first]]
        self.hits += first
        if first < b.count:
            rest = b.tail(first)
            fresh = list(await fetch(rest))
            self.misses += len(fresh)
            for key, value, edge in zip(keys[first:], fresh, rest.edges(), strict=True):
                if edge + b.step <= b.end - GRACE:
                    self._closed[key] = value
            out += fresh
        return out

    def prune(self, end: float) -> None:
        """Forget buckets no window ending at ``end`` or later can show."""
        stale = [k for k in self._closed if k[2] < end - KEEP]
        for key in stale:
            del self._closed[key]
