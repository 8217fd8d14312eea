"""RunwayProvider against the fake Runway developer API."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from reelgate.providers.base import (
    ChannelSpec,
    Credential,
    ErrorKind,
    ReferenceImage,
    UpstreamError,
    UpstreamStatus,
    Variant,
)
from reelgate.providers.runway import RunwayProvider, failure_code, runway_ratio
from tests.fakes import RunwayFake

from .support import BAD_KEY, KEY_A, KEY_B, REFERENCE, closed_port, harness, probe_mp4, request


async def test_text_to_video_end_to_end() -> None:
    async with harness(RunwayFake(), "runway") as h:
        job = await h.provider.submit(request(model="gen4.5", seconds=4), KEY_A)
        assert (job.status, job.seconds, job.size) == (UpstreamStatus.QUEUED, 4.0, "1280x720")
        [create] = [r for r in h.fake.requests if r.method == "POST"]
        assert create.path == "/v1/text_to_video"
        fake_job = h.fake.jobs[job.upstream_id]
        assert (fake_job.extra["ratio"], fake_job.seconds, fake_job.model) == (
            "1280:720", 4, "gen4.5")
        done, seen = await h.until_done(job)
        assert {j.raw_status for j in seen} <= {"PENDING", "THROTTLED", "RUNNING", "SUCCEEDED"}
        assert {j.progress for j in seen if j.status is UpstreamStatus.IN_PROGRESS} <= {
            12, 45, 80}
        assert done.status is UpstreamStatus.COMPLETED and done.progress == 100
        assert done.result_url and "/cdn/" in done.result_url
        assert probe_mp4(await h.download(done)) == (1280, 720, 4.0)
        cdn = [r for r in h.fake.requests if r.path.startswith("/cdn/")]
        assert len(cdn) == 1 and cdn[0].credential is None  # the key stays home
        assert h.fake.balance(KEY_A.secret) == h.fake.default_credits - 12 * 4


async def test_queued_words_and_poll_hint() -> None:
    async with harness(RunwayFake(), "runway", complete_after=30.0) as h:
        job = await h.provider.submit(request(model="gen4.5"), KEY_A)
        views = [await h.provider.fetch(job.upstream_id, KEY_A) for _ in range(2)]
        assert {v.raw_status for v in views} == {"PENDING", "THROTTLED"}
        assert all(v.status is UpstreamStatus.QUEUED and v.poll_after == 5.0 for v in views)


async def test_image_to_video_sends_the_reference_inline() -> None:
    async with harness(RunwayFake(), "runway") as h:
        job = await h.provider.submit(
            request(model="gen4_turbo", size="960x960", reference=REFERENCE), KEY_A)
        [create] = [r for r in h.fake.requests if r.method == "POST"]
        assert create.path == "/v1/image_to_video"
        fake_job = h.fake.jobs[job.upstream_id]
        assert fake_job.extra["reference"] == REFERENCE.data  # the bytes, as a data URI
        assert fake_job.extra["ratio"] == "960:960" and job.size == "960x960"


async def test_an_image_only_model_without_image_is_refused_by_runway() -> None:
    """The gateway's validator stops this first; the provider adds nothing of its own."""
    async with harness(RunwayFake(), "runway") as h:
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(request(model="gen4_turbo"), KEY_A)
        assert caught.value.kind is ErrorKind.REJECTED and "ratio" in caught.value.message


@pytest.mark.parametrize(("prompt", "code", "words"), [
    ("something forbidden", "moderation_blocked", "SAFETY.INPUT.TEXT"),
    ("explode please", "bad_output", "INTERNAL.BAD_OUTPUT.CODE01"),
])
async def test_task_failures_are_named(prompt: str, code: str, words: str) -> None:
    async with harness(RunwayFake(), "runway") as h:
        done, _ = await h.until_done(await h.provider.submit(request(prompt, model="gen4.5"),
                                                             KEY_A))
        assert (done.status, done.error_code) == (UpstreamStatus.FAILED, code)
        assert done.error_message and words in done.error_message
        assert done.result_url is None


@pytest.mark.parametrize(("code", "ours"), [
    ("SAFETY.INPUT.IMAGE", "moderation_blocked"),
    ("SAFETY.OUTPUT.VIDEO", "moderation_blocked"),
    ("INPUT_PREPROCESSING.SAFETY.TEXT", "moderation_blocked"),
    ("INTERNAL.BAD_OUTPUT.CODE02", "bad_output"),
    ("ASSET.INVALID", "invalid_reference"),
    ("INPUT_PREPROCESSING.INTERNAL", "upstream_error"),
    ("INTERNAL", "upstream_error"),
    ("SOMETHING.NEW", "generation_failed"),
    (None, "generation_failed"),
])
def test_failure_codes(code: str | None, ours: str) -> None:
    assert failure_code(code) == ours


