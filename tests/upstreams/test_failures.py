"""Upstreams misbehaving, through a live gateway: what the client sees each time.

Moderation ends a job with a code; 5xx, garbage JSON and unknown status words while
polling are ridden out; a create the upstream may have taken without saying so is
failed once and never sent again; content the upstream has expired is still ours.
"""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from reelgate.routing.health import RATE_LIMIT_COOLDOWN
from tests.integration.helpers import decode_info
from tests.support.server import GatewayProcess
from tests.upstreams.support import (
    SHAPES,
    Admin,
    Upstream,
    assert_all_keys,
    finished,
    unique,
)

PROVIDERS = ("openai", "azure", "relay", "veo", "seedance", "kling", "vidu", "runway",
             "luma", "minimax", "minimax_h3", "dashscope")
#: upstreams whose fake can run a key out of money (``fake.broke``)
BALANCE_KINDS = ("kling", "vidu", "runway", "luma", "minimax", "minimax_h3", "dashscope",
                 "dashscope_200")
MODERATION_CODES = dict.fromkeys(PROVIDERS, "moderation_blocked")
#: the upstreams of issue #13, each with two keys: a throttled one and a spare
THROTTLE_KINDS = ("kling", "vidu", "runway", "luma", "minimax", "minimax_h3", "dashscope",
                  "dashscope_200")


def _create(sdk: openai.OpenAI, kind: str, prompt: str) -> str:
    model, size, seconds = SHAPES[kind]
    return sdk.videos.create(model=model, prompt=prompt, size=size, seconds=seconds).id


@pytest.mark.parametrize("kind", PROVIDERS)
def test_moderation_fails_the_job_with_a_code(kind: str, upstreams: dict[str, Upstream],
                                              admin: Admin, sdk: openai.OpenAI) -> None:
    up = upstreams[kind]
    admin.add_channel(up)
    video_id = _create(sdk, kind, unique("something forbidden"))
    done = finished(sdk, video_id)
    assert done.status == "failed"
    assert done.error is not None
    assert done.error.code == MODERATION_CODES[kind] and done.error.message
    with pytest.raises(openai.NotFoundError):
        sdk.videos.download_content(video_id)
    assert len(up.creates()) == 1


@pytest.mark.parametrize("kind", PROVIDERS)
def test_polling_rides_out_5xx_drops_garbage_and_unknown_words(
    kind: str, upstreams: dict[str, Upstream], admin: Admin, sdk: openai.OpenAI,
    upstream_gateway: GatewayProcess,
) -> None:
    """Polls answered 500, 503, not at all (the connection dropped), with half a JSON
    body and with a status word nobody knows: the job is polled on and completes."""
    up = upstreams[kind]
    up.fake.complete_after = 1.0
    admin.add_channel(up)
    # faults apply to the next matching requests in this order: the job's polls
    op_path = "operations" if kind == "veo" else None
    up.fake.fail_next(500, method="GET", path=op_path)
    up.fake.fail_next(503, method="GET", path=op_path)
    up.fake.malformed_next(method="GET", path=op_path)
    up.fake.drop_next(method="GET", path=op_path)
    if kind != "veo":  # Veo has no status word to garble
        up.fake.status_word_next("mystery", method="GET")
    prompt = unique(f"{kind}: stormy sea")
    video_id = _create(sdk, kind, prompt)
    seen = []
    while (video := sdk.videos.retrieve(video_id)).status not in ("completed", "failed"):
        seen.append(video.status)
        time.sleep(0.1)
    assert video.status == "completed", (video.error, seen)
    assert set(seen) <= {"queued", "in_progress"}
    faults = [r.fault for r in up.calls("GET")]
    assert faults.count("status") == 2 and faults.count("malformed") == 1, faults
    assert faults.count("drop") == 1, faults
    if kind != "veo":
        assert faults.count("status_word") == 1, faults
        log = upstream_gateway.log_path.read_text() if upstream_gateway.log_path else ""
        assert "unknown status 'mystery'" in log
    width, height, _, _ = decode_info(sdk.videos.download_content(video_id).read())
    assert f"{width}x{height}" == SHAPES[kind][1]
    assert_all_keys(up, up.keys[0])


def test_relay_unknown_status_is_kept_in_progress(upstreams: dict[str, Upstream], admin: Admin,
                                                  sdk: openai.OpenAI) -> None:
    """The relay fake answers its own word ``unknown`` on each job's second poll."""
    up = upstreams["relay"]
    up.fake.complete_after = 1.5
    admin.add_channel(up)
    prompt = unique("relay: a paper boat")
    video_id = _create(sdk, "relay", prompt)
    assert finished(sdk, video_id).status == "completed"
    assert up.job(prompt).polls >= 3  # so the "unknown" answer was seen and outlived


