"""Closed buckets, computed once: what makes a 30-day window cheap at a million jobs.

Every time the dashboard buckets by is written once, at the moment it describes
(``finished_at``, ``started_at``, ``created_at``, a ledger entry's ``created_at``), so
a bucket that ended a while ago never changes again. :class:`SlotCache` keeps each
closed bucket's aggregate, in memory and in ``report_buckets`` (shared by every
process, kept across restarts), and queries only the buckets after the last one it
has: once a window has been shown, a load scans its open bucket, not the window.

"A while" is :data:`GRACE`: a transaction commits a moment after it took its time
stamp, and machines' clocks differ a little; a row stamped more than GRACE before the
reader's clock when it commits is missed by a bucket already stored.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from reelgate.ids import now
from reelgate.reporting import queries as q
from reelgate.reporting.windows import DAY, Buckets
from reelgate.store.db import Database, Tx

__all__ = ["FORMAT", "GRACE", "SlotCache"]

log = logging.getLogger(__name__)

#: seconds after its end before a bucket counts as closed
GRACE = 300.0
#: buckets older than this before the newest end asked for are dropped
KEEP = 31 * DAY
#: bumped when an aggregate's shape or meaning changes (e.g. the duration grid), so
#: buckets stored by an older version are not read
FORMAT = 1

Fetch = Callable[[Buckets], Awaitable[Sequence[Any]]]


class SlotCache:
    """(what, width, start) -> the aggregate of that closed bucket."""

    def __init__(self) -> None:
        self._closed: dict[tuple[str, int, float], Any] = {}
        self._new: list[dict[str, Any]] = []
        self._newest = 0.0
        self.computed = 0
        self.loaded = 0

    def _prefix(self, keys: list[tuple[str, int, float]]) -> int:
        first = 0
        while first < len(keys) and keys[first] in self._closed:
            first += 1
        return first

    async def slots(self, conn: Tx, what: str, b: Buckets, fetch: Fetch) -> list[Any]:
        """One value per bucket of ``b``: those already closed as they were (from memory,
        else from ``report_buckets``), the rest from one ``fetch`` of the buckets from
        the first unknown one to ``b.end``."""
        name = f"{what}.{FORMAT}"
        keys = [(name, b.step, edge) for edge in b.edges()]
        first = self._prefix(keys)
        if first < b.count:
            stored = await q.stored_buckets(conn, name, b.step, keys[first][2])
            for key in keys[first:]:
                if key[2] in stored:
                    self._closed[key] = stored[key[2]]
                    self.loaded += 1
            first = self._prefix(keys)
        out = [self._closed[k] for k in keys[:first]]
        if first < b.count:
            rest = b.tail(first)
            fresh = list(await fetch(rest))
            self.computed += len(fresh)
            for key, value, edge in zip(keys[first:], fresh, rest.edges(), strict=True):
                if edge + b.step <= b.end - GRACE and key not in self._closed:
                    self._closed[key] = value
                    self._new.append({"what": name, "step": b.step, "start": edge,
                                      "payload": value, "created_at": now()})
            out += fresh
        self._newest = max(self._newest, b.end)
        return out

    async def save(self, db: Database) -> None:
        """Store the buckets closed since the last save, forget those too old to show.
        A failure is logged, not raised: the page has its numbers either way."""
        rows, self._new = self._new, []
        cutoff = self._newest - KEEP
        for key in [k for k in self._closed if k[2] < cutoff]:
            del self._closed[key]
        if not rows:
            return
        try:
            async with db.begin() as conn:
                await q.store_buckets(conn, rows)
                await q.forget_buckets(conn, cutoff)
        except Exception:
            log.warning("dashboard: could not store %d closed buckets", len(rows),
                        exc_info=True)
