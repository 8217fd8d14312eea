"""SeedanceProvider against the fake Ark task API."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from reelgate.providers.base import ErrorKind, UpstreamError, UpstreamStatus, Variant
from reelgate.providers.seedance import rendered_size, seedance_ratio, seedance_resolution
from tests.fakes import SeedanceFake

from .support import BAD_KEY, KEY_A, KEY_B, REFERENCE, closed_port, harness, probe_mp4, request


async def test_text_to_video_end_to_end() -> None:
    async with harness(SeedanceFake(), "seedance") as h:
        job = await h.provider.submit(request(model="doubao-seedance-1-0-pro"), KEY_A)
        assert job.upstream_id.startswith("cgt-") and job.status is UpstreamStatus.QUEUED
        fake_job = h.fake.jobs[job.upstream_id]
        assert fake_job.extra["ratio"] == "16:9" and fake_job.extra["resolution"] == "720p"
        done, seen = await h.until_done(job)
        assert {j.raw_status for j in seen} <= {"queued", "running", "succeeded"}
        assert done.status is UpstreamStatus.COMPLETED
        assert (done.seconds, done.size) == (4.0, "1280x720")
        assert done.result_url and "/cdn/" in done.result_url
        assert done.extra["usage"]["completion_tokens"] > 0
        assert probe_mp4(await h.download(done)) == (1280, 720, 4.0)
        cdn = [r for r in h.fake.requests if r.path.startswith("/cdn/")]
        assert len(cdn) == 1 and cdn[0].credential is None  # Ark key not sent to the CDN


async def test_first_frame_reference() -> None:
    async with harness(SeedanceFake(), "seedance") as h:
        job = await h.provider.submit(request(size="720x1280", reference=REFERENCE), KEY_A)
        fake_job = h.fake.jobs[job.upstream_id]
        assert fake_job.extra["reference"] == REFERENCE.data
        assert fake_job.extra["ratio"] == "9:16"


async def test_rendered_duration_wins_over_requested() -> None:
    async with harness(SeedanceFake(snap_durations=(5, 10)), "seedance") as h:
        job = await h.provider.submit(request(size="854x480", seconds=4), KEY_A)
        assert job.seconds == 4.0  # what we asked for ...
        done, _ = await h.until_done(job)
        assert (done.seconds, done.size) == (5.0, "854x480")  # ... and what was rendered
        assert probe_mp4(await h.download(done)) == (854, 480, 5.0)


async def test_moderation_is_named_like_every_other_provider() -> None:
    async with harness(SeedanceFake(), "seedance") as h:
        done, _ = await h.until_done(await h.provider.submit(request("forbidden"), KEY_A))
        assert done.status is UpstreamStatus.FAILED
        assert done.error_code == "moderation_blocked"
        assert done.error_message and "OutputVideoSensitiveContentDetected" in done.error_message


@pytest.mark.parametrize(
    ("word", "status", "code"),
    [
        ("mystery", UpstreamStatus.IN_PROGRESS, None),
        ("expired", UpstreamStatus.FAILED, "expired"),
        ("cancelled", UpstreamStatus.FAILED, "cancelled"),
    ],
)
async def test_status_words(word: str, status: UpstreamStatus, code: str | None) -> None:
    async with harness(SeedanceFake(), "seedance") as h:
        job = await h.provider.submit(request(), KEY_A)
        h.fake.status_word_next(word, method="GET")
        seen = await h.provider.fetch(job.upstream_id, KEY_A)
        assert (seen.status, seen.error_code, seen.raw_status) == (status, code, word)


async def test_delete_cancels_a_queued_task() -> None:
    async with harness(SeedanceFake(), "seedance", complete_after=5.0) as h:
        job = await h.provider.submit(request(), KEY_A)
        await h.provider.delete(job.upstream_id, KEY_A)
        seen = await h.provider.fetch(job.upstream_id, KEY_A)
        assert (seen.status, seen.error_code) == (UpstreamStatus.FAILED, "cancelled")


async def test_expired_video_url_is_not_found() -> None:
    async with harness(SeedanceFake(content_ttl=0.0), "seedance") as h:
        done, _ = await h.until_done(await h.provider.submit(request(), KEY_A))
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
    ],
)
async def test_submit_failures(inject: str, kind: ErrorKind) -> None:
    async with harness(SeedanceFake(), "seedance", read_timeout=0.2) as h:
        credential = BAD_KEY if inject == "bad_key" else KEY_A
        injections: dict[str, Callable[[], object]] = {
            "rate": lambda: h.fake.rate_limit_next(retry_after=1),
            "502": lambda: h.fake.fail_next(502),
            "drop": lambda: h.fake.drop_next(),
            "slow": lambda: h.fake.slow_next(0.6),
            "malformed": lambda: h.fake.malformed_next(),
            "bad_key": lambda: None,
        }
        injections[inject]()
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(request(), credential)
        assert caught.value.kind is kind


async def test_refused_connection_is_unavailable() -> None:
    async with harness(
        SeedanceFake(), "seedance", base_url=f"http://127.0.0.1:{closed_port()}"
    ) as h:
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(request(), KEY_A)
        assert caught.value.kind is ErrorKind.UNAVAILABLE


async def test_foreign_key_is_flagged() -> None:
    async with harness(SeedanceFake(), "seedance") as h:
        job = await h.provider.submit(request(), KEY_A)
        with pytest.raises(UpstreamError) as caught:
            await h.provider.fetch(job.upstream_id, KEY_B)
        assert caught.value.kind is ErrorKind.NOT_FOUND
        assert [v.used for v in h.fake.wrong_key] == ["sk-test-2"]
        h.fake.reset()


async def test_capabilities() -> None:
    async with harness(SeedanceFake(), "seedance") as h:
        assert h.provider.native_variants == frozenset({Variant.VIDEO})
        assert not h.provider.supports_remix
        assert await h.provider.recover("job-1", KEY_A) is None
        with pytest.raises(UpstreamError):
            await h.provider.submit(request(remix_of="cgt-1"), KEY_A)


@pytest.mark.parametrize(
    ("size", "ratio", "resolution", "rendered"),
    [
        ("1280x720", "16:9", "720p", "1280x720"),
        ("720x1280", "9:16", "720p", "720x1280"),
        ("1920x1080", "16:9", "1080p", "1920x1080"),
        ("1024x1024", "1:1", "1080p", "1080x1080"),
        ("640x480", "4:3", "480p", "640x480"),
        ("2520x1080", "21:9", "1080p", "2520x1080"),
    ],
)
def test_size_mapping(size: str, ratio: str, resolution: str, rendered: str) -> None:
    width, height = (int(v) for v in size.split("x"))
    assert seedance_ratio(width, height) == ratio
    assert seedance_resolution(width, height) == resolution
    assert rendered_size(resolution, ratio) == rendered
    assert rendered_size("adaptive", ratio) is None and rendered_size(None, None) is None
