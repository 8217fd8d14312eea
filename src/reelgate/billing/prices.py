"""Per-second prices: model x size, globally and per tenant, times the tenant multiplier.

Lookup order for one (model, size): the tenant's own row in ``prices``, then the
global row (tenant_id ""), then the catalog's list price. The tenant's
``price_multiplier_ppm`` applies on top of whichever was found. A price is
``per-second x seconds x multiplier`` computed exactly and rounded once, half up,
to a whole micro-USD.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.billing.ledger import upsert
from reelgate.billing.money import MICROS, round_micros
from reelgate.catalog import Catalog
from reelgate.errors import InvalidRequest
from reelgate.ids import now
from reelgate.store.direct import Direct
from reelgate.store.tables import prices, tenants

__all__ = ["PriceOverride", "PriceRow", "TablePricer", "exact_seconds"]


@dataclass(frozen=True)
class PriceRow:
    model: str
    size: str
    #: "" for the global price
    tenant_id: str
    micros_per_second: int
    #: where the base price came from: "tenant", "global" or "catalog"
    source: str


@dataclass(frozen=True)
class PriceOverride:
    """One tenant's own price for a model and size, as the admin UI lists them."""

    tenant_name: str
    model: str
    size: str
    micros_per_second: int
    updated_at: float


def exact_seconds(value: float | int) -> Fraction:
    """Exact seconds; via the shortest decimal repr so 4.1 means 4.1, not 4.0999…."""
    return Fraction(Decimal(repr(float(value))))


def _price_of(tenant: Any) -> Any:
    return (select(prices.c.micros_per_second)
            .where(prices.c.tenant_id == tenant, prices.c.model == bindparam("b_model"),
                   prices.c.size == bindparam("b_size"))
            .scalar_subquery())


#: a create's price in one read: the tenant's multiplier, its own price and the global
#: one (the catalog's list price is in memory); built once
_QUOTE = Direct(select(tenants.c.price_multiplier_ppm.label("ppm"),
                       _price_of(bindparam("b_tenant")).label("own"),
                       _price_of("").label("shared")).where(tenants.c.id == bindparam("b_tenant")))


class TablePricer:
    """Implements :class:`reelgate.jobs.hooks.Pricer` over the ``prices`` table."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def _check(self, model: str, size: str) -> int:
        spec = self.catalog.get(model)
        if spec is None or size not in spec.prices:
            raise InvalidRequest(f"No price exists for model '{model}' at size '{size}'.",
                                 param="size", code="invalid_value")
        return spec.prices[size]

    async def multiplier_ppm(self, conn: AsyncConnection, tenant_id: str) -> int:
        value = (await conn.execute(select(tenants.c.price_multiplier_ppm)
                                    .where(tenants.c.id == tenant_id))).scalar()
        return MICROS if value is None else int(value)

    async def _overrides(self, conn: AsyncConnection, tenant_id: str,
                         model: str | None = None) -> dict[tuple[str, str, str], int]:
        query = select(prices).where(prices.c.tenant_id.in_(["", tenant_id]))
        if model is not None:
            query = query.where(prices.c.model == model)
        return {(r.model, r.size, r.tenant_id): int(r.micros_per_second)
                for r in await conn.execute(query)}

    def _pick(self, found: dict[tuple[str, str, str], int], tenant_id: str, model: str,
              size: str) -> PriceRow:
        list_price = self._check(model, size)
        if tenant_id and (model, size, tenant_id) in found:
            return PriceRow(model, size, tenant_id, found[model, size, tenant_id], "tenant")
        if (model, size, "") in found:
            return PriceRow(model, size, "", found[model, size, ""], "global")
        return PriceRow(model, size, "", list_price, "catalog")

    async def base_rate(self, conn: AsyncConnection, tenant_id: str, model: str,
                        size: str) -> PriceRow:
        """The per-second price before the multiplier, and where it came from."""
        self._check(model, size)
        return self._pick(await self._overrides(conn, tenant_id, model), tenant_id, model, size)

    async def quote(
        self, conn: AsyncConnection, tenant_id: str, model: str, size: str, seconds: float
    ) -> int:
        list_price = self._check(model, size)
        row = (await _QUOTE.execute(conn, {"b_tenant": tenant_id, "b_model": model,
                                           "b_size": size})).first()
        if row is None:  # no such tenant: the general lookup (global or list price)
            rate = (await self.base_rate(conn, tenant_id, model, size)).micros_per_second
            ppm = await self.multiplier_ppm(conn, tenant_id)
        else:
            rate = next((int(v) for v in (row["own"], row["shared"]) if v is not None),
                        list_price)
            ppm = MICROS if row["ppm"] is None else int(row["ppm"])
        return round_micros(rate * exact_seconds(seconds) * Fraction(ppm, MICROS))

    async def per_second(self, conn: AsyncConnection, tenant_id: str) -> dict[str, dict[str, int]]:
        """What this tenant pays per second, model → size → micro-USD (multiplier applied)."""
        ppm = Fraction(await self.multiplier_ppm(conn, tenant_id), MICROS)
        found = await self._overrides(conn, tenant_id)
        return {spec.id: {size: round_micros(
                    self._pick(found, tenant_id, spec.id, size).micros_per_second * ppm)
                          for size in spec.sizes}
                for spec in self.catalog}

    async def table(self, conn: AsyncConnection, tenant_id: str = "") -> list[PriceRow]:
        """Every model x size with its effective base price for ``tenant_id`` ("" = global)."""
        found = await self._overrides(conn, tenant_id)
        return [self._pick(found, tenant_id, spec.id, size)
                for spec in self.catalog for size in spec.sizes]

    async def tenant_overrides(self, conn: AsyncConnection) -> list[PriceOverride]:
        query = (select(prices, tenants.c.name.label("tenant_name"))
                 .join(tenants, tenants.c.id == prices.c.tenant_id)
                 .order_by(tenants.c.name, prices.c.model, prices.c.size))
        return [PriceOverride(r.tenant_name, r.model, r.size, int(r.micros_per_second),
                              r.updated_at) for r in await conn.execute(query)]

    async def set_price(self, conn: AsyncConnection, model: str, size: str, micros: int,
                        tenant_id: str = "") -> None:
        if micros < 0:
            raise InvalidRequest("A price cannot be negative.", param="price",
                                 code="invalid_value")
        self._check(model, size)
        stmt = upsert(conn, prices).values(model=model, size=size, tenant_id=tenant_id,
                                           micros_per_second=micros, updated_at=now())
        stmt = stmt.on_conflict_do_update(
            index_elements=["model", "size", "tenant_id"],
            set_={"micros_per_second": micros, "updated_at": now()})
        await conn.execute(stmt)

    async def unset_price(self, conn: AsyncConnection, model: str, size: str,
                          tenant_id: str = "") -> bool:
        """Drop an override, falling back to the next level; False if there was none."""
        res = await conn.execute(delete(prices).where(
            prices.c.model == model, prices.c.size == size, prices.c.tenant_id == tenant_id))
        return res.rowcount > 0
