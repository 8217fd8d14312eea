"""The GCRA limiter: in memory with a fake clock, and the same contract on a real Redis."""

from __future__ import annotations

import asyncio
import logging

import pytest

from reelgate.api.limits import ratelimit_headers
from reelgate.limits.rate import MemoryLimiter, RedisLimiter


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def test_burst_then_one_per_interval() -> None:
    clock = Clock()
    lim = MemoryLimiter(clock)
    got = [await lim.hit("k", 3) for _ in range(4)]
    assert [d.allowed for d in got] == [True, True, True, False]
    assert [d.remaining for d in got[:3]] == [2, 1, 0]
    assert got[3].retry_after == pytest.approx(20.0)
    assert got[0].reset_after == pytest.approx(20.0)
    assert got[2].reset_after == pytest.approx(60.0)
    clock.t += 19.9
    assert not (await lim.hit("k", 3)).allowed
    clock.t += 0.2
    again = await lim.hit("k", 3)
    assert again.allowed and again.remaining == 0
    clock.t += 60
    assert (await lim.hit("k", 3)).remaining == 2


async def test_buckets_are_independent() -> None:
    lim = MemoryLimiter(Clock())
    assert (await lim.hit("creates:a", 1)).allowed
    assert not (await lim.hit("creates:a", 1)).allowed
    assert (await lim.hit("polls:a", 1)).allowed
    assert (await lim.hit("creates:b", 1)).allowed


def test_headers_follow_openai_names() -> None:
    lim = MemoryLimiter(Clock())
    asyncio.run(lim.hit("k", 1))
    denied = asyncio.run(lim.hit("k", 1))
    headers = ratelimit_headers(denied)
    assert headers["x-ratelimit-limit-requests"] == "1"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"] == "1m0s"
    assert headers["retry-after"] == "60" and headers["retry-after-ms"] == "60000"
    fresh = ratelimit_headers(asyncio.run(MemoryLimiter(Clock()).hit("k", 120)))
    assert fresh["x-ratelimit-reset-requests"] == "500ms" and "retry-after" not in fresh


async def test_redis_same_contract_and_shared_between_clients(redis_url: str) -> None:
    a, b = RedisLimiter(redis_url, prefix="t1:"), RedisLimiter(redis_url, prefix="t1:")
    try:
        first = await a.hit("k", 3)
        assert first.allowed and first.remaining == 2
        assert 19 < first.reset_after <= 20.1
        assert (await b.hit("k", 3)).remaining == 1  # the other "process" sees the same bucket
        assert (await a.hit("k", 3)).remaining == 0
        denied = await b.hit("k", 3)
        assert not denied.allowed and 19 < denied.retry_after <= 20.1
        assert (await a.hit("other", 3)).allowed
    finally:
        await a.aclose()
        await b.aclose()


async def test_redis_concurrent_hits_never_exceed_the_limit(redis_url: str) -> None:
    clients = [RedisLimiter(redis_url, prefix="t2:") for _ in range(4)]
    try:
        results = await asyncio.gather(*(clients[i % 4].hit("k", 10) for i in range(40)))
        assert sum(d.allowed for d in results) == 10
    finally:
        for c in clients:
            await c.aclose()


async def test_redis_down_fails_open_and_says_so_once(
        caplog: pytest.LogCaptureFixture) -> None:
    from tests.billing.support import free_port

    lim = RedisLimiter(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with caplog.at_level(logging.WARNING, logger="reelgate.limits.rate"):
            assert (await lim.hit("k", 1)).allowed
            assert (await lim.hit("k", 1)).allowed  # no limit without Redis, not an outage
        assert sum("Redis unavailable" in r.message for r in caplog.records) == 1
    finally:
        await lim.aclose()
