"""MiniMaxProvider against the fake MiniMax API: V1 (Hailuo 02 / 2.3) and V2 (H3)."""

from __future__ import annotations

import io
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
from reelgate.providers.minimax import MiniMaxProvider
from reelgate.providers.minimax.errors import code_error, refine
from reelgate.providers.minimax.shapes import v1_resolution, v2_ratio, v2_resolution, v2_size
from tests.fakes import MiniMaxFake

from .support import BAD_KEY, KEY_A, KEY_B, closed_port, harness, probe_mp4, request

V1 = "MiniMax-Hailuo-02"
V2 = "MiniMax-H3"


def png(width: int, height: int) -> ReferenceImage:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(out, format="PNG")
    return ReferenceImage(out.getvalue(), "image/png", width, height)


def shape(model: str, prompt: str = "a red fox") -> SubmitRequest:
    return request(prompt, model=model, size="1366x768", seconds=6)


async def test_v1_create_query_retrieve_download() -> None:
    async with harness(MiniMaxFake(), "minimax") as h:
        job = await h.provider.submit(request(model=V1, size="1366x768", seconds=6), KEY_A)
        assert job.upstream_id.isdigit() and job.status is UpstreamStatus.QUEUED
        assert h.fake.jobs[job.upstream_id].extra["resolution"] == "768P"
        done, seen = await h.until_done(job)
        assert {j.raw_status for j in seen} <= {"Preparing", "Queueing", "Processing", "Success"}
        assert (done.status, done.size, done.progress) == (UpstreamStatus.COMPLETED,
                                                           "1366x768", 100)
        assert done.seconds is None  # V1 does not say; the caller bills what was asked
        assert done.result_url and "/cdn/" in done.result_url
        assert probe_mp4(await h.download(done)) == (1366, 768, 6.0)
        paths = [(r.path, r.credential) for r in h.fake.requests]
        assert ("/v1/files/retrieve", "sk-test-1") in paths
        cdn = [cred for path, cred in paths if path.startswith("/cdn/")]
        assert cdn == [None]  # the key stayed home


async def test_v1_first_frame_and_rendered_size() -> None:
    async with harness(MiniMaxFake(), "minimax") as h:
        image = png(768, 1366)
        job = await h.provider.submit(request(model=V1, size="768x1366", seconds=6,
                                              reference=image), KEY_A)
        assert h.fake.jobs[job.upstream_id].extra["reference"] == image.data
        done, _ = await h.until_done(job)
        assert done.size == "768x1366"  # video_width x video_height, as rendered


async def test_v1_1080p_is_six_seconds_only() -> None:
    """MiniMax refuses 1080P x 10 s with HTTP 200 and base_resp 2013: a REJECTED job."""
    async with harness(MiniMaxFake(), "minimax") as h:
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(request(model=V1, size="1920x1080", seconds=10), KEY_A)
        assert (caught.value.kind, caught.value.code) == (ErrorKind.REJECTED,
                                                          "invalid_parameters")
        assert caught.value.status_code == 200 and "2013" in caught.value.message
        ok = await h.provider.submit(request(model=V1, size="1920x1080", seconds=6), KEY_A)
        assert h.fake.jobs[ok.upstream_id].extra["resolution"] == "1080P"


async def test_v2_create_query_download() -> None:
    async with harness(MiniMaxFake(), "minimax") as h:
        job = await h.provider.submit(request(model=V2, size="1366x768", seconds=6), KEY_A)
        assert job.upstream_id.startswith("v2/")
        fake_job = h.fake.jobs[job.upstream_id.removeprefix("v2/")]
        assert (fake_job.extra["resolution"], fake_job.extra["ratio"]) == ("768P", "16:9")
        done, seen = await h.until_done(job)
        assert {j.raw_status for j in seen} <= {"queued", "running", "succeeded"}
        assert (done.status, done.seconds, done.size) == (UpstreamStatus.COMPLETED, 6.0,
                                                          "1366x768")
        assert done.extra["usage"]["total_seconds"] == 6
        assert probe_mp4(await h.download(done)) == (1366, 768, 6.0)


