"""ViduProvider against the fake Vidu ``/ent/v2`` API."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from reelgate.providers import http
from reelgate.providers.base import (
    ChannelSpec,
    Credential,
    ErrorKind,
    ReferenceImage,
    SubmitRequest,
    UpstreamError,
    UpstreamStatus,
    Variant,
)
from reelgate.providers.vidu import ViduProvider, rendered_size, vidu_shape
from tests.fakes import ViduFake

from .support import KEY_A, KEY_B, closed_port, harness, probe_mp4
from .support import request as generic_request


def request(prompt: str = "a red fox in the snow", **fields: Any) -> SubmitRequest:
    """A request Vidu accepts: a real model and a duration it renders."""
    fields.setdefault("model", "viduq3-turbo")
    return generic_request(prompt, **fields)


def png(width: int, height: int) -> ReferenceImage:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (160, 60, 40)).save(out, format="PNG")
    return ReferenceImage(out.getvalue(), "image/png", width, height)


async def test_text_to_video_end_to_end() -> None:
    async with harness(ViduFake(), "vidu") as h:
        job = await h.provider.submit(request(), KEY_A)
        assert job.upstream_id.isdigit() and job.raw_status == "created"
        assert (job.status, job.seconds, job.size) == (UpstreamStatus.QUEUED, 4.0, "1280x720")
        upstream = h.fake.jobs[job.upstream_id]
        assert upstream.extra == {"route": "text2video", "reference": None, "payload": "job-1",
                                  "resolution": "720p", "ratio": "16:9"}
        done, seen = await h.until_done(job)
        assert {j.raw_status for j in seen} <= {"queueing", "processing", "success"}
        assert done.status is UpstreamStatus.COMPLETED
        assert (done.seconds, done.size) == (4.0, "1280x720")  # from creations[].video
        assert done.extra["credits"] == 16
        assert probe_mp4(await h.download(done)) == (1280, 720, 4.0)
        for r in h.fake.requests:  # "Token <key>" reached the API, nothing reached the CDN
            assert r.credential == (None if r.path.startswith("/cdn/") else KEY_A.secret), r


async def test_image_to_video_sends_one_data_url() -> None:
    image = png(720, 1280)
    async with harness(ViduFake(), "vidu") as h:
        job = await h.provider.submit(request(size="720x1280", seconds=3, reference=image),
                                      KEY_A)
        upstream = h.fake.jobs[job.upstream_id]
        assert upstream.extra["route"] == "img2video" and upstream.extra["reference"] == image.data
        assert upstream.extra["ratio"] == "9:16"
        done, _ = await h.until_done(job)
        assert probe_mp4(await h.download(done)) == (720, 1280, 3.0)


@pytest.mark.parametrize(("model", "size", "seconds", "resolution"), [
    ("viduq3-pro", "960x540", 16, "540p"),
    ("viduq2", "1080x1920", 10, "1080p"),
    ("viduq1", "1920x1080", 5, "1080p"),
])
async def test_resolution_and_duration_reach_vidu(model: str, size: str, seconds: int,
                                                  resolution: str) -> None:
    async with harness(ViduFake(), "vidu", complete_after=30.0) as h:
        job = await h.provider.submit(request(model=model, size=size, seconds=seconds), KEY_A)
        upstream = h.fake.jobs[job.upstream_id]
        assert (upstream.extra["resolution"], upstream.seconds) == (resolution, seconds)
        assert f"{upstream.width}x{upstream.height}" == size == job.size


async def test_moderation_at_create_and_in_the_task() -> None:
    async with harness(ViduFake(), "vidu") as h:
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(request("nsfw-input please"), KEY_A)
        error = caught.value
        assert (error.kind, error.code) == (ErrorKind.REJECTED, "moderation_blocked")
        assert "TaskPromptPolicyViolation" in error.message
        done, _ = await h.until_done(await h.provider.submit(request("forbidden"), KEY_A))
        assert (done.status, done.error_code) == (UpstreamStatus.FAILED, "moderation_blocked")
        assert done.error_message and "CreationPolicyViolation" in done.error_message
        failed, _ = await h.until_done(await h.provider.submit(request("explode"), KEY_A))
        assert (failed.status, failed.error_code) == (UpstreamStatus.FAILED,
                                                      "InternalServiceFailure")


async def test_no_credits_is_a_credential_problem() -> None:
    async with harness(ViduFake(), "vidu") as h:
        h.fake.broke.add(KEY_A.secret)
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(request(), KEY_A)
        error = caught.value
        assert (error.kind, error.status_code) == (ErrorKind.AUTH, 400)
        assert error.code == "upstream_insufficient_balance" and error.accepted_impossible
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(request(), Credential("cred-x", "not-a-vidu-key"))
        assert (caught.value.kind, caught.value.status_code) == (ErrorKind.AUTH, 401)
        assert h.fake.jobs == {}


@pytest.mark.parametrize(("word", "status"), [
    ("mystery", UpstreamStatus.IN_PROGRESS),
    ("created", UpstreamStatus.QUEUED),
    ("queueing", UpstreamStatus.QUEUED),
    ("processing", UpstreamStatus.IN_PROGRESS),
])
async def test_status_words(word: str, status: UpstreamStatus) -> None:
    async with harness(ViduFake(), "vidu") as h:
        job = await h.provider.submit(request(), KEY_A)
        h.fake.status_word_next(word, method="GET")
        seen = await h.provider.fetch(job.upstream_id, KEY_A)
        assert (seen.status, seen.raw_status) == (status, word)


@pytest.mark.parametrize(("inject", "kind"), [
    ("rate", ErrorKind.RATE_LIMITED),
    ("502", ErrorKind.UNAVAILABLE),
    ("499", ErrorKind.AMBIGUOUS),  # "request canceled by client": it may have been made
    ("drop", ErrorKind.AMBIGUOUS),
    ("slow", ErrorKind.AMBIGUOUS),
    ("malformed", ErrorKind.PROTOCOL),
])
async def test_submit_failures(inject: str, kind: ErrorKind) -> None:
    async with harness(ViduFake(), "vidu", read_timeout=0.2) as h:
        injections: dict[str, Callable[[], object]] = {
            "rate": lambda: h.fake.rate_limit_next(retry_after=1),
            "502": lambda: h.fake.fail_next(502),
            "499": lambda: h.fake.fail_next(499),
            "drop": lambda: h.fake.drop_next(),
            "slow": lambda: h.fake.slow_next(0.6),
            "malformed": lambda: h.fake.malformed_next(),
        }
        injections[inject]()
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(request(), KEY_A)
        assert caught.value.kind is kind


async def test_answers_are_read_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Vidu's answers go through the client's bounded read: one larger than the bound
    is unreadable (PROTOCOL), never held in memory whole."""
    monkeypatch.setattr(http, "MAX_BODY_BYTES", 64)
    async with harness(ViduFake(), "vidu") as h:
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(request(), KEY_A)
        assert caught.value.kind is ErrorKind.PROTOCOL
        assert "larger than 64 bytes" in caught.value.message


