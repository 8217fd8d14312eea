"""The append-only ledger and the balance it caches.

Every money movement is one row with a signed amount (credit > 0, debit < 0) and a
unique ``entry_key`` naming the event (``reserve:<job>``, ``settle:<job>``,
``refund:<job>``, ``topup:<ref>``). The row is inserted with ON CONFLICT DO NOTHING
and the cached ``tenants.balance_micros`` moves only when the row really went in, in
the same transaction, so a replayed event changes nothing and the cache always
equals the sum of the ledger (:func:`verify` checks exactly that).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.ids import now
from reelgate.store.direct import Direct
from reelgate.store.tables import ledger, tenants

__all__ = [
    "Entry",
    "Kind",
    "Verification",
    "debit_if_funded",
    "entries_for_job",
    "get_entry",
    "page",
    "post",
    "upsert",
    "verify",
]


class Kind(enum.StrEnum):
    TOPUP = "topup"
    RESERVE = "reserve"
    SETTLE = "settle"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"


@dataclass(frozen=True)
class Entry:
    id: int
    tenant_id: str
    key_id: str | None
    job_id: str | None
    kind: Kind
    amount_micros: int
    entry_key: str
    note: str | None
    created_at: float

    @classmethod
    def from_row(cls, row: Any) -> Entry:
        return cls(row.id, row.tenant_id, row.key_id, row.job_id, Kind(row.kind),
                   int(row.amount_micros), row.entry_key, row.note, row.created_at)


@dataclass(frozen=True)
class Verification:
    tenant_id: str
    cached_micros: int
    ledger_micros: int

    @property
    def ok(self) -> bool:
        return self.cached_micros == self.ledger_micros


def upsert(conn: AsyncConnection, table: Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (SQLite and PostgreSQL alike)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _insert_statement(insert: Any) -> Any:
    return insert(ledger).values(
        tenant_id=bindparam("b_tenant"), key_id=bindparam("b_key"), job_id=bindparam("b_job"),
        kind=bindparam("b_kind"), amount_micros=bindparam("b_amount"),
        entry_key=bindparam("b_entry"), note=bindparam("b_note"), created_at=bindparam("b_at"),
    ).on_conflict_do_nothing(index_elements=["entry_key"])


# Built once with bind parameters: composing these per call (operators, coercions,
# cache keys) cost more CPU than sending them; every create runs three.
# Run below SQLAlchemy's execution layer on SQLite (reelgate.store.direct).
_INSERT = {"postgresql": Direct(_insert_statement(postgresql.insert)),
           "sqlite": Direct(_insert_statement(sqlite.insert))}
_CREDIT = Direct(update(tenants).where(tenants.c.id == bindparam("b_tenant"))
                 .values(balance_micros=tenants.c.balance_micros + bindparam("b_amount")))
_DEBIT_IF_FUNDED = Direct(
    update(tenants)
    .where(tenants.c.id == bindparam("b_tenant"),
           tenants.c.unlimited.is_(True) | (tenants.c.balance_micros >= bindparam("b_amount")))
    .values(balance_micros=tenants.c.balance_micros - bindparam("b_amount")))


async def _insert(conn: AsyncConnection, tenant_id: str, kind: Kind, amount: int,
                  entry_key: str, job_id: str | None, key_id: str | None,
                  note: str | None) -> bool:
    stmt = _INSERT["postgresql" if conn.dialect.name == "postgresql" else "sqlite"]
    result = await stmt.execute(conn, {
        "b_tenant": tenant_id, "b_key": key_id, "b_job": job_id, "b_kind": kind.value,
        "b_amount": amount, "b_entry": entry_key, "b_note": note, "b_at": now()})
    return result.rowcount == 1


async def post(
    conn: AsyncConnection, tenant_id: str, kind: Kind, amount: int, entry_key: str, *,
    job_id: str | None = None, key_id: str | None = None, note: str | None = None,
) -> bool:
    """Record one movement; False (and nothing changed) if ``entry_key`` was seen before."""
    if not await _insert(conn, tenant_id, kind, amount, entry_key, job_id, key_id, note):
        return False
    await _CREDIT.execute(conn, {"b_tenant": tenant_id, "b_amount": amount})
    return True


async def debit_if_funded(
    conn: AsyncConnection, tenant_id: str, kind: Kind, amount: int, entry_key: str, *,
    job_id: str | None = None, key_id: str | None = None, note: str | None = None,
) -> bool | None:
    """Debit ``amount`` only if the tenant can pay it (or is postpaid).

    True: debited; None: a replay, nothing changed; False: not enough balance (the
    caller must roll the transaction back, the ledger row is already written). The
    conditional UPDATE takes the tenant's row lock on PostgreSQL and re-checks the
    balance after waiting for it, so concurrent creates in many processes can never
    spend the same money twice.
    """
    if not await _insert(conn, tenant_id, kind, -amount, entry_key, job_id, key_id, note):
        return None
    res = await _DEBIT_IF_FUNDED.execute(conn, {"b_tenant": tenant_id, "b_amount": amount})
    return res.rowcount == 1


async def get_entry(conn: AsyncConnection, entry_key: str) -> Entry | None:
    row = (await conn.execute(select(ledger).where(ledger.c.entry_key == entry_key))).first()
    return Entry.from_row(row) if row else None


async def entries_for_job(conn: AsyncConnection, job_id: str) -> list[Entry]:
    rows = await conn.execute(select(ledger).where(ledger.c.job_id == job_id)
                              .order_by(ledger.c.id))
    return [Entry.from_row(r) for r in rows]


async def page(
    conn: AsyncConnection, tenant_id: str | None, *, after: int | None, limit: int,
    job_id: str | None = None,
) -> tuple[list[Entry], bool]:
    """Newest first; ``after`` is the id of the last entry of the previous page."""
    query = select(ledger)
    if tenant_id is not None:
        query = query.where(ledger.c.tenant_id == tenant_id)
    if job_id is not None:
        query = query.where(ledger.c.job_id == job_id)
    if after is not None:
        query = query.where(ledger.c.id < after)
    rows = (await conn.execute(query.order_by(ledger.c.id.desc()).limit(limit + 1))).all()
    return [Entry.from_row(r) for r in rows[:limit]], len(rows) > limit


async def verify(conn: AsyncConnection, tenant_id: str | None = None) -> list[Verification]:
    """Cached balance against the ledger sum, per tenant (all tenants by default)."""
    sums = (select(ledger.c.tenant_id, func.coalesce(func.sum(ledger.c.amount_micros), 0)
                   .label("total")).group_by(ledger.c.tenant_id).subquery())
    query = (select(tenants.c.id, tenants.c.balance_micros, sums.c.total)
             .select_from(tenants.outerjoin(sums, sums.c.tenant_id == tenants.c.id))
             .order_by(tenants.c.name))
    if tenant_id is not None:
        query = query.where(tenants.c.id == tenant_id)
    return [Verification(r.id, int(r.balance_micros), int(r.total or 0))
            for r in await conn.execute(query)]
