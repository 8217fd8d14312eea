"""The key cache's bound, on a clock the test moves: a key is trusted for ``ttl``
seconds after its look-up and not a moment longer (so a revocation made by another
process reaches this one within ``ttl``). The end-to-end revocation test only checks
that it happens; the exact bound is here, where no machine's speed can move it."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from reelgate.auth import cache as cache_module
from reelgate.auth.cache import PrincipalCache
from reelgate.auth.principal import Principal

KEY = Principal("key_1", "k", "ten_1", "t")


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    fake = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(cache_module, "time", SimpleNamespace(
        monotonic=lambda: fake.now, time=time.time))
    return fake


def test_a_key_is_trusted_for_ttl_seconds_then_looked_up_again(clock: SimpleNamespace) -> None:
    cache = PrincipalCache(ttl=2.0)
    cache.put("sk-rg-secret", KEY)
    clock.now += 2.0
    assert cache.get("sk-rg-secret") == KEY
    clock.now += 0.001
    assert cache.get("sk-rg-secret") is None


def test_an_expired_key_is_never_served_from_the_cache(clock: SimpleNamespace) -> None:
    cache = PrincipalCache(ttl=60.0)
    cache.put("sk-rg-old", Principal("key_2", "k", "ten_1", "t", expires_at=time.time() - 1))
    assert cache.get("sk-rg-old") is None


def test_no_ttl_means_no_cache(clock: SimpleNamespace) -> None:
    cache = PrincipalCache(ttl=0)
    cache.put("sk-rg-secret", KEY)
    assert cache.get("sk-rg-secret") is None
