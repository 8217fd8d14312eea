"""Prometheus metrics computed from the database at scrape time.

Jobs run in worker processes and API processes serve scrapes, possibly on other
machines, so counting in process memory would give each process its own partial
truth. Every number here is an aggregate query instead: whichever process is
scraped reports the same, complete values. Counters are sums over rows that are
only ever added or grow (poll counts, attempts, ledger rows), so ``rate()`` works.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import Float, and_, case, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate import __version__
from reelgate.ids import now
from reelgate.jobs.states import ACTIVE, State
from reelgate.store.db import Database
from reelgate.store.tables import channels, jobs, ledger, webhook_deliveries

__all__ = ["DURATION_BUCKETS", "Snapshot", "render", "snapshot"]

#: seconds from create to completed
DURATION_BUCKETS: tuple[float, ...] = (5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 7200)


@dataclass
class Histogram:
    buckets: list[int] = field(default_factory=list)  # cumulative, one per DURATION_BUCKETS
    count: int = 0
    total: float = 0.0


@dataclass
class Snapshot:
    jobs: dict[tuple[str, str, str], int] = field(default_factory=dict)  # state, model, chan
    due: dict[str, int] = field(default_factory=dict)  # state -> waiting for a worker
    durations: dict[str, Histogram] = field(default_factory=dict)  # model -> histogram
    failures: dict[tuple[str, str], int] = field(default_factory=dict)  # channel, code
    polls: dict[str, int] = field(default_factory=dict)  # channel -> upstream polls
    refunds: int = 0
    refunded_micros: int = 0
    deliveries: dict[str, int] = field(default_factory=dict)  # status -> rows
    delivery_attempts: int = 0


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


async def _money_and_webhooks(conn: AsyncConnection, snap: Snapshot) -> None:
    row = (await conn.execute(
        select(func.count(), func.coalesce(func.sum(func.abs(ledger.c.amount_micros)), 0))
        .where(ledger.c.kind == "refund"))).one()
    snap.refunds, snap.refunded_micros = int(row[0]), int(row[1])
    rows = await conn.execute(
        select(webhook_deliveries.c.status, func.count(),
               func.coalesce(func.sum(webhook_deliveries.c.attempts), 0))
        .group_by(webhook_deliveries.c.status))
    for status, count, attempts in rows:
        snap.deliveries[str(status)] = int(count)
        snap.delivery_attempts += int(attempts)


async def snapshot(db: Database) -> Snapshot:
    snap = Snapshot()
    async with db.read() as conn:
        await _jobs(conn, snap)
        await _durations(conn, snap)
        await _money_and_webhooks(conn, snap)
    return snap


class _SnapshotCollector(Collector):
    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def collect(self) -> Iterator[Metric]:
        s = self.snap
        info = GaugeMetricFamily("reelgate_build_info", "Version of this gateway.",
                                 labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        g = GaugeMetricFamily("reelgate_jobs", "Jobs by internal state, model and channel.",
                              labels=["state", "model", "channel"])
        for (state, model, chan), n in sorted(s.jobs.items()):
            g.add_metric([state, model, chan], n)
        yield g
        g = GaugeMetricFamily("reelgate_queue_depth",
                              "Active jobs due now and not leased by any worker.",
                              labels=["state"])
        for state in sorted(st.value for st in ACTIVE):
            g.add_metric([state], s.due.get(state, 0))
        yield g
        h = HistogramMetricFamily("reelgate_job_duration_seconds",
                                  "Time from create to completed, completed jobs.",
                                  labels=["model"])
        for model, hist in sorted(s.durations.items()):
            pairs = [(_le(b), float(n)) for b, n in zip(DURATION_BUCKETS, hist.buckets,
                                                          strict=True)]
            h.add_metric([model], [*pairs, ("+Inf", float(hist.count))], hist.total)
        yield h
        c = CounterMetricFamily("reelgate_job_failures", "Failed jobs by channel and error "
                                "code (upstream errors, timeouts, cancellations).",
                                labels=["channel", "code"])
        for (chan, code), n in sorted(s.failures.items()):
            c.add_metric([chan, code], n)
        yield c
        c = CounterMetricFamily("reelgate_upstream_polls", "Status polls sent upstream; "
                                "rate() gives polls per second.", labels=["channel"])
        for chan, n in sorted(s.polls.items()):
            c.add_metric([chan], n)
        yield c
        yield CounterMetricFamily("reelgate_refunds", "Refund ledger entries.",
                                  value=s.refunds)
        yield CounterMetricFamily("reelgate_refunded_micros", "Refunded micro-USD.",
                                  value=s.refunded_micros)
        g = GaugeMetricFamily("reelgate_webhook_deliveries",
                              "Webhook deliveries by outcome.", labels=["status"])
        for status in ("pending", "delivered", "dead", "replayed"):
            g.add_metric([status], s.deliveries.get(status, 0))
        yield g
        yield CounterMetricFamily("reelgate_webhook_attempts", "Webhook POST attempts.",
                                  value=s.delivery_attempts)


def _le(bound: float) -> str:
    return f"{bound:g}" if bound != int(bound) else f"{int(bound)}.0"


def render(snap: Snapshot) -> bytes:
    """The Prometheus text exposition of ``snap``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotCollector(snap))
    return generate_latest(registry)