@pytest.mark.parametrize(("word", "status", "code"), [
    ("mystery", UpstreamStatus.IN_PROGRESS, None),
    ("CANCELLED", UpstreamStatus.FAILED, "cancelled"),
])
async def test_status_words(word: str, status: UpstreamStatus, code: str | None) -> None:
    async with harness(RunwayFake(), "runway") as h:
        job = await h.provider.submit(request(model="gen4.5"), KEY_A)
        h.fake.status_word_next(word, method="GET")
        seen = await h.provider.fetch(job.upstream_id, KEY_A)
        assert (seen.status, seen.error_code, seen.raw_status) == (status, code, word)


def test_succeeded_without_output_is_a_failure() -> None:
    provider = RunwayProvider(ChannelSpec("c", "c", "runway", "http://127.0.0.1:9/v1"))
    empty = provider._to_job({"id": "t-1", "status": "SUCCEEDED", "output": []}, "t-1")
    assert (empty.status, empty.error_code) == (UpstreamStatus.FAILED, "no_output")
    running = provider._to_job({"id": "t-1", "status": "RUNNING", "progress": 0.456}, "t-1")
    assert (running.status, running.progress) == (UpstreamStatus.IN_PROGRESS, 46)


async def test_delete_cancels_a_running_task() -> None:
    async with harness(RunwayFake(), "runway", complete_after=30.0) as h:
        job = await h.provider.submit(request(model="gen4.5"), KEY_A)
        await h.provider.delete(job.upstream_id, KEY_A)
        seen = await h.provider.fetch(job.upstream_id, KEY_A)
        assert (seen.status, seen.error_code) == (UpstreamStatus.FAILED, "cancelled")
        [call] = [r for r in h.fake.requests if r.method == "DELETE"]
        assert call.status == 204


async def test_an_expired_link_is_replaced_by_a_fresh_one() -> None:
    async with harness(RunwayFake(), "runway") as h:
        done, _ = await h.until_done(await h.provider.submit(request(model="gen4.5"), KEY_A))
        h.fake.expire_links()  # the URL the job row holds is dead now
        assert probe_mp4(await h.download(done)) == (1280, 720, 4.0)
        cdn = [r.status for r in h.fake.requests if r.path.startswith("/cdn/")]
        assert cdn == [403, 200]


async def test_content_gone_for_good_is_not_found() -> None:
    async with harness(RunwayFake(content_ttl=0.0), "runway") as h:
        done, _ = await h.until_done(await h.provider.submit(request(model="gen4.5"), KEY_A))
        with pytest.raises(UpstreamError) as caught:
            await h.download(done)
        assert caught.value.kind is ErrorKind.NOT_FOUND  # a 403 from the CDN, not our key
        cdn = [r.status for r in h.fake.requests if r.path.startswith("/cdn/")]
        assert cdn == [403, 403]  # the fresh link was tried once, then given up


async def test_version_header_is_sent_and_configurable() -> None:
    async with harness(RunwayFake(), "runway", api_version="2020-01-01") as h:
        with pytest.raises(UpstreamError) as caught:
            await h.provider.check(KEY_A)
        assert caught.value.kind is ErrorKind.REJECTED
        assert "Unsupported API version: 2020-01-01" in caught.value.message


async def test_no_credits_is_a_problem_of_the_key_not_the_job() -> None:
    async with harness(RunwayFake(), "runway") as h:
        h.fake.credits[KEY_A.secret] = 10
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(request(model="gen4.5", seconds=5), KEY_A)
        assert (caught.value.kind, caught.value.code) == (ErrorKind.AUTH, "insufficient_credits")
        assert caught.value.accepted_impossible  # so the router may try another key
        assert h.fake.jobs == {}
        await h.provider.submit(request(model="gen4.5", seconds=5), KEY_B)


