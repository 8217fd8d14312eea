"""The metrics as a scan of every row computes them: the queries ``/metrics`` ran
before the running totals (reelgate.store.totals), kept to check the totals against.

Two differences are expected and named by the tests that compare: a job the upstream
forgot keeps the polls it took in the totals (here they vanish with its reset), and
a removed webhook endpoint's attempts stay counted (here they vanish with its rows).
"""

from __future__ import annotations

import pytest
from sqlalchemy import Float, and_, case, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.ids import now
from reelgate.jobs.states import ACTIVE, State
from reelgate.metrics.snapshot import DURATION_BUCKETS, Histogram, Money, Snapshot, snapshot
from reelgate.store.db import Database
from reelgate.store.tables import (
    channels,
    jobs,
    ledger,
    tenants,
    upstream_errors,
    webhook_deliveries,
)

__all__ = ["scanned", "totals_match"]


async def _jobs(conn: AsyncConnection, snap: Snapshot) -> None:
    # group by plain columns (NULL for "no channel") and name the gaps in Python, so the
    # GROUP BY never repeats an expression with its own bound parameters (PostgreSQL
    # refuses to match those)
    name = channels.c.name
    joined = jobs.outerjoin(channels, channels.c.id == jobs.c.channel_id)
    live = jobs.c.deleted_at.is_(None)
    rows = await conn.execute(
        select(jobs.c.state, jobs.c.model, name, func.count())
        .select_from(joined).where(live).group_by(jobs.c.state, jobs.c.model, name))
    for state, model, chan, n in rows:
        key = (str(state), str(model), chan or "")
        snap.jobs[key] = snap.jobs.get(key, 0) + int(n)
    t = now()
    rows = await conn.execute(
        select(jobs.c.state, func.count()).where(
            jobs.c.state.in_([s.value for s in ACTIVE]), jobs.c.next_poll_at <= t,
            or_(jobs.c.lease_until.is_(None), jobs.c.lease_until < t),
        ).group_by(jobs.c.state))
    snap.due = {str(s): int(n) for s, n in rows}
    rows = await conn.execute(
        select(name, jobs.c.error_code, func.count())
        .select_from(joined).where(jobs.c.state == State.FAILED.value)
        .group_by(name, jobs.c.error_code))
    for chan, code, n in rows:
        fkey = (chan or "", code or "unknown")
        snap.failures[fkey] = snap.failures.get(fkey, 0) + int(n)
    rows = await conn.execute(
        select(name, func.coalesce(func.sum(jobs.c.poll_count), 0))
        .select_from(joined).group_by(name))
    for chan, n in rows:
        snap.polls[chan or ""] = snap.polls.get(chan or "", 0) + int(n)


async def _durations(conn: AsyncConnection, snap: Snapshot) -> None:
    took = cast(jobs.c.completed_at - jobs.c.created_at, Float)
    columns = [func.sum(case((took <= b, 1), else_=0)) for b in DURATION_BUCKETS]
    rows = await conn.execute(
        select(jobs.c.model, func.count(), func.coalesce(func.sum(took), 0.0), *columns)
        .where(and_(jobs.c.state == State.COMPLETED.value, jobs.c.completed_at.is_not(None)))
        .group_by(jobs.c.model))
    for model, count, total, *buckets in rows:
        snap.durations[str(model)] = Histogram([int(b or 0) for b in buckets], int(count),
                                               float(total))


async def _money(conn: AsyncConnection, snap: Snapshot) -> None:
    """Charged and refunded micro-USD per model, one count per ledger entry: a settle
    row charges the job's ``charged_micros`` (written with it), a refund row returns
    its amount. Ledger rows are unique per job and kind, so a retried hook or a
    replayed transition is never counted twice."""
    amount = case((ledger.c.kind == "settle", func.coalesce(jobs.c.charged_micros, 0)),
                  else_=ledger.c.amount_micros)
    keys = [ledger.c.kind, jobs.c.model, *([tenants.c.name] if snap.by_tenant else [])]
    joined = ledger.join(jobs, jobs.c.id == ledger.c.job_id)
    if snap.by_tenant:
        joined = joined.join(tenants, tenants.c.id == ledger.c.tenant_id)
    rows = await conn.execute(
        select(*keys, func.count(), func.coalesce(func.sum(amount), 0))
        .select_from(joined)
        .where(ledger.c.kind.in_(("settle", "refund"))).group_by(*keys))
    for row in rows:
        kind, model, *tenant = row[:-2]
        key = (str(kind), str(model), str(tenant[0]) if tenant else "")
        snap.money[key] = Money(int(row[-2]), int(row[-1]))


async def _upstream_errors(conn: AsyncConnection, snap: Snapshot) -> None:
    rows = await conn.execute(
        select(channels.c.name, upstream_errors.c.channel_id, upstream_errors.c.op,
               upstream_errors.c.kind, upstream_errors.c.count)
        .select_from(upstream_errors.outerjoin(
            channels, channels.c.id == upstream_errors.c.channel_id)))
    for name, channel_id, op, kind, n in rows:
        key = (str(name or channel_id), str(op), str(kind))  # a removed channel: its id
        snap.upstream_errors[key] = snap.upstream_errors.get(key, 0) + int(n)


async def _webhooks(conn: AsyncConnection, snap: Snapshot) -> None:
    rows = await conn.execute(
        select(webhook_deliveries.c.status, func.count(),
               func.coalesce(func.sum(webhook_deliveries.c.attempts), 0))
        .group_by(webhook_deliveries.c.status))
    for status, count, attempts in rows:
        snap.deliveries[str(status)] = int(count)
        snap.delivery_attempts += int(attempts)


async def scanned(db: Database, *, by_tenant: bool = False) -> Snapshot:
    """Every number, from every row (what a scrape cost before the totals)."""
    snap = Snapshot(by_tenant=by_tenant)
    async with db.read() as conn:
        await _jobs(conn, snap)
        await _durations(conn, snap)
        await _money(conn, snap)
        await _upstream_errors(conn, snap)
        await _webhooks(conn, snap)
    return snap


async def totals_match(db: Database, kept: dict[str, int] | None = None) -> Snapshot:
    """Assert that the snapshot /metrics serves (from the totals) equals the scan, with
    the tenant label and without; return the one without. ``kept``: polls by channel
    that the totals keep and the scan lost (jobs the upstream forgot)."""
    got = Snapshot()
    for by_tenant in (True, False):
        got = await snapshot(db, by_tenant=by_tenant)
        scan = await scanned(db, by_tenant=by_tenant)
        assert got.jobs == scan.jobs
        assert got.due == scan.due
        assert got.failures == scan.failures
        polls = dict(scan.polls)
        for chan, n in (kept or {}).items():
            polls[chan] = polls.get(chan, 0) + n
        assert got.polls == polls
        assert got.money == scan.money
        assert got.upstream_errors == scan.upstream_errors
        assert {k: n for k, n in got.deliveries.items() if n} == {
            k: n for k, n in scan.deliveries.items() if n}
        assert got.delivery_attempts == scan.delivery_attempts
        assert got.durations.keys() == scan.durations.keys()
        for model, hist in got.durations.items():
            want = scan.durations[model]
            assert (hist.buckets, hist.count) == (want.buckets, want.count), model
            # the totals sum whole microseconds
            assert hist.total == pytest.approx(want.total, abs=1e-6 * want.count), model
    return got
