"""KlingProvider against the fake Kling API, which verifies every JWT it is sent."""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

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
from reelgate.providers.kling.auth import authorization, hs256
from reelgate.providers.kling.errors import from_body
from reelgate.providers.kling.provider import KlingProvider, kling_shape, rendered_size
from tests.fakes import KlingFake
from tests.fakes.kling_fake import RISK_MESSAGE, verify_jwt

from .support import closed_port, harness, probe_mp4
from .support import request as generic_request

KEY_A = Credential("cred-a", "ak-test-1:sk-secret-1")
KEY_B = Credential("cred-b", "ak-test-2:sk-secret-2")
PLAIN = Credential("cred-p", "kling-plain-api-key")
KEYS = (KEY_A.secret, KEY_B.secret, PLAIN.secret)


def request(prompt: str = "a red fox in the snow", **fields: Any) -> SubmitRequest:
    """A request Kling accepts: a real model name and one of its durations."""
    fields.setdefault("model", "kling-v2-5-turbo")
    fields.setdefault("seconds", 5)
    return generic_request(prompt, **fields)


def fake(**options: object) -> KlingFake:
    return KlingFake(keys=KEYS, **options)  # type: ignore[arg-type]


def png(width: int, height: int) -> ReferenceImage:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (40, 90, 160)).save(out, format="PNG")
    return ReferenceImage(out.getvalue(), "image/png", width, height)


def _claims(header_value: str) -> tuple[dict[str, object], dict[str, object]]:
    head, body, _ = header_value.removeprefix("Bearer ").split(".")
    pad = lambda part: base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))  # noqa: E731
    return json.loads(pad(head)), json.loads(pad(body))


# --- the token ---------------------------------------------------------------------------


def test_hs256_matches_rfc7515_appendix_a1() -> None:
    signing_input = (b"eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOj"
                     b"EzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ")
    key = base64.urlsafe_b64decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3"
                                   "Yj0iPS4hcgUuTwjAzZr1Z9CAow==")
    assert hs256(signing_input, key) == "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"


def test_token_claims_and_lifetime() -> None:
    header = authorization(KEY_A.secret, clock=lambda: 1_000_000.7)["Authorization"]
    jose, claims = _claims(header)
    assert jose == {"alg": "HS256", "typ": "JWT"}
    assert claims == {"iss": "ak-test-1", "exp": 1_001_800, "nbf": 999_995}
    token = header.removeprefix("Bearer ")
    secrets = {"ak-test-1": "sk-secret-1"}
    assert verify_jwt(token, secrets, 1_000_000) == ("ak-test-1", 0)
    assert verify_jwt(token, secrets, 1_001_800) == ("ak-test-1", 1004)  # 30 min later
    assert verify_jwt(token, secrets, 999_990) == ("ak-test-1", 1003)  # before nbf
    assert verify_jwt(token, {"ak-test-1": "other"}, 1_000_000) == ("ak-test-1", 1002)
    assert authorization(PLAIN.secret) == {"Authorization": "Bearer kling-plain-api-key"}


# --- happy paths -------------------------------------------------------------------------


async def test_text_to_video_end_to_end() -> None:
    async with harness(fake(), "kling") as h:
        job = await h.provider.submit(request(model="kling-v2-5-turbo"), KEY_A)
        kind, _, task_id = job.upstream_id.partition(":")
        assert kind == "text2video" and task_id.isdigit()
        assert (job.status, job.seconds, job.size) == (UpstreamStatus.QUEUED, 5.0, "1280x720")
        upstream = h.fake.jobs[task_id]
        assert upstream.extra == {"kind": "text2video", "external_task_id": "job-1",
                                  "mode": "std", "ratio": "16:9", "reference": None}
        assert upstream.model == "kling-v2-5-turbo" and upstream.seconds == 5
        done, seen = await h.until_done(job, KEY_A)
        assert {j.raw_status for j in seen} <= {"submitted", "processing", "succeed"}
        assert done.status is UpstreamStatus.COMPLETED and done.upstream_id == job.upstream_id
        assert done.seconds == 5.0 and done.extra["final_unit_deduction"] == "1.5"
        assert probe_mp4(await h.download(done, credential=KEY_A)) == (1280, 720, 5.0)
        for r in h.fake.requests:  # every API call carried a JWT that verified
            assert r.credential == (None if r.path.startswith("/cdn/") else KEY_A.secret), r


async def test_image_to_video_polls_the_image_kind() -> None:
    image = png(720, 1280)
    async with harness(fake(), "kling") as h:
        job = await h.provider.submit(request(size="720x1280", seconds=5, reference=image),
                                      KEY_A)
        kind, _, task_id = job.upstream_id.partition(":")
        assert kind == "image2video"
        upstream = h.fake.jobs[task_id]
        assert upstream.extra["reference"] == image.data and upstream.extra["ratio"] == "9:16"
        done, _ = await h.until_done(job, KEY_A)
        assert probe_mp4(await h.download(done, credential=KEY_A)) == (720, 1280, 5.0)
        polls = [r.path for r in h.fake.requests if r.path.startswith("/v1/") and r.method == "GET"]
        assert polls and all(p == f"/v1/videos/image2video/{task_id}" for p in polls)
        with pytest.raises(UpstreamError) as caught:  # the text kind does not know it
            await h.provider.fetch(f"text2video:{task_id}", KEY_A)
        assert caught.value.kind is ErrorKind.NOT_FOUND


