"""Tenants as billing accounts: how they pay, and money put in by operators.

A tenant is *postpaid* (``unlimited``: charges are recorded, creates are never refused
for balance; the bootstrap ``default`` tenant and tenants made on the fly by
``keys create --tenant``) or *prepaid* (its balance must cover each reservation).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.auth.records import TenantRecord
from reelgate.billing import ledger
from reelgate.billing.ledger import Entry, Kind
from reelgate.errors import ConflictError, InvalidRequest, NotFound
from reelgate.ids import new_id, now
from reelgate.store.tables import api_keys, tenants

__all__ = [
    "Credit", "create", "credit", "find", "get", "key_spend", "list_all", "mode", "update_tenant",
]

_MAX_PPM = 1_000 * 1_000_000  # a 1000x multiplier is surely a typo


def mode(tenant: TenantRecord) -> str:
    return "postpaid" if tenant.unlimited else "prepaid"


def _record(row: Any) -> TenantRecord:
    return TenantRecord(row.id, row.name, int(row.balance_micros),
                        int(row.price_multiplier_ppm), bool(row.unlimited))


def _check_ppm(ppm: int) -> None:
    if not 0 <= ppm <= _MAX_PPM:
        raise InvalidRequest("The price multiplier must be between 0 and 1000.",
                             param="price_multiplier", code="invalid_value")


async def find(conn: AsyncConnection, ref: str) -> TenantRecord | None:
    """By id or by name."""
    row = (await conn.execute(select(tenants).where(
        or_(tenants.c.id == ref, tenants.c.name == ref)))).first()
    return _record(row) if row else None


async def get(conn: AsyncConnection, ref: str) -> TenantRecord:
    tenant = await find(conn, ref)
    if tenant is None:
        raise NotFound(f"No tenant '{ref}'.", param="tenant", code="tenant_not_found")
    return tenant


async def list_all(conn: AsyncConnection) -> list[TenantRecord]:
    return [_record(r) for r in await conn.execute(select(tenants).order_by(tenants.c.name))]


async def create(conn: AsyncConnection, name: str, *, prepaid: bool,
                 multiplier_ppm: int = 1_000_000) -> TenantRecord:
    name = name.strip()
    if not 0 < len(name) <= 200:
        raise InvalidRequest("A tenant name must be 1 to 200 characters.", param="name",
                             code="invalid_value")
    _check_ppm(multiplier_ppm)
    if await find(conn, name) is not None:
        raise ConflictError(f"Tenant '{name}' already exists.", param="name",
                            code="tenant_exists")
    tid = new_id("ten", 8)
    await conn.execute(tenants.insert().values(
        id=tid, name=name, balance_micros=0, price_multiplier_ppm=multiplier_ppm,
        unlimited=not prepaid, created_at=now()))
    return TenantRecord(tid, name, 0, multiplier_ppm, not prepaid)


async def update_tenant(conn: AsyncConnection, tenant: TenantRecord, *,
                        prepaid: bool | None = None,
                        multiplier_ppm: int | None = None) -> TenantRecord:
    values: dict[str, object] = {}
    if prepaid is not None:
        values["unlimited"] = not prepaid
    if multiplier_ppm is not None:
        _check_ppm(multiplier_ppm)
        values["price_multiplier_ppm"] = multiplier_ppm
    if values:
        await conn.execute(update(tenants).where(tenants.c.id == tenant.id).values(**values))
    return await get(conn, tenant.id)


@dataclass(frozen=True)
class Credit:
    entry: Entry
    #: False when ``reference`` had been used before: the call was a replay
    created: bool


async def credit(conn: AsyncConnection, tenant: TenantRecord, amount: int, *,
                 kind: Kind = Kind.TOPUP, reference: str | None = None,
                 note: str | None = None) -> Credit:
    """A top-up (> 0) or an operator adjustment (either sign), idempotent on ``reference``.

    An external payment id as ``reference`` makes a retried webhook or a double click
    a no-op instead of a second credit.
    """
    if kind == Kind.TOPUP and amount <= 0:
        raise InvalidRequest("A top-up must be a positive amount.", param="amount",
                             code="invalid_value")
    if kind not in (Kind.TOPUP, Kind.ADJUSTMENT):
        raise InvalidRequest("Only top-ups and adjustments can be posted by hand.",
                             param="kind", code="invalid_value")
    ref = reference or uuid.uuid4().hex
    entry_key = f"{kind.value}:{tenant.id}:{ref}"
    created = await ledger.post(conn, tenant.id, kind, amount, entry_key, note=note)
    entry = await ledger.get_entry(conn, entry_key)
    assert entry is not None
    if not created and entry.amount_micros != amount:
        raise ConflictError(f"Reference '{ref}' was already used for a different amount.",
                            param="reference", code="reference_reused")
    return Credit(entry, created)


async def key_spend(conn: AsyncConnection, key_id: str) -> tuple[int, int | None]:
    """(spent, cap) of one key in micro-USD; reservations of unfinished jobs count as spent."""
    row = (await conn.execute(select(api_keys.c.spent_micros, api_keys.c.spend_cap_micros)
                              .where(api_keys.c.id == key_id))).first()
    if row is None:
        return 0, None
    cap = row.spend_cap_micros
    return int(row.spent_micros), None if cap is None else int(cap)
