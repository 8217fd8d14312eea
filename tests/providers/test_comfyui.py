"""ComfyUIProvider against the fake ComfyUI server (real HTTP and websocket on loopback)."""

from __future__ import annotations

import asyncio
import copy
import io
from typing import Any

import pytest
from PIL import Image
from starlette.applications import Starlette

from reelgate.providers.base import (
    ChannelSpec,
    Credential,
    ErrorKind,
    ReferenceImage,
    SubmitRequest,
    UpstreamError,
    UpstreamStatus,
)
from reelgate.providers.comfyui import progress
from reelgate.providers.comfyui.provider import ComfyUIProvider, auth_headers
from reelgate.providers.comfyui.workflow import prompt_id_for, seed_for
from reelgate.providers.http import MAX_BODY_BYTES
from tests.fakes import FakeServer
from tests.fakes.comfyui_fake import ComfyUIFake
from tests.support.comfyui import MODEL, example, workflows_option

from .support import Harness, closed_port, harness, probe_mp4

NONE = Credential("cred-none", "none")
TOKEN = Credential("cred-token", "bearer:tok-1")


def _png(width: int = 832, height: int = 480) -> ReferenceImage:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(out, format="PNG")
    return ReferenceImage(out.getvalue(), "image/png", width, height)


def _request(prompt: str = "a fox in the snow", *, job_id: str = "video_t2v",
             reference: ReferenceImage | None = None, seconds: int = 2,
             model: str = MODEL) -> SubmitRequest:
    return SubmitRequest(job_id, model, prompt, "832x480", seconds, reference)


def _comfy(**options: Any) -> Any:
    return harness(ComfyUIFake(render_seconds=options.pop("render_seconds", 0.3),
                               keys=options.pop("keys", ("none",))), "comfyui",
                   workflows=options.pop("workflows", workflows_option()), **options)


async def _posted(h: Harness, path: str) -> int:
    return len([r for r in h.fake.requests if r.method == "POST" and r.path == path])


async def test_text_to_video_end_to_end() -> None:
    async with _comfy() as h:
        assert isinstance(h.provider, ComfyUIProvider)
        job = await h.provider.submit(_request(), NONE)
        assert job.upstream_id == prompt_id_for("video_t2v")  # our id, so it can be found
        assert (job.status, job.progress) == (UpstreamStatus.QUEUED, 0)
        done, seen = await h.until_done(job, NONE)
        assert done.status is UpstreamStatus.COMPLETED, done.error_message
        assert done.result_url and "/view?filename=" in done.result_url
        assert done.render_seconds >= 0.2  # GPU time from ComfyUI's timestamps
        assert {j.status for j in seen} <= {UpstreamStatus.QUEUED, UpstreamStatus.IN_PROGRESS,
                                            UpstreamStatus.COMPLETED}
        width, height, duration = probe_mp4(await h.download(done, credential=NONE))
        assert (width, height) == (832, 480) and duration == pytest.approx(49 / 24, abs=0.05)

        prompt = h.fake.prompts[job.upstream_id]
        graph = prompt.graph
        assert graph["6"]["inputs"]["text"] == "a fox in the snow"
        assert (graph["55"]["inputs"]["width"], graph["55"]["inputs"]["height"]) == (832, 480)
        assert graph["55"]["inputs"]["length"] == 49  # 2 s x 24 fps, snapped to 4n+1
        assert graph["57"]["inputs"]["fps"] == 24.0 and graph["3"]["inputs"]["seed"] == seed_for(
            "video_t2v")
        assert prompt.extra_data["reelgate_job_id"] == "video_t2v"
        assert prompt.extra_data["client_id"] == h.provider.client_id
        assert h.fake.render_log.by_job() == {"video_t2v": ["comfy"]}


async def test_websocket_progress_reaches_the_poll() -> None:
    async with _comfy(render_seconds=1.5) as h:
        assert isinstance(h.provider, ComfyUIProvider)
        job = await h.provider.submit(_request(), NONE)
        assert h.provider.feed is not None
        await asyncio.wait_for(h.provider.feed.connected.wait(), 10)
        progress: set[int] = set()
        async with asyncio.timeout(20):
            while (seen := await h.provider.fetch(job.upstream_id, NONE)).status not in (
                    UpstreamStatus.COMPLETED, UpstreamStatus.FAILED):
                if seen.status is UpstreamStatus.IN_PROGRESS:
                    progress.add(seen.progress or 0)
                await asyncio.sleep(0.05)
        assert h.provider.client_id in h.fake.ws_clients
        assert any(5 < p < 100 for p in progress), progress  # finer than just "running"


async def test_an_unused_listener_closes_its_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "_IDLE", 0.5)
    monkeypatch.setattr(progress, "_WAKE", 0.05)
    async with _comfy() as h:
        assert isinstance(h.provider, ComfyUIProvider)
        await h.provider.submit(_request(), NONE)
        feed = h.provider.feed
        assert feed is not None and feed._task is not None
        await asyncio.wait_for(feed.connected.wait(), 10)
        await asyncio.wait_for(feed._task, 10)  # ends by itself once nobody uses it
        assert not feed.connected.is_set()
        async with asyncio.timeout(10):
            while h.fake.sockets:
                await asyncio.sleep(0.05)
        await h.provider.submit(_request(job_id="video_again"), NONE)  # reopens it
        await asyncio.wait_for(feed.connected.wait(), 10)


