"""When to look at a job again: soon at first, then less often, with jitter; and how
fast one channel may be asked at all.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from reelgate.config import Settings
from reelgate.ids import now
from reelgate.jobs.model import Job

__all__ = ["TokenBucket", "next_delay", "poll_delay"]


def next_delay(
    poll_count: int, *, minimum: float, maximum: float, hint: float | None = None,
    remaining: float | None = None, rng: random.Random | None = None,
) -> float:
    """Seconds until the next poll.

    Grows geometrically from ``minimum`` to ``maximum`` (2 s to 30 s by default), so a
    long render costs a handful of polls, not hundreds. ``hint`` is the upstream's own
    advice and wins, within ``[minimum / 4, maximum]``: an upstream (or a relay) that
    says "poll again in 200 ms" must not turn ten thousand jobs into fifty thousand
    requests a second. ``remaining``, an estimate of the time to
    completion, pulls the next poll closer when the job is about to finish. Jitter
    (±20 %) spreads thousands of jobs submitted together over time instead of polling
    them in lockstep.
    """
    uniform = (rng or random).uniform
    if hint is not None:
        base = min(max(hint, minimum / 4, 0.1), maximum)
    else:
        base = min(maximum, minimum * (1.5 ** min(poll_count, 20)))
        if remaining is not None and remaining > 0:
            base = min(base, max(minimum, remaining))
    return base * uniform(0.8, 1.2)


def poll_delay(job: Job, settings: Settings, hint: float | None = None, *,
               started_at: float | None = None) -> float:
    """Seconds until ``job`` is polled again (``started_at``: when the upstream took
    it, for a job accepted just now).

    The first poll after the upstream took a job waits half the render time we
    expect, not ``minimum``: nothing is to be learnt sooner, and thousands of jobs
    created at once would otherwise all be polled within seconds, for nothing. A
    client that polls us meanwhile still gets a fresh status (the inline refresh).
    """
    elapsed = now() - (started_at or job.started_at or job.created_at)
    expected = 10.0 + job.seconds * 3.0  # a rough guess, only to poll near the end
    if started_at is not None and hint is None:
        first = min(max(expected / 2, settings.poll_min_seconds), settings.poll_max_seconds)
        return first * random.uniform(0.8, 1.2)
    return next_delay(job.poll_count, minimum=settings.poll_min_seconds,
                      maximum=settings.poll_max_seconds, hint=hint,
                      remaining=expected - elapsed)


class TokenBucket:
    """A channel's request budget: ``rate`` per second, bursts up to ``burst``.

    :meth:`reserve` books a slot and says how long to wait for it, or refuses when
    the wait would be longer than the caller is willing to hold a job (it then hands
    the job back with a later due time instead of sleeping on it).
    """

    def __init__(self, rate: float, burst: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self._clock = clock
        self._tokens = self.burst
        self._at = clock()

    def reserve(self, max_wait: float = float("inf")) -> float | None:
        """Seconds to wait before sending (0 = now); None if that exceeds ``max_wait``."""
        t = self._clock()
        self._tokens = min(self.burst, self._tokens + (t - self._at) * self.rate)
        self._at = t
        wait = max(0.0, (1.0 - self._tokens) / self.rate)
        if wait > max_wait:
            return None
        self._tokens -= 1.0
        return wait
