"""OpenAIProvider in openai, azure and relay modes against the fake OpenAI upstream."""

from __future__ import annotations

import inspect

import httpx
import pytest

from reelgate.providers.base import (
    ChannelSpec,
    ErrorKind,
    UpstreamError,
    UpstreamStatus,
    Variant,
)
from reelgate.providers.openai import OpenAIProvider
from tests.fakes import OpenAIFake

from .support import BAD_KEY, KEY_A, KEY_B, REFERENCE, closed_port, harness, probe_mp4, request

MODES = ["openai", "azure", "relay"]
SMALL = "320x180"


@pytest.mark.parametrize("mode", MODES)
async def test_create_poll_download_delete(mode: str) -> None:
    async with harness(OpenAIFake(mode), "openai", mode=mode) as h:
        job = await h.provider.submit(request(size="1280x720", seconds=4), KEY_A)
        assert job.status is UpstreamStatus.QUEUED and job.upstream_id
        assert h.fake.jobs[job.upstream_id].extra["encoding"] == "json"
        done, seen = await h.until_done(job)
        assert done.status is UpstreamStatus.COMPLETED and done.progress == 100
        assert (done.seconds, done.size) == (4.0, "1280x720")
        assert {j.progress for j in seen} <= {0, 12, 45, 80, 100}
        assert probe_mp4(await h.download(done)) == (1280, 720, 4.0)
        await h.provider.delete(done.upstream_id, KEY_A)
        with pytest.raises(UpstreamError) as caught:
            await h.provider.fetch(done.upstream_id, KEY_A)
        assert caught.value.kind is ErrorKind.NOT_FOUND
        assert {r.credential for r in h.fake.requests if not r.path.startswith("/cdn/")} == {
            "sk-test-1"
        }


async def test_azure_paths_header_and_api_version() -> None:
    async with harness(OpenAIFake("azure", api_version="2025-04"), "openai",
                       mode="azure", api_version="2025-04") as h:  # fmt: skip
        job = await h.provider.submit(request(size=SMALL), KEY_A)
        await h.provider.fetch(job.upstream_id, KEY_A)
        assert all(r.path.startswith("/openai/v1/videos") for r in h.fake.requests)
        assert all("api-version=2025-04" in r.query for r in h.fake.requests)


async def test_azure_wrong_api_version_is_rejected() -> None:
    async with harness(OpenAIFake("azure"), "openai", mode="azure", api_version="v9") as h:
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(request(size=SMALL), KEY_A)
        assert caught.value.kind is ErrorKind.REJECTED


async def test_reference_image_goes_multipart() -> None:
    async with harness(OpenAIFake(), "openai") as h:
        job = await h.provider.submit(request(size=SMALL, reference=REFERENCE), KEY_A)
        fake_job = h.fake.jobs[job.upstream_id]
        assert fake_job.extra["encoding"] == "multipart"
        assert fake_job.extra["reference"] == REFERENCE.data
        assert (fake_job.width, fake_job.height, fake_job.seconds) == (320, 180, 4)


async def test_thumbnail_and_spritesheet() -> None:
    async with harness(OpenAIFake(), "openai") as h:
        done, _ = await h.until_done(await h.provider.submit(request(size=SMALL), KEY_A))
        thumb = await h.download(done, Variant.THUMBNAIL)
        assert thumb[:4] == b"RIFF" and thumb[8:12] == b"WEBP"
        sheet = await h.download(done, Variant.SPRITESHEET)
        assert sheet[:3] == b"\xff\xd8\xff"
        assert {r.query for r in h.fake.requests if r.path.endswith("/content")} == {
            "variant=thumbnail",
            "variant=spritesheet",
        }


async def test_remix() -> None:
    async with harness(OpenAIFake(), "openai") as h:
        source, _ = await h.until_done(await h.provider.submit(request(size=SMALL), KEY_A))
        remix = await h.provider.submit(
            request("the same fox, at night", size=SMALL, remix_of=source.upstream_id), KEY_A
        )
        assert remix.upstream_id != source.upstream_id
        assert h.fake.jobs[remix.upstream_id].extra["remix_of"] == source.upstream_id
        done, _ = await h.until_done(remix)
        assert done.status is UpstreamStatus.COMPLETED
        assert done.extra["remixed_from_video_id"] == source.upstream_id
        assert h.provider.supports_remix and h.provider.native_variants == frozenset(Variant)


