"""The numbers ``/metrics`` reports about jobs, money, upstreams and webhooks, read
from the database at scrape time.

Jobs run in worker processes and API processes serve scrapes, possibly on other
machines, so counting in process memory would give each process its own partial
truth. Every number here comes from the database instead: whichever process is
scraped reports the same, complete values. What history adds up to (money, finished
jobs, failures, polls, durations, finished webhook deliveries, upstream errors) is
kept as running totals by the changes that make it (:mod:`reelgate.store.totals`,
:mod:`reelgate.metrics.totals`), so a scrape reads a few rows, however long the
history; only what is still in flight (running jobs, pending deliveries) is counted
from its rows, each through an index that holds nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.ids import now
from reelgate.jobs.states import ACTIVE
from reelgate.metrics.totals import DURATION_BUCKETS
from reelgate.store.db import Database
from reelgate.store.tables import (
    channels,
    jobs,
    metric_totals,
    tenants,
    upstream_errors,
    webhook_deliveries,
)

__all__ = ["DURATION_BUCKETS", "Histogram", "Money", "Snapshot", "snapshot"]

_ACTIVE = sorted(s.value for s in ACTIVE)


@dataclass
class Histogram:
    buckets: list[int] = field(default_factory=list)  # cumulative, one per DURATION_BUCKETS
    count: int = 0
    total: float = 0.0


@dataclass
class Money:
    """Ledger entries of one kind (settle or refund) for one model (and tenant)."""

    entries: int = 0
    micros: int = 0


@dataclass
class Snapshot:
    jobs: dict[tuple[str, str, str], int] = field(default_factory=dict)  # state, model, chan
    due: dict[str, int] = field(default_factory=dict)  # state -> waiting for a worker
    durations: dict[str, Histogram] = field(default_factory=dict)  # model -> histogram
    failures: dict[tuple[str, str], int] = field(default_factory=dict)  # channel, code
    polls: dict[str, int] = field(default_factory=dict)  # channel -> upstream polls
    #: (kind "settle" | "refund", model, tenant name or "") -> entries and micro-USD
    money: dict[tuple[str, str, str], Money] = field(default_factory=dict)
    #: (channel, op, kind) -> failed upstream calls
    upstream_errors: dict[tuple[str, str, str], int] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)  # status -> rows
    delivery_attempts: int = 0
    #: whether ``money`` is split by tenant (REELGATE_METRICS_TENANT_LABEL)
    by_tenant: bool = False


async def _channel_names(conn: AsyncConnection) -> dict[str, str]:
    """Channel id -> name (a job on no channel, or on a removed one, is under "")."""
    return {str(i): str(n) for i, n in await conn.execute(select(channels.c.id,
                                                                 channels.c.name))}


async def _running(conn: AsyncConnection, snap: Snapshot, names: dict[str, str]) -> None:
    """Jobs not finished yet, by state, model and channel, and their polls: a range
    scan of ``ix_jobs_finished`` (``finished_at`` is NULL until a job ends), so its
    cost is the number of jobs in flight, not of jobs ever made."""
    live = func.sum(case((jobs.c.deleted_at.is_(None), 1), else_=0))
    rows = await conn.execute(
        select(jobs.c.state, jobs.c.model, jobs.c.channel_id, live,
               func.coalesce(func.sum(jobs.c.poll_count), 0))
        .where(jobs.c.finished_at.is_(None), jobs.c.state.in_(_ACTIVE))
        .group_by(jobs.c.state, jobs.c.model, jobs.c.channel_id))
    for state, model, chan_id, n, polls in rows:
        chan = names.get(chan_id or "", "")
        if n:
            key = (str(state), str(model), chan)
            snap.jobs[key] = snap.jobs.get(key, 0) + int(n)
        snap.polls[chan] = snap.polls.get(chan, 0) + int(polls)
    t = now()
    due = await conn.execute(  # ix_jobs_due: active states only, due ones only
        select(jobs.c.state, func.count()).where(
            jobs.c.state.in_(_ACTIVE), jobs.c.next_poll_at <= t,
            (jobs.c.lease_until.is_(None)) | (jobs.c.lease_until < t),
        ).group_by(jobs.c.state))
    snap.due = {str(s): int(n) for s, n in due}


async def _totals(conn: AsyncConnection, snap: Snapshot, names: dict[str, str]) -> None:
    """Everything history adds up to, from the running totals (a few rows)."""
    t = metric_totals
    tenant = tenants.c.name if snap.by_tenant else t.c.tenant_id
    query = select(t.c.metric, t.c.model, t.c.channel_id, t.c.label, t.c.count, t.c.amount,
                   tenant)
    if snap.by_tenant:
        query = query.select_from(t.outerjoin(tenants, tenants.c.id == t.c.tenant_id))
    buckets: dict[str, dict[float, int]] = {}
    for metric, model, chan_id, label, count, amount, who in await conn.execute(query):
        chan, n = names.get(chan_id, ""), int(count)
        if metric in ("settle", "refund"):
            mkey = (str(metric), str(model), str(who or "") if snap.by_tenant else "")
            money = snap.money.setdefault(mkey, Money())
            money.entries += n
            money.micros += int(amount)
        elif metric == "jobs" and n:
            jkey = (str(label), str(model), chan)
            snap.jobs[jkey] = snap.jobs.get(jkey, 0) + n
        elif metric == "failures":
            fkey = (chan, label or "unknown")
            snap.failures[fkey] = snap.failures.get(fkey, 0) + n
        elif metric == "polls":
            snap.polls[chan] = snap.polls.get(chan, 0) + int(amount)
        elif metric == "duration":
            hist = snap.durations.setdefault(str(model), Histogram())
            hist.count += n
            hist.total += int(amount) / 1_000_000
            bound = buckets.setdefault(str(model), {})
            bound[float(label)] = bound.get(float(label), 0) + n
        elif metric == "webhooks":
            snap.deliveries[str(label)] = snap.deliveries.get(str(label), 0) + n
        elif metric == "webhook_attempts":
            snap.delivery_attempts += int(amount)
    for model, counts in buckets.items():  # cumulative, as Prometheus wants them
        snap.durations[model].buckets = [sum(n for b, n in counts.items() if b <= bound)
                                         for bound in DURATION_BUCKETS]
    snap.jobs = {k: n for k, n in snap.jobs.items() if n}


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
    """Deliveries still pending (``ix_webhook_deliveries_due`` leads with the status);
    finished ones, and every attempt, are in the totals."""
    n = (await conn.execute(select(func.count()).select_from(webhook_deliveries)
                            .where(webhook_deliveries.c.status == "pending"))).scalar_one()
    snap.deliveries["pending"] = int(n)


async def snapshot(db: Database, *, by_tenant: bool = False) -> Snapshot:
    """Every database-derived number; ``by_tenant`` splits the money by tenant too."""
    snap = Snapshot(by_tenant=by_tenant)
    async with db.read() as conn:
        names = await _channel_names(conn)
        await _running(conn, snap, names)
        await _totals(conn, snap, names)
        await _upstream_errors(conn, snap)
        await _webhooks(conn, snap)
    return snap
