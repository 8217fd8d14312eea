"""Routing through a live gateway: failover on creates only when the upstream surely
did not take the job, and every follow-up on the channel and key that created it."""

from __future__ import annotations

import itertools
import socket
import time

import openai
import pytest

from tests.integration.helpers import decode_info
from tests.upstreams.support import (
    Admin,
    Upstream,
    assert_all_keys,
    assert_keys,
    finished,
    unique,
    wait_for,
)


def _create(sdk: openai.OpenAI, prompt: str) -> str:
    return sdk.videos.create(model="sora-2", prompt=prompt, size="1280x720", seconds="4").id


def _submitted(sdk: openai.OpenAI, up: Upstream, video_id: str, prompt: str) -> str:
    """Wait until the upstream has the job; its upstream id."""
    wait_for(sdk, video_id, lambda v: any(j.prompt == prompt for j in up.fake.jobs.values()))
    return up.job(prompt).id


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_429_on_create_fails_over_to_the_next_channel(upstreams: dict[str, Upstream],
                                                      admin: Admin, sdk: openai.OpenAI) -> None:
    a, b = upstreams["openai"], upstreams["openai_b"]
    first = admin.add_channel(a, priority=10)
    admin.add_channel(b, priority=0)
    a.fake.rate_limit_next(method="POST", retry_after=30)
    prompt = unique("failover after a 429")
    video_id = _create(sdk, prompt)
    assert finished(sdk, video_id).status == "completed"
    assert [r.status for r in a.calls()] == [429]  # tried once, nothing else ever
    assert len(b.creates()) == 1 and b.job(prompt).creator == b.keys[0]
    assert_all_keys(b, b.keys[0])
    decode_info(sdk.videos.download_content(video_id).read())

    cooled = admin.channel(first["id"])
    # Retry-After: 30, counted from the 429 (the job may take a while to finish elsewhere)
    assert cooled["keys"][0]["cooldown_until"] >= a.calls()[0].time + 29
    second = _create(sdk, unique("the next job skips the throttled channel"))
    assert finished(sdk, second).status == "completed"
    assert len(a.calls()) == 1 and len(b.creates()) == 2


def test_when_every_channel_says_429_the_job_waits_for_retry_after(
    upstreams: dict[str, Upstream], admin: Admin, sdk: openai.OpenAI
) -> None:
    up = upstreams["openai"]
    admin.add_channel(up)
    up.fake.rate_limit_next(count=2, method="POST", retry_after=1)
    video_id = _create(sdk, unique("throttled everywhere"))
    assert finished(sdk, video_id).status == "completed"
    posts = up.calls("POST")
    assert [r.status for r in posts] == [429, 429, 200]
    gaps = [b.time - a.time for a, b in itertools.pairwise(posts)]
    assert all(gap >= 0.9 for gap in gaps), gaps  # Retry-After honoured, not hammered


def test_refused_connection_fails_over(upstreams: dict[str, Upstream], admin: Admin,
                                       sdk: openai.OpenAI) -> None:
    b = upstreams["openai_b"]
    dead = admin.add_channel(upstreams["openai"], priority=10,
                             base_url=f"http://127.0.0.1:{_closed_port()}/v1")
    admin.add_channel(b, priority=0)
    asked = time.time()
    video_id = _create(sdk, unique("the first channel is down"))
    assert finished(sdk, video_id).status == "completed"
    assert len(b.creates()) == 1
    # cooled down from the refusal on (10 s), however long the job took on the other one
    assert admin.channel(dead["id"])["cooldown_until"] >= asked + 9


def _refused_unavailable(sdk: openai.OpenAI, prompt: str) -> None:
    """No enabled channel serves the model: refused at once, no job that could only fail."""
    with pytest.raises(openai.BadRequestError) as caught:
        _create(sdk, prompt)
    assert isinstance(caught.value.body, dict)
    assert (caught.value.body["param"], caught.value.body["code"]) == \
        ("model", "model_unavailable")


def test_no_channel_for_the_model_is_refused_at_once(admin: Admin, sdk: openai.OpenAI,
                                                     upstreams: dict[str, Upstream]) -> None:
    admin.add_channel(upstreams["veo"])  # serves veo-3.1 only
    _refused_unavailable(sdk, unique("nobody serves sora-2 now"))


def test_a_rejected_key_is_skipped_and_cooled_down(upstreams: dict[str, Upstream],
                                                   admin: Admin, sdk: openai.OpenAI) -> None:
    up = upstreams["openai"]
    up.fake.complete_after = 2.0
    good = up.keys[0]
    channel = admin.add_channel(up, keys=(good, "sk-oa-revoked"))
    # job 1 lands on the good key whichever key is tried first; job 2 then prefers the
    # idle key (the revoked one) unless it already failed and is cooling down
    prompts = [unique("key check one"), unique("key check two")]
    ids = []
    for prompt in prompts:
        ids.append(_create(sdk, prompt))
        _submitted(sdk, up, ids[-1], prompt)
    for video_id in ids:
        assert finished(sdk, video_id).status == "completed"
    assert [up.job(p).creator for p in prompts] == [good, good]
    rejected = [r for r in up.calls("POST") if r.credential == "sk-oa-revoked"]
    assert [r.status for r in rejected] == [401]
    bad = next(k for k in admin.channel(channel["id"])["keys"] if k["label"] == "key2")
    assert bad["cooldown_until"] > time.time() + 60


