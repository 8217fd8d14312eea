"""The admin dashboard's numbers: one service call per page, from aggregates only.

:class:`DashboardService` runs the queries of :mod:`reelgate.reporting.queries` in one
read snapshot and shapes them into plain values that the page charts and
``/admin/api/dashboard`` returns as JSON, so both show the same thing. Percentiles
are nearest-rank over a histogram: the value reported is the lower bound of the
bucket that holds the ranked job (1 s wide below 2 minutes; see
``reporting.windows.DURATION_STEPS``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from reelgate.ids import now
from reelgate.jobs.states import ACTIVE, State
from reelgate.reporting import queries as q
from reelgate.reporting.windows import Buckets, Window, window
from reelgate.store.db import Database

__all__ = [
    "ChannelRates",
    "Dashboard",
    "DashboardService",
    "ModelDurations",
    "QueueView",
    "Series",
    "percentile",
]

#: the tenants drawn one by one in the spend chart; the rest are summed as "others"
TOP_TENANTS = 8
NO_CHANNEL = "(no channel)"


@dataclass(frozen=True)
class Series:
    """Values per bucket: ``values[i]`` belongs to the bucket starting at ``edges[i]``."""

    name: str
    values: list[int]


@dataclass(frozen=True)
class ModelDurations:
    model: str
    jobs: int
    p50_seconds: float
    p95_seconds: float
    mean_seconds: float


@dataclass(frozen=True)
class ChannelRates:
    channel: str
    finished: int
    failed: int
    refunds: int
    refunded_micros: int

    @property
    def failure_rate(self) -> float:
        return self.failed / self.finished if self.finished else 0.0

    @property
    def refund_rate(self) -> float:
        return self.refunds / self.finished if self.finished else 0.0


@dataclass(frozen=True)
class QueueView:
    """Now: jobs per active state and jobs waiting for an upstream. Over time: the most
    jobs waiting at any sampled instant (every ``sample_seconds``) within each bucket
    starting at ``edges[i]``; the last bucket includes now."""

    by_state: dict[str, int]
    waiting: int
    edges: list[float]
    peak: list[int]
    sample_seconds: int


@dataclass(frozen=True)
class Dashboard:
    window: Window
    end: float
    jobs_edges: list[float]
    #: completed and failed jobs per bucket of when they ended
    jobs: list[Series]
    durations: list[ModelDurations]
    channels: list[ChannelRates]
    spend_edges: list[float]
    #: micro-USD per bucket, the biggest spenders first, then "others"
    spend: list[Series]
    queue: QueueView


def percentile(histogram: list[tuple[float, int]], p: float) -> float:
    """Nearest rank: the bucket (lower bound, count) holding the ceil(p% x n)-th value."""
    total = sum(n for _, n in histogram)
    if total == 0:
        return 0.0
    rank = max(1, math.ceil(p / 100 * total))
    seen = 0
    for bound, n in sorted(histogram):
        seen += n
        if seen >= rank:
            return bound
    return sorted(histogram)[-1][0]


def _per_slot(rows: list[tuple[int, str, int]], b: Buckets) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(lambda: [0] * b.count)
    for slot, key, n in rows:
        if 0 <= slot < b.count:
            out[key][slot] += n
    return out


def _durations(rows: list[tuple[str, float, int, float]]) -> list[ModelDurations]:
    by_model: dict[str, list[tuple[float, int]]] = defaultdict(list)
    totals: dict[str, float] = defaultdict(float)
    for model, bound, n, seconds in rows:
        by_model[model].append((bound, n))
        totals[model] += seconds
    out = []
    for model, hist in sorted(by_model.items()):
        count = sum(n for _, n in hist)
        out.append(ModelDurations(model, count, percentile(hist, 50), percentile(hist, 95),
                                  totals[model] / count))
    return out


def _spend(rows: list[tuple[int, str, int]], b: Buckets,
           tenant_names: dict[str, str]) -> list[Series]:
    per = _per_slot(rows, b)
    ranked = sorted(per, key=lambda t: (-sum(per[t]), tenant_names.get(t, t)))
    out = [Series(tenant_names.get(t, t), per[t]) for t in ranked[:TOP_TENANTS]]
    rest = ranked[TOP_TENANTS:]
    if rest:
        out.append(Series(f"{len(rest)} others",
                          [sum(per[t][i] for t in rest) for i in range(b.count)]))
    return out


def _queue(by_state: dict[str, int], waiting: int, shown: Buckets, samples: Buckets,
           came: dict[int, int], left: dict[int, int]) -> QueueView:
    """Walk back from now: waiting at an instant = waiting now - arrivals since +
    departures since (a job that arrived and left after it cancels out)."""
    peak = [0] * shown.count
    peak[-1] = waiting
    level = waiting
    for slot in range(samples.count - 1, -1, -1):
        level += left.get(slot, 0) - came.get(slot, 0)
        at = samples.start + slot * samples.step
        i = min(shown.count - 1, int((at - shown.start) // shown.step))
        peak[i] = max(peak[i], level)
    states = {s.value: by_state.get(s.value, 0) for s in sorted(ACTIVE)}
    return QueueView(states, waiting, shown.edges(), peak, samples.step)


class DashboardService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def build(self, window_name: str, *, at: float | None = None) -> Dashboard:
        """The dashboard for the window ending at ``at`` (default: now)."""
        w = window(window_name)
        end = now() if at is None else at
        jb, sb, qb, qs = w.jobs(end), w.spend(end), w.queue(end), w.queue_samples(end)
        span = (jb.start, end)
        async with self.db.read() as conn:
            finished = await q.finished_by_state(conn, jb)
            durations = await q.duration_histograms(conn, span)
            outcomes = await q.outcomes_by_channel(conn, span)
            refunds = await q.refunds_by_channel(conn, span)
            spend = await q.spend_by_tenant(conn, sb)
            by_state = await q.active_by_state(conn)
            waiting = await q.waiting(conn, end)
            came, left = await q.arrivals(conn, qs), await q.departures(conn, qs)
            tenant_names, channel_names = await q.names(
                conn, tenant_ids={t for _, t, _ in spend},
                channel_ids={c for c, _, _ in outcomes if c} | {c for c, _, _ in refunds if c})
        per_state = _per_slot(finished, jb)
        jobs = [Series(s.value, per_state.get(s.value, [0] * jb.count))
                for s in (State.COMPLETED, State.FAILED)]
        return Dashboard(w, end, jb.edges(), jobs, _durations(durations),
                         _channels(outcomes, refunds, channel_names), sb.edges(),
                         _spend(spend, sb, tenant_names),
                         _queue(by_state, waiting, qb, qs, came, left))


def _channels(outcomes: list[tuple[str | None, str, int]],
              refunds: list[tuple[str | None, int, int]],
              names: dict[str, str]) -> list[ChannelRates]:
    finished: dict[str | None, int] = defaultdict(int)
    failed: dict[str | None, int] = defaultdict(int)
    for channel, state, n in outcomes:
        finished[channel] += n
        if state == State.FAILED.value:
            failed[channel] += n
    back = {c: (n, micros) for c, n, micros in refunds}
    keys = sorted(set(finished) | set(back), key=lambda c: (c is None, names.get(c or "", c)))
    return [ChannelRates(names.get(c, c) if c else NO_CHANNEL, finished[c], failed[c],
                         *back.get(c, (0, 0))) for c in keys]
