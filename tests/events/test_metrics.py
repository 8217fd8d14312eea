"""/metrics on the API process reports what a separate worker process did.

Everything is computed from the database at scrape time, so the API process, which
ran no job and sent no webhook, still sees the jobs, their durations, the polls and
the deliveries made by `reelgate worker`.
"""

from __future__ import annotations

import httpx
import openai
from prometheus_client.parser import text_string_to_metric_families

from reelgate import __version__
from tests.events.conftest import BLOCKED_WORD
from tests.integration.helpers import wait_done
from tests.support.server import GatewayProcess
from tests.webhooks.receiver import Receiver

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(gw: GatewayProcess) -> Samples:
    resp = httpx.get(f"{gw.root_url}/metrics", timeout=10)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    out: Samples = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_from_the_database_cover_work_done_by_another_process(
    split: GatewayProcess,
) -> None:
    before = scrape(split)
    key = split.create_key("metrics", tenant="metered")
    client = openai.OpenAI(api_key=key, base_url=split.base_url, max_retries=0)
    with Receiver() as rx:
        split.cli("webhooks", "add", rx.url, "--tenant", "metered", "--allow-private")
        ok = client.videos.create(model="sora-2", prompt="metered sunrise", seconds="4")
        bad = client.videos.create(model="sora-2", prompt=f"{BLOCKED_WORD} at dusk",
                                   seconds="4")
        assert wait_done(client, ok.id).status == "completed"
        assert wait_done(client, bad.id).status == "failed"
        rx.wait_for(lambda got: len(got) >= 2)  # the worker process runs the dispatcher
    after = scrape(split)

    def grew(name: str, by: float = 1, **labels: str) -> None:
        got = value(after, name, **labels) - value(before, name, **labels)
        assert got >= by, (name, labels, got)

    grew("reelgate_jobs", state="completed", model="sora-2", channel="local")
    grew("reelgate_jobs", state="failed", model="sora-2", channel="local")
    grew("reelgate_job_failures_total", channel="local", code="moderation_blocked")
    grew("reelgate_job_duration_seconds_count", model="sora-2")
    assert value(after, "reelgate_job_duration_seconds_sum", model="sora-2") > 0
    buckets = sorted((float(dict(lbl)["le"]), v) for (n, lbl), v in after.items()
                     if n == "reelgate_job_duration_seconds_bucket"
                     and dict(lbl)["model"] == "sora-2")
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)  # cumulative
    assert buckets[-1][1] == value(after, "reelgate_job_duration_seconds_count", model="sora-2")
    grew("reelgate_upstream_polls_total", channel="local")
    grew("reelgate_webhook_deliveries", by=2, status="delivered")
    grew("reelgate_webhook_attempts_total", by=2)
    grew("reelgate_refunds_total")  # the failed job's reservation came back
    assert ("reelgate_queue_depth", frozenset({("state", "queued")})) in after
    assert value(after, "reelgate_build_info", version=__version__) == 1