async def test_v2_2k_portrait_and_first_frame() -> None:
    async with harness(MiniMaxFake(), "minimax") as h:
        text = await h.provider.submit(request(model=V2, size="1440x2560", seconds=5), KEY_A)
        fake_job = h.fake.jobs[text.upstream_id.removeprefix("v2/")]
        assert (fake_job.extra["resolution"], fake_job.extra["ratio"]) == ("2K", "9:16")
        image = png(1366, 768)
        framed = await h.provider.submit(request(model=V2, size="1366x768", seconds=5,
                                                 reference=image), KEY_A)
        assert h.fake.jobs[framed.upstream_id.removeprefix("v2/")].extra["reference"] == (
            image.data)
        done, _ = await h.until_done(framed)
        assert done.size == "1366x768"


@pytest.mark.parametrize("model", [V1, V2])
@pytest.mark.parametrize(
    ("inject", "kind", "code"),
    [
        ("429", ErrorKind.RATE_LIMITED, "rate_limited"),
        ("402", ErrorKind.AUTH, "insufficient_balance"),
        ("bad_key", ErrorKind.AUTH, "invalid_api_key"),
        ("sensitive", ErrorKind.REJECTED, "moderation_blocked"),
        ("502", ErrorKind.UNAVAILABLE, None),
        ("drop", ErrorKind.AMBIGUOUS, None),
        ("slow", ErrorKind.AMBIGUOUS, None),
        ("malformed", ErrorKind.PROTOCOL, None),
    ],
)
async def test_create_failures(model: str, inject: str, kind: ErrorKind,
                               code: str | None) -> None:
    """V1 says most of these with HTTP 200 and base_resp; V2 with a real status."""
    async with harness(MiniMaxFake(), "minimax", read_timeout=0.3) as h:
        injections: dict[str, Callable[[], object]] = {
            "429": lambda: h.fake.rate_limit_next(retry_after=1),
            "402": lambda: h.fake.fail_next(402),
            "502": lambda: h.fake.fail_next(502),
            "drop": lambda: h.fake.drop_next(),
            "slow": lambda: h.fake.slow_next(0.8),
            "malformed": lambda: h.fake.malformed_next(),
        }
        injections.get(inject, lambda: None)()
        prompt = "nsfw-input scene" if inject == "sensitive" else "a calm lake"
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(shape(model, prompt=prompt),
                                    BAD_KEY if inject == "bad_key" else KEY_A)
        assert caught.value.kind is kind, caught.value
        if code is not None:
            assert caught.value.code == code
        if inject in ("402", "429", "bad_key", "sensitive"):
            assert caught.value.status_code == (200 if model == V1 else
                                                {"402": 402, "429": 429, "bad_key": 401,
                                                 "sensitive": 422}[inject])


@pytest.mark.parametrize("model", [V1, V2])
async def test_moderated_output_fails_with_the_common_code(model: str) -> None:
    async with harness(MiniMaxFake(), "minimax") as h:
        job = await h.provider.submit(shape(model, prompt="forbidden"), KEY_A)
        done, _ = await h.until_done(job)
        assert (done.status, done.error_code) == (UpstreamStatus.FAILED, "moderation_blocked")
        assert done.error_message and "1027" in done.error_message
        assert done.result_url is None


@pytest.mark.parametrize("model", [V1, V2])
async def test_generation_failure(model: str) -> None:
    async with harness(MiniMaxFake(), "minimax") as h:
        job = await h.provider.submit(shape(model, prompt="explode"), KEY_A)
        done, _ = await h.until_done(job)
        assert (done.status, done.error_code) == (UpstreamStatus.FAILED, "generation_failed")