async def test_relay_dialect() -> None:
    async with harness(OpenAIFake("relay"), "openai", mode="relay") as h:
        job = await h.provider.submit(request(size=SMALL), KEY_A)
        assert (job.status, job.raw_status) == (UpstreamStatus.QUEUED, "pending")
        done, seen = await h.until_done(job)
        raws = {j.raw_status for j in seen}
        assert {"processing", "succeeded", "unknown"} <= raws
        unknown = next(j for j in seen if j.raw_status == "unknown")
        assert unknown.status is UpstreamStatus.IN_PROGRESS
        assert all(isinstance(j.progress, int) for j in seen)
        assert done.result_url and "/cdn/" in done.result_url


async def test_relay_without_content_endpoint_uses_result_url() -> None:
    async with harness(OpenAIFake("relay", content_endpoint=False), "openai", mode="relay") as h:
        done, _ = await h.until_done(await h.provider.submit(request(size=SMALL), KEY_A))
        assert probe_mp4(await h.download(done))[:2] == (320, 180)
        cdn = [r for r in h.fake.requests if r.path.startswith("/cdn/")]
        assert len(cdn) == 1 and cdn[0].credential is None  # no key to another origin


async def test_result_url_ignored_outside_relay_mode() -> None:
    async with harness(OpenAIFake("relay"), "openai", mode="openai") as h:
        done, _ = await h.until_done(await h.provider.submit(request(size=SMALL), KEY_A))
        assert done.status is UpstreamStatus.COMPLETED  # synonyms apply in every mode
        assert done.result_url is None


async def test_moderation_failure_keeps_upstream_code() -> None:
    async with harness(OpenAIFake(), "openai") as h:
        job = await h.provider.submit(request("something forbidden", size=SMALL), KEY_A)
        done, _ = await h.until_done(job)
        assert done.status is UpstreamStatus.FAILED
        assert done.error_code == "moderation_blocked" and done.error_message


async def test_unknown_status_word_stays_in_progress() -> None:
    async with harness(OpenAIFake(), "openai") as h:
        job = await h.provider.submit(request(size=SMALL), KEY_A)
        h.fake.status_word_next("created", method="GET")
        seen = await h.provider.fetch(job.upstream_id, KEY_A)
        assert (seen.status, seen.raw_status) == (UpstreamStatus.IN_PROGRESS, "created")


async def test_rate_limited_with_retry_after() -> None:
    async with harness(OpenAIFake(), "openai") as h:
        h.fake.rate_limit_next(retry_after=7, method="POST")
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(request(size=SMALL), KEY_A)
        assert caught.value.kind is ErrorKind.RATE_LIMITED
        assert caught.value.retry_after == 7.0
        assert h.fake.jobs == {}


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_unavailable(status: int) -> None:
    async with harness(OpenAIFake(), "openai") as h:
        h.fake.fail_next(status)
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(request(size=SMALL), KEY_A)
        assert caught.value.kind is ErrorKind.UNAVAILABLE and caught.value.accepted_impossible


async def test_refused_connection_is_unavailable() -> None:
    channel = ChannelSpec("c", "dead", "openai", f"http://127.0.0.1:{closed_port()}/v1")
    provider = OpenAIProvider(channel)
    try:
        with pytest.raises(UpstreamError) as caught:
            await provider.submit(request(size=SMALL), KEY_A)
        assert caught.value.kind is ErrorKind.UNAVAILABLE
    finally:
        await provider.aclose()


async def test_timeout_on_create_is_ambiguous_and_the_job_exists() -> None:
    async with harness(OpenAIFake(), "openai", read_timeout=0.2) as h:
        h.fake.slow_next(0.8, method="POST")
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(request(size=SMALL), KEY_A)
        assert caught.value.kind is ErrorKind.AMBIGUOUS and not caught.value.accepted_impossible
        assert len(h.fake.jobs) == 1  # which is exactly why it must not be retried blindly


