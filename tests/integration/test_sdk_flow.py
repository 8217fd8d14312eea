"""The official openai SDK, unmodified, against a live gateway process."""

from __future__ import annotations

import io

import av
import httpx
import numpy as np
import openai
import pytest

from tests.conftest import MODERATION_WORD
from tests.integration.helpers import decode_info, png, wait_done
from tests.support.server import GatewayProcess


def test_create_poll_download_decodes_with_requested_geometry(client: openai.OpenAI) -> None:
    video = client.videos.create(model="sora-2", prompt="a golden retriever on a beach",
                                 seconds="4", size="1280x720")
    assert video.status == "queued" and video.progress == 0
    assert video.id.startswith("video_") and video.object == "video"
    assert video.completed_at is None
    done = client.videos.poll(video.id, poll_interval_ms=200)
    assert done.status == "completed" and done.progress == 100
    assert done.completed_at is not None and done.completed_at >= done.created_at
    assert done.expires_at is not None and done.expires_at > done.completed_at
    data = client.videos.download_content(done.id).read()
    assert data[4:8] == b"ftyp"
    width, height, duration, frames = decode_info(data)
    assert (width, height, frames) == (1280, 720, 96)
    assert duration == pytest.approx(4.0, abs=0.05)


def test_create_and_poll_pro_portrait_8s(client: openai.OpenAI) -> None:
    video = client.videos.create_and_poll(model="sora-2-pro", prompt="neon city in rain",
                                          seconds="8", size="1024x1792", poll_interval_ms=200)
    assert video.status == "completed"
    assert video.model == "sora-2-pro" and video.size == "1024x1792" and video.seconds == "8"
    assert video.model_extra and video.model_extra.get("quality") == "high"
    width, height, duration, frames = decode_info(client.videos.download_content(video.id).read())
    assert (width, height, frames) == (1024, 1792, 192)
    assert duration == pytest.approx(8.0, abs=0.05)


def test_progress_is_reported_while_rendering(client: openai.OpenAI) -> None:
    video = client.videos.create(model="sora-2-pro", prompt="slow pan over mountains",
                                 seconds="12", size="1920x1080")
    seen: list[tuple[str, int]] = []
    while video.status not in ("completed", "failed"):
        video = client.videos.retrieve(video.id)
        seen.append((video.status, video.progress or 0))
    assert video.status == "completed"
    middle = [p for s, p in seen if s == "in_progress"]
    assert any(0 < p < 100 for p in middle), seen
    assert middle == sorted(middle), "progress never goes backwards"


def test_thumbnail_and_spritesheet_variants(client: openai.OpenAI) -> None:
    video = client.videos.create_and_poll(prompt="a lighthouse", poll_interval_ms=200)
    thumb = client.videos.download_content(video.id, variant="thumbnail")
    sprite = client.videos.download_content(video.id, variant="spritesheet")
    assert thumb.response.headers["content-type"] == "image/webp"
    assert sprite.response.headers["content-type"] == "image/webp"
    assert thumb.read()[8:12] == b"WEBP" and sprite.read()[8:12] == b"WEBP"


def test_defaults_are_the_seeds(client: openai.OpenAI) -> None:
    video = client.videos.create(prompt="defaults")
    assert (video.model, video.seconds, video.size) == ("sora-2", "4", "720x1280")
    client.videos.delete(video.id)


def test_image_to_video_starts_from_the_reference(client: openai.OpenAI) -> None:
    ref = png(1280, 720, (20, 200, 40))
    video = client.videos.create(model="sora-2", prompt="the green field comes alive",
                                 size="1280x720", seconds="4",
                                 input_reference=("ref.png", ref, "image/png"))
    done = wait_done(client, video.id)
    assert done.status == "completed"
    data = client.videos.download_content(done.id).read()
    with av.open(io.BytesIO(data)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    mean = first.reshape(-1, 3).mean(axis=0)
    assert mean[1] > mean[0] + 60 and mean[1] > mean[2] + 60, mean  # green dominates


def test_reference_sniffed_by_content_not_name(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.videos.create(prompt="x", input_reference=("pic.png", b"GIF89a" + b"\0" * 64,
                                                          "image/png"))
    assert err.value.body["param"] == "input_reference"  # type: ignore[index]


def test_list_with_cursors_over_many_jobs(gateway: GatewayProcess) -> None:
    key = gateway.create_key("lister", tenant="listing-tenant")
    client = openai.OpenAI(api_key=key, base_url=gateway.base_url, max_retries=0)
    created = [client.videos.create(prompt=f"job {i}").id for i in range(27)]
    try:
        page = client.videos.list(limit=10)
        assert [v.id for v in page.data] == created[::-1][:10]
        assert page.has_more
        everything = [v.id for v in client.videos.list(limit=10)]  # the SDK follows after=
        assert everything == created[::-1]
        asc = [v.id for v in client.videos.list(limit=7, order="asc")]
        assert asc == created
        raw = httpx.get(f"{gateway.base_url}/videos", params={"limit": 5, "after": created[-5]},
                        headers={"Authorization": f"Bearer {key}"}).json()
        assert [v["id"] for v in raw["data"]] == created[::-1][5:10]
        assert raw["first_id"] == created[-6] and raw["last_id"] == created[-10]
        assert raw["has_more"] is True and raw["object"] == "list"
    finally:
        for vid in created:
            client.videos.delete(vid)
    assert list(client.videos.list()) == []


def test_delete_removes_video_and_content(client: openai.OpenAI) -> None:
    video = client.videos.create_and_poll(prompt="to be deleted", poll_interval_ms=200)
    deleted = client.videos.delete(video.id)
    assert deleted.deleted is True and deleted.id == video.id
    assert deleted.object == "video.deleted"
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)
    with pytest.raises(openai.NotFoundError):
        client.videos.download_content(video.id)
    with pytest.raises(openai.NotFoundError):
        client.videos.delete(video.id)


def test_delete_cancels_a_running_job(client: openai.OpenAI) -> None:
    video = client.videos.create(model="sora-2-pro", prompt="cancel me", seconds="12",
                                 size="1920x1080")
    client.videos.delete(video.id)
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)


