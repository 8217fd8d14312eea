"""Metrics only a process knows: its HTTP requests, its CPU and memory.

Everything about jobs and money comes from the database (:mod:`.snapshot`); these
cannot. One process (``reelgate serve``, a ``reelgate worker``) keeps them in
memory with the usual ``process_*`` and ``python_*`` collectors. Several API
processes behind one port (``serve --workers N``) share a directory instead
(``PROMETHEUS_MULTIPROC_DIR``, set by ``serve``): each writes its values to its own
files and a scrape, whichever process answers, adds them all up. The ``process_*``
collector only sees the process it runs in, so there each process also writes its
CPU seconds (summed, dead processes included, so ``rate()`` holds), its resident
memory and open files (summed over live processes) and counts itself in
``reelgate_api_processes``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from reelgate.metrics.http import HttpMetrics, RequestObserver, SharedHttpMetrics

__all__ = ["LocalMetrics"]

_LIVE_FILE = re.compile(r"gauge_live\w*?_(\d+)\.db$")


class _ProcessShare:
    """This process's CPU, memory and open files, written where the others read them."""

    def __init__(self) -> None:
        self.own = ProcessCollector(registry=None)
        self.cpu = Counter("process_cpu_seconds", "User and system CPU seconds of every API "
                           "process (also those that exited).", registry=None)
        self.rss = Gauge("process_resident_memory_bytes", "Resident memory of the live API "
                         "processes, summed.", registry=None, multiprocess_mode="livesum")
        self.fds = Gauge("process_open_fds", "Open file descriptors of the live API "
                         "processes, summed.", registry=None, multiprocess_mode="livesum")
        self.alive = Gauge("reelgate_api_processes", "Live API processes sharing this port.",
                           registry=None, multiprocess_mode="livesum")
        self.alive.set(1)
        self._cpu_seen = 0.0

    def sample(self) -> None:
        for family in self.own.collect():
            for s in family.samples:
                if s.name == "process_cpu_seconds_total":
                    self.cpu.inc(max(0.0, s.value - self._cpu_seen))
                    self._cpu_seen = max(self._cpu_seen, s.value)
                elif s.name == "process_resident_memory_bytes":
                    self.rss.set(s.value)
                elif s.name == "process_open_fds":
                    self.fds.set(s.value)


class LocalMetrics:
    """This process's metrics; ``shared_dir``: the directory of ``serve --workers N``."""

    def __init__(self, shared_dir: str = "") -> None:
        # no ``*_created`` twin of every series
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.shared_dir = shared_dir
        self.registry = CollectorRegistry()
        self.http: RequestObserver
        if shared_dir:
            self.http = SharedHttpMetrics()  # values in files that every scrape adds up
            self.share: _ProcessShare | None = _ProcessShare()
            self.share.sample()
        else:
            http = HttpMetrics()
            self.registry.register(http)
            self.http = http
            self.share = None
            ProcessCollector(registry=self.registry)
        self.registry.register(_Same(PLATFORM_COLLECTOR, GC_COLLECTOR))

    def sample(self) -> None:
        """Write this process's CPU and memory for the others (shared mode only)."""
        if self.share is not None:
            self.share.sample()

    def render(self) -> bytes:
        if self.share is None:
            return generate_latest(self.registry)
        self.share.sample()
        _forget_dead(Path(self.shared_dir))
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.shared_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry) + generate_latest(self.registry)


class _Same(Collector):
    """The interpreter's own collectors (already in the default registry), re-exposed."""

    def __init__(self, *collectors: Collector) -> None:
        self.collectors = collectors

    def collect(self) -> Iterator[Any]:
        for c in self.collectors:
            yield from c.collect()


def _forget_dead(path: Path) -> None:
    """Drop the live gauges of processes that exited (their counters stay counted)."""
    for f in path.glob("gauge_live*.db"):
        m = _LIVE_FILE.search(f.name)
        if m is None:
            continue
        pid = int(m.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_process_dead(pid, str(path))  # type: ignore[no-untyped-call]
        except PermissionError:
            pass
