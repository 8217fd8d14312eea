"""Unit tests of small pure pieces: states, backoff, routing order, request parsing."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from reelgate.catalog import CATALOG, usd
from reelgate.errors import InvalidRequest
from reelgate.jobs.requests import parse_create, parse_remix
from reelgate.jobs.states import TRANSITIONS, State, can_move, public_status
from reelgate.routing.channels import Channel
from reelgate.routing.router import candidates
from reelgate.scheduler.backoff import next_delay


def test_terminal_states_have_no_way_out() -> None:
    for terminal in (State.COMPLETED, State.FAILED):
        assert TRANSITIONS[terminal] == frozenset()
        assert not can_move(terminal, State.QUEUED)
    # after acceptance, back to the queue only when the upstream lost the job before it
    # started it (scheduler/poll.py, UpstreamError.never_started); never to SUBMITTING
    assert can_move(State.IN_PROGRESS, State.QUEUED)
    assert not can_move(State.IN_PROGRESS, State.SUBMITTING)
    assert not can_move(State.DOWNLOADING, State.QUEUED)
    assert can_move(State.SUBMITTING, State.QUEUED)


@pytest.mark.parametrize(("state", "upstream", "public"), [
    (State.QUEUED, None, "queued"), (State.SUBMITTING, None, "queued"),
    (State.IN_PROGRESS, "queued", "queued"), (State.IN_PROGRESS, "in_progress", "in_progress"),
    (State.DOWNLOADING, "completed", "in_progress"), (State.COMPLETED, None, "completed"),
    (State.FAILED, None, "failed"),
])
def test_public_status(state: State, upstream: str | None, public: str) -> None:
    assert public_status(state, upstream) == public


def test_usd_parsing_is_exact() -> None:
    assert usd("0.10") == 100_000 and usd("0.7") == 700_000 and usd("12") == 12_000_000


def test_backoff_grows_caps_and_jitters() -> None:
    rng = random.Random(1)
    delays = [next_delay(n, minimum=2, maximum=30, rng=rng) for n in range(12)]
    assert delays[0] < 2.5 and max(delays) <= 36 and delays[-1] > 20
    assert next_delay(0, minimum=2, maximum=30, hint=0.5, rng=rng) < 1
    assert next_delay(10, minimum=2, maximum=30, remaining=3, rng=rng) < 4


def _ch(name: str, priority: int = 0, weight: int = 1, cooldown: float = 0.0,
        models: dict[str, str] | None = None) -> Channel:
    return Channel(id=name, name=name, provider="openai", base_url="http://x", options={},
                   models=models or {"*": "*"}, priority=priority, weight=weight,
                   max_concurrent=0, requests_per_second=None, enabled=True,
                   cooldown_until=cooldown, credential_ids=(f"{name}-k1",))


def test_router_priority_then_weight() -> None:
    chans = [_ch("low", 0), _ch("a", 10, weight=3), _ch("b", 10, weight=1)]
    firsts = Counter(candidates(chans, "sora-2", now=0, rng=random.Random(i))[0].channel.name
                     for i in range(2000))
    assert firsts["low"] == 0
    assert 0.68 < firsts["a"] / 2000 < 0.82  # weight 3 of 4


def test_router_cooling_channels_go_last_and_model_map_filters() -> None:
    chans = [_ch("hot", 10, cooldown=100.0), _ch("cold", 0),
             _ch("other", 20, models={"veo-3.1": "veo-3.1-generate-preview"})]
    names = [c.channel.name for c in candidates(chans, "sora-2", now=50.0)]
    assert names == ["cold", "hot"]
    veo = candidates(chans, "veo-3.1", now=50.0)
    assert veo[0].upstream_model == "veo-3.1-generate-preview"


def test_parse_create_accepts_strings_and_defaults() -> None:
    params = parse_create({"prompt": "p", "seconds": "12", "model": "sora-2-pro",
                           "size": "1080x1920"}, None, CATALOG, max_prompt_chars=100)
    assert (params.seconds, params.size, params.model.quality) == (12, "1080x1920", "high")
    params = parse_create({"prompt": "p"}, None, CATALOG, max_prompt_chars=100)
    assert (params.model.id, params.seconds, params.size) == ("sora-2", 4, "720x1280")


@pytest.mark.parametrize(("fields", "param"), [
    ({"prompt": "p", "seconds": 8}, "seconds"),
    ({"prompt": "p", "size": "1792x1024"}, "size"),
    ({"prompt": "x" * 101}, "prompt"),
    ({"prompt": "p", "quality": "high"}, "quality"),
])
def test_parse_create_rejects(fields: dict[str, object], param: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        parse_create(fields, None, CATALOG, max_prompt_chars=100)
    assert err.value.param == param and err.value.status == 400


def test_parse_remix_only_takes_a_prompt() -> None:
    assert parse_remix({"prompt": "again"}, max_prompt_chars=10) == "again"
    with pytest.raises(InvalidRequest):
        parse_remix({"prompt": "again", "model": "sora-2"}, max_prompt_chars=10)
