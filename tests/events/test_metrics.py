"""/metrics on the API process reports what a separate worker process did.

Everything about jobs is computed from the database at scrape time, so the API
process, which ran no job and sent no webhook, still sees the jobs, their durations,
the polls and the deliveries made by `reelgate worker`; the worker's own port has its
CPU and memory.
"""

from __future__ import annotations

import time

import httpx
import openai
from prometheus_client.parser import text_string_to_metric_families

from reelgate import __version__
from tests.events.conftest import BLOCKED_WORD, METRICS_TOKEN
from tests.integration.helpers import wait_done
from tests.support.server import GatewayProcess
from tests.webhooks.receiver import Receiver

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(gw: GatewayProcess) -> Samples:
    return scrape_url(gw.root_url)


def scrape_url(url: str) -> Samples:
    resp = httpx.get(f"{url}/metrics", timeout=10,
                     headers={"authorization": f"Bearer {METRICS_TOKEN}"})
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
    grew("reelgate_refunds_total", model="sora-2")  # the failed job's reservation came back
    assert ("reelgate_queue_depth", frozenset({("state", "queued")})) in after
    assert value(after, "reelgate_build_info", version=__version__) == 1


def test_the_worker_serves_its_own_process_metrics(split: GatewayProcess) -> None:
    url = f"http://127.0.0.1:{split.env['REELGATE_WORKER_METRICS_PORT']}"
    deadline = time.monotonic() + 60
    while True:  # the worker process may still be starting
        try:
            refused = httpx.get(f"{url}/metrics", timeout=10)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "the worker's metrics port never opened"
            time.sleep(0.2)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_metrics_token"
    assert httpx.get(f"{url}/other", timeout=10).status_code == 404
    worker, api = scrape_url(url), scrape(split)
    assert value(worker, "process_cpu_seconds_total") > 0
    assert value(worker, "process_resident_memory_bytes") > 0
    assert ("python_info", frozenset()) not in worker  # it has labels
    assert any(name == "python_info" for name, _ in worker)
    # another process than the API's, and nothing from the database twice
    assert value(worker, "process_start_time_seconds") != value(
        api, "process_start_time_seconds")
    assert {name for name, _ in worker if name.startswith("reelgate_")} == {
        "reelgate_build_info"}
    assert value(worker, "reelgate_build_info", version=__version__) == 1
