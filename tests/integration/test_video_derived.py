"""Edits and extensions on a live gateway with the embedded renderer, through the
official SDK (uploaded clips) and by hand (``video: {id}`` as JSON and as
``video[id]`` in multipart, which the SDK refuses to send itself).

The renderer does them for real: an edit re-renders the source's frames; an
extension's file begins with the source's frames and continues from its last one.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import av
import httpx
import numpy as np
import openai
import pytest

from tests.fakes.media import render_mp4
from tests.integration.helpers import decode_info, wait_done
from tests.integration.test_video_inputs import post
from tests.support.server import GatewayProcess

SIZE = "1280x720"


def frames(data: bytes) -> list[np.ndarray]:
    """Every frame, small (a 1/8 size RGB image), so comparisons are cheap."""
    out = []
    with av.open(io.BytesIO(data)) as container:
        for frame in container.decode(video=0):
            out.append(frame.reformat(width=160, height=90, format="rgb24").to_ndarray()
                       .astype(np.int16))
    return out


def diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def ledger(gateway: GatewayProcess, key: str, job_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{gateway.base_url}/billing/ledger", params={"job_id": job_id},
                       headers={"Authorization": f"Bearer {key}"}, timeout=10)
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


class Operator:
    """The admin API (bearer token) and the admin UI (a signed-in session)."""

    def __init__(self, gateway: GatewayProcess) -> None:
        token = (gateway.data_dir / "admin.token").read_text().strip()
        self.api = httpx.Client(base_url=f"{gateway.root_url}/admin/api", timeout=30,
                                headers={"Authorization": f"Bearer {token}"})
        self.ui = httpx.Client(base_url=gateway.root_url, timeout=30)
        form = self.ui.get("/admin/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf is not None, form
        signed = self.ui.post("/admin/login", data={"token": token, "csrf": csrf.group(1),
                                                    "next": "/admin/jobs"})
        assert signed.status_code == 303, signed.text

    def job(self, job_id: str) -> dict[str, Any]:
        answer = self.api.get(f"/jobs/{job_id}")
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()
        return data

    def close(self) -> None:
        self.api.close()
        self.ui.close()


@pytest.fixture(scope="module")
def operator(gateway: GatewayProcess) -> Iterator[Operator]:
    op = Operator(gateway)
    yield op
    op.close()


@pytest.fixture(scope="module")
def source(client: openai.OpenAI) -> openai.types.Video:
    video = client.videos.create_and_poll(model="sora-2", prompt="a red kite over a hill",
                                          size=SIZE, seconds="4", poll_interval_ms=200)
    assert video.status == "completed", video.error
    return video


def test_sdk_edit_of_an_uploaded_clip(client: openai.OpenAI, gateway: GatewayProcess,
                                      api_key: str) -> None:
    clip = render_mp4(1280, 720, 4.0)
    video = client.videos.edit(prompt="make it look like dusk", video=("clip.mp4", clip,
                                                                       "video/mp4"))
    assert video.status == "queued" and (video.size, video.seconds) == (SIZE, "4")
    done = wait_done(client, video.id)
    assert done.status == "completed", done.error
    data = client.videos.download_content(video.id).read()
    width, height, duration, count = decode_info(data)
    assert (width, height, count) == (1280, 720, 96) and duration == pytest.approx(4, abs=0.05)
    original, edited = frames(clip), frames(data)
    # the source's frames, re-rendered: every frame changed, each still follows its own
    # (the sweeping bar of the source moves on in the edit too)
    assert all(diff(a, b) > 3 for a, b in zip(original, edited, strict=True))
    assert diff(edited[10], edited[80]) > 3
    near = [diff(edited[i], original[i]) for i in (10, 50, 80)]
    far = [diff(edited[i], original[(i + 40) % 96]) for i in (10, 50, 80)]
    assert sum(near) < sum(far)
    kinds = {e["kind"]: e["amount_micros"] for e in ledger(gateway, api_key, video.id)}
    assert kinds == {"reserve": -4 * 100_000, "settle": 0}  # its seconds, like a create


def test_sdk_extend_of_an_uploaded_clip(client: openai.OpenAI, gateway: GatewayProcess,
                                        api_key: str) -> None:
    clip = render_mp4(1280, 720, 4.0)
    video = client.videos.extend(prompt="the bar keeps going", seconds="4",
                                 video=("clip.mp4", clip, "video/mp4"))
    assert video.seconds == "8"
    done = wait_done(client, video.id)
    assert done.status == "completed" and done.seconds == "8", done.error
    data = client.videos.download_content(video.id).read()
    assert decode_info(data)[3] == 192
    original, extended = frames(clip), frames(data)
    assert max(diff(a, b) for a, b in zip(original, extended[:96], strict=True)) < 4
    assert diff(extended[95], extended[96]) < 4  # the new part starts from the last frame
    reserve = [e for e in ledger(gateway, api_key, video.id) if e["kind"] == "reserve"]
    assert reserve[0]["amount_micros"] == -4 * 100_000  # the segment only: 4 s of sora-2


def test_extension_by_id_is_the_stitched_whole(client: openai.OpenAI, source: Any,
                                               gateway: GatewayProcess, api_key: str) -> None:
    resp = post(gateway, api_key, "/videos/extensions",
                json={"prompt": "the kite flies higher", "seconds": "8",
                      "video": {"id": source.id}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["seconds"] == "12"
    done = wait_done(client, resp.json()["id"])
    assert done.status == "completed" and done.seconds == "12", done.error
    whole = client.videos.download_content(done.id).read()
    assert decode_info(whole)[3] == 288
    first, stitched = frames(client.videos.download_content(source.id).read()), frames(whole)
    assert max(diff(a, b) for a, b in zip(first, stitched[:96], strict=True)) < 4
    assert diff(stitched[95], stitched[96]) < 4
    assert diff(stitched[96], stitched[-1]) > 3  # and then it moves on
    kinds = {e["kind"]: e["amount_micros"] for e in ledger(gateway, api_key, done.id)}
    assert kinds["reserve"] == -8 * 100_000 and kinds["settle"] == 0  # 8 s, not 12


def test_edit_by_id_as_bracketed_multipart(client: openai.OpenAI, source: Any,
                                           gateway: GatewayProcess, api_key: str,
                                           operator: Operator) -> None:
    resp = post(gateway, api_key, "/videos/edits",
                form=[("prompt", "the kite turns gold"), ("video[id]", source.id)])
    assert resp.status_code == 200, resp.text
    video = resp.json()
    assert (video["size"], video["seconds"], video["model"]) == (SIZE, "4", "sora-2")
    done = wait_done(client, video["id"])
    assert done.status == "completed", done.error
    job = operator.job(video["id"])
    assert (job["operation"], job["source_video_id"]) == ("edit", source.id)
    assert job["channel_id"] == operator.job(source.id)["channel_id"]  # pinned
    page = operator.ui.get(f"/admin/jobs/{video['id']}")
    assert page.status_code == 200, page.text
    assert 'id="lineage"' in page.text and f"/admin/jobs/{source.id}" in page.text


def test_deleting_the_source_breaks_nothing(client: openai.OpenAI, gateway: GatewayProcess,
                                            api_key: str) -> None:
    base = client.videos.create_and_poll(prompt="a short-lived source", size=SIZE, seconds="4",
                                         poll_interval_ms=200)
    done_edit = client.videos.edit(prompt="first", video=("c.mp4", render_mp4(1280, 720, 4.0),
                                                          "video/mp4"))
    edit = post(gateway, api_key, "/videos/edits",
                json={"prompt": "an edit of it", "video": {"id": base.id}}).json()
    ext = post(gateway, api_key, "/videos/extensions",
               json={"prompt": "longer", "seconds": "4", "video": {"id": base.id}}).json()
    client.videos.delete(base.id)  # while its descendants may still be queued
    for video_id in (edit["id"], ext["id"], done_edit.id):
        done = wait_done(client, video_id)
        assert done.status == "completed", (video_id, done.error)
        assert client.videos.download_content(video_id).read()[4:8] == b"ftyp"
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(base.id)


@pytest.mark.parametrize(("path", "body", "status", "param", "code"), [
    ("/videos/edits", {"prompt": "p"}, 400, "video", "missing_required_parameter"),
    ("/videos/edits", {"prompt": "p", "video": "video_1"}, 400, "video", "invalid_type"),
    ("/videos/edits", {"prompt": "p", "video": {"id": "video_nope"}}, 404, "video",
     "video_not_found"),
    ("/videos/edits", {"video": {"id": "video_nope"}}, 400, "prompt",
     "missing_required_parameter"),
    ("/videos/edits", {"prompt": "p", "video": {"id": "v"}, "seconds": "4"}, 400, "seconds",
     "unknown_parameter"),
    ("/videos/extensions", {"prompt": "p", "video": {"id": "v"}}, 400, "seconds",
     "missing_required_parameter"),
    ("/videos/extensions", {"prompt": "p", "video": {"id": "v"}, "seconds": "6"}, 400,
     "seconds", "invalid_value"),
    ("/videos/extensions", {"prompt": "p", "video": {"id": "v"}, "seconds": 8}, 400,
     "seconds", "invalid_type"),
    ("/videos/extensions", {"prompt": "p", "video": {"id": "v"}, "seconds": "4",
                            "input_reference": {"image_url": "data:,"}}, 400,
     "input_reference", "unknown_parameter"),
])
def test_bad_edits_and_extensions(gateway: GatewayProcess, api_key: str, path: str,
                                  body: dict[str, Any], status: int, param: str,
                                  code: str) -> None:
    resp = post(gateway, api_key, path, json=body)
    assert resp.status_code == status, resp.text
    assert (resp.json()["error"]["param"], resp.json()["error"]["code"]) == (param, code)


@pytest.mark.parametrize(("files", "form", "param", "code"), [
    ([("video", "x.mp4", b"not a video at all", "video/mp4")], [], "video", "invalid_video"),
    ([("video", "x.mp4", render_mp4(640, 480, 1.0), "video/mp4")], [], "video",
     "invalid_video_dimensions"),
    ([("video", "x.mp4", render_mp4(1280, 720, 1.0), "video/mp4")], [("video[id]", "v")],
     "video", "duplicate_parameter"),
    ([("video", "x.mp4", render_mp4(1280, 720, 1.0), "video/mp4")], [("model", "veo-3.1")],
     "video", "unsupported_operation"),
    ([("video", "x.mp4", render_mp4(1280, 720, 1.0), "video/mp4")], [("model", "nope")],
     "model", "model_not_found"),
    ([("input_reference", "x.png", b"\x89PNG", "image/png")], [], "input_reference",
     "unknown_parameter"),
])
def test_bad_uploaded_clips(gateway: GatewayProcess, api_key: str,
                            files: list[tuple[str, str, bytes, str]],
                            form: list[tuple[str, str]], param: str, code: str) -> None:
    resp = post(gateway, api_key, "/videos/edits", form=[("prompt", "p"), *form], files=files)
    assert resp.status_code == 400, resp.text
    assert (resp.json()["error"]["param"], resp.json()["error"]["code"]) == (param, code)


def test_sources_are_the_callers_own(source: Any, gateway: GatewayProcess, api_key: str,
                                     other_key: str, client: openai.OpenAI) -> None:
    for path, extra in (("/videos/edits", {}), ("/videos/extensions", {"seconds": "4"})):
        resp = post(gateway, other_key, path,
                    json={"prompt": "mine now", "video": {"id": source.id}, **extra})
        assert resp.status_code == 404, resp.text
        assert resp.json()["error"]["code"] == "video_not_found"
    running = client.videos.create(prompt="still rendering", size=SIZE, seconds="12")
    resp = post(gateway, api_key, "/videos/edits",
                json={"prompt": "too early", "video": {"id": running.id}})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_video_status"
    client.videos.delete(running.id)


def test_model_must_be_the_sources(source: Any, gateway: GatewayProcess, api_key: str) -> None:
    resp = post(gateway, api_key, "/videos/edits",
                json={"prompt": "p", "video": {"id": source.id}, "model": "sora-2-pro"})
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "model"
    ok = post(gateway, api_key, "/videos/edits",
              json={"prompt": "p", "video": {"id": source.id}, "model": "sora-2-2025-12-08"})
    assert ok.status_code == 200, ok.text


def test_a_chain_counts_its_extensions(client: openai.OpenAI, source: Any,
                                       gateway: GatewayProcess, api_key: str,
                                       operator: Operator) -> None:
    first = post(gateway, api_key, "/videos/extensions",
                 json={"prompt": "one", "seconds": "4", "video": {"id": source.id}}).json()
    assert wait_done(client, first["id"]).status == "completed"
    second = post(gateway, api_key, "/videos/extensions",
                  json={"prompt": "two", "seconds": "4", "video": {"id": first["id"]}}).json()
    assert second["seconds"] == "12"
    job = operator.job(second["id"])
    assert (job["operation"], job["source_video_id"], job["extensions"],
            job["segment_seconds"]) == ("extend", first["id"], 2, 4)
    client.videos.delete(second["id"])


def test_too_long_is_refused_before_anything_runs(gateway: GatewayProcess,
                                                  api_key: str) -> None:
    clip = render_mp4(1280, 720, 101.0)
    resp = post(gateway, api_key, "/videos/extensions", form=[("prompt", "p"),
                                                              ("seconds", "20")],
                files=[("video", "long.mp4", clip, "video/mp4")])
    assert resp.status_code == 400, resp.text
    assert (resp.json()["error"]["param"], resp.json()["error"]["code"]) == (
        "seconds", "video_too_long")


def test_the_readme_way_of_sending_an_id_with_the_sdk(client: openai.OpenAI,
                                                      source: Any) -> None:
    """What README shows: the SDK refuses a dict for ``video``, its raw ``post`` does not."""
    with pytest.raises(RuntimeError):
        client.videos.edit(prompt="p", video={"id": source.id})  # type: ignore[arg-type]
    edit = client.post("/videos/edits", cast_to=openai.types.Video,
                       body={"prompt": "at dusk", "video": {"id": source.id}})
    assert edit.status == "queued" and edit.seconds == "4"
    # and a file object is streamed as the clip (here: not a video at all)
    with open(__file__, "rb") as not_a_clip, pytest.raises(openai.BadRequestError) as err:
        client.videos.edit(prompt="the same street at dusk", video=not_a_clip)
    assert err.value.body["code"] == "invalid_video"  # type: ignore[index]
    client.videos.delete(edit.id)


def test_idempotent_edits(gateway: GatewayProcess, api_key: str, source: Any) -> None:
    body = {"prompt": "once only", "video": {"id": source.id}}
    headers = {"Authorization": f"Bearer {api_key}", "Idempotency-Key": f"edit-{source.id}"}
    first = httpx.post(f"{gateway.base_url}/videos/edits", json=body, headers=headers)
    again = httpx.post(f"{gateway.base_url}/videos/edits", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    other = httpx.post(f"{gateway.base_url}/videos/edits", headers=headers,
                       json={**body, "prompt": "something else"})
    assert other.status_code == 409
