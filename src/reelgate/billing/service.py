"""Tenants, their money and prices: the operations the CLI and the admin API share.

Each method is one transaction and takes tenants by id or name, so a command and
an HTTP handler only parse their input and render the result; neither repeats a
rule. Amounts are integer micro-USD here: parsing typed decimals is the edges' job.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.auth.principal import Principal
from reelgate.auth.records import TenantRecord
from reelgate.billing import ledger, tenants
from reelgate.billing.ledger import Entry, Kind, Verification
from reelgate.billing.prices import PriceOverride, PriceRow, TablePricer
from reelgate.billing.tenants import Credit
from reelgate.store.db import Database

__all__ = ["Balance", "LedgerPage", "PriceService", "TenantService"]


@dataclass(frozen=True)
class LedgerPage:
    """Newest first; ``has_more`` when older entries follow the last one."""

    entries: list[Entry]
    has_more: bool


@dataclass(frozen=True)
class Balance:
    """A key's view of its money: its tenant, and its own spend against its cap."""

    tenant: TenantRecord
    spent_micros: int
    spend_cap_micros: int | None


class TenantService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def list_all(self) -> list[TenantRecord]:
        async with self.db.read() as conn:
            return await tenants.list_all(conn)

    async def get(self, ref: str) -> TenantRecord:
        async with self.db.read() as conn:
            return await tenants.get(conn, ref)

    async def create(self, name: str, *, prepaid: bool, opening_micros: int = 0,
                     multiplier_ppm: int | None = None) -> TenantRecord:
        """An opening balance makes the tenant prepaid and is its first top-up."""
        async with self.db.begin() as conn:
            created = await tenants.create(
                conn, name, prepaid=prepaid or opening_micros > 0,
                multiplier_ppm=1_000_000 if multiplier_ppm is None else multiplier_ppm)
            if opening_micros:
                await tenants.credit(conn, created, opening_micros, note="opening balance")
            return await tenants.get(conn, created.id)

    async def update(self, ref: str, *, prepaid: bool | None = None,
                     multiplier_ppm: int | None = None) -> TenantRecord:
        async with self.db.begin() as conn:
            tenant = await tenants.get(conn, ref)
            return await tenants.update_tenant(conn, tenant, prepaid=prepaid,
                                               multiplier_ppm=multiplier_ppm)

    async def credit(self, ref: str, amount_micros: int, *, kind: Kind = Kind.TOPUP,
                     reference: str | None = None,
                     note: str | None = None) -> tuple[Credit, TenantRecord]:
        """A top-up or adjustment, idempotent on ``reference``; and the balance after it."""
        async with self.db.begin() as conn:
            tenant = await tenants.get(conn, ref)
            posted = await tenants.credit(conn, tenant, amount_micros, kind=kind,
                                          reference=reference, note=note)
            return posted, await tenants.get(conn, tenant.id)

    async def verify(self, ref: str) -> tuple[TenantRecord, Verification]:
        """The tenant with its cached balance checked against the ledger sum."""
        async with self.db.read() as conn:
            tenant = await tenants.get(conn, ref)
            return tenant, (await ledger.verify(conn, tenant.id))[0]

    async def ledger(self, ref: str, *, after: int | None = None, limit: int = 20,
                     job_id: str | None = None) -> LedgerPage:
        async with self.db.read() as conn:
            tenant = await tenants.get(conn, ref)
            entries, more = await ledger.page(conn, tenant.id, after=after, limit=limit,
                                              job_id=job_id)
        return LedgerPage(entries, more)

    async def own_ledger(self, caller: Principal, *, after: int | None = None,
                         limit: int = 20, job_id: str | None = None) -> LedgerPage:
        """The caller's own tenant's ledger (no look-up by name: ids only)."""
        async with self.db.read() as conn:
            entries, more = await ledger.page(conn, caller.tenant_id, after=after,
                                              limit=limit, job_id=job_id)
        return LedgerPage(entries, more)

    async def balance(self, caller: Principal) -> Balance:
        async with self.db.read() as conn:
            tenant = await tenants.get(conn, caller.tenant_id)
            spent, cap = await tenants.key_spend(conn, caller.key_id)
        return Balance(tenant, spent, cap)


class PriceService:
    """Per-second prices; ``tenant`` None (or "") means the global level."""

    def __init__(self, db: Database, pricer: TablePricer) -> None:
        self.db = db
        self.pricer = pricer

    async def table(self, tenant: str | None = None) -> list[PriceRow]:
        """Every model x size with its base price (before the multiplier) and its source."""
        async with self.db.read() as conn:
            return await self.pricer.table(conn, await _tenant_id(conn, tenant))

    async def paid(self, tenant: str | None = None) -> dict[str, dict[str, int]]:
        """What the tenant pays per second, model → size → micro-USD (multiplier applied)."""
        async with self.db.read() as conn:
            return await self.pricer.per_second(conn, await _tenant_id(conn, tenant))

    async def paid_by(self, caller: Principal) -> dict[str, dict[str, int]]:
        async with self.db.read() as conn:
            return await self.pricer.per_second(conn, caller.tenant_id)

    async def overrides(self) -> list[PriceOverride]:
        """The per-tenant overrides, by tenant name."""
        async with self.db.read() as conn:
            return await self.pricer.tenant_overrides(conn)

    async def set(self, model: str, size: str, micros_per_second: int,
                  tenant: str | None = None) -> PriceRow:
        async with self.db.begin() as conn:
            tid = await _tenant_id(conn, tenant)
            await self.pricer.set_price(conn, model, size, micros_per_second, tid)
            return await self.pricer.base_rate(conn, tid, model, size)

    async def unset(self, model: str, size: str, tenant: str | None = None) -> PriceRow | None:
        """Drop an override; the price that applies now, or None if there was none."""
        async with self.db.begin() as conn:
            tid = await _tenant_id(conn, tenant)
            if not await self.pricer.unset_price(conn, model, size, tid):
                return None
            return await self.pricer.base_rate(conn, tid, model, size)


async def _tenant_id(conn: AsyncConnection, ref: str | None) -> str:
    return (await tenants.get(conn, ref)).id if ref else ""