@pytest.mark.parametrize(("model", "size", "seconds", "mode"), [
    ("kling-v2-6", "1920x1080", 10, "pro"),
    ("kling-v3", "3840x2160", 3, "4k"),
    ("kling-v3", "720x1280", 15, "std"),
])
async def test_mode_and_duration_reach_kling(model: str, size: str, seconds: int,
                                             mode: str) -> None:
    async with harness(fake(), "kling", complete_after=30.0) as h:
        job = await h.provider.submit(request(model=model, size=size, seconds=seconds), KEY_A)
        upstream = h.fake.jobs[job.upstream_id.partition(":")[2]]
        assert (upstream.extra["mode"], upstream.seconds) == (mode, seconds)
        assert f"{upstream.width}x{upstream.height}" == size == job.size


async def test_plain_api_key_and_v1_suffixed_base_url() -> None:
    async with harness(fake(), "kling") as h:
        other = KlingProvider(ChannelSpec("ch-2", "v1-suffixed", "kling",
                                          h.server.url + "/v1"))
        try:
            job = await other.submit(request(), PLAIN)
            await other.check(PLAIN)
            assert (await other.fetch(job.upstream_id, PLAIN)).status is UpstreamStatus.QUEUED
        finally:
            await other.aclose()
        assert {r.credential for r in h.fake.requests} == {PLAIN.secret}


async def test_recover_finds_a_task_by_our_job_id() -> None:
    async with harness(fake(), "kling", complete_after=30.0) as h:
        text = await h.provider.submit(request(), KEY_A)
        image = await h.provider.submit(
            SubmitRequest("job-2", "kling-v1", "an image", "1280x720", 5, png(1280, 720)), KEY_A)
        found = await h.provider.recover("job-1", KEY_A)
        assert found is not None and found.upstream_id == text.upstream_id
        found = await h.provider.recover("job-2", KEY_A)
        assert found is not None and found.upstream_id == image.upstream_id
        assert await h.provider.recover("job-never-sent", KEY_A) is None


# --- refusals ------------------------------------------------------------------------------


def _at(offset: float) -> Callable[[], float]:
    return lambda: time.time() + offset


@pytest.mark.parametrize(("secret", "clock", "kling_code"), [
    ("ak-test-1:wrong-secret", time.time, "1002"),
    ("ak-unknown:sk-secret-1", time.time, "1000"),
    (KEY_A.secret, _at(-3600), "1004"),  # signed an hour ago: expired 30 min ago
    (KEY_A.secret, _at(60), "1003"),  # nbf a minute ahead: not valid yet
    ("not-a-kling-key", time.time, "1000"),
])
async def test_the_fake_refuses_bad_tokens(secret: str, clock: Callable[[], float],
                                           kling_code: str) -> None:
    async with harness(fake(), "kling") as h:
        provider = KlingProvider(h.channel, clock=clock)
        try:
            for call in (provider.submit(request(), Credential("c", secret)),
                         provider.check(Credential("c", secret))):
                with pytest.raises(UpstreamError) as caught:
                    await call
                error = caught.value
                assert (error.kind, error.status_code) == (ErrorKind.AUTH, 401)
                assert error.code == "upstream_auth_failed"
                assert f"Kling {kling_code}" in error.message
                assert error.accepted_impossible
        finally:
            await provider.aclose()
        assert h.fake.jobs == {}


async def test_moderation_at_create_and_in_the_task() -> None:
    async with harness(fake(), "kling") as h:
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(request("nsfw-input please"), KEY_A)
        assert caught.value.kind is ErrorKind.REJECTED
        assert caught.value.code == "moderation_blocked" and "1301" in caught.value.message
        forbidden = await h.provider.submit(request("forbidden"), KEY_A)
        done, _ = await h.until_done(forbidden, KEY_A)
        assert (done.status, done.error_code) == (UpstreamStatus.FAILED, "moderation_blocked")
        assert done.error_message == RISK_MESSAGE
        exploding = SubmitRequest("job-3", "kling-v1", "explode", "1280x720", 5)
        failed, _ = await h.until_done(await h.provider.submit(exploding, KEY_A), KEY_A)
        assert (failed.status, failed.error_code) == (UpstreamStatus.FAILED, "generation_failed")


async def test_depleted_balance_fails_over_to_another_key() -> None:
    async with harness(fake(), "kling") as h:
        h.fake.broke.add(KEY_A.secret)
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(request(), KEY_A)
        error = caught.value
        assert (error.kind, error.status_code) == (ErrorKind.AUTH, 429)
        assert error.code == "upstream_insufficient_balance" and error.accepted_impossible
        job = await h.provider.submit(request(), KEY_B)
        assert h.fake.jobs[job.upstream_id.partition(":")[2]].creator == KEY_B.secret