@pytest.mark.parametrize(
    ("model", "word", "status", "code"),
    [
        (V1, "mystery", UpstreamStatus.IN_PROGRESS, None),
        (V2, "mystery", UpstreamStatus.IN_PROGRESS, None),
        (V2, "expired", UpstreamStatus.FAILED, "expired"),
        (V2, "cancelled", UpstreamStatus.FAILED, "cancelled"),
        (V1, "Success", UpstreamStatus.FAILED, "no_output"),  # success, but no file named
    ],
)
async def test_status_words(model: str, word: str, status: UpstreamStatus,
                            code: str | None) -> None:
    async with harness(MiniMaxFake(), "minimax", complete_after=5.0) as h:
        job = await h.provider.submit(shape(model), KEY_A)
        h.fake.status_word_next(word, method="GET")
        seen = await h.provider.fetch(job.upstream_id, KEY_A)
        assert (seen.status, seen.error_code, seen.raw_status) == (status, code, word)


@pytest.mark.parametrize("model", [V1, V2])
async def test_an_expired_link_is_renewed_once(model: str) -> None:
    async with harness(MiniMaxFake(), "minimax") as h:
        done, _ = await h.until_done(await h.provider.submit(shape(model), KEY_A))
        h.fake.expire_links()  # the signed URL in hand is stale now
        assert probe_mp4(await h.download(done)) == (1366, 768, 6.0)
        cdn = [r.status for r in h.fake.requests if r.path.startswith("/cdn/")]
        assert cdn == [403, 200]


@pytest.mark.parametrize("model", [V1, V2])
async def test_a_file_that_is_gone_is_not_found(model: str) -> None:
    async with harness(MiniMaxFake(content_ttl=0.0), "minimax") as h:
        done, _ = await h.until_done(await h.provider.submit(shape(model), KEY_A))
        with pytest.raises(UpstreamError) as caught:
            await h.download(done)
        assert caught.value.kind is ErrorKind.NOT_FOUND


async def test_delete() -> None:
    async with harness(MiniMaxFake(), "minimax", complete_after=5.0) as h:
        v2 = await h.provider.submit(shape(V2), KEY_A)
        await h.provider.delete(v2.upstream_id, KEY_A)
        seen = await h.provider.fetch(v2.upstream_id, KEY_A)
        assert (seen.status, seen.error_code) == (UpstreamStatus.FAILED, "cancelled")
        v1 = await h.provider.submit(shape(V1), KEY_A)
        before = len(h.fake.requests)
        await h.provider.delete(v1.upstream_id, KEY_A)  # V1 has no such endpoint
        assert len(h.fake.requests) == before


@pytest.mark.parametrize("model", [V1, V2])
async def test_foreign_key_is_flagged(model: str) -> None:
    async with harness(MiniMaxFake(), "minimax") as h:
        job = await h.provider.submit(shape(model), KEY_A)
        with pytest.raises(UpstreamError) as caught:
            await h.provider.fetch(job.upstream_id, KEY_B)
        assert caught.value.kind is ErrorKind.NOT_FOUND
        assert [v.used for v in h.fake.wrong_key] == ["sk-test-2"]
        h.fake.reset()


async def test_check_names_the_problem() -> None:
    async with harness(MiniMaxFake(), "minimax") as h:
        await h.provider.check(KEY_A)
        with pytest.raises(UpstreamError) as bad:
            await h.provider.check(BAD_KEY)
        assert bad.value.kind is ErrorKind.AUTH
        assert h.fake.jobs == {}
    async with harness(MiniMaxFake(), "minimax") as h:
        wrong = MiniMaxProvider(ChannelSpec("c", "c", "minimax", h.server.url + "/api"))
        try:
            with pytest.raises(UpstreamError) as caught:
                await wrong.check(KEY_A)
            assert caught.value.kind is ErrorKind.NOT_FOUND
        finally:
            await wrong.aclose()
    async with harness(MiniMaxFake(), "minimax",
                       base_url=f"http://127.0.0.1:{closed_port()}") as h:
        with pytest.raises(UpstreamError) as down:
            await h.provider.check(KEY_A)
        assert down.value.kind is ErrorKind.UNAVAILABLE and down.value.status_code is None


