"""Choosing where a new job goes: priority first, weighted random within a priority.

Only creates are routed. Follow-ups are pinned to the job's channel and credential.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from reelgate.routing.channels import Channel

__all__ = ["Candidate", "candidates"]


@dataclass(frozen=True)
class Candidate:
    channel: Channel
    credential_id: str
    upstream_model: str


def _weighted_order(group: list[Channel], rng: random.Random) -> list[Channel]:
    """Weighted random order without replacement (Efraimidis-Spirakis keys)."""
    return sorted(group, key=lambda c: rng.random() ** (1.0 / max(c.weight, 1)), reverse=True)


def candidates(
    channels: Sequence[Channel], model: str, *, now: float, rng: random.Random | None = None
) -> list[Candidate]:
    """Every (channel, credential) that could take a job for ``model``, best first.

    Channels cooling down after a 429 go last rather than disappearing, so a job can
    still be placed when every channel is throttled.
    """
    rng = rng or random.Random()
    usable = [c for c in channels if c.enabled and c.upstream_model(model) is not None
              and (c.credential_ids or c.provider == "local")]
    by_priority: dict[int, list[Channel]] = {}
    for ch in usable:
        by_priority.setdefault(ch.priority, []).append(ch)
    ordered: list[Channel] = []
    for prio in sorted(by_priority, reverse=True):
        ordered.extend(_weighted_order(by_priority[prio], rng))
    ordered.sort(key=lambda c: c.cooldown_until > now)  # stable: keeps the order otherwise
    out: list[Candidate] = []
    for ch in ordered:
        upstream = ch.upstream_model(model)
        assert upstream is not None
        cred_ids = list(ch.credential_ids) or [""]
        rng.shuffle(cred_ids)
        out.extend(Candidate(ch, cid, upstream) for cid in cred_ids)
    return out
