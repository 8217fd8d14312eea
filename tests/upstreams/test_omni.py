"""vLLM-Omni (the openai provider's ``omni`` mode) through a live gateway, official SDK.

The create reaches the server as multipart with the extension fields filled from the
size and seconds the client asked for; the video comes back at that size and length;
thumbnails are ours (vLLM-Omni serves the video only); delete reaches the server.
"""

from __future__ import annotations

import time

import openai
import pytest

from tests.integration.helpers import decode_info, png
from tests.upstreams.support import Admin, Upstream, assert_all_keys, finished, unique, wait_for

MODEL, SIZE = "wan-2.2-local", "832x480"


def test_sdk_end_to_end_with_the_extension_fields(upstreams: dict[str, Upstream], admin: Admin,
                                                  sdk: openai.OpenAI) -> None:
    up = upstreams["omni"]
    admin.add_channel(up)
    prompt = unique("omni: a heron lifting off a misty lake")
    video = sdk.videos.create(model=MODEL, prompt=prompt, size=SIZE, seconds="4")
    done = finished(sdk, video.id)
    assert done.status == "completed", done.error
    assert (done.size, done.seconds) == (SIZE, "4")
    width, height, duration, _ = decode_info(sdk.videos.download_content(video.id).read())
    assert (width, height) == (832, 480) and duration == pytest.approx(4.0, abs=0.1)
    job = up.job(prompt)
    assert job.model == "Wan-AI/Wan2.2-TI2V-5B-Diffusers"  # the channel's model map
    assert job.extra["form"] | {"prompt": None} == {
        "model": "Wan-AI/Wan2.2-TI2V-5B-Diffusers", "prompt": None, "seconds": "4",
        "size": SIZE, "width": "832", "height": "480", "fps": "16", "num_frames": "64",
        "num_inference_steps": "8"}
    assert sdk.videos.download_content(video.id, variant="thumbnail").read()[8:12] == b"WEBP"
    contents = [r for r in up.calls("GET") if r.path.endswith("/content")]
    assert len(contents) == 1 and "variant=video" in contents[0].query  # no image variants
    assert assert_all_keys(up, up.keys[0]) >= 3


def test_image_to_video_and_delete(upstreams: dict[str, Upstream], admin: Admin,
                                   sdk: openai.OpenAI) -> None:
    up = upstreams["omni"]
    up.fake.complete_after = 30.0
    admin.add_channel(up)
    reference = png(832, 480)
    prompt = unique("omni: animate this")
    video = sdk.videos.create(model=MODEL, prompt=prompt, size=SIZE, seconds="2",
                              input_reference=("ref.png", reference, "image/png"))
    wait_for(sdk, video.id, lambda v: any(j.prompt == prompt for j in up.fake.jobs.values()))
    job = up.job(prompt)
    assert job.extra["reference"] == reference and job.extra["form"]["num_frames"] == "32"
    assert sdk.videos.delete(video.id).deleted
    deadline = time.monotonic() + 60
    while not up.calls("DELETE", touching=job.id) and time.monotonic() < deadline:
        time.sleep(0.05)
    [call] = up.calls("DELETE", touching=job.id)
    assert call.credential == up.keys[0] and job.id not in up.fake.jobs
