"""DashScope (Alibaba Wan) through a live gateway: what only this upstream does.

Errors that arrive as HTTP 200, task ids that expire after 24 hours (UNKNOWN),
billing on ``usage.duration``, the image-to-video twin of a text-to-video model.
The matrix every provider runs (moderation, garbled polls, ambiguous creates,
expired links, balance, channel checks) is in the other files of this package.
"""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import openai
import pytest
from PIL import Image

from tests.integration.helpers import decode_info
from tests.support.server import GatewayProcess
from tests.upstreams.support import (
    Admin,
    Upstream,
    assert_all_keys,
    finished,
    unique,
    wait_for,
)
from tests.upstreams.test_channels_admin import cli
from tests.upstreams.test_routing import _closed_port


def _ledger(gw: GatewayProcess, sdk: openai.OpenAI, job_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{gw.base_url}/billing/ledger", params={"job_id": job_id},
                       headers={"Authorization": f"Bearer {sdk.api_key}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["data"]
    return rows


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (90, 160, 60)).save(out, format="PNG")
    return out.getvalue()


def test_a_throttle_sent_as_200_fails_over_and_cools_the_key(
    upstreams: dict[str, Upstream], admin: Admin, sdk: openai.OpenAI
) -> None:
    """``Throttling.RateQuota`` under "200 OK": nothing was made, so the next channel
    gets the job and the throttled key waits out its Retry-After."""
    up = upstreams["dashscope_200"]
    first = admin.add_channel(up, keys=(up.keys[0],), priority=10)
    admin.add_channel(up, keys=(up.keys[1],), priority=0)
    up.fake.rate_limit_next(method="POST", retry_after=30)
    prompt = unique("dashscope: throttled, then elsewhere")
    video = sdk.videos.create(model="wan-2.6", prompt=prompt, size="1280x720", seconds="5")
    done = finished(sdk, video.id)
    assert done.status == "completed", done.error
    assert [(r.credential, r.status, r.fault) for r in up.creates()] == [
        (up.keys[0], 200, "status"), (up.keys[1], 200, None)]
    assert up.job(prompt).creator == up.keys[1]
    # Retry-After: 30 from the throttled create on, however long the job took elsewhere
    assert admin.channel(first["id"])["keys"][0]["cooldown_until"] >= up.creates()[0].time + 29


def test_a_task_dashscope_forgot_fails_as_lost_and_is_refunded(
    upstreams: dict[str, Upstream], admin: Admin, sdk: openai.OpenAI,
    upstream_gateway: GatewayProcess,
) -> None:
    """Past 24 hours DashScope answers UNKNOWN for the task: not a word to keep polling
    forever, the job is lost upstream; the client is refunded in full."""
    up = upstreams["dashscope"]
    up.fake.complete_after = 60.0
    admin.add_channel(up)
    prompt = unique("dashscope: a task that outlived its id")
    video = sdk.videos.create(model="wan-2.5", prompt=prompt, size="1280x720", seconds="5")
    wait_for(sdk, video.id, lambda v: any(j.prompt == prompt for j in up.fake.jobs.values()))
    up.fake.expire_tasks()
    done = finished(sdk, video.id, timeout=60)
    assert done.status == "failed" and done.error is not None
    assert done.error.code == "upstream_lost", done.error
    rows = _ledger(upstream_gateway, sdk, video.id)
    assert sorted(r["kind"] for r in rows) == ["refund", "reserve"]
    assert sum(r["amount_micros"] for r in rows) == 0
    assert len(up.creates()) == 1  # never resubmitted
    assert_all_keys(up, up.keys[0])


def test_billed_on_the_seconds_usage_reports(upstreams: dict[str, Upstream], admin: Admin,
                                             sdk: openai.OpenAI,
                                             upstream_gateway: GatewayProcess) -> None:
    """Asked for 5 s, DashScope rendered and billed 10 (``usage.duration``): so do we."""
    up = upstreams["dashscope"]
    up.fake.rendered_seconds = 10
    admin.add_channel(up)
    video = sdk.videos.create(model="wan-2.5", prompt=unique("dashscope: a long take"),
                              size="1280x720", seconds="5")
    done = finished(sdk, video.id)
    assert done.status == "completed" and done.seconds == "10", done
    _, _, duration, _ = decode_info(sdk.videos.download_content(video.id).read())
    assert duration == pytest.approx(10.0, abs=0.1)
    rows = _ledger(upstream_gateway, sdk, video.id)
    assert sum(r["amount_micros"] for r in rows) == -1_000_000  # 10 s x $0.10


@pytest.mark.parametrize(("model", "size", "upstream_model", "tier"), [
    ("wan-2.6", "1080x1920", "wan2.6-i2v", "1080P"),
    ("wan-2.2-flash", "832x480", "wan2.2-i2v-flash", "480P"),  # image-to-video only
])
def test_image_to_video_end_to_end(model: str, size: str, upstream_model: str, tier: str,
                                   upstreams: dict[str, Upstream], admin: Admin,
                                   sdk: openai.OpenAI) -> None:
    """The SDK's create with a first frame, poll, download, delete: the job runs on the
    model's i2v twin at the size's tier, with the image byte for byte."""
    up = upstreams["dashscope"]
    admin.add_channel(up)
    width, height = (int(v) for v in size.split("x"))
    image = _png(width, height)
    prompt = unique(f"dashscope: {model} from a picture")
    video = sdk.videos.create(model=model, prompt=prompt, size=size, seconds="5",
                              input_reference=("frame.png", image, "image/png"))
    done = finished(sdk, video.id)
    assert done.status == "completed", done.error
    got = decode_info(sdk.videos.download_content(video.id).read())
    assert (f"{got[0]}x{got[1]}", got[2]) == (size, pytest.approx(5.0, abs=0.1))
    job = up.job(prompt)
    assert (job.model, job.extra["parameters"]["resolution"]) == (upstream_model, tier)
    assert job.extra["reference"] == image
    assert sdk.videos.delete(video.id).deleted
    with pytest.raises(openai.NotFoundError):
        sdk.videos.retrieve(video.id)
    assert_all_keys(up, up.keys[0])


def test_wan_27_speaks_the_newer_protocol(upstreams: dict[str, Upstream], admin: Admin,
                                          sdk: openai.OpenAI) -> None:
    """Wan 2.7: resolution + ratio instead of an exact size, any whole second 2-15;
    text-to-video only, so a first frame is refused before any upstream call."""
    up = upstreams["dashscope"]
    admin.add_channel(up)
    prompt = unique("dashscope: wan 2.7 at 4:3")
    video = sdk.videos.create(model="wan-2.7", prompt=prompt, size="1088x832", seconds="3")
    done = finished(sdk, video.id)
    assert done.status == "completed", done.error
    got = decode_info(sdk.videos.download_content(video.id).read())
    assert (f"{got[0]}x{got[1]}", got[2]) == ("1088x832", pytest.approx(3.0, abs=0.1))
    assert up.job(prompt).extra["parameters"] == {"duration": 3, "resolution": "720P",
                                                  "ratio": "4:3"}
    before = len(up.calls())
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.videos.create(model="wan-2.7", prompt=unique("from a picture"), size="1280x720",
                          seconds="5", input_reference=("f.png", _png(1280, 720), "image/png"))
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["param"] == "input_reference"
    assert len(up.calls()) == before


def test_channels_test_names_bad_key_wrong_base_url_and_unreachable(
    upstreams: dict[str, Upstream], admin: Admin, upstream_gateway: GatewayProcess
) -> None:
    """``reelgate channels test`` on DashScope channels: the OpenAI-compatible URL
    (``/compatible-mode/v1``, a common mix-up) is a wrong base URL, a closed port is
    unreachable, a key of another account is rejected; nothing is created."""
    up = upstreams["dashscope"]
    good = admin.add_channel(up, keys=(up.keys[0], "sk-not-a-dashscope-key"))
    wrong = admin.add_channel(up, base_url=up.base_url + "/compatible-mode/v1")
    down = admin.add_channel(up, base_url=f"http://127.0.0.1:{_closed_port()}")
    verdicts = {}
    for channel in (good, wrong, down):
        ran = cli(upstream_gateway, "test", channel["name"], "--json")
        assert ran.returncode == 1, ran.stdout
        verdicts[channel["id"]] = [(v["label"], v["problem"]) for v in json.loads(ran.stdout)]
    assert verdicts == {good["id"]: [("key1", None), ("key2", "bad_key")],
                        wrong["id"]: [("key1", "wrong_base_url")],
                        down["id"]: [("key1", "unreachable")]}
    assert up.creates() == []
