"""The dashboard's SQL: aggregates only, each one range scan of one covering index.

Nothing returns per-job rows. Percentiles come from a per-model histogram of
durations (GROUP BY a bucketed duration), so SQLite and PostgreSQL compute them the
same way and the answer is a few hundred rows whatever the number of jobs. Grouping
is by the select's own labels (``GROUP BY slot``): PostgreSQL would not match an
expression repeated with its own bound parameters. Indexes: ``ix_jobs_finished``,
``ix_jobs_created``, ``ix_jobs_started``, ``ix_ledger_kind_created`` (store/tables.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Integer, case, cast, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.jobs.states import ACTIVE, State
from reelgate.reporting.windows import DURATION_STEPS, Buckets
from reelgate.store.tables import channels, jobs, ledger, tenants

__all__ = [
    "Span",
    "active_by_state",
    "arrivals",
    "departures",
    "duration_histograms",
    "finished_by_state",
    "names",
    "outcomes_by_channel",
    "refunds_by_channel",
    "spend_by_tenant",
    "waiting",
]

#: ledger kinds that move a job's money (a reservation, its settlement or refund)
JOB_MONEY = ("reserve", "settle", "refund")

Span = tuple[float, float]  # [start, end], unix seconds
Slot: ColumnElement[Any] = literal_column("slot")


def _floor(conn: AsyncConnection, value: ColumnElement[Any]) -> ColumnElement[Any]:
    """floor() of a value >= 0 (SQLite's CAST truncates, PostgreSQL's rounds)."""
    if conn.dialect.name == "sqlite":
        return cast(value, Integer)
    return func.floor(value)


def _slot(conn: AsyncConnection, column: Any, b: Buckets) -> ColumnElement[Any]:
    return _floor(conn, (column - b.start) / b.step).label("slot")


def _within(column: ColumnElement[Any], start: float, end: float) -> ColumnElement[bool]:
    return column.between(start, end)


async def finished_by_state(conn: AsyncConnection, b: Buckets) -> list[tuple[int, str, int]]:
    """(slot, final state, jobs) for jobs that ended in each slot."""
    rows = await conn.execute(
        select(_slot(conn, jobs.c.finished_at, b), jobs.c.state, func.count())
        .where(_within(jobs.c.finished_at, b.start, b.end))
        .group_by(Slot, jobs.c.state))
    return [(int(s), str(state), int(n)) for s, state, n in rows]


def _duration_bucket(conn: AsyncConnection, took: ColumnElement[Any]) -> ColumnElement[Any]:
    whens = [(took < below, _floor(conn, took / step) * step)
             for below, step in DURATION_STEPS[:-1]]
    last = DURATION_STEPS[-1][1]
    return case(*whens, else_=_floor(conn, took / last) * last).label("took")


async def duration_histograms(conn: AsyncConnection,
                              span: Span) -> list[tuple[str, float, int, float]]:
    """(model, bucket's lower bound in seconds, jobs, their summed seconds) for jobs
    completed in ``span``, create to completion."""
    took = jobs.c.finished_at - jobs.c.created_at
    rows = await conn.execute(
        select(jobs.c.model, _duration_bucket(conn, took), func.count(), func.sum(took))
        .where(_within(jobs.c.finished_at, *span), jobs.c.state == State.COMPLETED.value)
        .group_by(jobs.c.model, literal_column("took")))
    return [(str(m), max(0.0, float(t)), int(n), float(total)) for m, t, n, total in rows]


async def outcomes_by_channel(conn: AsyncConnection,
                              span: Span) -> list[tuple[str | None, str, int]]:
    """(channel id or None, final state, jobs) for jobs that ended in ``span``."""
    rows = await conn.execute(
        select(jobs.c.channel_id, jobs.c.state, func.count())
        .where(_within(jobs.c.finished_at, *span))
        .group_by(jobs.c.channel_id, jobs.c.state))
    return [(c, str(state), int(n)) for c, state, n in rows]


async def refunds_by_channel(conn: AsyncConnection,
                             span: Span) -> list[tuple[str | None, int, int]]:
    """(channel id or None, refunds, refunded micro-USD) posted in ``span``."""
    rows = await conn.execute(
        select(jobs.c.channel_id, func.count(), func.coalesce(func.sum(ledger.c.amount_micros), 0))
        .select_from(ledger.join(jobs, jobs.c.id == ledger.c.job_id))
        .where(ledger.c.kind == "refund", _within(ledger.c.created_at, *span))
        .group_by(jobs.c.channel_id))
    return [(c, int(n), int(micros)) for c, n, micros in rows]


async def spend_by_tenant(conn: AsyncConnection, b: Buckets) -> list[tuple[int, str, int]]:
    """(slot, tenant id, micro-USD spent) from job money posted in each slot: what was
    reserved, less what settlements and refunds gave back."""
    rows = await conn.execute(
        select(_slot(conn, ledger.c.created_at, b), ledger.c.tenant_id,
               func.sum(ledger.c.amount_micros))
        .where(ledger.c.kind.in_(JOB_MONEY), _within(ledger.c.created_at, b.start, b.end))
        .group_by(Slot, ledger.c.tenant_id))
    return [(int(s), str(t), -int(amount)) for s, t, amount in rows]


async def active_by_state(conn: AsyncConnection) -> dict[str, int]:
    """Jobs in each active state now (``ix_jobs_due`` leads with the state)."""
    rows = await conn.execute(
        select(jobs.c.state, func.count())
        .where(jobs.c.state.in_([s.value for s in ACTIVE])).group_by(jobs.c.state))
    return {str(s): int(n) for s, n in rows}


async def waiting(conn: AsyncConnection, end: float) -> int:
    """Jobs created by ``end`` that no upstream has taken yet and that have not ended
    (the unfinished jobs lead ``ix_jobs_finished``, which holds the other two columns)."""
    return int((await conn.execute(
        select(func.count()).where(jobs.c.started_at.is_(None), jobs.c.finished_at.is_(None),
                                   jobs.c.created_at <= end))).scalar_one())


async def arrivals(conn: AsyncConnection, b: Buckets) -> dict[int, int]:
    """Jobs created in each slot."""
    rows = await conn.execute(
        select(_slot(conn, jobs.c.created_at, b), func.count())
        .where(_within(jobs.c.created_at, b.start, b.end)).group_by(Slot))
    return {int(s): int(n) for s, n in rows}


async def departures(conn: AsyncConnection, b: Buckets) -> dict[int, int]:
    """Jobs that left the queue in each slot: an upstream took them (``started_at``),
    or they ended without one ever doing so."""
    found: dict[int, int] = {}
    for query in (
        select(_slot(conn, jobs.c.started_at, b), func.count())
        .where(_within(jobs.c.started_at, b.start, b.end)).group_by(Slot),
        select(_slot(conn, jobs.c.finished_at, b), func.count())
        .where(_within(jobs.c.finished_at, b.start, b.end), jobs.c.started_at.is_(None))
        .group_by(Slot),
    ):
        for s, n in await conn.execute(query):
            found[int(s)] = found.get(int(s), 0) + int(n)
    return found


async def names(conn: AsyncConnection, *, tenant_ids: set[str],
                channel_ids: set[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Tenant and channel names for the ids an aggregate returned."""
    t: dict[str, str] = {}
    c: dict[str, str] = {}
    if tenant_ids:
        t = {i: n for i, n in await conn.execute(
            select(tenants.c.id, tenants.c.name).where(tenants.c.id.in_(sorted(tenant_ids))))}
    if channel_ids:
        c = {i: n for i, n in await conn.execute(
            select(channels.c.id, channels.c.name).where(channels.c.id.in_(sorted(channel_ids))))}
    return t, c
