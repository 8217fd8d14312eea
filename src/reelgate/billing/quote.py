"""A price quote before any job: what a create would reserve, and whether it would pass.

Same parsing as a create, same pricer call as the reservation (so the amount is the
one the create would debit, to the micro-USD), then the same checks in the same order
as the create's hooks (model allow-list, unfinished jobs, balance, spend cap), read
only: nothing is written, nothing reserved.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.auth.principal import Principal
from reelgate.billing.errors import (
    InFlightLimit,
    InsufficientQuota,
    ModelNotAllowed,
    SpendCapExceeded,
)
from reelgate.billing.money import format_usd
from reelgate.billing.prices import TablePricer
from reelgate.catalog.spec import RefusedByCatalog
from reelgate.errors import APIError
from reelgate.jobs import repository as jobs_repo
from reelgate.jobs.requests import CreateParams
from reelgate.store.db import Database
from reelgate.store.tables import api_keys, tenants

__all__ = ["Quote", "QuoteService", "refusal_of"]


@dataclass(frozen=True)
class Quote:
    model: str
    size: str
    seconds: int
    #: exactly what the create would reserve (price x seconds x multiplier, rounded once)
    amount_micros: int
    #: the per-second price before the multiplier, and where it came from
    per_second_micros: int
    price_source: str
    multiplier_ppm: int
    prepaid: bool
    balance_micros: int
    balance_covers: bool
    spend_cap_micros: int | None
    spent_micros: int
    cap_covers: bool
    #: the first check the create would fail, None if it would be accepted
    refusal: APIError | None
    requested_model: str | None = None
    notice: str | None = None
    #: what the per-second price is per (``video_seconds`` | ``render_seconds``)
    billing: str = "video_seconds"
    #: the seconds the amount pays for: the clip's, or the model's GPU-time ceiling
    reserved_seconds: int = 0


def refusal_of(error: APIError) -> dict[str, object]:
    """A refusal as the quote reports it: what the create would answer, and why."""
    rule = error.rule if isinstance(error, RefusedByCatalog) else None
    return {"status": error.status, "type": error.type, "code": error.code,
            "param": error.param, "message": error.message, "rule": rule}


class QuoteService:
    def __init__(self, db: Database, pricer: TablePricer) -> None:
        self.db = db
        self.pricer = pricer

    async def quote(self, principal: Principal, params: CreateParams) -> Quote:
        async with self.db.read() as conn:
            return await self._quote(conn, principal, params)

    async def _quote(self, conn: AsyncConnection, principal: Principal,
                     params: CreateParams) -> Quote:
        model, size, seconds = params.model.id, params.size, params.seconds
        reserved_seconds = params.model.reserved_seconds(seconds)
        amount = await self.pricer.quote(conn, principal.tenant_id, model, size,
                                         reserved_seconds)
        rate = await self.pricer.base_rate(conn, principal.tenant_id, model, size)
        ppm = await self.pricer.multiplier_ppm(conn, principal.tenant_id)
        tenant = (await conn.execute(select(tenants.c.balance_micros, tenants.c.unlimited)
                                     .where(tenants.c.id == principal.tenant_id))).one()
        key = (await conn.execute(select(api_keys.c.spent_micros, api_keys.c.spend_cap_micros)
                                  .where(api_keys.c.id == principal.key_id))).one()
        balance, prepaid = int(tenant.balance_micros), not tenant.unlimited
        balance_covers = not prepaid or balance >= amount
        cap = None if key.spend_cap_micros is None else int(key.spend_cap_micros)
        spent = int(key.spent_micros or 0)
        cap_covers = cap is None or spent + amount <= cap
        refusal = await self._first_refusal(conn, principal, params, amount, balance_covers,
                                            cap_covers, cap)
        return Quote(model, size, seconds, amount, rate.micros_per_second, rate.source, ppm,
                     prepaid, balance, balance_covers, cap, spent, cap_covers, refusal,
                     params.requested_model, params.notice, params.model.billing.value,
                     reserved_seconds)

    async def _first_refusal(self, conn: AsyncConnection, principal: Principal,
                             params: CreateParams, amount: int, balance_covers: bool,
                             cap_covers: bool, cap: int | None) -> APIError | None:
        """The create's hooks, in their order: key policy first, then money."""
        allowed = principal.allowed_models
        if allowed is not None and params.model.id not in allowed:
            return ModelNotAllowed(f"This API key may not use model '{params.model.id}'. "
                                   f"Allowed: {', '.join(allowed)}.")
        if principal.max_in_flight is not None:
            running = await jobs_repo.count_active(conn, key_id=principal.key_id)
            if running + 1 > principal.max_in_flight:
                return InFlightLimit(f"This API key already has {principal.max_in_flight} "
                                     "unfinished video job(s), its limit.")
        if not balance_covers:
            return InsufficientQuota(f"This job costs {format_usd(amount)} and the balance "
                                     "does not cover it.")
        if not cap_covers:
            return SpendCapExceeded(f"This job costs {format_usd(amount)}, which would exceed "
                                    f"the API key's spend cap of {format_usd(cap or 0)}.")
        return None
