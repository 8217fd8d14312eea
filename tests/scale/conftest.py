"""Fixtures for the scale-out tests: a fake OpenAI-shaped upstream on loopback and a
small live deployment (one API process, one worker process) using it."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.fakes import FakeServer, OpenAIFake
from tests.scale.support import UPSTREAM_KEY, Deployment

#: fast polling, short leases and limits, so failures and recoveries show in seconds
LIVE_ENV = {"REELGATE_LEASE_SECONDS": "2", "REELGATE_POLL_MIN_SECONDS": "0.3",
            "REELGATE_POLL_MAX_SECONDS": "1", "REELGATE_IDLE_SECONDS": "0.2",
            "REELGATE_JOB_TIMEOUT_SECONDS": "30", "REELGATE_HOUSEKEEPING_SECONDS": "0.5",
            "REELGATE_STALE_REFRESH_SECONDS": "1", "REELGATE_REFRESH_TIMEOUT_SECONDS": "1",
            "REELGATE_IDEMPOTENCY_TTL_SECONDS": "3"}


@pytest.fixture(scope="package")
def upstream() -> Iterator[tuple[OpenAIFake, str]]:
    """(fake, channel base URL); jobs complete 1 s after submission."""
    fake = OpenAIFake("openai", keys={UPSTREAM_KEY}, complete_after=1.0)
    with FakeServer(fake) as server:
        yield fake, fake.base_url(server.url)


@pytest.fixture(scope="package")
def live(tmp_path_factory: pytest.TempPathFactory,
         upstream: tuple[OpenAIFake, str]) -> Iterator[Deployment]:
    deployment = Deployment(tmp_path_factory.mktemp("live"), env=LIVE_ENV)
    try:  # also when a start fails half-way: no process may outlive the session
        deployment.add_fake_channel(upstream[1])
        deployment.add_worker()
        deployment.add_apis(1)
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture(scope="package")
def live_client(live: Deployment) -> openai.OpenAI:
    return openai.OpenAI(api_key=live.create_key(), base_url=live.apis[0].base_url,
                         max_retries=0)
