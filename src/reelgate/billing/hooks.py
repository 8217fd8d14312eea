"""Billing on the job lifecycle: reserve at create, settle on completion, refund failures.

These run inside the transaction of the change they observe (see
:mod:`reelgate.jobs.hooks`), so the money moves exactly when the job does:

* create — the quoted price is reserved (debited) from the tenant and counted against
  the key's spend cap; either refusal rolls the job back, so no job exists unpaid;
* completed — the reserved per-second rate times the seconds the upstream says it
  rendered (else what was asked); the difference to the reservation is posted, either
  way. Prices are locked at the reservation: later price changes never re-price a job.
  A model billed by GPU time reserved ``max_render_seconds`` of it and is charged the
  render time the upstream measured, at most that, the rest coming back;
* failed, moderated, timed out, cancelled — the reservation comes back in full.

The job's compare-and-swap lets only one worker make each transition; the ledger's
unique entry keys make even a replayed hook a no-op, and a job never gets both a
settlement and a refund.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.auth.principal import Principal
from reelgate.billing import ledger
from reelgate.billing.errors import InsufficientQuota, SpendCapExceeded
from reelgate.billing.ledger import Kind
from reelgate.billing.money import format_usd, round_micros
from reelgate.billing.prices import TablePricer, exact_seconds
from reelgate.jobs.model import Job
from reelgate.jobs.states import State
from reelgate.store import totals
from reelgate.store.direct import Direct
from reelgate.store.tables import api_keys, jobs

__all__ = ["BillingHooks", "add_spend", "billed_render_seconds", "charge_for"]

log = logging.getLogger(__name__)


def billed_render_seconds(job: Job) -> Fraction:
    """The GPU seconds a job billed by render time pays for: what the upstream measured
    (its own timestamps), at most what was reserved. An upstream that reported no
    timing is charged the time from its acceptance to the poll that found it done."""
    cap = Fraction(job.render_cap_seconds or 0)
    if job.render_seconds is not None and job.render_seconds >= 0:
        measured = exact_seconds(job.render_seconds)
    elif job.started_at is not None and job.last_polled_at is not None:
        measured = exact_seconds(max(0.0, job.last_polled_at - job.started_at))
    else:
        measured = cap
    return min(measured, cap)


def charge_for(job: Job) -> int:
    """What a completed job costs: the rate it reserved at, for the seconds it rendered
    (or, billed by GPU time, for the render seconds measured out of those reserved).

    The reservation's price is scaled by rendered/requested seconds, so a price change
    (catalog, override or multiplier) between create and completion never re-prices a
    job, and neither does an upstream that renders another size than was asked: the
    client is billed the price it was quoted and reserved. A render-time charge never
    exceeds the reservation.
    """
    if job.render_cap_seconds:
        exact = Fraction(job.price_micros) * billed_render_seconds(job) / job.render_cap_seconds
        return round_micros(exact)
    seconds = job.rendered_seconds if job.rendered_seconds else float(job.seconds)
    exact = Fraction(job.price_micros) * exact_seconds(seconds) / job.seconds
    return round_micros(exact)


def _spend_statement(enforce_cap: bool) -> Any:
    amount: Any = bindparam("b_amount")
    stmt = update(api_keys).where(api_keys.c.id == bindparam("b_key"))
    if enforce_cap:
        stmt = stmt.where(api_keys.c.spend_cap_micros.is_(None)
                          | (api_keys.c.spent_micros + amount <= api_keys.c.spend_cap_micros))
    return stmt.values(spent_micros=api_keys.c.spent_micros + amount)


#: built once (see reelgate.billing.ledger): with and without the cap check
_SPEND = {cap: Direct(_spend_statement(cap)) for cap in (False, True)}


async def add_spend(conn: AsyncConnection, key_id: str, amount: int, *,
                    enforce_cap: bool) -> bool:
    """Move the key's spend counter; with ``enforce_cap`` only within its cap.

    On PostgreSQL the conditional UPDATE waits for the key's row lock and re-checks
    the cap on the newest row, so concurrent creates cannot overshoot it.
    """
    res = await _SPEND[enforce_cap].execute(conn, {"b_key": key_id, "b_amount": amount})
    return res.rowcount == 1


async def _count(conn: AsyncConnection, kind: Kind, job: Job, micros: int) -> None:
    """Add the entry to the running totals by model and tenant (what /metrics reports),
    only ever after its ledger row really went in, so a replayed hook adds nothing.
    Last in the transaction: rows are locked in the order job, tenant, key, totals."""
    await totals.add(conn, [totals.Count(kind.value, model=job.model,
                                         tenant_id=job.tenant_id, count=1, amount=micros)])


class BillingHooks:
    """Implements :class:`reelgate.jobs.hooks.JobHooks`."""

    def __init__(self, pricer: TablePricer) -> None:
        self.pricer = pricer

    async def on_created(self, conn: AsyncConnection, job: Job, principal: Principal) -> None:
        # Row locks in one order everywhere (job, tenant, key), so that a create and a
        # settlement of the same tenant can never deadlock on PostgreSQL.
        price = job.price_micros
        funded = await ledger.debit_if_funded(
            conn, job.tenant_id, Kind.RESERVE, price, f"reserve:{job.id}", job_id=job.id,
            key_id=principal.key_id,
            note=f"{job.model} {job.size} {job.billed_seconds}s")
        if funded is False:
            raise InsufficientQuota(
                f"You exceeded your current quota: this job costs {format_usd(price)} and "
                "the balance does not cover it. Top up the balance and try again.")
        if not await add_spend(conn, principal.key_id, price, enforce_cap=True):
            raise SpendCapExceeded(
                f"This job costs {format_usd(price)}, which would exceed the API key's spend "
                f"cap of {format_usd(principal.spend_cap_micros or 0)}.")

    async def on_transition(self, conn: AsyncConnection, before: Job, after: Job) -> None:
        if after.state == State.COMPLETED and before.state != State.COMPLETED:
            await self.settle(conn, after)
        elif after.state == State.FAILED and before.state != State.FAILED:
            await self.refund(conn, after)

    async def _reserved(self, conn: AsyncConnection, job: Job, closing: str) -> int | None:
        """The reservation still open for ``job``; None if it was closed already."""
        for other in ("settle", "refund"):
            if await ledger.get_entry(conn, f"{other}:{job.id}") is not None:
                if other != closing:
                    log.error("job %s: refusing to %s after a %s", job.id, closing, other)
                return None
        reserve = await ledger.get_entry(conn, f"reserve:{job.id}")
        return -reserve.amount_micros if reserve is not None else 0

    async def settle(self, conn: AsyncConnection, job: Job) -> None:
        reserved = await self._reserved(conn, job, "settle")
        if reserved is None:
            return
        charge = charge_for(job)
        seconds = job.rendered_seconds or job.seconds
        gpu = (f", {float(billed_render_seconds(job)):g} of {job.render_cap_seconds} GPU "
               f"seconds" if job.render_cap_seconds else "")
        note = (f"{job.model} {job.rendered_size or job.size} {seconds:g}s{gpu}: charged "
                f"{format_usd(charge)}, reserved {format_usd(reserved)}")
        if not await ledger.post(conn, job.tenant_id, Kind.SETTLE, reserved - charge,
                                 f"settle:{job.id}", job_id=job.id, key_id=job.key_id,
                                 note=note):
            return
        await conn.execute(update(jobs).where(jobs.c.id == job.id)
                           .values(charged_micros=charge))
        await add_spend(conn, job.key_id, charge - reserved, enforce_cap=False)
        await _count(conn, Kind.SETTLE, job, charge)

    async def refund(self, conn: AsyncConnection, job: Job) -> None:
        reserved = await self._reserved(conn, job, "refund")
        if reserved is None:
            return
        note = f"{job.error_code or 'failed'}: not billed"
        if not await ledger.post(conn, job.tenant_id, Kind.REFUND, reserved,
                                 f"refund:{job.id}", job_id=job.id, key_id=job.key_id,
                                 note=note):
            return
        await conn.execute(update(jobs).where(jobs.c.id == job.id).values(charged_micros=0))
        await add_spend(conn, job.key_id, -reserved, enforce_cap=False)
        await _count(conn, Kind.REFUND, job, reserved)
