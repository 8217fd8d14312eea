"""Requests-per-minute limits per key, in this process or shared through Redis.

The algorithm is GCRA (a leaky bucket kept as one timestamp per key): a limit of N
per minute lets N requests through at once and then one every 60/N seconds. Each
bucket is a single value, so the Redis version is one small Lua script run
atomically with Redis's own clock: every API process sees the same buckets and no
two can both take the last slot. If Redis cannot be reached the limiter lets the
request through and logs it: a limit protects capacity, it must not take the API
down with it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Decision", "MemoryLimiter", "RateLimiter", "RedisLimiter", "limiter_from_url"]

log = logging.getLogger(__name__)

PERIOD = 60.0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    #: requests that would still pass right now
    remaining: int
    #: seconds until the bucket is full again
    reset_after: float
    #: seconds until the next request may pass (0 when allowed)
    retry_after: float


class RateLimiter(Protocol):
    async def hit(self, bucket: str, limit: int, period: float = PERIOD) -> Decision: ...

    async def aclose(self) -> None: ...


def gcra(tat: float, now: float, limit: int, period: float) -> tuple[float | None, Decision]:
    """One GCRA step: (new theoretical arrival time, or None if refused; the decision)."""
    interval = period / limit
    base = max(tat, now)
    new_tat = base + interval
    allow_at = new_tat - period
    if now < allow_at:
        return None, Decision(False, limit, 0, base - now, allow_at - now)
    remaining = math.floor((now - allow_at) / interval + 1e-9)
    return new_tat, Decision(True, limit, remaining, new_tat - now, 0.0)


class MemoryLimiter:
    """Buckets in a dict: right for one API process (the embedded default)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._tat: dict[str, float] = {}

    async def hit(self, bucket: str, limit: int, period: float = PERIOD) -> Decision:
        now = self.clock()
        if len(self._tat) > 10_000:  # forget buckets that are full again
            self._tat = {k: v for k, v in self._tat.items() if v > now}
        new_tat, decision = gcra(self._tat.get(bucket, now), now, limit, period)
        if new_tat is not None:
            self._tat[bucket] = new_tat
        return decision

    async def aclose(self) -> None:
        return None


# KEYS[1] bucket; ARGV[1] period ms; ARGV[2] limit. Returns {allowed, remaining,
# reset ms, retry ms}. Times are Redis's clock in ms, as floats kept in a string.
_SCRIPT = """
local period = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = period / limit
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - period
if now < allow_at then
  return {0, 0, math.ceil(tat - now), math.ceil(allow_at - now)}
end
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now) + 1)
return {1, math.floor((now - allow_at) / interval + 1e-9), math.ceil(new_tat - now), 0}
"""


class RedisLimiter:
    """Buckets in Redis, shared by every API process that points at it."""

    def __init__(self, url: str, *, prefix: str = "reelgate:rl:") -> None:
        import redis.asyncio as aioredis

        self.prefix = prefix
        self.client = aioredis.Redis.from_url(url, socket_timeout=2.0,
                                              socket_connect_timeout=2.0)
        self._script = self.client.register_script(_SCRIPT)
        self._warned_at = -math.inf

    async def hit(self, bucket: str, limit: int, period: float = PERIOD) -> Decision:
        try:
            raw = await self._script(keys=[self.prefix + bucket],
                                     args=[int(period * 1000), limit])
        except Exception as exc:  # redis errors and OSError alike: fail open
            if time.monotonic() - self._warned_at > 30:  # once per 30 s, not per request
                self._warned_at = time.monotonic()
                log.warning("rate limiter: Redis unavailable (%s); letting requests through",
                            exc)
            return Decision(True, limit, limit, 0.0, 0.0)
        allowed, remaining, reset_ms, retry_ms = (int(v) for v in raw)
        return Decision(bool(allowed), limit, remaining, reset_ms / 1000, retry_ms / 1000)

    async def aclose(self) -> None:
        await self.client.connection_pool.disconnect()


def limiter_from_url(redis_url: str) -> RateLimiter:
    return RedisLimiter(redis_url) if redis_url else MemoryLimiter()
