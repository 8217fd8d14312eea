"""The openai provider's ``omni`` mode against a fake vLLM-Omni server."""

from __future__ import annotations

import pytest

from reelgate.providers.base import ErrorKind, UpstreamError, UpstreamStatus, Variant
from reelgate.providers.omni import omni_fields
from reelgate.providers.openai import OpenAIProvider
from tests.fakes.omni_fake import OmniFake

from .support import BAD_KEY, KEY_A, REFERENCE, harness, probe_mp4, request


async def test_extension_fields_from_size_and_seconds() -> None:
    async with harness(OmniFake(), "openai", mode="omni", fps=16,
                       num_inference_steps=30) as h:
        job = await h.provider.submit(request(size="832x480", seconds=5,
                                              model="Wan-AI/Wan2.2-T2V-A14B-Diffusers"), KEY_A)
        assert job.upstream_id.startswith("video_gen_") and job.status is UpstreamStatus.QUEUED
        form = h.fake.jobs[job.upstream_id].extra["form"]
        assert form == {"model": "Wan-AI/Wan2.2-T2V-A14B-Diffusers",
                        "prompt": "a red fox in the snow", "seconds": "5", "size": "832x480",
                        "width": "832", "height": "480", "fps": "16", "num_frames": "80",
                        "num_inference_steps": "30"}
        done, _ = await h.until_done(job)
        assert done.status is UpstreamStatus.COMPLETED
        assert (done.seconds, done.size) == (5.0, "832x480")
        assert done.render_seconds > 0  # inference_time_s: the GPU time
        assert probe_mp4(await h.download(done)) == (832, 480, 5.0)


async def test_always_multipart_and_the_reference_as_input_reference() -> None:
    async with harness(OmniFake(), "openai", mode="omni") as h:
        job = await h.provider.submit(request(reference=REFERENCE), KEY_A)
        fake_job = h.fake.jobs[job.upstream_id]
        assert fake_job.extra["reference"] == REFERENCE.data
        assert fake_job.extra["form"]["fps"] == "24"  # vLLM-Omni's default when unset
        assert fake_job.extra["form"]["num_frames"] == "96"
        assert "num_inference_steps" not in fake_job.extra["form"]


async def test_video_only_no_remix_and_failures() -> None:
    async with harness(OmniFake(), "openai", mode="omni") as h:
        assert isinstance(h.provider, OpenAIProvider)
        assert h.provider.native_variants == frozenset({Variant.VIDEO})
        assert not h.provider.supports_remix
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(request(remix_of="video_gen_x"), KEY_A)
        assert caught.value.kind is ErrorKind.REJECTED and h.fake.requests == []
        done, _ = await h.until_done(await h.provider.submit(request("explode"), KEY_A))
        assert done.status is UpstreamStatus.FAILED and "CUDA" in (done.error_message or "")
        await h.provider.check(KEY_A)
        with pytest.raises(UpstreamError) as caught:
            await h.provider.check(BAD_KEY)
        assert caught.value.kind is ErrorKind.AUTH


def test_frames_are_seconds_times_fps() -> None:
    fields = omni_fields(request(size="1280x704", seconds=2), {"fps": 24})
    assert (fields["width"], fields["height"], fields["num_frames"]) == ("1280", "704", "48")
