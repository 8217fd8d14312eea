"""A :class:`~reelgate.metrics.snapshot.Snapshot` as Prometheus metric families."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from reelgate import __version__
from reelgate.jobs.states import ACTIVE
from reelgate.metrics.snapshot import DURATION_BUCKETS, Snapshot

__all__ = ["SnapshotCollector", "build_info", "render", "render_build_info"]


class SnapshotCollector(Collector):
    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def collect(self) -> Iterator[Metric]:
        s = self.snap
        yield build_info()
        yield from self._jobs()
        yield from self._money()
        c = CounterMetricFamily("reelgate_upstream_errors", "Failed upstream calls by channel, "
                                "operation (submit, poll, recover, download) and kind "
                                "(connection, timeout, http_4xx, http_5xx, rate_limited, auth, "
                                "moderation, not_found, protocol, other).",
                                labels=["channel", "op", "kind"])
        for (chan, op, kind), n in sorted(s.upstream_errors.items()):
            c.add_metric([chan, op, kind], n)
        yield c
        g = GaugeMetricFamily("reelgate_webhook_deliveries",
                              "Webhook deliveries by outcome.", labels=["status"])
        for status in ("pending", "delivered", "dead", "replayed"):
            g.add_metric([status], s.deliveries.get(status, 0))
        yield g
        yield CounterMetricFamily("reelgate_webhook_attempts", "Webhook POST attempts.",
                                  value=s.delivery_attempts)

    def _jobs(self) -> Iterator[Metric]:
        s = self.snap
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

    def _money(self) -> Iterator[Metric]:
        s = self.snap
        labels = ["model", "tenant"] if s.by_tenant else ["model"]
        names = {
            "settle": (("reelgate_settlements", "Completed jobs settled (ledger settle entries)."),
                       ("reelgate_charged_micros", "Micro-USD charged for completed jobs.")),
            "refund": (("reelgate_refunds", "Refund ledger entries (failed jobs)."),
                       ("reelgate_refunded_micros", "Micro-USD refunded for failed jobs.")),
        }
        for kind, ((count_name, count_doc), micros_name_doc) in names.items():
            entries = CounterMetricFamily(count_name, count_doc, labels=labels)
            micros = CounterMetricFamily(*micros_name_doc, labels=labels)
            for (k, model, tenant), money in sorted(s.money.items()):
                if k == kind:
                    values = [model, tenant] if s.by_tenant else [model]
                    entries.add_metric(values, money.entries)
                    micros.add_metric(values, money.micros)
            yield entries
            yield micros


def build_info() -> Metric:
    info = GaugeMetricFamily("reelgate_build_info", "Version of this gateway.",
                             labels=["version"])
    info.add_metric([__version__], 1)
    return info


class _BuildInfo(Collector):
    def collect(self) -> Iterator[Metric]:
        yield build_info()


def render_build_info() -> bytes:
    """Only ``reelgate_build_info`` (a worker's own port: it reads no database)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_BuildInfo())
    return generate_latest(registry)


def _le(bound: float) -> str:
    return f"{bound:g}" if bound != int(bound) else f"{int(bound)}.0"


def render(snap: Snapshot) -> bytes:
    """The Prometheus text exposition of ``snap``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snap))
    return generate_latest(registry)