def test_remix_inherits_size_and_seconds(client: openai.OpenAI) -> None:
    source = client.videos.create_and_poll(model="sora-2", prompt="a cat", size="1280x720",
                                           seconds="8", poll_interval_ms=200)
    remix = client.videos.remix(source.id, prompt="the same cat, in space")
    assert remix.remixed_from_video_id == source.id
    assert (remix.size, remix.seconds, remix.model) == ("1280x720", "8", "sora-2")
    done = wait_done(client, remix.id)
    assert done.status == "completed"
    width, height, duration, _ = decode_info(client.videos.download_content(done.id).read())
    assert (width, height) == (1280, 720) and duration == pytest.approx(8.0, abs=0.05)


def test_remix_of_unfinished_video_is_rejected(client: openai.OpenAI) -> None:
    running = client.videos.create(model="sora-2-pro", prompt="long", seconds="12",
                                   size="1920x1080")
    with pytest.raises(openai.BadRequestError):
        client.videos.remix(running.id, prompt="too early")
    client.videos.delete(running.id)


def test_content_before_completion_is_404_not_200(client: openai.OpenAI, api_key: str,
                                                  gateway: GatewayProcess) -> None:
    video = client.videos.create(model="sora-2-pro", prompt="not yet", seconds="12",
                                 size="1920x1080")
    resp = httpx.get(f"{gateway.base_url}/videos/{video.id}/content",
                     headers={"Authorization": f"Bearer {api_key}"})
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "video_not_ready"
    client.videos.delete(video.id)


def test_moderation_word_fails_the_job_with_code(client: openai.OpenAI) -> None:
    video = client.videos.create(prompt=f"something {MODERATION_WORD} here")
    done = wait_done(client, video.id)
    assert done.status == "failed"
    assert done.error is not None and done.error.code == "moderation_blocked"
    with pytest.raises(openai.NotFoundError):
        client.videos.download_content(video.id)


def test_range_requests(client: openai.OpenAI, api_key: str, gateway: GatewayProcess) -> None:
    video = client.videos.create_and_poll(prompt="range me", poll_interval_ms=200)
    full = client.videos.download_content(video.id).read()
    url = f"{gateway.base_url}/videos/{video.id}/content"
    auth = {"Authorization": f"Bearer {api_key}"}
    whole = httpx.get(url, headers=auth)
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["cache-control"].startswith("private")
    etag = whole.headers["etag"]
    part = httpx.get(url, headers={**auth, "Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == full[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(full)}"
    tail = httpx.get(url, headers={**auth, "Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == full[-50:]
    bad = httpx.get(url, headers={**auth, "Range": f"bytes={len(full) + 10}-"})
    assert bad.status_code == 416 and bad.json()["error"]["code"] == "range_not_satisfiable"
    assert httpx.get(url, headers={**auth, "If-None-Match": etag}).status_code == 304


def test_retrieve_carries_poll_hint_until_done(client: openai.OpenAI) -> None:
    video = client.videos.create(prompt="hint")
    raw = client.videos.with_raw_response.retrieve(video.id)
    assert 0 < int(raw.headers["openai-poll-after-ms"]) <= 10_000
    done = client.videos.poll(video.id, poll_interval_ms=200)
    raw = client.videos.with_raw_response.retrieve(done.id)
    assert "openai-poll-after-ms" not in raw.headers


def test_other_tenant_sees_404_everywhere(client: openai.OpenAI,
                                          other_client: openai.OpenAI) -> None:
    video = client.videos.create_and_poll(prompt="private", poll_interval_ms=200)
    calls = [
        lambda: other_client.videos.retrieve(video.id),
        lambda: other_client.videos.download_content(video.id),
        lambda: other_client.videos.delete(video.id),
        lambda: other_client.videos.remix(video.id, prompt="steal"),
    ]
    for call in calls:
        with pytest.raises(openai.NotFoundError):
            call()
    assert video.id not in [v.id for v in other_client.videos.list()]
    assert client.videos.retrieve(video.id).status == "completed"


def test_models_list_shows_catalog(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert {"sora-2", "sora-2-pro"} <= set(ids)


def test_different_prompts_give_different_videos(client: openai.OpenAI) -> None:
    a = client.videos.create_and_poll(prompt="red sunrise", poll_interval_ms=200)
    b = client.videos.create_and_poll(prompt="blue ocean", poll_interval_ms=200)
    frames = []
    for vid in (a.id, b.id):
        with av.open(io.BytesIO(client.videos.download_content(vid).read())) as c:
            frames.append(next(c.decode(video=0)).to_ndarray(format="rgb24").astype(int))
    assert np.abs(frames[0] - frames[1]).mean() > 10
