"""deploy/grafana/reelgate.json is a dashboard Grafana can import, and every metric
and label its panels query exists on a live /metrics after real requests and jobs
(the workload of this package: a dead and a flaky upstream, a completed and a
refunded job)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.metrics.conftest import Workload
from tests.metrics.promql import reads
from tests.metrics.scrape import Samples

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "reelgate.json"
#: labels Prometheus adds to every series it scrapes; histogram buckets' bound
SCRAPE_LABELS = {"job", "instance"}


def _panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for p in items:
        yield p
        yield from _panels(p.get("panels", []))


def _queries(board: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    for p in _panels(board["panels"]):
        for t in p.get("targets", []):
            yield f"panel {p['title']!r} {t['refId']}", t["expr"]
    for v in board["templating"]["list"]:
        if v["type"] == "query":
            query = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            # label_values(METRIC, LABEL) reads METRIC's LABEL
            inner = query.removeprefix("label_values(").removesuffix(")")
            metric, _, label = inner.partition(",")
            yield f"variable {v['name']!r}", f'count by ({label.strip()}) ({metric.strip()})'


def _labels(got: Samples) -> dict[str, set[str]]:
    """Sample name -> every label name its series carry."""
    names: dict[str, set[str]] = {}
    for name, labels in got:
        names.setdefault(name, set()).update(k for k, _ in labels)
    return names


def test_the_dashboard_is_importable() -> None:
    board = json.loads(DASHBOARD.read_text())
    panels = list(_panels(board["panels"]))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 36
    assert {v["name"] for v in board["templating"]["list"]} >= {"datasource", "job"}
    graphs = [p for p in panels if p["type"] != "row"]
    assert len(graphs) >= 15
    for p in graphs:
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        assert p["targets"] and all(t["expr"].strip() for t in p["targets"]), p["title"]
        assert set(p["gridPos"]) == {"h", "w", "x", "y"} and p["gridPos"]["x"] + \
            p["gridPos"]["w"] <= 24, p["title"]
    titles = " | ".join(p["title"] for p in graphs).lower()
    for topic in ("requests per second", "p50", "p95", "p99", "error ratio", "submit errors",
                  "poll errors", "jobs by state", "queue depth", "charged", "refunded",
                  "cpu", "memory"):
        assert topic in titles, topic


def test_every_metric_and_label_the_dashboard_queries_is_served(workload: Workload) -> None:
    served = _labels(workload.after)
    board = json.loads(DASHBOARD.read_text())
    checked = set()
    for where, expr in _queries(board):
        r = reads(expr)
        assert r.metrics, (where, expr)
        for metric in r.metrics:
            assert metric in served, f"{where}: {metric} is not on a live /metrics"
            checked.add(metric)
        for metric, labels in r.matched.items():
            unknown = labels - served[metric] - SCRAPE_LABELS
            assert not unknown, f"{where}: {metric} has no label {unknown}"
        offered = set().union(*(served[m] for m in r.metrics)) | SCRAPE_LABELS
        assert r.grouped <= offered, f"{where}: no metric has {r.grouped - offered}"
    # histograms are queried by their _bucket series
    assert "reelgate_http_request_duration_seconds_bucket" in checked
    assert "reelgate_job_duration_seconds_bucket" in checked
    assert len(checked) >= 15


def test_the_reader_finds_names_labels_and_mistakes() -> None:
    r = reads('histogram_quantile(0.95, sum by (le, route) (rate('
              'reelgate_http_request_duration_seconds_bucket{job=~"$job",route!="/x"}'
              '[$__rate_interval]))) / 1e6 + on(instance) group_left up')
    assert r.metrics == {"reelgate_http_request_duration_seconds_bucket", "up"}
    assert r.matched == {"reelgate_http_request_duration_seconds_bucket": {"job", "route"}}
    assert r.grouped == {"le", "route", "instance"}
    assert reads("max by (state) (reelgate_queue_dept)").metrics == {"reelgate_queue_dept"}
    assert reads('sum(rate({__name__="a_total"}[5m])) or vector(0)').metrics == {"a_total"}
