"""Edits, extensions and characters through ``openai``-provider channels to a fake upstream
that speaks those routes: the fake records the key and the encoding of every call, so
these tests see the gateway pass each operation on as the Videos API takes it, on the
channel and key of the source (or of the character)."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.core import FakeJob
from tests.fakes.media import render_mp4
from tests.integration.helpers import decode_info, png
from tests.integration.test_video_inputs import multipart
from tests.upstreams.support import Admin, Upstream, assert_keys, finished, unique

CLIP = render_mp4(1280, 720, 4.0)


def _post(sdk: openai.OpenAI, path: str, *, json: Any = None,
          form: list[tuple[str, str]] | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {sdk.api_key}"}
    url = f"{sdk.base_url}".rstrip("/") + path
    if json is not None:
        return httpx.post(url, json=json, headers=headers, timeout=30)
    body, ctype = multipart(form or [])
    return httpx.post(url, content=body, headers={**headers, **ctype}, timeout=30)


def _source(up: Upstream, sdk: openai.OpenAI, admin: Admin, **channel: Any) -> tuple[Any, FakeJob]:
    admin.add_channel(up, keys=up.keys, models={"sora-2": "sora-2"}, **channel)
    prompt = unique("a source to build on")
    video = sdk.videos.create(model="sora-2", prompt=prompt, size="1280x720", seconds="4")
    done = finished(sdk, video.id)
    assert done.status == "completed", done.error
    return done, up.job(prompt)


def _made_by(up: Upstream, prompt: str) -> FakeJob:
    return up.job(prompt)


@pytest.mark.parametrize("kind", ["openai", "azure", "relay"])
def test_edit_by_id_goes_to_the_source_key_as_json(kind: str, upstreams: dict[str, Upstream],
                                                   admin: Admin, sdk: openai.OpenAI) -> None:
    up = upstreams[kind]
    source, upstream_source = _source(up, sdk, admin)
    prompt = unique("the same, in autumn")
    resp = _post(sdk, "/videos/edits", form=[("prompt", prompt), ("video[id]", source.id)])
    assert resp.status_code == 200, resp.text
    done = finished(sdk, resp.json()["id"])
    assert done.status == "completed", done.error
    job = _made_by(up, prompt)
    assert job.extra["operation"] == "edit" and job.extra["encoding"] == "json"
    assert job.extra["source"] == upstream_source.id  # named by its upstream id
    assert job.creator == upstream_source.creator  # the source's key, not the next one
    assert assert_keys(up, job.id, upstream_source.creator) >= 2
    [call] = up.calls("POST", path_suffix="/videos/edits")
    if kind == "azure":
        assert call.path == "/openai/v1/videos/edits" and "api-version=" in call.query
    assert (done.size, done.seconds) == ("1280x720", "4")


def test_extension_by_id_reports_the_stitched_whole(upstreams: dict[str, Upstream],
                                                    admin: Admin, sdk: openai.OpenAI) -> None:
    up = upstreams["openai"]
    source, upstream_source = _source(up, sdk, admin)
    prompt = unique("and then it rains")
    resp = _post(sdk, "/videos/extensions",
                 json={"prompt": prompt, "seconds": "8", "video": {"id": source.id}})
    assert resp.status_code == 200 and resp.json()["seconds"] == "12", resp.text
    done = finished(sdk, resp.json()["id"])
    assert done.status == "completed" and done.seconds == "12", done.error
    job = _made_by(up, prompt)
    assert (job.extra["encoding"], job.extra["fields"]) == ("json", {"prompt": prompt,
                                                                     "seconds": "8"})
    assert job.creator == upstream_source.creator and job.seconds == 12
    assert decode_info(sdk.videos.download_content(done.id).read())[3] == 288


def test_sdk_edit_of_an_upload_is_sent_as_the_clip(upstreams: dict[str, Upstream],
                                                   admin: Admin, sdk: openai.OpenAI) -> None:
    up = upstreams["openai"]
    admin.add_channel(up, models={"sora-2": "sora-2"})
    prompt = unique("an uploaded clip, edited")
    video = sdk.videos.edit(prompt=prompt, video=("clip.mp4", CLIP, "video/mp4"))
    done = finished(sdk, video.id)
    assert done.status == "completed", done.error
    job = _made_by(up, prompt)
    assert job.extra["encoding"] == "multipart" and job.extra["upload"] == CLIP  # byte for byte
    assert job.extra["fields"] == {"prompt": prompt, "model": "sora-2"}
    assert job.creator == up.keys[0]


def test_sdk_extend_of_an_upload(upstreams: dict[str, Upstream], admin: Admin,
                                 sdk: openai.OpenAI) -> None:
    up = upstreams["azure"]
    admin.add_channel(up, models={"sora-2": "my-sora-deployment"})
    prompt = unique("an uploaded clip, longer")
    video = sdk.videos.extend(prompt=prompt, seconds="4", video=("clip.mp4", CLIP, "video/mp4"))
    assert video.seconds == "8"
    done = finished(sdk, video.id)
    assert done.status == "completed" and done.seconds == "8", done.error
    job = _made_by(up, prompt)
    assert job.extra["encoding"] == "multipart" and job.extra["upload"] == CLIP
    assert job.extra["fields"] == {"prompt": prompt, "seconds": "4",
                                   "model": "my-sora-deployment"}


def test_characters_are_made_upstream_and_pin_their_videos(
        upstreams: dict[str, Upstream], admin: Admin, sdk: openai.OpenAI) -> None:
    first, second = upstreams["openai"], upstreams["openai_b"]
    mine = admin.add_channel(first, keys=first.keys, models={"sora-2": "sora-2"}, priority=5)
    admin.add_channel(second, models={"sora-2": "sora-2", "sora-2-pro": "sora-2-pro"},
                      priority=1)
    made = sdk.videos.create_character(name="Pip", video=("pip.mp4", CLIP, "video/mp4"))
    assert made.id and made.id.startswith("char_") and made.name == "Pip"
    assert sdk.videos.get_character(made.id).name == "Pip"
    [upstream_id] = list(first.fake.characters)
    character = first.fake.characters[upstream_id]
    assert character["upload"] == CLIP and character["name"] == "Pip"
    [call] = first.calls("POST", path_suffix="/videos/characters")
    assert call.credential == character["creator"]
    admin.patch(mine["id"], priority=0)  # the second one is preferred now
    prompt = unique("Pip waves")
    video = sdk.videos.create(model="sora-2", prompt=prompt, size="1280x720", seconds="4",
                              extra_body={"characters": [{"id": made.id}]})
    assert finished(sdk, video.id).status == "completed"
    job = first.job(prompt)  # on the character's channel, whatever the priorities say
    assert job.extra["characters"] == [upstream_id] and job.extra["encoding"] == "json"
    assert job.creator == character["creator"]
    prompt = unique("Pip in a picture")
    video = sdk.videos.create(model="sora-2", prompt=prompt, size="1280x720", seconds="4",
                              input_reference=("ref.png", png(1280, 720), "image/png"),
                              extra_body={"characters": [{"id": made.id}]})
    assert finished(sdk, video.id).status == "completed"
    job = first.job(prompt)
    assert job.extra["characters"] == [upstream_id] and job.extra["encoding"] == "multipart"
    assert second.fake.jobs == {}
    with pytest.raises(openai.BadRequestError) as err:  # its channel has no sora-2-pro
        sdk.videos.create(model="sora-2-pro", prompt="Pip in high definition",
                          extra_body={"characters": [{"id": made.id}]})
    assert err.value.body["code"] == "unsupported_by_channel"  # type: ignore[index]
    assert err.value.body["param"] == "characters"  # type: ignore[index]


def test_operations_the_channel_cannot_do(upstreams: dict[str, Upstream], admin: Admin,
                                          sdk: openai.OpenAI) -> None:
    up = upstreams["omni"]  # vLLM-Omni: creates only
    admin.add_channel(up, models={"sora-2": "Wan-AI/Wan2.2-TI2V-5B-Diffusers"})
    for call in (lambda: sdk.videos.edit(prompt="p", video=("c.mp4", CLIP, "video/mp4")),
                 lambda: sdk.videos.extend(prompt="p", seconds="4",
                                           video=("c.mp4", CLIP, "video/mp4")),
                 lambda: sdk.videos.create_character(name="n",
                                                     video=("c.mp4", CLIP, "video/mp4"))):
        with pytest.raises(openai.BadRequestError) as err:
            call()
        assert err.value.body["code"] == "unsupported_by_channel"  # type: ignore[index]
    assert up.calls("POST") == []
    source = sdk.videos.create(model="sora-2", prompt=unique("omni clip"), size="1280x720",
                               seconds="4")
    assert finished(sdk, source.id).status == "completed"
    resp = _post(sdk, "/videos/edits", json={"prompt": "p", "video": {"id": source.id}})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "unsupported_by_channel"


@pytest.mark.parametrize("encoding", ["json", "multipart"])
def test_image_url_reference_reaches_the_upstream_as_the_image(
        encoding: str, upstreams: dict[str, Upstream], admin: Admin,
        sdk: openai.OpenAI) -> None:
    up = upstreams["openai"]
    admin.add_channel(up, models={"sora-2": "sora-2"})
    image = png(1280, 720, (30, 160, 90))
    url = "data:image/png;base64," + base64.b64encode(image).decode()
    prompt = unique(f"a reference by URL, {encoding}")
    if encoding == "json":
        resp = _post(sdk, "/videos", json={"prompt": prompt, "size": "1280x720",
                                           "input_reference": {"image_url": url}})
    else:
        resp = _post(sdk, "/videos", form=[("prompt", prompt), ("size", "1280x720"),
                                           ("input_reference[image_url]", url)])
    assert resp.status_code == 200, resp.text
    assert finished(sdk, resp.json()["id"]).status == "completed"
    job = up.job(prompt)
    assert job.extra["reference"] == image and job.extra["encoding"] == "multipart"
    assert job.creator == up.keys[0]
