"""A gateway in front of two misbehaving upstreams, and one run of real jobs through it.

``down`` (tried first) refuses every connection; ``flaky`` is a fake OpenAI that
refuses one submit with a 500, then answers one poll 500, one 429 and one too slowly
(its channel's read timeout is 2 s), and then works. The workload runs once per
package: a job that completes through all of that, one the fake's moderation fails
(refunded), a download, a 404 and a list; tests read the scrapes before and after.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import openai
import pytest

from tests.fakes import FakeServer, OpenAIFake
from tests.integration.helpers import wait_done
from tests.metrics.scrape import Samples, scrape
from tests.support.server import GatewayProcess, free_port

UPSTREAM_KEY = "sk-metrics-upstream"
#: a GET of one upstream job (a poll), not of its content
POLL = r"/videos/[^/]+$"


@dataclass
class Workload:
    gw: GatewayProcess
    fake: OpenAIFake
    before: Samples
    after: Samples
    completed_id: str
    failed_id: str
    #: what the completed job's create reserved (the quote), which its settle charges
    quoted_micros: int
    #: what the failed job reserved, which its refund returns
    refund_micros: int
    #: requests the test itself sent, by (route template, method, status)
    sent: dict[tuple[str, str, str], int]


def scrape_until(url: str, done: Callable[[Samples], bool], *, timeout: float = 60.0,
                 token: str | None = None) -> Samples:
    """Scrape until ``done`` holds (the text is reused for a couple of seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        got = scrape(url, token)
        if done(got):
            return got
        if time.monotonic() > deadline:
            raise AssertionError("the metrics never showed what was expected")
        time.sleep(0.5)


@pytest.fixture(scope="package")
def flaky() -> Iterator[tuple[OpenAIFake, str]]:
    fake = OpenAIFake("openai", keys={UPSTREAM_KEY}, complete_after=1.0)
    with FakeServer(fake) as server:
        yield fake, fake.base_url(server.url)


@pytest.fixture(scope="package")
def gateway(tmp_path_factory: pytest.TempPathFactory,
            flaky: tuple[OpenAIFake, str]) -> Iterator[GatewayProcess]:
    gw = GatewayProcess(tmp_path_factory.mktemp("metrics"),
                        env={"REELGATE_IDLE_SECONDS": "0.2"})
    gw.cli("channels", "add", "down", "--provider", "openai", "--priority", "20",
           "--base-url", f"http://127.0.0.1:{free_port()}/v1", "--key", "sk-nobody")
    gw.cli("channels", "add", "flaky", "--provider", "openai", "--priority", "10",
           "--base-url", flaky[1], "--key", UPSTREAM_KEY, "--read-timeout", "2")
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture(scope="package")
def workload(gateway: GatewayProcess, flaky: tuple[OpenAIFake, str]) -> Workload:
    fake = flaky[0]
    before = scrape(gateway.root_url)
    key = gateway.create_key("metrics")
    client = openai.OpenAI(api_key=key, base_url=gateway.base_url, max_retries=0)
    fake.fail_next(500, method="POST", path=r"/videos$")
    fake.fail_next(500, method="GET", path=POLL)
    fake.rate_limit_next(method="GET", path=POLL, retry_after=1)
    fake.slow_next(5.0, method="GET", path=POLL)
    body = {"model": "sora-2", "prompt": "a metered sunrise", "seconds": "4",
            "size": "1280x720"}
    auth = {"authorization": f"Bearer {key}"}
    quote = httpx.post(f"{gateway.base_url}/videos/quote", json=body, headers=auth, timeout=30)
    assert quote.status_code == 200, quote.text
    ok = client.videos.create(**body)  # type: ignore[arg-type]
    done = wait_done(client, ok.id, timeout=120)
    assert done.status == "completed", done
    bad_body = {"model": "sora-2", "prompt": "something forbidden", "seconds": "4"}
    bad_quote = httpx.post(f"{gateway.base_url}/videos/quote", json=bad_body, headers=auth,
                           timeout=30)
    bad = client.videos.create(**bad_body)  # type: ignore[arg-type]
    assert wait_done(client, bad.id, timeout=120).status == "failed"
    content = httpx.get(f"{gateway.base_url}/videos/{ok.id}/content", headers=auth, timeout=30)
    assert content.status_code == 200
    missing = httpx.get(f"{gateway.base_url}/videos/video_nothere", headers=auth, timeout=30)
    assert missing.status_code == 404
    assert client.videos.list().data
    sent = {("/v1/videos/quote", "POST", "200"): 2, ("/v1/videos", "POST", "200"): 2,
            ("/v1/videos/{video_id}/content", "GET", "200"): 1,
            ("/v1/videos/{video_id}", "GET", "404"): 1, ("/v1/videos", "GET", "200"): 1}
    after = scrape_until(gateway.root_url, lambda got: _answered(got, sent))
    return Workload(gateway, fake, before, after, ok.id, bad.id,
                    int(quote.json()["amount_micros"]), int(bad_quote.json()["amount_micros"]),
                    sent)


def _answered(got: Samples, sent: dict[tuple[str, str, str], int]) -> bool:
    for (route, method, status), n in sent.items():
        key = ("reelgate_http_requests_total",
               frozenset({("route", route), ("method", method), ("status", status)}))
        if got.get(key, 0) < n:
            return False
    return True
