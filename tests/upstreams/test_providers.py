"""Each upstream through the gateway with the official SDK: the happy path end to end.

create -> poll -> download (the file decodes at the size and duration asked for),
thumbnail and spritesheet served from our storage, remix where the upstream has it,
and delete of a running job reaching the upstream with the job's own key.
"""

from __future__ import annotations

import io
import time

import openai
import pytest
from PIL import Image

from tests.integration.helpers import decode_info
from tests.upstreams.support import (
    SHAPES,
    Admin,
    Upstream,
    assert_all_keys,
    assert_keys,
    finished,
    unique,
    wait_for,
)

PROVIDERS = ("openai", "azure", "relay", "veo", "seedance", "kling", "vidu", "runway",
             "luma", "minimax", "minimax_h3", "dashscope")
#: upstreams that cannot cancel or delete a task (it runs to its end there)
NO_CANCEL = frozenset({"kling", "minimax"})  # minimax: its V1 API
#: upstream kind -> the route an image-to-video create must reach
IMAGE_ROUTES = {
    "kling": "/v1/videos/image2video",
    "vidu": "/ent/v2/img2video",
    "runway": "/v1/image_to_video",
    "seedance": "/api/v3/contents/generations/tasks",
    "veo": "/v1beta/models/veo-3.1-generate-preview:predictLongRunning",
    "minimax": "/v1/video_generation",
    "minimax_h3": "/v2/video_generation",
    "dashscope": "/api/v1/services/aigc/video-generation/video-synthesis",
}
#: kinds whose image-to-video test uses another model than SHAPES (one that needs the image)
IMAGE_MODELS = {"runway": "gen4_turbo"}


def _png(size: str) -> bytes:
    width, height = (int(v) for v in size.split("x"))
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize("kind", PROVIDERS)
def test_create_poll_download(kind: str, upstreams: dict[str, Upstream], admin: Admin,
                              sdk: openai.OpenAI) -> None:
    up = upstreams[kind]
    channel = admin.add_channel(up)
    model, size, seconds = SHAPES[kind]
    prompt = unique(f"{kind}: a red fox in the snow")
    video = sdk.videos.create(model=model, prompt=prompt, size=size, seconds=seconds)
    assert video.status == "queued" and video.id.startswith("video_")
    done = finished(sdk, video.id)
    assert done.status == "completed", done.error
    assert (done.model, done.size, done.seconds, done.progress) == (model, size, seconds, 100)

    data = sdk.videos.download_content(video.id).read()
    width, height, duration, _ = decode_info(data)
    assert f"{width}x{height}" == size
    assert duration == pytest.approx(float(seconds), abs=0.1)
    for variant in ("thumbnail", "spritesheet"):
        image = sdk.videos.download_content(video.id, variant=variant)
        kind_header = image.response.headers["content-type"]
        assert kind_header in ("image/webp", "image/jpeg"), kind_header
        body = image.read()
        assert body[8:12] == b"WEBP" if kind_header == "image/webp" else body[:3] == b"\xff\xd8\xff"

    upstream_job = up.job(prompt)
    assert upstream_job.creator == up.keys[0]
    assert upstream_job.model == channel["models"][model]  # the model map was applied
    assert len(up.creates()) == 1
    assert assert_keys(up, upstream_job.id, up.keys[0]) >= 1
    assert assert_all_keys(up, up.keys[0]) >= 3  # create, polls, download