def test_error_codes_under_a_200() -> None:
    assert from_body(1102, "pack used up", status=200).kind is ErrorKind.AUTH
    assert from_body(1303, "parallel task over limit", status=200).kind is ErrorKind.RATE_LIMITED
    assert from_body(1201, "bad duration", status=200).code == "upstream_invalid_request"
    assert from_body(4242, "?", status=200).kind is ErrorKind.PROTOCOL


@pytest.mark.parametrize(("word", "status"), [
    ("mystery", UpstreamStatus.IN_PROGRESS),
    ("submitted", UpstreamStatus.QUEUED),
    ("processing", UpstreamStatus.IN_PROGRESS),
    ("failed", UpstreamStatus.FAILED),
])
async def test_status_words(word: str, status: UpstreamStatus) -> None:
    async with harness(fake(), "kling") as h:
        job = await h.provider.submit(request(), KEY_A)
        h.fake.status_word_next(word, method="GET")
        seen = await h.provider.fetch(job.upstream_id, KEY_A)
        assert (seen.status, seen.raw_status) == (status, word)


@pytest.mark.parametrize(("inject", "kind"), [
    ("rate", ErrorKind.RATE_LIMITED),
    ("502", ErrorKind.UNAVAILABLE),
    ("504", ErrorKind.AMBIGUOUS),  # Kling 5002, its own internal timeout
    ("drop", ErrorKind.AMBIGUOUS),
    ("slow", ErrorKind.AMBIGUOUS),
    ("malformed", ErrorKind.PROTOCOL),
])
async def test_submit_failures(inject: str, kind: ErrorKind) -> None:
    async with harness(fake(), "kling", read_timeout=0.2) as h:
        injections: dict[str, Callable[[], object]] = {
            "rate": lambda: h.fake.rate_limit_next(retry_after=1),
            "502": lambda: h.fake.fail_next(502),
            "504": lambda: h.fake.fail_next(504),
            "drop": lambda: h.fake.drop_next(),
            "slow": lambda: h.fake.slow_next(0.6),
            "malformed": lambda: h.fake.malformed_next(),
        }
        injections[inject]()
        with pytest.raises(UpstreamError) as caught:
            await h.provider.submit(request(), KEY_A)
        assert caught.value.kind is kind
        if inject == "rate":
            assert caught.value.retry_after == 1.0


async def test_wrong_base_url_and_unreachable_host() -> None:
    async with harness(fake(), "kling") as h:
        await h.provider.check(KEY_A)
        moved = KlingProvider(ChannelSpec("c", "c", "kling", h.server.url + "/api"))
        down = KlingProvider(ChannelSpec("c", "c", "kling", f"http://127.0.0.1:{closed_port()}"))
        try:
            with pytest.raises(UpstreamError) as caught:
                await moved.check(KEY_A)
            assert caught.value.kind is ErrorKind.NOT_FOUND
            with pytest.raises(UpstreamError) as caught:
                await down.check(KEY_A)
            assert (caught.value.kind, caught.value.status_code) == (ErrorKind.UNAVAILABLE, None)
        finally:
            await moved.aclose()
            await down.aclose()


async def test_expired_video_url_is_not_found() -> None:
    async with harness(fake(content_ttl=0.0), "kling") as h:
        done, _ = await h.until_done(await h.provider.submit(request(), KEY_A), KEY_A)
        with pytest.raises(UpstreamError) as caught:
            await h.download(done, credential=KEY_A)
        assert caught.value.kind is ErrorKind.NOT_FOUND  # the CDN's 403, not our key


async def test_foreign_key_delete_and_capabilities() -> None:
    async with harness(fake(), "kling") as h:
        job = await h.provider.submit(request(), KEY_A)
        with pytest.raises(UpstreamError) as caught:
            await h.provider.fetch(job.upstream_id, KEY_B)
        assert caught.value.kind is ErrorKind.NOT_FOUND
        assert [v.used for v in h.fake.wrong_key] == [KEY_B.secret]
        h.fake.reset()
        before = len(h.fake.requests)
        await h.provider.delete(job.upstream_id, KEY_A)  # Kling has no cancel: no call
        assert len(h.fake.requests) == before
        assert h.provider.native_variants == frozenset({Variant.VIDEO})
        assert not h.provider.supports_remix
        with pytest.raises(UpstreamError):
            await h.provider.submit(request(remix_of="text2video:1"), KEY_A)


@pytest.mark.parametrize(("size", "ratio", "mode", "rendered"), [
    ("1280x720", "16:9", "std", "1280x720"),
    ("720x1280", "9:16", "std", "720x1280"),
    ("1920x1080", "16:9", "pro", "1920x1080"),
    ("1080x1920", "9:16", "pro", "1080x1920"),
    ("3840x2160", "16:9", "4k", "3840x2160"),
    ("1024x1024", "1:1", "pro", None),
])
def test_size_mapping(size: str, ratio: str, mode: str, rendered: str | None) -> None:
    width, height = (int(v) for v in size.split("x"))
    assert kling_shape(width, height) == (ratio, mode)
    assert rendered_size(ratio, mode) == rendered
