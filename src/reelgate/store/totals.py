"""Running totals in ``metric_totals``, added to in the transaction of what they count.

``/metrics`` used to sum the ledger and every job at each scrape, a cost that grew
with history (3.5 s at 100,000 jobs on SQLite). Instead, the change that creates a
fact adds it here in its own transaction, once: a ledger row only when it really
went in, a job's end only through the compare-and-swap that ended it, a webhook
attempt only while its lease held. A replay or a lost race writes nothing, so the
totals stay equal to what a scan of history would say, and a scrape reads a few rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.store.tables import metric_totals

__all__ = ["Count", "add"]


@dataclass(frozen=True, order=True)
class Count:
    """What to add to one row (either number may be negative: a gauge going down)."""

    metric: str
    model: str = ""
    tenant_id: str = ""
    channel_id: str = ""
    label: str = ""
    count: int = 0
    amount: int = 0

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return self.metric, self.model, self.tenant_id, self.channel_id, self.label


def _merged(counts: Iterable[Count]) -> list[Count]:
    """One per row, in key order: PostgreSQL refuses to update a row twice in one
    statement, and taking row locks in one order everywhere means two transactions
    adding to the same rows wait for each other but never deadlock."""
    rows: dict[tuple[str, str, str, str, str], Count] = {}
    for c in counts:
        seen = rows.get(c.key)
        rows[c.key] = c if seen is None else replace(
            seen, count=seen.count + c.count, amount=seen.amount + c.amount)
    return [rows[k] for k in sorted(rows)]


async def add(conn: AsyncConnection, counts: Iterable[Count]) -> None:
    """Add ``counts`` to their rows (created at zero), in one statement."""
    rows = _merged(counts)
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(metric_totals).values([
        {"metric": c.metric, "model": c.model, "tenant_id": c.tenant_id,
         "channel_id": c.channel_id, "label": c.label, "count": c.count,
         "amount": c.amount} for c in rows])
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=["metric", "model", "tenant_id", "channel_id", "label"],
        set_={"count": metric_totals.c.count + stmt.excluded.count,
              "amount": metric_totals.c.amount + stmt.excluded.amount}))
