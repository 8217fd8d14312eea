"""Failover for one create: which candidates to skip after a refusal, how long to
wait when every candidate refused, and how a refusal is told to an operator.

A create moves on only when the upstream certainly did not take the job
(:attr:`~reelgate.providers.base.UpstreamError.accepted_impossible`); anything else
ends the walk (failed, or ambiguous and never resent).
"""

from __future__ import annotations

from reelgate.ids import now
from reelgate.providers.base import ErrorKind, UpstreamError
from reelgate.routing.channels import Channel
from reelgate.routing.health import RATE_LIMIT_COOLDOWN
from reelgate.routing.router import Candidate

__all__ = ["AT_CAPACITY_WAIT", "Failover", "describe", "refusal"]


def describe(exc: UpstreamError) -> str:
    """A refusal in an operator's words: "HTTP 503: overloaded", "upstream unreachable
    (connection refused; …)"."""
    if exc.status_code is None or exc.message.startswith(f"HTTP {exc.status_code}"):
        return exc.message
    return f"HTTP {exc.status_code}: {exc.message}"


def refusal(channel: Channel, exc: UpstreamError) -> dict[str, object]:
    """What a job keeps of a refused submit (and its timeline event shows): the
    channel by name, not only id, and what it answered."""
    return {"channel": channel.name, "channel_id": channel.id, "reason": describe(exc),
            "error_kind": exc.kind.value, "status_code": exc.status_code, "at": now()}

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