@pytest.mark.parametrize(("prompt", "reference", "code"), [
    ("x" * 1001, None, "prompt_too_long"),
    ("é" * 1000, None, None),  # 1000 UTF-16 units: fine
    ("a fox", ReferenceImage(b"\x89PNG" + b"\0" * 4_000_000, "image/png", 1280, 720),
     "reference_too_large"),
])
async def test_limits_checked_before_sending(prompt: str, reference: ReferenceImage | None,
                                             code: str | None) -> None:
    async with harness(RunwayFake(), "runway") as h:
        submit = h.provider.submit(request(prompt, model="gen4.5", reference=reference), KEY_A)
        if code is None:
            await submit
            return
        with pytest.raises(UpstreamError) as caught:
            await submit
        assert (caught.value.kind, caught.value.code) == (ErrorKind.REJECTED, code)
        assert [r for r in h.fake.requests if r.method == "POST"] == []


@pytest.mark.parametrize(
    ("inject", "kind"),
    [
        ("rate", ErrorKind.RATE_LIMITED),
        ("502", ErrorKind.UNAVAILABLE),
        ("504", ErrorKind.AMBIGUOUS),
        ("drop", ErrorKind.AMBIGUOUS),
        ("slow", ErrorKind.AMBIGUOUS),
        ("malformed", ErrorKind.PROTOCOL),
        ("bad_key", ErrorKind.AUTH),
    ],
)
async def test_submit_failures(inject: str, kind: ErrorKind) -> None:
    async with harness(RunwayFake(), "runway", read_timeout=0.2) as h:
        credential = BAD_KEY if inject == "bad_key" else KEY_A
        injections: dict[str, Callable[[], object]] = {
            "rate": lambda: h.fake.rate_limit_next(retry_after=1),
            "502": lambda: h.fake.fail_next(502),
            "504": lambda: h.fake.fail_next(504),
            "drop": lambda: h.fake.drop_next(),
            "slow": lambda: h.fake.slow_next(0.6),
            "malformed": lambda: h.fake.malformed_next(),
            "bad_key": lambda: None,
        }
        injections[inject]()
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(request(model="gen4.5"), credential)
        assert caught.value.kind is kind
        if inject == "rate":
            assert caught.value.retry_after == 1.0


async def test_check_names_the_problem() -> None:
    async with harness(RunwayFake(), "runway") as h:
        await h.provider.check(KEY_A)
        with pytest.raises(UpstreamError) as caught:
            await h.provider.check(BAD_KEY)
        assert caught.value.kind is ErrorKind.AUTH
        no_v1 = RunwayProvider(ChannelSpec("c", "c", "runway", h.server.url))
        try:
            with pytest.raises(UpstreamError) as caught:
                await no_v1.check(KEY_A)
            assert caught.value.kind is ErrorKind.NOT_FOUND  # wrong base URL
        finally:
            await no_v1.aclose()
    async with harness(RunwayFake(), "runway",
                       base_url=f"http://127.0.0.1:{closed_port()}/v1") as h:
        with pytest.raises(UpstreamError) as caught:
            await h.provider.check(KEY_A)
        assert caught.value.kind is ErrorKind.UNAVAILABLE and caught.value.status_code is None


async def test_foreign_key_is_flagged() -> None:
    async with harness(RunwayFake(), "runway") as h:
        job = await h.provider.submit(request(model="gen4.5"), KEY_A)
        with pytest.raises(UpstreamError) as caught:
            await h.provider.fetch(job.upstream_id, KEY_B)
        assert caught.value.kind is ErrorKind.NOT_FOUND
        assert [v.used for v in h.fake.wrong_key] == ["sk-test-2"]
        h.fake.reset()


async def test_capabilities() -> None:
    async with harness(RunwayFake(), "runway") as h:
        assert h.provider.native_variants == frozenset({Variant.VIDEO})
        assert not h.provider.supports_remix
        assert await h.provider.recover("job-1", Credential("c", "sk-test-1")) is None
        with pytest.raises(UpstreamError):
            await h.provider.submit(request(model="gen4.5", remix_of="task-1"), KEY_A)
        done, _ = await h.until_done(await h.provider.submit(request(model="gen4.5"), KEY_A))
        with pytest.raises(UpstreamError) as caught:
            await h.download(done, Variant.THUMBNAIL)
        assert caught.value.kind is ErrorKind.NOT_FOUND


def test_ratio_is_the_size() -> None:
    assert runway_ratio("1584x672") == "1584:672" and runway_ratio("720x1280") == "720:1280"


def test_reference_payload_is_a_data_uri() -> None:
    from reelgate.providers.runway import _data_uri

    uri = _data_uri(REFERENCE.data, REFERENCE.mime)
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.partition(",")[2]) == REFERENCE.data
