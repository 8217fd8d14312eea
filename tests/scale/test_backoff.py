"""Poll backoff, channel request budgets and concurrency gates."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from reelgate.limits.rate import RedisLimiter
from reelgate.routing.channels import Channel
from reelgate.scheduler.backoff import TokenBucket, next_delay
from reelgate.scheduler.gate import ChannelGate
from tests.billing.support import redis_server


def test_delay_grows_from_the_minimum_to_the_maximum_with_jitter() -> None:
    rng = random.Random(7)
    delays = [next_delay(n, minimum=2, maximum=30, rng=rng) for n in range(12)]
    assert 1.6 <= delays[0] <= 2.4
    assert all(d <= 36 for d in delays)
    assert delays[-1] >= 24  # capped at 30 s, minus at most 20 % jitter
    spread = {round(next_delay(3, minimum=2, maximum=30, rng=rng), 3) for _ in range(50)}
    assert len(spread) > 40  # jitter: jobs submitted together do not poll in lockstep
    assert min(spread) >= 6.75 * 0.8 and max(spread) <= 6.75 * 1.2


def test_delay_is_shorter_near_the_expected_finish_and_follows_upstream_hints() -> None:
    rng = random.Random(1)
    assert next_delay(10, minimum=2, maximum=30, remaining=3, rng=rng) <= 3.6
    assert next_delay(10, minimum=2, maximum=30, remaining=0.1, rng=rng) >= 1.6
    assert next_delay(10, minimum=2, maximum=30, hint=5, rng=rng) <= 6.0
    assert next_delay(0, minimum=2, maximum=30, hint=600, rng=rng) <= 36  # capped
    assert next_delay(0, minimum=2, maximum=30, hint=0.05, rng=rng) >= 0.4  # floored


def test_token_bucket_paces_requests_and_refuses_long_waits() -> None:
    clock = [100.0]
    bucket = TokenBucket(2.0, clock=lambda: clock[0])
    assert [bucket.reserve() for _ in range(2)] == [0.0, 0.0]  # the burst
    assert bucket.reserve() == pytest.approx(0.5)
    assert bucket.reserve() == pytest.approx(1.0)
    assert bucket.reserve(max_wait=1.0) is None  # 1.5 s away: come back later
    clock[0] += 10
    assert bucket.reserve() == 0.0  # refilled, but never beyond the burst
    assert bucket.reserve() == 0.0
    assert bucket.reserve() == pytest.approx(0.5)


def _channel(max_concurrent: int = 0, rps: float | None = None, cid: str = "ch_1") -> Channel:
    return Channel(id=cid, name="one", provider="openai", base_url="http://x", options={},
                   models={"*": "*"}, priority=0, weight=1, max_concurrent=max_concurrent,
                   requests_per_second=rps, enabled=True, cooldown_until=0.0)


async def test_channel_gate_bounds_concurrency_per_channel() -> None:
    gate = ChannelGate()
    channel = _channel(max_concurrent=2)
    running = peak = 0

    async def call() -> None:
        nonlocal running, peak
        async with gate.slot(channel):
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1

    await asyncio.gather(*(call() for _ in range(10)))
    assert peak == 2
    async with gate.slot(_channel()), gate.slot(None):
        pass  # no limit configured: no gate


def test_channel_gate_rate_is_rebuilt_when_the_channel_changes() -> None:
    gate = ChannelGate()
    assert gate.reserve(_channel(), 1.0) == 0.0
    slow = _channel(rps=0.01)  # one request per 100 s: the waits barely move meanwhile
    assert gate.reserve(slow, 500.0) == 0.0
    second = gate.reserve(slow, 500.0)
    assert second is not None and 90.0 < second <= 100.0
    assert gate.reserve(slow, 0.5) is None
    fast = _channel(rps=1000.0)
    assert gate.reserve(fast, 0.5) == 0.0


async def test_channel_rate_is_shared_through_redis_across_processes(tmp_path: Path) -> None:
    """Two gates (two worker processes) on one Redis draw from one budget per channel;
    without Redis each has its own."""
    channel = _channel(rps=20.0)
    with redis_server(tmp_path / "redis") as url:
        limiter = RedisLimiter(url)
        try:
            gates = [ChannelGate(shared=limiter), ChannelGate(shared=limiter)]
            started = time.monotonic()
            turns = await asyncio.gather(*(g.turn(channel, 5.0) for g in gates
                                           for _ in range(20)))
            shared_took = time.monotonic() - started
            assert all(turns)
            # 40 requests at 20/s with a burst of 20: the last could not go before ~1 s
            # (a lower bound only: a loaded machine may take longer, never less)
            assert shared_took >= 0.8
            # a budget spent by another process: hand back (one request per 100 s)
            slow = _channel(rps=0.01, cid="ch_slow")
            assert await gates[0].turn(slow, 0.0)
            assert not await gates[1].turn(slow, 0.0)
        finally:
            await limiter.aclose()
    alone = [ChannelGate(), ChannelGate()]
    # without Redis each process has its own burst of 20: all go without waiting
    assert all([await g.turn(channel, 0.0) for g in alone for _ in range(20)])