async def test_capabilities() -> None:
    async with harness(MiniMaxFake(), "minimax") as h:
        assert not h.provider.supports_remix
        assert h.provider.native_variants == frozenset({Variant.VIDEO})
        assert await h.provider.recover("job-1", KEY_A) is None
        with pytest.raises(UpstreamError):
            await h.provider.submit(request(model=V1, remix_of="123"), KEY_A)
        done, _ = await h.until_done(await h.provider.submit(shape(V1), KEY_A))
        with pytest.raises(UpstreamError) as caught:
            await h.download(done, Variant.THUMBNAIL)
        assert caught.value.kind is ErrorKind.NOT_FOUND


@pytest.mark.parametrize(
    ("code", "creates", "lookup", "kind", "ours"),
    [
        (1002, True, False, ErrorKind.RATE_LIMITED, "rate_limited"),
        (1039, True, False, ErrorKind.RATE_LIMITED, "rate_limited"),
        (1004, True, False, ErrorKind.AUTH, "invalid_api_key"),
        (2049, False, False, ErrorKind.AUTH, "invalid_api_key"),
        (1008, True, False, ErrorKind.AUTH, "insufficient_balance"),
        (1026, True, False, ErrorKind.REJECTED, "moderation_blocked"),
        (1027, False, True, ErrorKind.REJECTED, "moderation_blocked"),
        (2013, True, False, ErrorKind.REJECTED, "invalid_parameters"),
        (2013, False, True, ErrorKind.NOT_FOUND, "not_found"),
        (1001, True, False, ErrorKind.AMBIGUOUS, "upstream_timeout"),
        (1001, False, True, ErrorKind.UNAVAILABLE, "upstream_error"),
        (1013, True, False, ErrorKind.UNAVAILABLE, "upstream_error"),
        (1234, True, False, ErrorKind.REJECTED, "minimax_1234"),
    ],
)
def test_code_table(code: int, creates: bool, lookup: bool, kind: ErrorKind,
                    ours: str) -> None:
    error = code_error(code, "x", creates=creates, lookup=lookup)
    assert (error.kind, error.code) == (kind, ours)
    assert error.accepted_impossible == (kind in (ErrorKind.RATE_LIMITED, ErrorKind.AUTH,
                                                  ErrorKind.UNAVAILABLE))


def test_refine_reads_the_code_out_of_a_v2_message() -> None:
    wallet = refine(UpstreamError(ErrorKind.REJECTED, "insufficient balance (1008)",
                                  status_code=402, code="insufficient_balance_error"))
    assert (wallet.kind, wallet.code, wallet.status_code) == (ErrorKind.AUTH,
                                                              "insufficient_balance", 402)
    typed = refine(UpstreamError(ErrorKind.REJECTED, "no code here", status_code=402,
                                 code="insufficient_balance_error"))
    assert typed.kind is ErrorKind.AUTH
    server = UpstreamError(ErrorKind.UNAVAILABLE, "internal error (1000)", status_code=500)
    assert refine(server) is server


def test_shapes() -> None:
    assert [v1_resolution(*s) for s in ((1366, 768), (1920, 1080), (912, 512), (1280, 720))] \
        == ["768P", "1080P", "512P", "720P"]
    assert (v2_resolution(1366, 768), v2_resolution(2560, 1440)) == ("768P", "2K")
    assert (v2_ratio(1366, 768), v2_ratio(768, 1366), v2_ratio(768, 768)) == (
        "16:9", "9:16", "1:1")
    assert (v2_size("768P", "16:9"), v2_size("2K", "9:16"), v2_size("2K", "1:1")) == (
        "1366x768", "1440x2560", "1440x1440")
    assert v2_size("768P", "adaptive") is None and v2_size(None, "16:9") is None