async def test_polling_works_without_the_websocket() -> None:
    async with _comfy(websocket=False) as h:
        assert isinstance(h.provider, ComfyUIProvider)
        done, _ = await h.until_done(await h.provider.submit(_request(), NONE), NONE)
        assert done.status is UpstreamStatus.COMPLETED
        assert h.provider.feed is None and h.fake.ws_clients == []


async def test_image_to_video_reference_reaches_the_load_image_node() -> None:
    ref = _png()
    async with _comfy() as h:
        job = await h.provider.submit(_request(job_id="video_i2v", reference=ref), NONE)
        done, _ = await h.until_done(job, NONE)
        assert done.status is UpstreamStatus.COMPLETED
        prompt = h.fake.prompts[job.upstream_id]
        assert prompt.graph["56"]["inputs"]["image"] == "reelgate-video_i2v.png"
        assert prompt.graph["55"]["inputs"]["start_image"] == ["56", 0]
        assert prompt.loaded_images == {"56": ref.data}  # the very bytes the client sent
        assert await _posted(h, "/upload/image") == 1


async def test_node_errors_are_a_rejection_naming_the_node() -> None:
    workflows = workflows_option()
    broken = copy.deepcopy(workflows)
    broken[MODEL]["text"]["workflow"]["37"]["inputs"]["unet_name"] = "wan2.2_t2v_14B.safetensors"
    async with _comfy(workflows=broken) as h:
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(_request(), NONE)
        error = caught.value
        assert error.kind is ErrorKind.REJECTED and error.code == "workflow_invalid"
        assert not error.accepted_impossible  # final: no failover, no retry
        assert "node 37 (UNETLoader)" in error.message and "Value not in list" in error.message
        assert "wan2.2_t2v_14B.safetensors" in error.message
        assert h.fake.pending == [] and h.fake.history == {}


async def test_execution_error_fails_with_the_node_and_exception() -> None:
    async with _comfy() as h:
        job = await h.provider.submit(_request("please explode"), NONE)
        done, _ = await h.until_done(job, NONE)
        assert done.status is UpstreamStatus.FAILED and done.error_code == "generation_failed"
        assert "node 3 (KSampler)" in (done.error_message or "")
        assert "OutOfMemoryError" in (done.error_message or "")
        assert done.render_seconds > 0


async def test_a_busy_server_refuses_before_sending() -> None:
    async with _comfy() as h:
        h.fake.paused = True
        await h.provider.submit(_request(job_id="video_first"), NONE)
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(_request(job_id="video_second"), NONE)
        assert caught.value.kind is ErrorKind.RATE_LIMITED and caught.value.code == "server_busy"
        assert caught.value.accepted_impossible and caught.value.retry_after
        assert await _posted(h, "/prompt") == 1  # the second was never sent


async def test_without_a_queue_limit_the_server_queue_holds_jobs_in_order() -> None:
    async with _comfy(queue_limit=0) as h:
        h.fake.paused = True
        first = await h.provider.submit(_request(job_id="video_a"), NONE)
        second = await h.provider.submit(_request(job_id="video_b"), NONE)
        a = await h.provider.fetch(first.upstream_id, NONE)
        b = await h.provider.fetch(second.upstream_id, NONE)
        assert (a.status, a.extra["queue_position"], a.progress) == (UpstreamStatus.QUEUED, 0, 4)
        assert (b.extra["queue_position"], b.progress) == (1, 3)
        h.fake.paused = False
        for job in (first, second):
            done, _ = await h.until_done(job, NONE)
            assert done.status is UpstreamStatus.COMPLETED


async def test_delete_removes_a_queued_prompt_and_interrupts_a_running_one() -> None:
    async with _comfy(queue_limit=0, render_seconds=5.0) as h:
        running = await h.provider.submit(_request(job_id="video_run"), NONE)
        waiting = await h.provider.submit(_request(job_id="video_wait"), NONE)
        async with asyncio.timeout(10):
            while (await h.provider.fetch(running.upstream_id, NONE)).status is not (
                    UpstreamStatus.IN_PROGRESS):
                await asyncio.sleep(0.02)
        await h.provider.delete(waiting.upstream_id, NONE)
        assert [p.prompt_id for p in h.fake.pending] == []
        await h.provider.delete(running.upstream_id, NONE)
        async with asyncio.timeout(10):
            while h.fake.running is not None:
                await asyncio.sleep(0.02)
        interrupts = [r for r in h.fake.requests if r.path == "/interrupt"]
        assert len(interrupts) == 1  # only the running one; a queued one needs none
        assert h.fake.render_log.by_job() == {"video_run": ["comfy"]}


