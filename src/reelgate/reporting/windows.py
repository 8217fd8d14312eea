"""The dashboard's time windows and the buckets each chart divides them into.

Buckets are aligned to UTC (hours, days), so a bar means the same hour on every
load; the last bucket is the current, partial one. Each chart picks its own width,
so a 30-day window is 30 daily bars, not 720 hourly ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from reelgate.errors import InvalidRequest

__all__ = ["DAY", "DURATION_STEPS", "HOUR", "WINDOWS", "Buckets", "Window", "window"]

HOUR = 3600
DAY = 24 * HOUR

#: (below this many seconds, bucket width): the resolution of time-to-complete
#: percentiles, which come from a histogram of durations in buckets this wide
DURATION_STEPS: tuple[tuple[float, int], ...] = ((60, 1), (600, 5), (3600, 30),
                                                 (float("inf"), 300))


@dataclass(frozen=True)
class Buckets:
    """``count`` consecutive slots of ``step`` seconds from ``start``, ending at ``end``."""

    start: float
    step: int
    count: int
    end: float

    @classmethod
    def ending(cls, end: float, span: int, step: int) -> Buckets:
        count = span // step
        return cls((math.floor(end / step) - count + 1) * step, step, count, end)

    def tail(self, first: int) -> Buckets:
        """The same buckets from the ``first``-th on."""
        return Buckets(self.start + first * self.step, self.step, self.count - first, self.end)

    def edges(self) -> list[float]:
        """Where each slot begins."""
        return [self.start + i * self.step for i in range(self.count)]


@dataclass(frozen=True)
class Window:
    name: str
    seconds: int
    #: width of a bar in the job, duration and channel charts' window
    step: int
    spend_step: int
    queue_step: int
    #: queue depth is sampled this often; a bar shows the highest sample in it
    queue_sample: int

    def jobs(self, end: float) -> Buckets:
        return Buckets.ending(end, self.seconds, self.step)

    def spend(self, end: float) -> Buckets:
        return Buckets.ending(end, self.seconds, self.spend_step)

    def queue(self, end: float) -> Buckets:
        return Buckets.ending(end, self.seconds, self.queue_step)

    def queue_samples(self, end: float) -> Buckets:
        """Instants from the queue chart's first bar up to ``end``."""
        start = self.queue(end).start
        return Buckets(start, self.queue_sample,
                       max(1, math.ceil((end - start) / self.queue_sample)), end)


WINDOWS: dict[str, Window] = {
    "24h": Window("24h", DAY, HOUR, HOUR, HOUR // 4, 60),
    "7d": Window("7d", 7 * DAY, 6 * HOUR, DAY, HOUR, 300),
    "30d": Window("30d", 30 * DAY, DAY, DAY, 6 * HOUR, 900),
}


def window(name: str) -> Window:
    found = WINDOWS.get(name)
    if found is None:
        raise InvalidRequest(f"Invalid value for 'window': {name!r}; choose from "
                             f"{', '.join(WINDOWS)}.", param="window", code="invalid_value")
    return found
