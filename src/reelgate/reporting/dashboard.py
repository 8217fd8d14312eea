"""The admin dashboard's numbers: one service call per page, from aggregates only.

:class:`DashboardService` runs the queries of :mod:`reelgate.reporting.queries` in one
read snapshot and shapes them into plain values that the page charts and
``/admin/api/dashboard`` returns as JSON, so both show the same thing. Percentiles
are nearest-rank over a histogram: the value reported is the lower bound of the
bucket that holds the ranked job (1 s wide below a minute; see
``reporting.windows.DURATION_STEPS``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from reelgate.ids import now
from reelgate.jobs.states import ACTIVE, State
from reelgate.reporting import queries as q
from reelgate.reporting.slots import SlotCache
from reelgate.reporting.windows import Buckets, Window, window
from reelgate.store.db import Database, Tx

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


def _split(rows: Sequence[tuple[Any, ...]], count: int) -> list[list[tuple[Any, ...]]]:
    """Rows whose first field is a slot, as one list (of the other fields) per slot."""
    out: list[list[tuple[Any, ...]]] = [[] for _ in range(count)]
    for row in rows:
        if 0 <= row[0] < count:
            out[row[0]].append(row[1:])
    return out


def _counts(rows: dict[int, int], count: int) -> list[int]:
    return [rows.get(i, 0) for i in range(count)]


def _jobs(ended: list[list[tuple[Any, ...]]]) -> list[Series]:
    out = []
    for state in (State.COMPLETED.value, State.FAILED.value):
        out.append(Series(state, [sum(r[4] for r in slot if r[0] == state) for slot in ended]))
    return out


def _durations(ended: list[list[tuple[Any, ...]]]) -> list[ModelDurations]:
    hists: dict[str, dict[float, int]] = defaultdict(lambda: defaultdict(int))
    totals: dict[str, float] = defaultdict(float)
    for slot in ended:
        for state, _channel, model, took, n, seconds in slot:
            if state == State.COMPLETED.value and took is not None:
                hists[model][took] += n
                totals[model] += seconds
    out = []
    for model, hist in sorted(hists.items()):
        count = sum(hist.values())
        out.append(ModelDurations(model, count, percentile(list(hist.items()), 50),
                                  percentile(list(hist.items()), 95), totals[model] / count))
    return out


def _spend(per_slot: list[dict[str, int]], tenant_names: dict[str, str]) -> list[Series]:
    per: dict[str, list[int]] = defaultdict(lambda: [0] * len(per_slot))
    for i, slot in enumerate(per_slot):
        for tenant, micros in slot.items():
            per[tenant][i] += micros
    ranked = sorted(per, key=lambda t: (-sum(per[t]), tenant_names.get(t, t)))
    out = [Series(tenant_names.get(t, t), per[t]) for t in ranked[:TOP_TENANTS]]
    rest = ranked[TOP_TENANTS:]
    if rest:
        out.append(Series(f"{len(rest)} others",
                          [sum(per[t][i] for t in rest) for i in range(len(per_slot))]))
    return out


def _queue(by_state: dict[str, int], waiting: int, shown: Buckets, samples: Buckets,
           came: list[int], left: list[int]) -> QueueView:
    """Walk back from now: waiting at an instant = waiting now - arrivals since +
    departures since (a job that arrived and left after it cancels out)."""
    peak = [0] * shown.count
    peak[-1] = waiting
    level = waiting
    for slot in range(samples.count - 1, -1, -1):
        level += left[slot] - came[slot]
        at = samples.start + slot * samples.step
        i = min(shown.count - 1, int((at - shown.start) // shown.step))
        peak[i] = max(peak[i], level)
    states = {s.value: by_state.get(s.value, 0) for s in sorted(ACTIVE)}
    return QueueView(states, waiting, shown.edges(), peak, samples.step)


class DashboardService:
    """Builds the dashboard; keeps closed buckets' aggregates (:mod:`.slots`), so once
    a window has been shown a load scans only its newest bucket."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.cache = SlotCache()

    async def build(self, window_name: str, *, at: float | None = None) -> Dashboard:
        """The dashboard for the window ending at ``at`` (default: now)."""
        w = window(window_name)
        end = now() if at is None else at
        jb, sb, qb, qs = w.jobs(end), w.spend(end), w.queue(end), w.queue_samples(end)
        slots = self.cache.slots
        async with self.db.read() as conn:
            ended = await slots(conn, "ended", jb, lambda b: self._split(conn, q.ended, b))
            refunds = await slots(conn, "refunds", jb,
                                  lambda b: self._split(conn, q.refunds_by_channel, b))
            spend = await slots(conn, "spend", sb, lambda b: self._spend(conn, b))
            came = await slots(conn, "arrived", qs,
                               lambda b: self._counts(conn, q.arrivals, b))
            left = await slots(conn, "left", qs,
                               lambda b: self._counts(conn, q.departures, b))
            by_state = await q.active_by_state(conn)
            waiting = await q.waiting(conn, end)
            tenant_names, channel_names = await q.names(
                conn, tenant_ids={t for slot in spend for t in slot},
                channel_ids={r[1] for slot in ended for r in slot if r[1]}
                | {r[0] for slot in refunds for r in slot if r[0]})
        await self.cache.save(self.db)
        return Dashboard(w, end, jb.edges(), _jobs(ended), _durations(ended),
                         _channels(ended, refunds, channel_names), sb.edges(),
                         _spend(spend, tenant_names),
                         _queue(by_state, waiting, qb, qs, came, left))

    @staticmethod
    async def _split(conn: Tx, query: Callable[[Tx, Buckets], Awaitable[Sequence[Any]]],
                     b: Buckets) -> list[list[tuple[Any, ...]]]:
        return _split(await query(conn, b), b.count)

    @staticmethod
    async def _spend(conn: Tx, b: Buckets) -> list[dict[str, int]]:
        out: list[dict[str, int]] = [{} for _ in range(b.count)]
        for slot, tenant, micros in await q.spend_by_tenant(conn, b):
            if 0 <= slot < b.count:
                out[slot][tenant] = out[slot].get(tenant, 0) + micros
        return out

    @staticmethod
    async def _counts(conn: Tx, query: Callable[[Tx, Buckets], Awaitable[dict[int, int]]],
                      b: Buckets) -> list[int]:
        return _counts(await query(conn, b), b.count)


def _channels(ended: list[list[tuple[Any, ...]]], refunds: list[list[tuple[Any, ...]]],
              names: dict[str, str]) -> list[ChannelRates]:
    finished: dict[str | None, int] = defaultdict(int)
    failed: dict[str | None, int] = defaultdict(int)
    for slot in ended:
        for state, channel, _model, _took, n, _seconds in slot:
            finished[channel] += n
            if state == State.FAILED.value:
                failed[channel] += n
    back: dict[str | None, list[int]] = defaultdict(lambda: [0, 0])
    for slot in refunds:
        for channel, n, micros in slot:
            back[channel][0] += n
            back[channel][1] += micros
    keys = sorted(set(finished) | set(back), key=lambda c: (c is None, names.get(c or "", c)))
    return [ChannelRates(names.get(c, c) if c else NO_CHANNEL, finished[c], failed[c],
                         *back.get(c, (0, 0))) for c in keys]
