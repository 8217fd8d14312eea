"""Failover for one create: which candidates to skip after a refusal, and how long
to wait when every candidate refused.

A create moves on only when the upstream certainly did not take the job
(:attr:`~reelgate.providers.base.UpstreamError.accepted_impossible`); anything else
ends the walk (failed, or ambiguous and never resent).
"""

from __future__ import annotations

from reelgate.providers.base import ErrorKind, UpstreamError
from reelgate.routing.health import RATE_LIMIT_COOLDOWN
from reelgate.routing.router import Candidate

__all__ = ["AT_CAPACITY_WAIT", "Failover"]

#: a channel at its ``max_concurrent``: look again this soon
AT_CAPACITY_WAIT = 1.0


class Failover:
    """The walk down one create's candidates, best first."""

    def __init__(self) -> None:
        #: when each candidate tried may take the job again, in seconds from now
        self._waits: list[float] = []
        #: channels whose endpoint refused the connection: their other keys are skipped
        self._down: set[str] = set()

    def skips(self, candidate: Candidate) -> bool:
        return candidate.channel.id in self._down

    def at_capacity(self) -> None:
        self._waits.append(AT_CAPACITY_WAIT)

    def refused(self, candidate: Candidate, exc: UpstreamError) -> None:
        """Record a refusal of a create (``exc.accepted_impossible``): try on."""
        if exc.kind == ErrorKind.UNAVAILABLE and exc.status_code is None:
            self._down.add(candidate.channel.id)
        if exc.kind == ErrorKind.RATE_LIMITED:
            self._waits.append(exc.retry_after or RATE_LIMIT_COOLDOWN)
        else:
            self._waits.append(0.0)

    def retry_in(self, minimum: float) -> float:
        """Every candidate refused: the soonest any may say yes (at least ``minimum``),
        so a throttled upstream is not hammered."""
        return max(min(self._waits, default=0.0), minimum)