async def test_a_restarted_server_has_forgotten_the_prompt() -> None:
    async with _comfy() as h:
        with pytest.raises(UpstreamError) as caught:
            await h.provider.fetch(prompt_id_for("video_lost"), NONE)
        assert caught.value.kind is ErrorKind.NOT_FOUND and "restarted" in caught.value.message


async def test_an_unanswered_submit_is_found_not_resent() -> None:
    async with _comfy(read_timeout=0.3) as h:
        h.fake.slow_next(1.0, method="POST", path="^/prompt$")
        job = await h.provider.submit(_request(job_id="video_slow"), NONE)
        assert job.upstream_id == prompt_id_for("video_slow")
        done, _ = await h.until_done(job, NONE)
        assert done.status is UpstreamStatus.COMPLETED
        assert await _posted(h, "/prompt") == 1
        assert h.fake.render_log.by_job() == {"video_slow": ["comfy"]}


async def test_an_endless_submit_answer_is_cut_off_and_the_prompt_found() -> None:
    """The answer to ``POST /prompt`` is read bounded (request_any): past the limit it
    is unreadable, and the prompt the server did queue is looked up, not sent again."""
    async with _comfy() as h:
        h.fake.answer_padding = MAX_BODY_BYTES + 1
        job = await h.provider.submit(_request(job_id="video_endless"), NONE)
        assert job.upstream_id == prompt_id_for("video_endless")
        assert await _posted(h, "/prompt") == 1
        lookups = [r for r in h.fake.requests
                   if r.method == "GET" and r.path == f"/history/{job.upstream_id}"]
        assert lookups and "queue_number" not in job.extra  # found, not read from the answer


async def test_an_unanswered_submit_to_a_vanished_server_stays_ambiguous() -> None:
    async with _comfy(read_timeout=0.3, queue_limit=0) as h:
        h.fake.drop_next(method="POST", path="^/prompt$")
        h.fake.fail_next(503, method="GET")  # and the lookup cannot reach it either
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(_request(job_id="video_drop"), NONE)
        assert caught.value.kind is ErrorKind.AMBIGUOUS


async def test_recover_finds_the_job_by_our_id() -> None:
    async with _comfy() as h:
        h.fake.paused = True
        job = await h.provider.submit(_request(job_id="video_crash"), NONE)
        found = await h.provider.recover("video_crash", NONE)
        assert found is not None and found.upstream_id == job.upstream_id
        assert found.status is UpstreamStatus.QUEUED
        assert await h.provider.recover("video_never", NONE) is None


async def test_workflow_missing_and_reference_rules() -> None:
    only_text = {MODEL: {"text": example("text").as_option()}}
    async with _comfy(workflows=only_text) as h:
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(_request(model="other-model"), NONE)
        assert caught.value.kind is ErrorKind.REJECTED and caught.value.code == "workflow_missing"
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(_request(reference=_png()), NONE)
        assert caught.value.code == "reference_not_supported"
        assert h.fake.requests == []  # nothing reached the server


async def test_proxy_auth_bearer_and_basic() -> None:
    async with _comfy(keys=("tok-1", "basic:alice:s3cret")) as h:
        for cred in (TOKEN, Credential("cred-basic", "basic:alice:s3cret")):
            done, _ = await h.until_done(await h.provider.submit(
                _request(job_id=f"video_{cred.id}"), cred), cred)
            assert done.status is UpstreamStatus.COMPLETED
            assert len(await h.download(done, credential=cred)) > 1000
        with pytest.raises(UpstreamError) as caught:
            await h.provider.check(NONE)
        assert caught.value.kind is ErrorKind.AUTH


async def test_check_reports_health_and_names_failures() -> None:
    async with _comfy() as h:
        h.fake.paused = True
        await h.provider.submit(_request(), NONE)
        health = await h.provider.check(NONE)
        assert health is not None and "RTX 4090" in health and "20.0/24.0 GiB" in health
        assert "0 running, 1 pending" in health and "ComfyUI 0.3.64" in health
    with FakeServer(Starlette()) as other:  # some other web server: no /system_stats
        provider = ComfyUIProvider(ChannelSpec("c", "c", "comfyui", other.url, {}))
        with pytest.raises(UpstreamError) as caught:
            await provider.check(NONE)
        assert caught.value.kind is ErrorKind.NOT_FOUND
        await provider.aclose()
    dead = ComfyUIProvider(ChannelSpec("d", "d", "comfyui", f"http://127.0.0.1:{closed_port()}",
                                       {"workflows": workflows_option()}))
    for call in (dead.check(NONE), dead.submit(_request(), NONE)):
        with pytest.raises(UpstreamError) as caught:
            await call
        assert caught.value.kind is ErrorKind.UNAVAILABLE and caught.value.accepted_impossible
    await dead.aclose()


def test_auth_headers() -> None:
    assert auth_headers("none") == {} and auth_headers(" - ") == {}
    assert auth_headers("tok") == {"Authorization": "Bearer tok"}
    assert auth_headers("bearer:a:b") == {"Authorization": "Bearer a:b"}
    assert auth_headers("basic:u:p:q") == {"Authorization": "Basic dTpwOnE="}
