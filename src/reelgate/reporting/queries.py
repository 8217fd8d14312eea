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

from sqlalchemy import ColumnElement, Integer, case, cast, delete, func, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.jobs.states import ACTIVE, State
from reelgate.reporting.windows import DURATION_STEPS, Buckets
from reelgate.store.tables import channels, jobs, ledger, report_buckets, tenants

__all__ = [
    "Ended",
    "active_by_state",
    "arrivals",
    "departures",
    "ended",
    "forget_buckets",
    "names",
    "refunds_by_channel",
    "spend_by_tenant",
    "store_buckets",
    "stored_buckets",
    "waiting",
]

#: ledger kinds that move a job's money (a reservation, its settlement or refund)
JOB_MONEY = ("reserve", "settle", "refund")

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


def _duration_bucket(conn: AsyncConnection, took: ColumnElement[Any]) -> ColumnElement[Any]:
    """The lower bound of ``took``'s histogram bucket; NULL for jobs that did not
    complete (a failed job's time says nothing about rendering)."""
    whens = [(took < below, _floor(conn, took / step) * step)
             for below, step in DURATION_STEPS[:-1]]
    last = DURATION_STEPS[-1][1]
    return case((jobs.c.state != State.COMPLETED.value, None), *whens,
                else_=_floor(conn, took / last) * last).label("took")


#: (slot, final state, channel id or None, model, duration bucket or None, jobs, seconds)
Ended = tuple[int, str, str | None, str, float | None, int, float]


async def ended(conn: AsyncConnection, b: Buckets) -> list[Ended]:
    """Jobs that reached a final state in each slot, by state, channel and model, and
    for completed ones a histogram of create-to-completion seconds: the job, duration
    and channel charts from one scan of ``ix_jobs_finished``."""
    took = jobs.c.finished_at - jobs.c.created_at
    rows = await conn.execute(
        select(_slot(conn, jobs.c.finished_at, b), jobs.c.state, jobs.c.channel_id,
               jobs.c.model, _duration_bucket(conn, took), func.count(), func.sum(took))
        .where(_within(jobs.c.finished_at, b.start, b.end))
        .group_by(Slot, jobs.c.state, jobs.c.channel_id, jobs.c.model, literal_column("took")))
    return [(int(s), str(state), c, str(m), None if t is None else max(0.0, float(t)), int(n),
             float(total or 0)) for s, state, c, m, t, n, total in rows]


async def refunds_by_channel(conn: AsyncConnection,
                             b: Buckets) -> list[tuple[int, str | None, int, int]]:
    """(slot, channel id or None, refunds, refunded micro-USD) posted in each slot."""
    rows = await conn.execute(
        select(_slot(conn, ledger.c.created_at, b), jobs.c.channel_id, func.count(),
               func.coalesce(func.sum(ledger.c.amount_micros), 0))
        .select_from(ledger.join(jobs, jobs.c.id == ledger.c.job_id))
        .where(ledger.c.kind == "refund", _within(ledger.c.created_at, b.start, b.end))
        .group_by(Slot, jobs.c.channel_id))
    return [(int(s), c, int(n), int(micros)) for s, c, n, micros in rows]


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
        # "never started" as an expression, so the planner scans the finished_at range
        # of ix_jobs_finished (which holds started_at) rather than every job that
        # never started through ix_jobs_started and then each row
        select(_slot(conn, jobs.c.finished_at, b), func.count())
        .where(_within(jobs.c.finished_at, b.start, b.end),
               func.coalesce(jobs.c.started_at, -1.0) < 0)
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


async def stored_buckets(conn: AsyncConnection, what: str, step: int,
                         since: float) -> dict[float, Any]:
    """Closed buckets computed before (by any process), from ``since`` on."""
    rows = await conn.execute(
        select(report_buckets.c.start, report_buckets.c.payload)
        .where(report_buckets.c.what == what, report_buckets.c.step == step,
               report_buckets.c.start >= since))
    return {float(start): payload for start, payload in rows}


async def store_buckets(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Insert closed buckets; one another process stored first stays as it is."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    await conn.execute(dialect.insert(report_buckets).on_conflict_do_nothing(), rows)


async def forget_buckets(conn: AsyncConnection, before: float) -> None:
    await conn.execute(delete(report_buckets).where(report_buckets.c.start < before))
