"""DashScopeProvider against the fake DashScope API: Wan text- and image-to-video."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest
from PIL import Image

from reelgate.providers.base import (
    ChannelSpec,
    ErrorKind,
    ReferenceImage,
    SubmitRequest,
    UpstreamError,
    UpstreamStatus,
    Variant,
)
from reelgate.providers.dashscope import DashScopeProvider
from reelgate.providers.dashscope.errors import body_error, classify
from reelgate.providers.dashscope.tasks import (
    model_for,
    ratio,
    resolution,
    task_job,
    uses_media_protocol,
)
from tests.fakes import DashScopeFake

from .support import BAD_KEY, KEY_A, KEY_B, closed_port, harness, probe_mp4, request

T2V = "wan2.5-t2v-preview"
CREATE = "/api/v1/services/aigc/video-generation/video-synthesis"


def png(width: int, height: int) -> ReferenceImage:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (40, 120, 200)).save(out, format="PNG")
    return ReferenceImage(out.getvalue(), "image/png", width, height)


def shape(prompt: str = "a red fox", *, model: str = T2V, size: str = "1280x720",
          seconds: int = 5, reference: ReferenceImage | None = None) -> SubmitRequest:
    return request(prompt, model=model, size=size, seconds=seconds, reference=reference)


async def test_text_to_video_create_poll_download() -> None:
    async with harness(DashScopeFake(), "dashscope") as h:
        job = await h.provider.submit(shape(), KEY_A)
        assert job.status is UpstreamStatus.QUEUED and job.raw_status == "PENDING"
        fake_job = h.fake.jobs[job.upstream_id]
        assert fake_job.extra["parameters"] == {"duration": 5, "size": "1280*720"}
        done, seen = await h.until_done(job)
        assert {j.raw_status for j in seen} <= {"PENDING", "RUNNING", "SUCCEEDED"}
        assert (done.status, done.progress, done.seconds) == (UpstreamStatus.COMPLETED, 100, 5.0)
        assert done.extra["usage"]["duration"] == 5 and done.result_url
        assert probe_mp4(await h.download(done)) == (1280, 720, 5.0)
        create = next(r for r in h.fake.requests if r.path == CREATE)
        assert create.credential == "sk-test-1"
        cdn = [r.credential for r in h.fake.requests if r.path.startswith("/cdn/")]
        assert cdn == [None]  # the key stayed home


async def test_image_to_video_uses_the_i2v_twin_and_the_tier() -> None:
    async with harness(DashScopeFake(), "dashscope") as h:
        image = png(720, 1280)
        job = await h.provider.submit(shape(size="720x1280", reference=image), KEY_A)
        fake_job = h.fake.jobs[job.upstream_id]
        assert fake_job.model == "wan2.5-i2v-preview"
        assert fake_job.extra["reference"] == image.data  # byte for byte, as a data URL
        assert fake_job.extra["parameters"] == {"duration": 5, "resolution": "720P"}
        done, _ = await h.until_done(job)
        assert probe_mp4(await h.download(done)) == (720, 1280, 5.0)


async def test_wan27_sends_resolution_and_ratio() -> None:
    async with harness(DashScopeFake(), "dashscope") as h:
        job = await h.provider.submit(shape(model="wan2.7-t2v", size="1080x1920", seconds=12),
                                      KEY_A)
        fake_job = h.fake.jobs[job.upstream_id]
        assert fake_job.extra["parameters"] == {"duration": 12, "resolution": "1080P",
                                                "ratio": "9:16"}
        assert (fake_job.width, fake_job.height) == (1080, 1920)
        with pytest.raises(UpstreamError) as caught:  # a first frame would need a URL
            await h.provider.submit(shape(model="wan2.7-t2v", reference=png(1280, 720)), KEY_A)
        assert (caught.value.kind, caught.value.code) == (ErrorKind.REJECTED,
                                                          "unsupported_operation")


async def test_wan22_bills_video_duration_and_names_the_frame() -> None:
    async with harness(DashScopeFake(), "dashscope") as h:
        job = await h.provider.submit(shape(model="wan2.2-t2v-plus", size="832x480"), KEY_A)
        done, _ = await h.until_done(job)
        assert (done.seconds, done.size) == (5.0, "832x480")  # usage.video_duration, ratio


async def test_billed_on_what_usage_says() -> None:
    fake = DashScopeFake()
    fake.rendered_seconds = 10
    async with harness(fake, "dashscope") as h:
        done, _ = await h.until_done(await h.provider.submit(shape(), KEY_A))
        assert done.seconds == 10.0


async def test_an_image_only_model_needs_an_image() -> None:
    async with harness(DashScopeFake(), "dashscope") as h:
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(shape(model="wan2.2-i2v-flash"), KEY_A)
        assert caught.value.kind is ErrorKind.REJECTED
        assert h.fake.requests == []  # refused before any call
        image = png(1280, 720)
        job = await h.provider.submit(shape(model="wan2.2-i2v-flash", reference=image), KEY_A)
        assert h.fake.jobs[job.upstream_id].model == "wan2.2-i2v-flash"


@pytest.mark.parametrize("errors_as_200", [False, True])
@pytest.mark.parametrize(
    ("inject", "kind", "code"),
    [
        ("429", ErrorKind.RATE_LIMITED, "rate_limited"),
        ("arrearage", ErrorKind.AUTH, "upstream_insufficient_balance"),
        ("bad_key", ErrorKind.AUTH, "invalid_api_key"),
        ("moderation", ErrorKind.REJECTED, "moderation_blocked"),
        ("invalid", ErrorKind.REJECTED, "upstream_invalid_request"),
        ("502", ErrorKind.UNAVAILABLE, None),
        ("504", ErrorKind.AMBIGUOUS, None),
        ("drop", ErrorKind.AMBIGUOUS, None),
        ("slow", ErrorKind.AMBIGUOUS, None),
        ("malformed", ErrorKind.PROTOCOL, None),
    ],
)
async def test_create_failures(errors_as_200: bool, inject: str, kind: ErrorKind,
                               code: str | None) -> None:
    """Each error means the same whether DashScope sent it as a real status or as 200."""
    async with harness(DashScopeFake(errors_as_200=errors_as_200), "dashscope",
                       read_timeout=0.3) as h:
        injections: dict[str, Callable[[], object]] = {
            "429": lambda: h.fake.rate_limit_next(retry_after=1),
            "arrearage": lambda: h.fake.broke.add("sk-test-1"),
            "502": lambda: h.fake.fail_next(502),
            "504": lambda: h.fake.fail_next(504),
            "drop": lambda: h.fake.drop_next(),
            "slow": lambda: h.fake.slow_next(0.8),
            "malformed": lambda: h.fake.malformed_next(),
        }
        injections.get(inject, lambda: None)()
        prompt = "nsfw-input scene" if inject == "moderation" else "a calm lake"
        job = shape(prompt, seconds=7 if inject == "invalid" else 5)
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(job, BAD_KEY if inject == "bad_key" else KEY_A)
        assert caught.value.kind is kind, caught.value
        if code is not None:
            assert caught.value.code == code
            expected = 200 if errors_as_200 else {"429": 429, "bad_key": 401}.get(inject, 400)
            assert caught.value.status_code == expected
        if inject == "429":
            assert caught.value.retry_after == 1.0


async def test_the_async_header_is_sent() -> None:
    """Without X-DashScope-Async the fake refuses (403 AccessDenied): the create got in."""
    async with harness(DashScopeFake(), "dashscope") as h:
        await h.provider.submit(shape(), KEY_A)
        assert [r.status for r in h.fake.requests if r.path == CREATE] == [200]


@pytest.mark.parametrize(("prompt", "code", "word"), [
    ("forbidden beach", "moderation_blocked", "DataInspectionFailed"),
    ("explode", "generation_failed", "InternalError.Algo"),
])
async def test_failed_tasks(prompt: str, code: str, word: str) -> None:
    async with harness(DashScopeFake(), "dashscope") as h:
        done, _ = await h.until_done(await h.provider.submit(shape(prompt), KEY_A))
        assert (done.status, done.error_code, done.raw_status) == (UpstreamStatus.FAILED, code,
                                                                   "FAILED")
        assert done.error_message and word in done.error_message
        assert done.result_url is None


@pytest.mark.parametrize(("word", "status", "code"), [
    ("mystery", UpstreamStatus.IN_PROGRESS, None),
    ("CANCELED", UpstreamStatus.FAILED, "cancelled"),
    ("SUCCEEDED", UpstreamStatus.FAILED, "no_output"),  # success, but no video_url
])
async def test_status_words(word: str, status: UpstreamStatus, code: str | None) -> None:
    async with harness(DashScopeFake(), "dashscope", complete_after=5.0) as h:
        job = await h.provider.submit(shape(), KEY_A)
        h.fake.status_word_next(word, method="GET")
        seen = await h.provider.fetch(job.upstream_id, KEY_A)
        assert (seen.status, seen.error_code, seen.raw_status) == (status, code, word)


async def test_unknown_after_24_hours_is_not_found() -> None:
    """Task ids expire 24 h after creation; DashScope then says UNKNOWN (with a 200)."""
    async with harness(DashScopeFake(), "dashscope", complete_after=5.0) as h:
        job = await h.provider.submit(shape(), KEY_A)
        assert (await h.provider.fetch(job.upstream_id, KEY_A)).status is UpstreamStatus.QUEUED
        h.fake.expire_tasks()
        with pytest.raises(UpstreamError) as caught:
            await h.provider.fetch(job.upstream_id, KEY_A)
        assert (caught.value.kind, caught.value.code) == (ErrorKind.NOT_FOUND,
                                                          "upstream_task_expired")
        assert "24 h" in caught.value.message


async def test_an_expired_link_is_not_found() -> None:
    async with harness(DashScopeFake(content_ttl=0.0), "dashscope") as h:
        done, _ = await h.until_done(await h.provider.submit(shape(), KEY_A))
        with pytest.raises(UpstreamError) as caught:
            await h.download(done)
        assert caught.value.kind is ErrorKind.NOT_FOUND
        assert [r.status for r in h.fake.requests if r.path.startswith("/cdn/")] == [403]


async def test_cancel_while_pending_then_refused_once_running() -> None:
    async with harness(DashScopeFake(), "dashscope", complete_after=30.0) as h:
        pending = await h.provider.submit(shape(), KEY_A)
        await h.provider.delete(pending.upstream_id, KEY_A)
        seen = await h.provider.fetch(pending.upstream_id, KEY_A)
        assert (seen.status, seen.error_code) == (UpstreamStatus.FAILED, "cancelled")
        h.fake.complete_after = 0.0
        finished = await h.provider.submit(shape("done already"), KEY_A)
        await h.provider.delete(finished.upstream_id, KEY_A)  # refused (400), accepted
        cancels = [r.status for r in h.fake.requests if r.path.endswith("/cancel")]
        assert cancels == [200, 400]


async def test_foreign_key_is_flagged() -> None:
    async with harness(DashScopeFake(), "dashscope") as h:
        job = await h.provider.submit(shape(), KEY_A)
        with pytest.raises(UpstreamError) as caught:
            await h.provider.fetch(job.upstream_id, KEY_B)
        assert caught.value.kind is ErrorKind.NOT_FOUND  # UNKNOWN: not this key's task
        assert [v.used for v in h.fake.wrong_key] == ["sk-test-2"]
        h.fake.reset()


async def test_check_names_the_problem() -> None:
    async with harness(DashScopeFake(), "dashscope") as h:
        await h.provider.check(KEY_A)
        with pytest.raises(UpstreamError) as bad:
            await h.provider.check(BAD_KEY)
        assert (bad.value.kind, bad.value.status_code) == (ErrorKind.AUTH, 401)
        assert h.fake.jobs == {}
        # a trailing /api/v1 is the same API; the OpenAI-compatible URL is not
        same = DashScopeProvider(ChannelSpec("c", "c", "dashscope", h.server.url + "/api/v1/"))
        wrong = DashScopeProvider(ChannelSpec("c", "c", "dashscope",
                                              h.server.url + "/compatible-mode/v1"))
        try:
            await same.check(KEY_A)
            with pytest.raises(UpstreamError) as caught:
                await wrong.check(KEY_A)
            assert caught.value.kind is ErrorKind.NOT_FOUND
        finally:
            await same.aclose()
            await wrong.aclose()
    async with harness(DashScopeFake(), "dashscope",
                       base_url=f"http://127.0.0.1:{closed_port()}") as h:
        with pytest.raises(UpstreamError) as down:
            await h.provider.check(KEY_A)
        assert down.value.kind is ErrorKind.UNAVAILABLE and down.value.status_code is None


async def test_capabilities() -> None:
    async with harness(DashScopeFake(), "dashscope") as h:
        assert not h.provider.supports_remix
        assert h.provider.native_variants == frozenset({Variant.VIDEO})
        assert await h.provider.recover("job-1", KEY_A) is None
        with pytest.raises(UpstreamError):
            await h.provider.submit(request(model=T2V, remix_of="123"), KEY_A)
        done, _ = await h.until_done(await h.provider.submit(shape(), KEY_A))
        with pytest.raises(UpstreamError) as caught:
            await h.download(done, Variant.THUMBNAIL)
        assert caught.value.kind is ErrorKind.NOT_FOUND


@pytest.mark.parametrize(("code", "creates", "kind", "ours"), [
    ("InvalidApiKey", False, ErrorKind.AUTH, "invalid_api_key"),
    ("Arrearage", True, ErrorKind.AUTH, "upstream_insufficient_balance"),
    ("AllocationQuota.FreeTierOnly", True, ErrorKind.AUTH, "upstream_insufficient_balance"),
    ("AccessDenied.Unpurchased", True, ErrorKind.AUTH, "upstream_forbidden"),
    ("Throttling", True, ErrorKind.RATE_LIMITED, "rate_limited"),
    ("Throttling.AllocationQuota", True, ErrorKind.RATE_LIMITED, "rate_limited"),
    ("DataInspectionFailed", True, ErrorKind.REJECTED, "moderation_blocked"),
    ("IPInfringementSuspect", True, ErrorKind.REJECTED, "moderation_blocked"),
    ("InvalidParameter.DataInspection", True, ErrorKind.REJECTED, "upstream_invalid_request"),
    ("ModelNotFound", True, ErrorKind.REJECTED, "upstream_model_unavailable"),
    ("InternalError.Timeout", True, ErrorKind.AMBIGUOUS, "upstream_timeout"),
    ("InternalError.Timeout", False, ErrorKind.UNAVAILABLE, "upstream_timeout"),
    ("InternalError.Algo", True, ErrorKind.UNAVAILABLE, "upstream_error"),
])
def test_code_table(code: str, creates: bool, kind: ErrorKind, ours: str) -> None:
    assert classify(code, creates=creates) == (kind, ours)
    error = body_error({"code": code, "message": "x"}, status=200, creates=creates)
    assert error is not None and (error.kind, error.code) == (kind, ours)
    assert error.accepted_impossible == (kind in (ErrorKind.RATE_LIMITED, ErrorKind.AUTH,
                                                  ErrorKind.UNAVAILABLE))


def test_an_unknown_code_under_200_is_an_error_not_a_task() -> None:
    error = body_error({"code": "Brand.New", "message": "what"}, status=200)
    assert error is not None and (error.kind, error.code) == (ErrorKind.REJECTED,
                                                              "dashscope_Brand.New")
    assert body_error({"output": {"task_id": "t"}}, status=200) is None
    assert body_error({"code": "", "output": {}}, status=200) is None


def test_shapes_and_models() -> None:
    assert [resolution(*s) for s in ((832, 480), (624, 624), (960, 960), (1088, 832),
                                     (1920, 1080), (1248, 1632))] == [
        "480P", "480P", "720P", "720P", "1080P", "1080P"]
    assert model_for("wan2.6-t2v", image=True) == "wan2.6-i2v"
    assert model_for("wan2.6-t2v", image=False) == "wan2.6-t2v"
    assert model_for("wan2.2-i2v-flash", image=True) == "wan2.2-i2v-flash"
    with pytest.raises(UpstreamError):
        model_for("wan2.2-i2v-flash", image=False)
    assert [ratio(*s) for s in ((1280, 720), (720, 1280), (1440, 1440), (1632, 1248),
                                (832, 1088))] == ["16:9", "9:16", "1:1", "4:3", "3:4"]
    assert [uses_media_protocol(m) for m in ("wan2.7-t2v", "wan2.6-t2v", "wanx2.1-t2v-turbo",
                                             "wan3.0-video")] == [True, False, False, True]


def test_task_answers() -> None:
    body = json.loads('{"output": {"task_id": "t1", "task_status": "SUCCEEDED", '
                      '"video_url": "https://x/v.mp4"}, "usage": {"duration": 10, '
                      '"output_video_duration": 10, "SR": 720}}')
    done = task_job(body, "t1", upstream="u")
    assert (done.status, done.seconds, done.size, done.result_url) == (
        UpstreamStatus.COMPLETED, 10.0, None, "https://x/v.mp4")
    with pytest.raises(UpstreamError) as caught:
        task_job({"output": {"task_id": "t1", "task_status": "UNKNOWN"}}, "t1", upstream="u")
    assert caught.value.kind is ErrorKind.NOT_FOUND
