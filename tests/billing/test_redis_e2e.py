"""Rate limits shared by two API processes through a real Redis on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.support.server import TEST_DATABASE, GatewayProcess

pytestmark = pytest.mark.skipif(TEST_DATABASE == "postgres",
                                reason="limits live in Redis, not the database: the SQLite "
                                       "pass covers them")


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory,
         redis_url: str) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    """Two `reelgate serve` on one database and one Redis; only the first runs a worker."""
    data = tmp_path_factory.mktemp("redis-gw")
    first = GatewayProcess(data, env={"REELGATE_REDIS_URL": redis_url})
    first.start()
    second = GatewayProcess(data, env=dict(first.env), args=("--no-worker",))
    try:
        second.start()
        yield first, second
    finally:
        second.stop()
        first.stop()


def _client(gw: GatewayProcess, secret: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=secret, base_url=gw.base_url, max_retries=0)


def test_polls_are_counted_across_processes(pair: tuple[GatewayProcess, GatewayProcess]) -> None:
    a, b = pair
    out = a.cli("keys", "create", "--name", "shared-polls", "--tenant", "redis-polls",
                "--create-tenant", "--polls-per-minute", "4")
    secret = out.strip().splitlines()[-1]
    ca, cb = _client(a, secret), _client(b, secret)
    seen = []
    for client in (ca, cb, ca, cb):
        raw = client.videos.with_raw_response.list()
        seen.append(raw.headers["x-ratelimit-remaining-requests"])
    assert seen == ["3", "2", "1", "0"]
    for client in (cb, ca):
        with pytest.raises(openai.RateLimitError) as err:
            client.videos.list()
        assert err.value.code == "rate_limit_exceeded"
        assert int(err.value.response.headers["retry-after"]) >= 10


def test_creates_are_counted_across_processes(
        pair: tuple[GatewayProcess, GatewayProcess]) -> None:
    a, b = pair
    out = a.cli("keys", "create", "--name", "shared-creates", "--tenant", "redis-creates",
                "--create-tenant", "--creates-per-minute", "2", "--polls-per-minute", "4")
    secret = out.strip().splitlines()[-1]
    ca, cb = _client(a, secret), _client(b, secret)
    one = ca.videos.create(model="sora-2", prompt="shared one", seconds="4")
    two = cb.videos.create(model="sora-2", prompt="shared two", seconds="4")
    for client in (ca, cb):
        with pytest.raises(openai.RateLimitError) as err:
            client.videos.create(model="sora-2", prompt="third", seconds="4")
        assert err.value.code == "rate_limit_exceeded"
    assert cb.videos.retrieve(one.id).id == one.id  # polls have their own bucket
    cb.videos.delete(one.id)
    ca.videos.delete(two.id)
