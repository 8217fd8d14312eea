"""Key choice inside a channel, without a gateway: fresh before cooling, idle before busy."""

from __future__ import annotations

import random

from reelgate.routing.channels import Channel
from reelgate.routing.router import candidates


def _channel(cid: str, keys: tuple[str, ...], *, priority: int = 0,
             cooling: dict[str, float] | None = None, cooldown: float = 0.0) -> Channel:
    return Channel(id=cid, name=cid, provider="openai", base_url="http://x/v1", options={},
                   models={"sora-2": "sora-2"}, priority=priority, weight=1, max_concurrent=0,
                   requests_per_second=None, enabled=True, cooldown_until=cooldown,
                   credential_ids=keys, key_cooldowns=cooling or {})


def test_idle_keys_first_then_busy_then_cooling() -> None:
    ch = _channel("a", ("k1", "k2", "k3"), cooling={"k1": 200.0})
    busy = {("a", "k2"): 3, ("a", "k3"): 1}
    for seed in range(20):  # whatever the random tie-break
        order = [c.credential_id for c in candidates([ch], "sora-2", now=100.0, busy=busy,
                                                     rng=random.Random(seed))]
        assert order == ["k3", "k2", "k1"]


def test_an_expired_cooldown_counts_as_fresh() -> None:
    ch = _channel("a", ("k1", "k2"), cooling={"k1": 50.0})
    busy = {("a", "k2"): 1}
    order = [c.credential_id for c in candidates([ch], "sora-2", now=100.0, busy=busy)]
    assert order == ["k1", "k2"]


def test_channels_keep_priority_and_cooling_channels_go_last() -> None:
    hot = _channel("hot", ("h1",), priority=10, cooldown=200.0)
    main = _channel("main", ("m1", "m2"), priority=5)
    spare = _channel("spare", ("s1",), priority=0)
    order = [(c.channel.id, c.credential_id) for c in
             candidates([spare, hot, main], "sora-2", now=100.0, busy={("main", "m1"): 2})]
    assert order == [("main", "m2"), ("main", "m1"), ("spare", "s1"), ("hot", "h1")]
