"""Prometheus metrics: what the database says (jobs, money, upstream errors, webhooks:
the same from every process) and what only this process knows (HTTP requests, CPU,
memory). ``GET /metrics`` renders both; see the README's Metrics section."""

from reelgate.metrics.exposition import render
from reelgate.metrics.http import HttpMetrics
from reelgate.metrics.local import LocalMetrics
from reelgate.metrics.snapshot import DURATION_BUCKETS, Snapshot, snapshot

__all__ = ["DURATION_BUCKETS", "HttpMetrics", "LocalMetrics", "Snapshot", "render", "snapshot"]