def test_delete_of_a_completed_job_tidies_the_upstream_copy(
    upstreams: dict[str, Upstream], admin: Admin, sdk: openai.OpenAI
) -> None:
    up = upstreams["openai"]
    admin.add_channel(up)
    model, size, seconds = SHAPES["openai"]
    prompt = unique("openai: done, then deleted")
    video = sdk.videos.create(model=model, prompt=prompt, size=size, seconds=seconds)
    assert finished(sdk, video.id).status == "completed"
    upstream_id = up.job(prompt).id
    assert sdk.videos.delete(video.id).deleted
    deadline = time.monotonic() + 60  # done in the background: the client does not wait
    while not up.calls("DELETE", touching=upstream_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    [call] = up.calls("DELETE", touching=upstream_id)
    assert call.credential == up.keys[0]


@pytest.mark.parametrize("kind", ("openai", "azure", "relay"))
def test_remix_runs_on_the_same_channel_and_key(kind: str, upstreams: dict[str, Upstream],
                                                admin: Admin, sdk: openai.OpenAI) -> None:
    up = upstreams[kind]
    admin.add_channel(up, keys=up.keys)  # two keys: the remix must use the source's one
    model, size, seconds = SHAPES[kind]
    prompt = unique(f"{kind}: a lighthouse at dusk")
    source = sdk.videos.create(model=model, prompt=prompt, size=size, seconds=seconds)
    assert finished(sdk, source.id).status == "completed"
    creator = up.job(prompt).creator

    remix_prompt = unique("the same lighthouse, at dawn")
    remix = sdk.videos.remix(source.id, prompt=remix_prompt)
    assert remix.remixed_from_video_id == source.id
    done = finished(sdk, remix.id)
    assert done.status == "completed", done.error
    width, height, duration, _ = decode_info(sdk.videos.download_content(remix.id).read())
    assert (f"{width}x{height}", duration) == (size, pytest.approx(float(seconds), abs=0.1))

    upstream_remix = up.job(remix_prompt)
    assert upstream_remix.extra["remix_of"] == up.job(prompt).id
    assert upstream_remix.creator == creator
    [remix_call] = up.calls("POST", path_suffix="/remix")
    assert remix_call.credential == creator


@pytest.mark.parametrize("kind", sorted(IMAGE_ROUTES))
def test_image_to_video_sends_the_image(kind: str, upstreams: dict[str, Upstream],
                                        admin: Admin, sdk: openai.OpenAI) -> None:
    up = upstreams[kind]
    admin.add_channel(up)
    model, size, seconds = SHAPES[kind]
    model = IMAGE_MODELS.get(kind, model)
    image = _png(size)
    prompt = unique(f"{kind}: the picture comes alive")
    video = sdk.videos.create(model=model, prompt=prompt, size=size, seconds=seconds,
                              input_reference=("first-frame.png", image, "image/png"))
    done = finished(sdk, video.id)
    assert done.status == "completed", done.error
    width, height, duration, _ = decode_info(sdk.videos.download_content(video.id).read())
    assert (f"{width}x{height}", duration) == (size, pytest.approx(float(seconds), abs=0.1))
    upstream_job = up.job(prompt)
    assert upstream_job.extra["reference"] == image  # byte for byte
    [create] = up.creates()
    assert create.path == IMAGE_ROUTES[kind]
    assert assert_keys(up, upstream_job.id, up.keys[0]) >= 1  # polls (and the create)
    assert assert_all_keys(up, up.keys[0]) >= 3  # create, polls, download


@pytest.mark.parametrize("kind", sorted(NO_CANCEL))
def test_delete_where_the_upstream_cannot_cancel(kind: str, upstreams: dict[str, Upstream],
                                                admin: Admin, sdk: openai.OpenAI) -> None:
    """Kling and MiniMax V1 have no cancel: the job is gone for the client at once and
    no call pretending to cancel it is made upstream."""
    up = upstreams[kind]
    up.fake.complete_after = 30.0
    admin.add_channel(up)
    model, size, seconds = SHAPES[kind]
    prompt = unique(f"{kind}: deleted while rendering")
    video = sdk.videos.create(model=model, prompt=prompt, size=size, seconds=seconds)
    wait_for(sdk, video.id, lambda v: v.status == "in_progress")
    assert sdk.videos.delete(video.id).deleted
    with pytest.raises(openai.NotFoundError):
        sdk.videos.retrieve(video.id)
    upstream_id = up.job(prompt).id
    assert up.cancels(upstream_id) == [] and up.creates()


@pytest.mark.parametrize("kind", [k for k in PROVIDERS if k not in NO_CANCEL])
def test_delete_of_a_running_job_reaches_the_upstream(
    kind: str, upstreams: dict[str, Upstream], admin: Admin, sdk: openai.OpenAI
) -> None:
    up = upstreams[kind]
    up.fake.complete_after = 30.0  # still running when we delete it
    admin.add_channel(up)
    model, size, seconds = SHAPES[kind]
    prompt = unique(f"{kind}: a slow sunset")
    video = sdk.videos.create(model=model, prompt=prompt, size=size, seconds=seconds)
    wait_for(sdk, video.id, lambda v: any(j.prompt == prompt for j in up.fake.jobs.values()))
    upstream_id = up.job(prompt).id

    deleted = sdk.videos.delete(video.id)
    assert deleted.deleted and deleted.id == video.id
    # at once when the gateway knew the upstream id, else as soon as the submit returns
    deadline = time.monotonic() + 60
    while not up.cancels(upstream_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    [call] = up.cancels(upstream_id)
    assert call.credential == up.keys[0] and call.status in (200, 204)  # Runway: 204
    with pytest.raises(openai.NotFoundError):
        sdk.videos.retrieve(video.id)


_KIND_OF = {"veo-3.1": "veo", "seedance-1.0-pro": "seedance", "gen4.5": "runway",
            "gen4_turbo": "runway", "ray-2": "luma", "minimax-hailuo-02": "minimax",
            "minimax-h3": "minimax", "wan-2.6": "dashscope", "wan-2.5": "dashscope",
            "wan-2.2-plus": "dashscope", "wan-2.2-flash": "dashscope", "wan-2.7": "dashscope"}


@pytest.mark.parametrize(("model", "size", "seconds", "param"), [
    ("veo-3.1", "1920x1080", "4", "size"),  # Veo renders 1080p at 8 s only
    ("veo-3.1", "1080x1920", "6", "size"),
    ("veo-3.1", "1280x720", "5", "seconds"),
    ("seedance-1.0-pro", "1280x720", "4", "seconds"),
    ("seedance-1.0-pro", "1024x1792", "5", "size"),
    ("gen4_turbo", "1280x720", "5", "input_reference"),  # image-to-video only
    ("gen4.5", "960x960", "5", "input_reference"),  # text-to-video is 720p 16:9 / 9:16 only
    ("gen4.5", "1920x1080", "5", "size"),
    ("gen4.5", "1280x720", "12", "seconds"),
    ("ray-2", "1280x720", "4", "seconds"),  # Luma renders "5s" or "9s"
    ("ray-2", "1024x1024", "5", "size"),
    ("minimax-hailuo-02", "1920x1080", "10", "size"),  # 1080P: 6 s only
    ("minimax-hailuo-02", "1366x768", "8", "seconds"),
    ("minimax-h3", "1280x720", "5", "size"),
    ("wan-2.2-plus", "1280x720", "5", "size"),  # Wan 2.2 Plus: 480P or 1080P
    ("wan-2.5", "1280x720", "8", "seconds"),  # 5 or 10 s
    ("wan-2.6", "832x480", "5", "size"),  # no 480P
    ("wan-2.2-flash", "1280x720", "5", "input_reference"),  # image-to-video only
    ("wan-2.7", "832x480", "5", "size"),  # 720P or 1080P
    ("wan-2.7", "1280x720", "16", "seconds"),  # 2-15 s
])
def test_what_an_upstream_cannot_render_is_a_400(
    model: str, size: str, seconds: str, param: str, upstreams: dict[str, Upstream],
    admin: Admin, sdk: openai.OpenAI,
) -> None:
    up = upstreams[_KIND_OF[model]]
    admin.add_channel(up)
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.videos.create(model=model, prompt=unique("impossible"), size=size,
                          seconds=seconds)
    assert caught.value.status_code == 400
    assert isinstance(caught.value.body, dict) and caught.value.body["param"] == param
    assert up.calls() == []


def test_veo_renders_1080p_at_8_seconds(upstreams: dict[str, Upstream], admin: Admin,
                                        sdk: openai.OpenAI) -> None:
    """The catalog's pair rule lets 1080p through at 8 s, and Veo gets resolution 1080p."""
    up = upstreams["veo"]
    admin.add_channel(up)
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.videos.create(model="veo-3.1", prompt=unique("veo 1080p short"),
                          size="1920x1080", seconds="4")
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["message"] == \
        "1920x1080 is only available at 8 seconds for veo-3.1."
    prompt = unique("veo: 1080p at 8 s")
    video = sdk.videos.create(model="veo-3.1", prompt=prompt, size="1920x1080", seconds="8")
    done = finished(sdk, video.id)
    assert done.status == "completed", done.error
    assert (done.size, done.seconds) == ("1920x1080", "8")
    job = up.job(prompt)  # the fake renders what Veo's parameters asked for
    assert (job.width, job.height, job.seconds) == (1920, 1080, 8)



def test_hailuo_renders_1080p_at_6_seconds(upstreams: dict[str, Upstream], admin: Admin,
                                          sdk: openai.OpenAI) -> None:
    """The catalog's pair rule lets 1080P through at 6 s only; MiniMax gets 1080P."""
    up = upstreams["minimax"]
    admin.add_channel(up)
    prompt = unique("minimax: 1080p at 6 s")
    video = sdk.videos.create(model="minimax-hailuo-02", prompt=prompt, size="1920x1080",
                              seconds="6")
    done = finished(sdk, video.id)
    assert done.status == "completed", done.error
    assert (done.size, done.seconds) == ("1920x1080", "6")
    job = up.job(prompt)
    assert (job.extra["resolution"], job.width, job.height) == ("1080P", 1920, 1080)


def test_delete_during_the_submit_cancels_the_upstream_job(
    upstreams: dict[str, Upstream], admin: Admin, sdk: openai.OpenAI
) -> None:
    """The client deletes while the create is in flight: once the upstream answers, the
    job it made is cancelled, since nobody would ever poll it or pay for it."""
    up = upstreams["openai"]
    up.fake.complete_after = 30.0
    admin.add_channel(up)
    up.fake.slow_next(1.5, method="POST")
    prompt = unique("deleted mid-submit")
    video = sdk.videos.create(model="sora-2", prompt=prompt, size="1280x720", seconds="4")
    deadline = time.monotonic() + 60
    while not up.creates() and time.monotonic() < deadline:
        time.sleep(0.02)
    sdk.videos.delete(video.id)  # the create is still waiting for its answer
    upstream_id = up.job(prompt).id
    while not up.calls("DELETE", touching=upstream_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    [call] = up.calls("DELETE", touching=upstream_id)
    assert call.credential == up.keys[0]
    assert upstream_id not in up.fake.jobs


def test_luma_takes_no_image_and_says_so_before_any_upstream_call(
    upstreams: dict[str, Upstream], admin: Admin, sdk: openai.OpenAI
) -> None:
    """Luma wants a start frame as a URL it can fetch, which reelgate cannot give it."""
    up = upstreams["luma"]
    admin.add_channel(up)
    model, size, seconds = SHAPES["luma"]
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.videos.create(model=model, prompt=unique("luma: from a picture"), size=size,
                          seconds=seconds, input_reference=("ref.png", _png(size), "image/png"))
    assert isinstance(caught.value.body, dict)
    assert (caught.value.body["param"], caught.value.body["code"]) == (
        "input_reference", "unsupported_operation")
    assert up.calls() == []
