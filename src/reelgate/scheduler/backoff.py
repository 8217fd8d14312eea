"""When to look at a job again: soon at first, then less often, with jitter."""

from __future__ import annotations

import random

__all__ = ["next_delay"]


def next_delay(
    poll_count: int, *, minimum: float, maximum: float, hint: float | None = None,
    remaining: float | None = None, rng: random.Random | None = None,
) -> float:
    """Seconds until the next poll.

    ``hint`` is the upstream's own advice; ``remaining`` an estimate of the time to
    completion, which pulls the next poll closer when the job is about to finish.
    Jitter (±20 %) spreads thousands of jobs submitted together over time.
    """
    uniform = (rng or random).uniform
    if hint is not None:
        base = max(hint, 0.2)
    else:
        base = min(maximum, minimum * (1.5 ** min(poll_count, 20)))
        if remaining is not None and remaining > 0:
            base = min(base, max(minimum, remaining))
    return base * uniform(0.8, 1.2)