def test_two_keys_each_job_keeps_its_own(upstreams: dict[str, Upstream], admin: Admin,
                                         sdk: openai.OpenAI) -> None:
    up = upstreams["openai"]
    up.fake.complete_after = 2.5  # the first is still running when the second is routed
    admin.add_channel(up, keys=up.keys)
    prompts = [unique("two keys, first"), unique("two keys, second")]
    ids = []
    for prompt in prompts:  # the second goes to the idle key
        ids.append(_create(sdk, prompt))
        _submitted(sdk, up, ids[-1], prompt)
    for video_id in ids:
        assert finished(sdk, video_id).status == "completed"
        sdk.videos.download_content(video_id, variant="thumbnail").read()
    creators = [up.job(p).creator for p in prompts]
    assert sorted(creators) == sorted(up.keys)
    for prompt, creator in zip(prompts, creators, strict=True):
        calls = [r.path for r in up.calls(touching=up.job(prompt).id)]
        assert any(p.endswith("/content") for p in calls)  # polled and downloaded...
        assert assert_keys(up, up.job(prompt).id, creator) >= 3  # ...with its own key


def test_disabled_channel_finishes_its_jobs_and_remixes(upstreams: dict[str, Upstream],
                                                        admin: Admin,
                                                        sdk: openai.OpenAI) -> None:
    up = upstreams["openai"]
    up.fake.complete_after = 1.5
    channel = admin.add_channel(up, keys=up.keys)
    prompt = unique("started before the channel was disabled")
    video_id = _create(sdk, prompt)
    _submitted(sdk, up, video_id, prompt)
    admin.disable(channel["id"])
    assert finished(sdk, video_id).status == "completed"
    creator = up.job(prompt).creator
    assert_keys(up, up.job(prompt).id, creator)

    remix_prompt = unique("a remix of a job on a disabled channel")
    remix = sdk.videos.remix(video_id, prompt=remix_prompt)
    assert finished(sdk, remix.id).status == "completed"
    assert up.job(remix_prompt).creator == creator

    _refused_unavailable(sdk, unique("a new job has nowhere to go"))


def test_edited_channel_and_removed_key_still_serve_their_jobs(
    upstreams: dict[str, Upstream], admin: Admin, sdk: openai.OpenAI
) -> None:
    up = upstreams["openai"]
    up.fake.complete_after = 1.5
    channel = admin.add_channel(up, keys=up.keys[:1])
    prompt = unique("started before the edit")
    video_id = _create(sdk, prompt)
    _submitted(sdk, up, video_id, prompt)
    admin.patch(channel["id"], priority=5, weight=3, models={"sora-2-pro": "sora-2-pro"},
                options={"read_timeout": 20})
    admin.http.post(f"/channels/{channel['id']}/keys", json={"key": up.keys[1]})
    removed = admin.http.delete(f"/channels/{channel['id']}/keys/key1")
    assert removed.json()["outcome"] == "disabled"  # kept: a running job refers to it
    assert finished(sdk, video_id).status == "completed"
    assert assert_keys(up, up.job(prompt).id, up.keys[0]) >= 3

    _refused_unavailable(sdk, unique("sora-2 is no longer mapped"))
    pro_prompt = unique("sora-2-pro goes to the key that is left")
    pro = sdk.videos.create(model="sora-2-pro", prompt=pro_prompt, size="1280x720", seconds="4")
    assert finished(sdk, pro.id).status == "completed"
    assert up.job(pro_prompt).creator == up.keys[1]


@pytest.mark.parametrize("kind", ("veo", "seedance"))
def test_single_key_upstreams_keep_their_key(kind: str, upstreams: dict[str, Upstream],
                                             admin: Admin, sdk: openai.OpenAI) -> None:
    """Veo and Seedance hand out CDN links: the key goes to the upstream, never there."""
    up = upstreams[kind]
    admin.add_channel(up)
    model = "veo-3.1" if kind == "veo" else "seedance-1.0-pro"
    seconds = "4" if kind == "veo" else "5"
    video = sdk.videos.create(model=model, prompt=unique(f"{kind}: keys"), size="720x1280",
                              seconds=seconds)
    assert finished(sdk, video.id).status == "completed"
    public = [r for r in up.calls() if r.path.startswith(up.fake.public_prefixes)]
    assert public and all(r.credential is None for r in public)
    width, height, _, _ = decode_info(sdk.videos.download_content(video.id).read())
    assert (width, height) == (720, 1280)