async def test_timeout_on_poll_is_unavailable() -> None:
    async with harness(OpenAIFake(), "openai", read_timeout=0.2) as h:
        job = await h.provider.submit(request(size=SMALL), KEY_A)
        h.fake.slow_next(0.8, method="GET")
        with pytest.raises(UpstreamError) as caught:
            await h.provider.fetch(job.upstream_id, KEY_A)
        assert caught.value.kind is ErrorKind.UNAVAILABLE


async def test_dropped_connection_on_create_is_ambiguous() -> None:
    async with harness(OpenAIFake(), "openai") as h:
        h.fake.drop_next(method="POST")
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(request(size=SMALL), KEY_A)
        assert caught.value.kind is ErrorKind.AMBIGUOUS
        assert len(h.fake.jobs) == 1 and h.fake.requests[0].status is None


async def test_malformed_json_is_protocol() -> None:
    async with harness(OpenAIFake(), "openai") as h:
        h.fake.malformed_next(method="POST")
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(request(size=SMALL), KEY_A)
        assert caught.value.kind is ErrorKind.PROTOCOL


async def test_bad_key_is_auth() -> None:
    async with harness(OpenAIFake(), "openai") as h:
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(request(size=SMALL), BAD_KEY)
        assert caught.value.kind is ErrorKind.AUTH


async def test_invalid_request_is_rejected_with_message() -> None:
    async with harness(OpenAIFake(), "openai") as h:
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(request(size=SMALL, seconds=5), KEY_A)
        assert caught.value.kind is ErrorKind.REJECTED and "seconds" in caught.value.message


async def test_expired_content_is_not_found() -> None:
    async with harness(OpenAIFake(content_ttl=0.0), "openai") as h:
        done, _ = await h.until_done(await h.provider.submit(request(size=SMALL), KEY_A))
        with pytest.raises(UpstreamError) as caught:
            await h.download(done)
        assert caught.value.kind is ErrorKind.NOT_FOUND


async def test_fake_flags_a_foreign_key() -> None:
    """The fake's own guard: a valid key that did not create the job is a violation."""
    async with harness(OpenAIFake(), "openai") as h:
        job = await h.provider.submit(request(size=SMALL), KEY_A)
        with pytest.raises(UpstreamError) as caught:
            await h.provider.fetch(job.upstream_id, KEY_B)
        assert caught.value.kind is ErrorKind.NOT_FOUND
        assert [(v.creator, v.used) for v in h.fake.wrong_key] == [("sk-test-1", "sk-test-2")]
        h.fake.reset()  # the harness asserts the list is empty on exit


async def test_recover_is_unknowable() -> None:
    async with harness(OpenAIFake(), "openai") as h:
        assert await h.provider.recover("job-1", KEY_A) is None


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="mode"):
        OpenAIProvider(ChannelSpec("c", "c", "openai", "http://x/v1", {"mode": "sora"}))


async def test_faults_over_http_control_endpoint() -> None:
    """Out-of-process users drive the same faults through ``/_faults`` on the fake's port."""
    async with harness(OpenAIFake(), "openai") as h, httpx.AsyncClient() as control:
        fault = {"kind": "status", "status": 503, "method": "POST", "count": 2}
        assert (await control.post(f"{h.server.url}/_faults", json=fault)).status_code == 200
        for _ in range(2):
            with pytest.raises(UpstreamError) as caught:
                await h.provider.submit(request(size=SMALL), KEY_A)
            assert caught.value.kind is ErrorKind.UNAVAILABLE
        await h.provider.submit(request(size=SMALL), KEY_A)
        logged = (await control.get(f"{h.server.url}/_requests")).json()
        assert [r["status"] for r in logged] == [503, 503, 200]
        assert (await control.get(f"{h.server.url}/_violations")).json() == []


async def test_abandoned_download_releases_the_connection() -> None:
    async with harness(OpenAIFake(), "openai") as h:
        done, _ = await h.until_done(await h.provider.submit(request(size="1280x720"), KEY_A))
        stream = h.provider.download(done, Variant.VIDEO, KEY_A)
        assert inspect.isasyncgen(stream)
        first = await anext(stream)
        assert isinstance(first, bytes) and 0 < len(first) < 762_390
        await stream.aclose()
        assert (await h.provider.fetch(done.upstream_id, KEY_A)).status is UpstreamStatus.COMPLETED