@pytest.mark.parametrize(("kind", "fault"), [(k, "slow") for k in PROVIDERS]
                         + [("openai", "drop"), ("seedance", "drop"), ("runway", "drop"),
                            ("luma", "drop"), ("minimax", "drop"), ("dashscope", "drop"),
                            ("kling", "drop"), ("vidu", "drop"), ("minimax_h3", "drop")])
def test_ambiguous_create_is_failed_once_and_never_resent(
    kind: str, fault: str, upstreams: dict[str, Upstream], admin: Admin, sdk: openai.OpenAI,
    upstream_gateway: GatewayProcess,
) -> None:
    """The upstream creates the job but the answer never arrives: no second create,
    not on this channel and not on the next one (both point at the same upstream)."""
    up = upstreams[kind]
    admin.add_channel(up, priority=10, options={"read_timeout": 0.5})
    admin.add_channel(up, priority=0)
    if fault == "slow":
        up.fake.slow_next(2.0, method="POST")
    else:
        up.fake.drop_next(method="POST")
    prompt = unique(f"{kind}: a {fault} create")
    video_id = _create(sdk, kind, prompt)
    done = finished(sdk, video_id)
    assert done.status == "failed"
    assert done.error is not None and done.error.code == "upstream_submit_ambiguous"
    assert len(up.creates()) == 1
    assert up.job(prompt)  # the upstream did create it: that is the ambiguity
    log = upstream_gateway.log_path.read_text() if upstream_gateway.log_path else ""
    assert any(video_id in line and "reconcile" in line for line in log.splitlines())


@pytest.mark.parametrize("kind", ("openai", "seedance", "runway", "minimax", "dashscope"))
def test_unreadable_create_answer_is_ambiguous(kind: str, upstreams: dict[str, Upstream],
                                               admin: Admin, sdk: openai.OpenAI) -> None:
    up = upstreams[kind]
    admin.add_channel(up, priority=10)
    admin.add_channel(up, priority=0)
    up.fake.malformed_next(method="POST")
    done = finished(sdk, _create(sdk, kind, unique(f"{kind}: garbled")))
    assert done.error is not None and done.error.code == "upstream_submit_ambiguous"
    assert len(up.creates()) == 1


@pytest.mark.parametrize("kind", ("openai", "relay", "veo", "seedance", "kling", "vidu",
                                  "runway", "luma", "minimax", "minimax_h3", "dashscope"))
def test_content_outlives_the_upstreams_expiry(kind: str, upstreams: dict[str, Upstream],
                                               admin: Admin, sdk: openai.OpenAI) -> None:
    up = upstreams[kind]
    admin.add_channel(up)
    prompt = unique(f"{kind}: a fleeting moment")
    video_id = _create(sdk, kind, prompt)
    assert finished(sdk, video_id).status == "completed"
    up.fake.content_ttl = 0.0  # the upstream's copy is gone from now on
    job = up.job(prompt)
    assert up.fake.content_expired(job)
    if kind == "openai":  # the upstream itself says so
        gone = httpx.get(f"{up.base_url}/videos/{job.id}/content",
                         headers={"Authorization": f"Bearer {up.keys[0]}"})
        assert gone.status_code == 404 and "expire" in gone.text
    data = sdk.videos.download_content(video_id).read()
    width, height, duration, _ = decode_info(data)
    assert f"{width}x{height}" == SHAPES[kind][1]
    assert duration == pytest.approx(float(SHAPES[kind][2]), abs=0.1)


@pytest.mark.parametrize("kind", ("seedance", "kling", "vidu", "luma", "dashscope"))
def test_content_expired_before_the_copy_fails_the_job(kind: str, upstreams: dict[str, Upstream],
                                                       admin: Admin, sdk: openai.OpenAI) -> None:
    up = upstreams[kind]
    up.fake.content_ttl = 0.0  # the CDN link is dead the moment the task succeeds
    admin.add_channel(up)
    done = finished(sdk, _create(sdk, kind, unique(f"{kind}: too late")))
    assert done.status == "failed"
    assert done.error is not None and done.error.code == "upstream_content_expired"
    assert [r.status for r in up.calls("GET") if r.path.startswith("/cdn/")] == [403]


def test_seedance_bills_what_it_rendered(upstreams: dict[str, Upstream], admin: Admin,
                                         sdk: openai.OpenAI) -> None:
    """Asked for 5 s, the upstream rendered 10 s: the video says 10 s, and is 10 s."""
    up = upstreams["seedance"]
    up.fake.snap_durations = [10]
    admin.add_channel(up)
    video_id = _create(sdk, "seedance", unique("seedance: a long take"))
    done = finished(sdk, video_id)
    assert done.status == "completed" and done.seconds == "10"
    _, _, duration, _ = decode_info(sdk.videos.download_content(video_id).read())
    assert duration == pytest.approx(10.0, abs=0.1)


