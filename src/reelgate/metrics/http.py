"""HTTP requests by route template, method and status, and their latency.

One API process keeps them in plain Python numbers: a request costs a dict lookup,
three additions and a ``bisect`` (no locks: only the event loop thread observes and
only the event loop renders ``/metrics``). The processes of ``serve --workers N``
write them with ``prometheus_client``'s file-backed values instead, so any of them
can add up all of them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from typing import Any, Protocol

from prometheus_client import Counter, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["LATENCY_BUCKETS", "METHODS", "HttpMetrics", "RequestObserver", "SharedHttpMetrics"]

#: seconds a request took, first byte in to last byte out
LATENCY_BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                      0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: any other method a client sends is counted as "other" (labels stay few)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = ("reelgate_http_requests", "HTTP requests answered, by route template, method "
            "and status.")
LATENCY = ("reelgate_http_request_duration_seconds", "Time from a request's arrival to the "
           "end of its answer (streams included), by route template and method.")


class RequestObserver(Protocol):
    def observe(self, route: str, method: str, status: int, seconds: float) -> None: ...


class _Series:
    __slots__ = ("buckets", "count", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # per bound, then +Inf; not cumulative


class HttpMetrics(Collector):
    """One process's requests (event loop only, see the module's docstring)."""

    def __init__(self) -> None:
        #: (route, method as sent, status) -> its series; odd methods share "other"'s
        self._series: dict[tuple[str, str, int], _Series] = {}
        #: the same series under the labels they are exposed with
        self._named: dict[tuple[str, str, int], _Series] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        s = self._series.get((route, method, status))
        if s is None:
            s = self._add(route, method, status)
        s.count += 1
        s.total += seconds
        s.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1

    def _add(self, route: str, method: str, status: int) -> _Series:
        named = (route, method if method in METHODS else "other", status)
        s = self._named.setdefault(named, _Series())
        self._series[(route, method, status)] = s
        return s

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(*REQUESTS, labels=["route", "method", "status"])
        latency: dict[tuple[str, str], _Series] = {}
        for (route, method, status), s in sorted(self._named.items()):
            requests.add_metric([route, method, str(status)], s.count)
            into = latency.setdefault((route, method), _Series())
            into.count += s.count
            into.total += s.total
            into.buckets = [a + b for a, b in zip(into.buckets, s.buckets, strict=True)]
        yield requests
        histogram = HistogramMetricFamily(*LATENCY, labels=["route", "method"])
        for (route, method), s in latency.items():
            cumulative, running = [], 0
            for bound, n in zip((*LATENCY_BUCKETS, float("inf")), s.buckets, strict=True):
                running += n
                cumulative.append((_le(bound), float(running)))
            histogram.add_metric([route, method], cumulative, s.total)
        yield histogram


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


class SharedHttpMetrics:
    """The same numbers in ``prometheus_client``'s values (file-backed when
    ``PROMETHEUS_MULTIPROC_DIR`` is set), for ``serve --workers N``."""

    def __init__(self) -> None:
        self.requests = Counter(*REQUESTS, ("route", "method", "status"), registry=None)
        self.latency = Histogram(*LATENCY, ("route", "method"), buckets=LATENCY_BUCKETS,
                                 registry=None)
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        series = self._series.get((route, method, status))
        if series is None:
            named = method if method in METHODS else "other"
            series = (self.requests.labels(route, named, str(status)),
                      self.latency.labels(route, named))
            self._series[(route, method, status)] = series
        series[0].inc()
        series[1].observe(seconds)
