"""Per-channel limits a worker keeps while driving jobs: concurrency and request rate."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator

from reelgate.limits.rate import RateLimiter
from reelgate.routing.channels import Channel
from reelgate.scheduler.backoff import TokenBucket

__all__ = ["ChannelGate"]


class ChannelGate:
    """Per-channel concurrency and request-rate limits.

    Built lazily from each channel's row and rebuilt when the limits change.
    ``max_concurrent`` is per process. ``requests_per_second`` is per process too,
    unless a shared limiter (Redis, ``REELGATE_REDIS_URL``) is given: then every
    worker on every machine draws from one budget per channel.
    """

    def __init__(self, shared: RateLimiter | None = None) -> None:
        self.shared = shared
        self._sems: dict[str, tuple[int, asyncio.Semaphore]] = {}
        self._buckets: dict[str, tuple[float, TokenBucket]] = {}

    @contextlib.asynccontextmanager
    async def slot(self, channel: Channel | None) -> AsyncIterator[None]:
        if channel is None or channel.max_concurrent <= 0:
            yield
            return
        held = self._sems.get(channel.id)
        if held is None or held[0] != channel.max_concurrent:
            held = (channel.max_concurrent, asyncio.Semaphore(channel.max_concurrent))
            self._sems[channel.id] = held
        async with held[1]:
            yield

    def reserve(self, channel: Channel | None, max_wait: float) -> float | None:
        """Seconds to wait for the channel's next request slot in this process; None:
        longer than ``max_wait``, come back later."""
        rate = channel.requests_per_second if channel is not None else None
        if channel is None or not rate or rate <= 0:
            return 0.0
        held = self._buckets.get(channel.id)
        if held is None or held[0] != rate:
            held = (rate, TokenBucket(rate))
            self._buckets[channel.id] = held
        return held[1].reserve(max_wait)

    async def turn(self, channel: Channel | None, max_wait: float) -> bool:
        """Wait for the channel's next request slot; False if that would take longer
        than ``max_wait`` (the caller hands the job back for later instead)."""
        rate = channel.requests_per_second if channel is not None else None
        if channel is None or not rate or rate <= 0:
            return True
        if self.shared is None:
            wait = self.reserve(channel, max_wait)
            if wait is None:
                return False
            if wait > 0:
                await asyncio.sleep(wait)
            return True
        burst = max(1, math.ceil(rate))  # one second's worth, then one every 1/rate s
        deadline = time.monotonic() + max_wait
        while True:
            decision = await self.shared.hit(f"channel:{channel.id}", burst, burst / rate)
            if decision.allowed:
                return True
            if time.monotonic() + decision.retry_after > deadline:
                return False
            await asyncio.sleep(decision.retry_after)