@pytest.mark.parametrize("kind", THROTTLE_KINDS)
def test_a_429_on_create_moves_the_job_on_and_cools_the_key(
    kind: str, upstreams: dict[str, Upstream], admin: Admin, sdk: openai.OpenAI
) -> None:
    """Each upstream's own throttle answer (a 429, or its code under a 200: MiniMax V1,
    DashScope): nothing was made, so the next key takes the job, once, and the
    throttled key waits out the Retry-After (MiniMax V1 reads the throttle from the
    body, where no Retry-After is given: the default pause)."""
    up = upstreams[kind]
    throttled, spare = up.keys[0], up.keys[1]
    first = admin.add_channel(up, keys=(throttled,), priority=10)
    admin.add_channel(up, keys=(spare,), priority=0)
    up.fake.rate_limit_next(method="POST", retry_after=30)
    prompt = unique(f"{kind}: throttled, then the next key")
    done = finished(sdk, _create(sdk, kind, prompt))
    assert done.status == "completed", done.error
    assert up.job(prompt).creator == spare
    refused, taken = up.creates()
    assert [(r.credential, r.fault) for r in (refused, taken)] == [(throttled, "status"),
                                                                   (spare, None)]
    pause = RATE_LIMIT_COOLDOWN if kind == "minimax" else 30
    assert admin.channel(first["id"])["keys"][0]["cooldown_until"] >= refused.time + pause - 1


@pytest.mark.parametrize("kind", BALANCE_KINDS)
def test_an_empty_balance_moves_the_job_to_the_next_key(kind: str, upstreams: dict[str, Upstream],
                                                        admin: Admin, sdk: openai.OpenAI) -> None:
    """A key whose account ran out of money is a credential problem, not the client's:
    the job goes to the next key, once, and the client never hears of it."""
    up = upstreams[kind]
    broke, funded = up.keys[0], up.keys[1]
    up.fake.broke.add(broke)
    admin.add_channel(up, keys=(broke,), priority=10)
    admin.add_channel(up, keys=(funded,), priority=0)
    prompt = unique(f"{kind}: paid for by the second key")
    done = finished(sdk, _create(sdk, kind, prompt))
    assert done.status == "completed", done.error
    assert up.job(prompt).creator == funded
    created = 201 if kind == "luma" else 200  # Luma answers a create with 201 Created
    assert [(r.credential, r.status) for r in up.creates()] == [(broke, up.fake.broke_status),
                                                                (funded, created)]


def test_runway_link_expired_before_the_copy_is_fetched_afresh(
    upstreams: dict[str, Upstream], admin: Admin, sdk: openai.OpenAI
) -> None:
    """Runway's output links expire; the task hands out a fresh one when asked again."""
    up = upstreams["runway"]
    up.fake.stale_links = 1  # the link the job completes with is already dead
    admin.add_channel(up)
    video_id = _create(sdk, "runway", unique("runway: a link too old"))
    done = finished(sdk, video_id)
    assert done.status == "completed", done.error
    assert [r.status for r in up.calls("GET") if r.path.startswith("/cdn/")] == [403, 200]
    width, height, _, _ = decode_info(sdk.videos.download_content(video_id).read())
    assert f"{width}x{height}" == SHAPES["runway"][1]


#: kind -> the HTTP status its fake refuses a sensitive prompt with
SENSITIVE_STATUS = {"minimax": 200, "minimax_h3": 422, "dashscope": 400, "dashscope_200": 200}


@pytest.mark.parametrize("kind", sorted(SENSITIVE_STATUS))
def test_sensitive_input_fails_the_job_and_is_not_retried(
    kind: str, upstreams: dict[str, Upstream], admin: Admin, sdk: openai.OpenAI
) -> None:
    """MiniMax (1026; HTTP 200 on V1) and DashScope (``DataInspectionFailed``, at times
    as HTTP 200) refuse a sensitive prompt: the prompt's fault, so the job fails with
    ``moderation_blocked`` and no other channel is asked."""
    up = upstreams[kind]
    admin.add_channel(up, priority=10)
    admin.add_channel(up, priority=0)
    refused = finished(sdk, _create(sdk, kind, unique("nsfw-input, politely")))
    assert refused.status == "failed" and refused.error is not None
    assert refused.error.code == "moderation_blocked"
    assert [r.status for r in up.creates()] == [SENSITIVE_STATUS[kind]]