async def test_cancel_while_queued_and_after_the_end() -> None:
    async with harness(ViduFake(), "vidu", complete_after=30.0) as h:
        job = await h.provider.submit(request(), KEY_A)
        await h.provider.delete(job.upstream_id, KEY_A)
        seen = await h.provider.fetch(job.upstream_id, KEY_A)
        assert (seen.status, seen.error_code) == (UpstreamStatus.FAILED, "cancelled")
        h.fake.complete_after = 0.0  # the next task is done at once: Vidu refuses to cancel
        done = await h.provider.submit(request("already over"), KEY_A)
        await h.provider.delete(done.upstream_id, KEY_A)  # accepted, logged, not raised
        [refused] = [r for r in h.fake.requests if r.path.endswith(f"{done.upstream_id}/cancel")]
        assert (refused.method, refused.status) == ("POST", 400)


async def test_check_wrong_base_url_unreachable_and_suffix() -> None:
    async with harness(ViduFake(), "vidu") as h:
        await h.provider.check(KEY_A)
        with pytest.raises(UpstreamError) as caught:
            await h.provider.check(Credential("cred-x", "not-a-vidu-key"))
        assert caught.value.kind is ErrorKind.AUTH
        providers = [ViduProvider(ChannelSpec("c", "c", "vidu", url)) for url in
                     (h.server.url + "/ent/v2", h.server.url + "/api",
                      f"http://127.0.0.1:{closed_port()}")]
        try:
            await providers[0].check(KEY_A)
            with pytest.raises(UpstreamError) as caught:
                await providers[1].check(KEY_A)
            assert caught.value.kind is ErrorKind.NOT_FOUND
            with pytest.raises(UpstreamError) as caught:
                await providers[2].check(KEY_A)
            assert (caught.value.kind, caught.value.status_code) == (ErrorKind.UNAVAILABLE, None)
        finally:
            for provider in providers:
                await provider.aclose()


async def test_expired_video_url_is_not_found() -> None:
    async with harness(ViduFake(content_ttl=0.0), "vidu") as h:
        done, _ = await h.until_done(await h.provider.submit(request(), KEY_A))
        with pytest.raises(UpstreamError) as caught:
            await h.download(done)
        assert caught.value.kind is ErrorKind.NOT_FOUND  # the CDN's 403, not our key


async def test_foreign_key_and_capabilities() -> None:
    async with harness(ViduFake(), "vidu") as h:
        job = await h.provider.submit(request(), KEY_A)
        with pytest.raises(UpstreamError) as caught:
            await h.provider.fetch(job.upstream_id, KEY_B)
        assert caught.value.kind is ErrorKind.NOT_FOUND
        assert [v.used for v in h.fake.wrong_key] == [KEY_B.secret]
        h.fake.reset()
        assert h.provider.native_variants == frozenset({Variant.VIDEO})
        assert not h.provider.supports_remix
        assert await h.provider.recover("job-1", KEY_A) is None
        with pytest.raises(UpstreamError):
            await h.provider.submit(request(remix_of="1"), KEY_A)


@pytest.mark.parametrize(("size", "ratio", "resolution", "rendered"), [
    ("1280x720", "16:9", "720p", "1280x720"),
    ("720x1280", "9:16", "720p", "720x1280"),
    ("960x540", "16:9", "540p", "960x540"),
    ("1080x1920", "9:16", "1080p", "1080x1920"),
    ("1024x768", "4:3", "1080p", None),
    ("1080x1080", "1:1", "1080p", None),
])
def test_size_mapping(size: str, ratio: str, resolution: str, rendered: str | None) -> None:
    width, height = (int(v) for v in size.split("x"))
    assert vidu_shape(width, height) == (ratio, resolution)
    assert rendered_size(resolution, ratio) == rendered
