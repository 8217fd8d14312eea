"""VeoProvider against the fake Gemini API."""

from __future__ import annotations

import pytest

from reelgate.providers.base import ErrorKind, UpstreamError, UpstreamStatus, Variant
from reelgate.providers.veo import MODERATION_CODE, VeoProvider, veo_parameters
from tests.fakes import VeoFake

from .support import BAD_KEY, KEY_A, KEY_B, REFERENCE, harness, probe_mp4, request


async def test_text_to_video_end_to_end() -> None:
    async with harness(VeoFake(), "veo") as h:
        job = await h.provider.submit(request(model="veo-3.0-fast", seconds=4), KEY_A)
        assert job.upstream_id.startswith("models/veo-3.0-fast/operations/")
        assert (job.status, job.seconds, job.size) == (UpstreamStatus.QUEUED, 4.0, "1280x720")
        done, seen = await h.until_done(job)
        assert done.status is UpstreamStatus.COMPLETED
        assert done.result_url and ":download" in done.result_url
        assert done.seconds == 4.0 and done.size == "1280x720"
        assert {j.progress for j in seen if j.status is UpstreamStatus.IN_PROGRESS} <= {
            0,
            12,
            45,
            80,
        }
        assert probe_mp4(await h.download(done)) == (1280, 720, 4.0)
        storage = [r for r in h.fake.requests if r.path.startswith("/storage/")]
        assert len(storage) == 1 and storage[0].credential is None  # key stayed home
        posted = [r for r in h.fake.requests if r.method == "POST"]
        assert posted[0].path == "/v1beta/models/veo-3.0-fast:predictLongRunning"


async def test_portrait_with_reference_image() -> None:
    async with harness(VeoFake(), "veo") as h:
        job = await h.provider.submit(request(size="720x1280", reference=REFERENCE), KEY_A)
        fake_job = h.fake.jobs[job.upstream_id]
        assert (fake_job.width, fake_job.height) == (720, 1280)
        assert fake_job.extra["reference"] == REFERENCE.data
        assert job.size == "720x1280"


async def test_progress_absent_is_none() -> None:
    async with harness(VeoFake(report_progress=False), "veo") as h:
        job = await h.provider.submit(request(), KEY_A)
        seen = await h.provider.fetch(job.upstream_id, KEY_A)
        assert seen.status is UpstreamStatus.IN_PROGRESS and seen.progress is None


async def test_rai_filtered_is_moderation_failure() -> None:
    async with harness(VeoFake(), "veo") as h:
        done, _ = await h.until_done(await h.provider.submit(request("forbidden scene"), KEY_A))
        assert done.status is UpstreamStatus.FAILED
        assert done.error_code == MODERATION_CODE and "usage guidelines" in (
            done.error_message or ""
        )
        assert done.result_url is None


async def test_operation_error_is_failure() -> None:
    async with harness(VeoFake(), "veo") as h:
        done, _ = await h.until_done(await h.provider.submit(request("explode please"), KEY_A))
        assert (done.status, done.error_code) == (UpstreamStatus.FAILED, "13")


async def test_bad_key_is_auth() -> None:
    async with harness(VeoFake(), "veo") as h:
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(request(), BAD_KEY)
        assert (caught.value.kind, caught.value.code) == (ErrorKind.AUTH, "API_KEY_INVALID")


@pytest.mark.parametrize(
    ("status", "kind"), [(429, ErrorKind.RATE_LIMITED), (503, ErrorKind.UNAVAILABLE)]
)
async def test_refusals(status: int, kind: ErrorKind) -> None:
    async with harness(VeoFake(), "veo") as h:
        h.fake.fail_next(status, retry_after=1)
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(request(), KEY_A)
        assert caught.value.kind is kind and caught.value.code == (
            "RESOURCE_EXHAUSTED" if status == 429 else "UNAVAILABLE"
        )


async def test_invalid_parameters_are_rejected() -> None:
    async with harness(VeoFake(), "veo") as h:
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(request(seconds=12), KEY_A)
        assert (caught.value.kind, caught.value.code) == (ErrorKind.REJECTED, "INVALID_ARGUMENT")


async def test_malformed_poll_is_protocol() -> None:
    async with harness(VeoFake(), "veo") as h:
        job = await h.provider.submit(request(), KEY_A)
        h.fake.malformed_next(method="GET")
        with pytest.raises(UpstreamError) as caught:
            await h.provider.fetch(job.upstream_id, KEY_A)
        assert caught.value.kind is ErrorKind.PROTOCOL


async def test_expired_file_is_not_found() -> None:
    async with harness(VeoFake(content_ttl=0.0), "veo") as h:
        done, _ = await h.until_done(await h.provider.submit(request(), KEY_A))
        with pytest.raises(UpstreamError) as caught:
            await h.download(done)
        assert caught.value.kind is ErrorKind.NOT_FOUND


async def test_only_video_is_native() -> None:
    async with harness(VeoFake(), "veo") as h:
        assert h.provider.native_variants == frozenset({Variant.VIDEO})
        done, _ = await h.until_done(await h.provider.submit(request(), KEY_A))
        with pytest.raises(UpstreamError) as caught:
            await h.download(done, Variant.THUMBNAIL)
        assert caught.value.kind is ErrorKind.NOT_FOUND


async def test_delete_is_best_effort() -> None:
    async with harness(VeoFake(), "veo") as h:
        job = await h.provider.submit(request(), KEY_A)
        h.fake.fail_next(405, method="DELETE")
        await h.provider.delete(job.upstream_id, KEY_A)  # 405 ignored
        await h.provider.delete(job.upstream_id, KEY_A)  # really deleted
        await h.provider.delete(job.upstream_id, KEY_A)  # 404 ignored
        assert h.fake.jobs == {}


async def test_no_remix_and_no_recover() -> None:
    async with harness(VeoFake(), "veo") as h:
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(request(remix_of="models/m/operations/x"), KEY_A)
        assert caught.value.kind is ErrorKind.REJECTED and not h.provider.supports_remix
        assert await h.provider.recover("job-1", KEY_A) is None


async def test_new_instance_does_not_invent_seconds() -> None:
    """After a restart the requested duration is unknown here; the caller has it stored."""
    async with harness(VeoFake(), "veo") as h:
        job = await h.provider.submit(request(), KEY_A)
        fresh = VeoProvider(h.channel)
        try:
            seen = await fresh.fetch(job.upstream_id, KEY_A)
        finally:
            await fresh.aclose()
        assert seen.seconds is None


async def test_foreign_key_is_flagged() -> None:
    async with harness(VeoFake(), "veo") as h:
        job = await h.provider.submit(request(), KEY_A)
        with pytest.raises(UpstreamError) as caught:
            await h.provider.fetch(job.upstream_id, KEY_B)
        assert caught.value.kind is ErrorKind.AUTH  # Google says 403 PERMISSION_DENIED
        assert len(h.fake.wrong_key) == 1
        h.fake.reset()


def test_request_body_shape() -> None:
    assert veo_parameters(request(size="1920x1080", seconds=8)) == {
        "aspectRatio": "16:9",
        "resolution": "1080p",
        "durationSeconds": 8,
    }
    assert veo_parameters(request(size="720x1280"))["aspectRatio"] == "9:16"
