"""LumaProvider against the fake Dream Machine API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from reelgate.catalog import CATALOG
from reelgate.providers.base import (
    ChannelSpec,
    ErrorKind,
    SubmitRequest,
    UpstreamError,
    UpstreamStatus,
    Variant,
)
from reelgate.providers.luma import LumaProvider, is_moderation, luma_shape
from tests.fakes import LumaFake

from .support import BAD_KEY, KEY_A, KEY_B, REFERENCE, closed_port, harness, probe_mp4, request


def req(prompt: str = "a red fox in the snow", **fields: Any) -> SubmitRequest:
    """A Luma-shaped request: ray-2, 5 s, unless told otherwise."""
    return request(prompt, **{"model": "ray-2", "seconds": 5, **fields})


async def test_text_to_video_end_to_end() -> None:
    async with harness(LumaFake(), "luma") as h:
        job = await h.provider.submit(req(size="960x540"), KEY_A)
        assert (job.status, job.seconds, job.size) == (UpstreamStatus.QUEUED, 5.0, "960x540")
        [create] = [r for r in h.fake.requests if r.method == "POST"]
        assert create.path == "/dream-machine/v1/generations"
        sent = h.fake.jobs[job.upstream_id].extra["request"]
        assert (sent["resolution"], sent["aspect_ratio"], sent["duration"]) == (
            "540p", "16:9", "5s")
        done, seen = await h.until_done(job)
        assert {j.raw_status for j in seen} <= {"queued", "dreaming", "completed"}
        assert done.status is UpstreamStatus.COMPLETED and done.progress == 100
        assert (done.seconds, done.size) == (5.0, "960x540")  # from the echoed request
        assert done.result_url and "/cdn/" in done.result_url
        assert probe_mp4(await h.download(done)) == (960, 540, 5.0)
        cdn = [r for r in h.fake.requests if r.path.startswith("/cdn/")]
        assert len(cdn) == 1 and cdn[0].credential is None  # the key stays home


@pytest.mark.parametrize(("size", "shape"), [
    ("1280x720", ("720p", "16:9")), ("720x1280", ("720p", "9:16")),
    ("1920x1080", ("1080p", "16:9")), ("540x960", ("540p", "9:16")),
])
def test_shapes(size: str, shape: tuple[str, str]) -> None:
    width, height = (int(v) for v in size.split("x"))
    assert luma_shape(width, height) == shape


def test_every_catalog_size_maps_back_to_itself() -> None:
    from reelgate.providers.seedance import rendered_size

    for model in ("ray-2", "ray-flash-2"):
        spec = CATALOG.get(model)
        assert spec is not None and not spec.supports_reference
        for size in spec.sizes:
            width, height = (int(v) for v in size.split("x"))
            assert rendered_size(*luma_shape(width, height)) == size


async def test_moderation_after_the_fact_is_named() -> None:
    async with harness(LumaFake(), "luma") as h:
        done, _ = await h.until_done(await h.provider.submit(req("forbidden"),
                                                             KEY_A))
        assert (done.status, done.error_code) == (UpstreamStatus.FAILED, "moderation_blocked")
        assert done.error_message and "moderation" in done.error_message


async def test_other_failures_keep_the_reason() -> None:
    async with harness(LumaFake(), "luma") as h:
        done, _ = await h.until_done(await h.provider.submit(req("explode"),
                                                             KEY_A))
        assert (done.status, done.error_code) == (UpstreamStatus.FAILED, "generation_failed")
        assert done.error_message == "Generation failed: internal error"


async def test_prompt_refused_at_create_is_moderation() -> None:
    async with harness(LumaFake(), "luma") as h:
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(req("something nsfw"), KEY_A)
        assert (caught.value.kind, caught.value.code) == (ErrorKind.REJECTED,
                                                          "moderation_blocked")


async def test_no_credits_is_a_problem_of_the_key() -> None:
    async with harness(LumaFake(), "luma") as h:
        h.fake.broke.add(KEY_A.secret)
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(req(), KEY_A)
        assert (caught.value.kind, caught.value.code) == (ErrorKind.AUTH, "insufficient_credits")
        assert caught.value.accepted_impossible and h.fake.jobs == {}
        await h.provider.submit(req(), KEY_B)


async def test_image_reference_is_refused_before_sending() -> None:
    async with harness(LumaFake(), "luma") as h:
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(req(reference=REFERENCE), KEY_A)
        assert (caught.value.kind, caught.value.code) == (ErrorKind.REJECTED, "unsupported")
        assert "URL" in caught.value.message
        assert [r for r in h.fake.requests if r.method == "POST"] == []


@pytest.mark.parametrize(("word", "status"), [
    ("mystery", UpstreamStatus.IN_PROGRESS), ("failed", UpstreamStatus.FAILED),
])
async def test_state_words(word: str, status: UpstreamStatus) -> None:
    async with harness(LumaFake(), "luma") as h:
        job = await h.provider.submit(req(), KEY_A)
        h.fake.status_word_next(word, method="GET")
        seen = await h.provider.fetch(job.upstream_id, KEY_A)
        assert (seen.status, seen.raw_status) == (status, word)


def test_completed_without_video_is_a_failure() -> None:
    provider = LumaProvider(ChannelSpec("c", "c", "luma", "http://127.0.0.1:9/v1"))
    body = {"id": "g-1", "state": "completed", "assets": {"video": None}}
    empty = provider._to_job(body, "g-1")
    assert (empty.status, empty.error_code) == (UpstreamStatus.FAILED, "no_output")
    assert is_moderation("400: failed to moderate image") and not is_moderation("timeout")


async def test_delete_removes_the_generation() -> None:
    async with harness(LumaFake(), "luma", complete_after=30.0) as h:
        job = await h.provider.submit(req(), KEY_A)
        await h.provider.delete(job.upstream_id, KEY_A)
        assert h.fake.jobs == {}
        with pytest.raises(UpstreamError) as caught:
            await h.provider.fetch(job.upstream_id, KEY_A)
        assert caught.value.kind is ErrorKind.NOT_FOUND


async def test_expired_video_is_not_found() -> None:
    async with harness(LumaFake(content_ttl=0.0), "luma") as h:
        done, _ = await h.until_done(await h.provider.submit(req(),
                                                             KEY_A))
        with pytest.raises(UpstreamError) as caught:
            await h.download(done)
        assert caught.value.kind is ErrorKind.NOT_FOUND  # a 403 from the CDN, not our key


@pytest.mark.parametrize(
    ("inject", "kind"),
    [
        ("rate", ErrorKind.RATE_LIMITED),
        ("502", ErrorKind.UNAVAILABLE),
        ("drop", ErrorKind.AMBIGUOUS),
        ("slow", ErrorKind.AMBIGUOUS),
        ("malformed", ErrorKind.PROTOCOL),
        ("bad_key", ErrorKind.AUTH),
        ("bad_seconds", ErrorKind.REJECTED),
    ],
)
async def test_submit_failures(inject: str, kind: ErrorKind) -> None:
    async with harness(LumaFake(), "luma", read_timeout=0.2) as h:
        credential = BAD_KEY if inject == "bad_key" else KEY_A
        injections: dict[str, Callable[[], object]] = {
            "rate": lambda: h.fake.rate_limit_next(retry_after=1),
            "502": lambda: h.fake.fail_next(502),
            "drop": lambda: h.fake.drop_next(),
            "slow": lambda: h.fake.slow_next(0.6),
            "malformed": lambda: h.fake.malformed_next(),
            "bad_key": lambda: None,
            "bad_seconds": lambda: None,
        }
        injections[inject]()
        seconds = 4 if inject == "bad_seconds" else 5
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(req(seconds=seconds), credential)
        assert caught.value.kind is kind
        if inject == "bad_seconds":
            assert "duration" in caught.value.message


async def test_check_names_the_problem() -> None:
    async with harness(LumaFake(), "luma") as h:
        await h.provider.check(KEY_A)
        with pytest.raises(UpstreamError) as caught:
            await h.provider.check(BAD_KEY)
        assert caught.value.kind is ErrorKind.AUTH
        no_prefix = LumaProvider(ChannelSpec("c", "c", "luma", h.server.url))
        try:
            with pytest.raises(UpstreamError) as caught:
                await no_prefix.check(KEY_A)
            assert caught.value.kind is ErrorKind.NOT_FOUND  # wrong base URL
        finally:
            await no_prefix.aclose()
    async with harness(LumaFake(), "luma",
                       base_url=f"http://127.0.0.1:{closed_port()}/dream-machine/v1") as h:
        with pytest.raises(UpstreamError) as caught:
            await h.provider.check(KEY_A)
        assert caught.value.kind is ErrorKind.UNAVAILABLE and caught.value.status_code is None


async def test_foreign_key_is_flagged() -> None:
    async with harness(LumaFake(), "luma") as h:
        job = await h.provider.submit(req(), KEY_A)
        with pytest.raises(UpstreamError) as caught:
            await h.provider.fetch(job.upstream_id, KEY_B)
        assert caught.value.kind is ErrorKind.NOT_FOUND
        assert [v.used for v in h.fake.wrong_key] == ["sk-test-2"]
        h.fake.reset()


async def test_capabilities() -> None:
    async with harness(LumaFake(), "luma") as h:
        assert h.provider.native_variants == frozenset({Variant.VIDEO})
        assert not h.provider.supports_remix
        assert await h.provider.recover("job-1", KEY_A) is None
        with pytest.raises(UpstreamError):
            await h.provider.submit(req(remix_of="g-1"), KEY_A)
