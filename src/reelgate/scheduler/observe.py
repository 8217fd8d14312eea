"""What the scheduler tells an observer about failed upstream calls.

The scheduler sees every submit, poll, recovery and download that fails; operators
need them counted per channel (a channel refusing every submit must show somewhere
other than a log). The scheduler only reports, through this narrow protocol; what
is counted and where (:mod:`reelgate.metrics.upstream`) is not its business.
"""

from __future__ import annotations

from typing import Literal, Protocol

from reelgate.providers.base import UpstreamError

__all__ = ["Op", "Unobserved", "UpstreamObserver"]

#: the upstream call that failed
Op = Literal["submit", "poll", "recover", "download"]


class UpstreamObserver(Protocol):
    async def upstream_error(self, op: Op, channel_id: str, exc: UpstreamError) -> None:
        """One call to ``channel_id`` failed with ``exc``; must not raise."""
        ...


class Unobserved:
    """The observer of a scheduler nobody watches (unit tests, tools)."""

    async def upstream_error(self, op: Op, channel_id: str, exc: UpstreamError) -> None:
        return None
