"""What each provider can do, which channels a job with needs may go to, and bracketed
form keys folded back into the objects a JSON body holds."""

from __future__ import annotations

from typing import Any

import pytest

from reelgate.api.brackets import fold
from reelgate.catalog import Operation
from reelgate.errors import InvalidRequest
from reelgate.providers.base import BASIC_OPERATIONS
from reelgate.providers.registry import provider_names, provider_operations
from reelgate.routing.channels import Channel
from reelgate.routing.operations import able
from reelgate.routing.router import candidates

EVERYTHING = frozenset(Operation)


@pytest.mark.parametrize(("provider", "options", "ops"), [
    ("openai", {}, EVERYTHING),
    ("openai", {"mode": "azure"}, EVERYTHING),
    ("openai", {"mode": "relay"}, EVERYTHING),
    ("openai", {"mode": "omni"}, BASIC_OPERATIONS),
    ("local", {}, EVERYTHING),
    ("veo", {}, BASIC_OPERATIONS),
    ("kling", {}, BASIC_OPERATIONS),
    ("nonesuch", {}, frozenset()),
])
def test_providers_declare_what_they_can_do(provider: str, options: dict[str, Any],
                                            ops: frozenset[Operation]) -> None:
    assert provider_operations(provider, options) == ops


def test_every_provider_can_at_least_create() -> None:
    for name in provider_names():
        assert Operation.CREATE in provider_operations(name, {}), name


def _channel(cid: str, provider: str, priority: int = 0, **options: Any) -> Channel:
    return Channel(cid, cid, provider, "http://up", options, {"*": "*"}, priority, 1, 0, None,
                   True, 0.0, credential_ids=("k",))


def test_routing_keeps_only_channels_that_can() -> None:
    chans = [_channel("omni", "openai", 10, mode="omni"), _channel("veo", "veo", 5),
             _channel("oa", "openai", 1)]
    got = candidates(chans, "sora-2", now=0.0, able=able({Operation.EDIT}))
    assert [c.channel.id for c in got] == ["oa"]
    assert [c.channel.id for c in candidates(chans, "sora-2", now=0.0)] == ["omni", "veo", "oa"]
    anything = candidates(chans, None, now=0.0, able=able({Operation.CHARACTERS}))
    assert [(c.channel.id, c.upstream_model) for c in anything] == [("oa", "")]


@pytest.mark.parametrize(("items", "folded"), [
    ([("prompt", "p"), ("video[id]", "video_1")], {"prompt": "p", "video": {"id": "video_1"}}),
    ([("input_reference[image_url]", "data:x")], {"input_reference": {"image_url": "data:x"}}),
    ([("characters[][id]", "a"), ("characters[][id]", "b")],
     {"characters": [{"id": "a"}, {"id": "b"}]}),
    ([("tags[]", "x"), ("tags[]", "y")], {"tags": ["x", "y"]}),
    ([("a[b][c]", "1"), ("a[b][d]", "2")], {"a": {"b": {"c": "1", "d": "2"}}}),
])
def test_brackets_fold_like_the_sdk_flattens(items: list[tuple[str, str]],
                                             folded: dict[str, Any]) -> None:
    assert fold(items) == folded


@pytest.mark.parametrize("items", [
    [("prompt", "a"), ("prompt", "b")],
    [("video", "x"), ("video[id]", "y")],
    [("video[id]", "x"), ("video[id]", "y")],
    [("video[id]", "x"), ("video", "y")],
])
def test_a_key_twice_is_refused(items: list[tuple[str, str]]) -> None:
    with pytest.raises(InvalidRequest) as err:
        fold(items)
    assert err.value.code == "duplicate_parameter"


@pytest.mark.parametrize("key", ["video[id", "a[b][]", "a[][][]", "a[b][c][d][e]", "[x]"])
def test_malformed_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        fold([(key, "v")])
    assert err.value.code == "invalid_parameter_name"
