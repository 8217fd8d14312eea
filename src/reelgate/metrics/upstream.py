"""Failed upstream calls, counted in the database per channel, operation and kind.

The scheduler runs in API processes and in ``reelgate worker`` processes, on any
number of machines; a counter in one process's memory would be scraped from
whichever process answered. So each failure adds one to a row (an upsert, in its own
short transaction, only when a call failed) and every ``/metrics`` reads the same
totals, which also survive restarts.
"""

from __future__ import annotations

import logging

from sqlalchemy.dialects import postgresql, sqlite

from reelgate.ids import now
from reelgate.providers.base import ErrorKind, UpstreamError
from reelgate.scheduler.observe import Op
from reelgate.store.db import Database
from reelgate.store.tables import upstream_errors

__all__ = ["KINDS", "UpstreamErrorCounts", "error_kind"]

log = logging.getLogger(__name__)

#: every value of the ``kind`` label
KINDS = ("connection", "timeout", "http_4xx", "http_5xx", "rate_limited", "auth",
         "moderation", "not_found", "protocol", "other")

_BY_KIND = {ErrorKind.RATE_LIMITED: "rate_limited", ErrorKind.AUTH: "auth",
            ErrorKind.NOT_FOUND: "not_found", ErrorKind.PROTOCOL: "protocol"}


def error_kind(exc: UpstreamError) -> str:
    """What went wrong on the wire, in the ``kind`` label's words."""
    if exc.code == "moderation_blocked":
        return "moderation"
    named = _BY_KIND.get(exc.kind)
    if named is not None:
        return named
    status = exc.status_code
    if status is None:
        return exc.transport or "connection"
    if status == 408:
        return "timeout"
    if status >= 500:
        return "http_5xx"
    return "http_4xx" if status >= 400 else "other"


class UpstreamErrorCounts:
    """Implements :class:`reelgate.scheduler.observe.UpstreamObserver`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def upstream_error(self, op: Op, channel_id: str, exc: UpstreamError) -> None:
        try:
            async with self.db.begin() as conn:
                dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
                t = now()
                stmt = dialect.insert(upstream_errors).values(
                    channel_id=channel_id, op=op, kind=error_kind(exc), count=1,
                    updated_at=t)
                await conn.execute(stmt.on_conflict_do_update(
                    index_elements=["channel_id", "op", "kind"],
                    set_={"count": upstream_errors.c.count + 1, "updated_at": t}))
        except Exception:  # a counter must never break the step that failed upstream
            log.warning("could not count a %s error of channel %s", op, channel_id,
                        exc_info=True)
