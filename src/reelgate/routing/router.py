"""Choosing where a new job goes: priority first, weighted random within a priority.

Only creates are routed. Follow-ups are pinned to the job's channel and credential.
Cooling down (after a 429, an outage or a rejected key) never removes a channel or a
key: it only moves it to the back, so a job can still be placed when everything is
throttled, and the upstream's answer decides.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
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


def _key_order(ch: Channel, now: float, busy: Mapping[tuple[str, str], int],
               rng: random.Random) -> list[str]:
    """Fresh keys before cooling ones; within those, the least busy key first.

    Spreading by load (rather than at random) keeps one key from being rate limited
    while another idles, and makes the choice predictable for a given load.
    """
    cred_ids = list(ch.credential_ids) or [""]
    rng.shuffle(cred_ids)  # random tie-break
    return sorted(cred_ids, key=lambda cid: (ch.key_cooldowns.get(cid, 0.0) > now,
                                             busy.get((ch.id, cid), 0)))


def candidates(
    channels: Sequence[Channel], model: str | None, *, now: float,
    rng: random.Random | None = None, busy: Mapping[tuple[str, str], int] | None = None,
    able: Callable[[Channel], bool] | None = None,
) -> list[Candidate]:
    """Every (channel, credential) that could take a job for ``model``, best first.

    ``busy`` maps (channel id, credential id) to the jobs running there now; ``able``
    keeps only channels that can do what the job needs (an edit, an extension). With
    ``model`` None (a character) any channel ``able`` admits qualifies.
    """
    rng = rng or random.Random()
    busy = busy or {}
    usable = [c for c in channels if c.enabled
              and (model is None or c.upstream_model(model) is not None)
              and (able is None or able(c))
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
        upstream = ch.upstream_model(model) if model is not None else ""
        assert upstream is not None
        out.extend(Candidate(ch, cid, upstream) for cid in _key_order(ch, now, busy, rng))
    return out
