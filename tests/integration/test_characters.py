"""Characters on a live gateway with the embedded renderer: made from a clip with the
official SDK, read back, owned by their tenant, and drawn into the videos that name them."""

from __future__ import annotations

import openai
import pytest

from tests.fakes.media import render_mp4
from tests.integration.helpers import wait_done
from tests.integration.test_video_derived import diff, frames
from tests.integration.test_video_inputs import post
from tests.support.server import GatewayProcess

CLIP = ("mossy.mp4", render_mp4(1280, 720, 2.0), "video/mp4")


@pytest.fixture(scope="module")
def character(client: openai.OpenAI) -> str:
    made = client.videos.create_character(name="Mossy the owl", video=CLIP)
    assert made.id and made.id.startswith("char_") and made.name == "Mossy the owl"
    assert made.created_at > 0
    return made.id


def test_get_character(client: openai.OpenAI, character: str) -> None:
    got = client.videos.get_character(character)
    assert (got.id, got.name) == (character, "Mossy the owl")


def test_another_tenant_cannot_see_or_use_it(other_client: openai.OpenAI, character: str,
                                             gateway: GatewayProcess, other_key: str) -> None:
    with pytest.raises(openai.NotFoundError):
        other_client.videos.get_character(character)
    resp = post(gateway, other_key, "/videos", json={
        "prompt": "Mossy the owl flies", "characters": [{"id": character}]})
    assert resp.status_code == 404, resp.text
    assert (resp.json()["error"]["param"], resp.json()["error"]["code"]) == (
        "characters", "character_not_found")


def test_a_character_changes_what_is_drawn(client: openai.OpenAI, character: str,
                                           gateway: GatewayProcess, api_key: str) -> None:
    prompt = "Mossy the owl on a branch at night"
    plain = client.videos.create(prompt=prompt, size="1280x720", seconds="4")
    # the SDK sends extra_body in the multipart form: characters[][id]=...
    named = client.videos.create(prompt=prompt, size="1280x720", seconds="4",
                                 extra_body={"characters": [{"id": character}]})
    as_json = post(gateway, api_key, "/videos", json={
        "prompt": prompt, "size": "1280x720", "seconds": "4",
        "characters": [{"id": character}]})
    assert as_json.status_code == 200, as_json.text
    for video_id in (plain.id, named.id, as_json.json()["id"]):
        assert wait_done(client, video_id).status == "completed"
    without = frames(client.videos.download_content(plain.id).read())
    with_it = frames(client.videos.download_content(named.id).read())
    again = frames(client.videos.download_content(as_json.json()["id"]).read())
    assert diff(without[40], with_it[40]) > 1.0  # the owl's picture is in the frame
    assert diff(with_it[40], again[40]) < 1.0  # the same request draws the same


@pytest.mark.parametrize(("form", "files", "param", "code"), [
    ([], [("video", *CLIP)], "name", "missing_required_parameter"),
    ([("name", "x" * 81)], [("video", *CLIP)], "name", "invalid_value"),
    ([("name", "   ")], [("video", *CLIP)], "name", "invalid_value"),
    ([("name", "ok")], [], "video", "missing_required_parameter"),
    ([("name", "ok")], [("video", "x.mp4", b"nope", "video/mp4")], "video", "invalid_video"),
    ([("name", "ok"), ("colour", "red")], [("video", *CLIP)], "colour", "unknown_parameter"),
])
def test_bad_characters(gateway: GatewayProcess, api_key: str, form: list[tuple[str, str]],
                        files: list[tuple[str, str, bytes, str]], param: str,
                        code: str) -> None:
    resp = post(gateway, api_key, "/videos/characters", form=form, files=files)
    assert resp.status_code == 400, resp.text
    assert (resp.json()["error"]["param"], resp.json()["error"]["code"]) == (param, code)


def test_characters_are_multipart_only(gateway: GatewayProcess, api_key: str) -> None:
    resp = post(gateway, api_key, "/videos/characters", json={"name": "x"})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_content_type"


def test_unknown_character(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.videos.get_character("char_doesnotexist")
