"""Copying home: the video checked and stored, the upstream's images when they are
images, ours otherwise; nothing left behind when the job went away meanwhile."""

from __future__ import annotations

import io

from PIL import Image

from reelgate.ids import now
from reelgate.jobs.model import Job
from reelgate.jobs.service import media_prefix
from reelgate.jobs.states import State
from reelgate.providers.base import ErrorKind, UpstreamError, Variant
from tests.unit.scheduler.support import Rig, mp4


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 10, 10)).save(buf, format="PNG")
    return buf.getvalue()


async def _downloading(rig: Rig, **values: object) -> Job:
    cid, [key] = await rig.add_channel("a")
    return await rig.job(State.DOWNLOADING, channel_id=cid, credential_id=key,
                         upstream_id="up_1", size="160x96", started_at=now(),
                         result_url="https://cdn.invalid/r.mp4", rendered_seconds=1.0,
                         **values)


async def _stored(rig: Rig, job: Job) -> list[str]:
    root = rig.storage.root / media_prefix(job.id)
    return sorted(p.name for p in root.glob("*")) if root.exists() else []


async def test_a_dropped_copy_resumes_from_what_the_row_recorded(rig: Rig) -> None:
    job = await _downloading(rig)
    data = mp4()
    rig.fake("a").files = {Variant.VIDEO: data}
    after = await rig.step(job)
    assert after.state == State.COMPLETED and after.lease_owner is None
    assert after.expires_at is not None and after.expires_at > now() + 29 * 86400
    [(up, _)] = [c for c in rig.fake("a").called("download") if c[1] == Variant.VIDEO]
    assert (up.upstream_id, up.result_url, up.seconds) == ("up_1", "https://cdn.invalid/r.mp4",
                                                           1.0)
    video = after.media["video"]
    assert video.content_type == "video/mp4" and video.size == len(data)
    assert after.media["thumbnail"].content_type == "image/webp"


async def test_native_images_are_kept_only_when_they_are_images(rig: Rig) -> None:
    job = await _downloading(rig)
    fake = rig.fake("a")
    fake.native_variants = frozenset({Variant.THUMBNAIL, Variant.SPRITESHEET})
    fake.files = {Variant.VIDEO: mp4(), Variant.THUMBNAIL: _png(),
                  Variant.SPRITESHEET: b"<html>not an image</html>"}
    after = await rig.step(job)
    assert after.media["thumbnail"].content_type == "image/png"  # the upstream's own
    assert after.media["spritesheet"].content_type == "image/webp"  # derived instead
    assert (rig.storage.root / after.media["thumbnail"].key).read_bytes() == _png()


async def test_an_expired_upstream_file_fails_the_job(rig: Rig) -> None:
    job = await _downloading(rig)
    fake = rig.fake("a")
    fake.files = {Variant.VIDEO: UpstreamError(ErrorKind.NOT_FOUND, "gone")}
    after = await rig.step(job)
    assert (after.state, after.error_code) == (State.FAILED, "upstream_content_expired")


async def test_a_flaky_download_is_retried_later(rig: Rig) -> None:
    job = await _downloading(rig)
    rig.fake("a").files = {Variant.VIDEO: UpstreamError(ErrorKind.UNAVAILABLE, "reset")}
    after = await rig.step(job)
    assert after.state == State.DOWNLOADING and after.lease_owner is None
    assert after.poll_count == 1 and after.next_poll_at is not None


async def test_bytes_that_are_not_a_video_fail_the_job(rig: Rig) -> None:
    job = await _downloading(rig)
    rig.fake("a").files = {Variant.VIDEO: b"\x00" * 5000}
    after = await rig.step(job)
    assert (after.state, after.error_code) == (State.FAILED, "invalid_upstream_media")
    assert await _stored(rig, job) == []


async def test_a_job_deleted_during_the_copy_leaves_no_files(rig: Rig) -> None:
    job = await _downloading(rig)
    rig.fake("a").files = {Variant.VIDEO: mp4()}
    original = rig.storage.put_file

    async def delete_then_put(key: str, path: object, content_type: str) -> object:
        latest = await rig.lifecycle.reload(job.id)
        if latest is not None and latest.deleted_at is None:
            await rig.lifecycle.delete(latest)
        return await original(key, path, content_type)  # type: ignore[arg-type]

    rig.storage.put_file = delete_then_put  # type: ignore[method-assign]
    after = await rig.step(job)
    assert after.deleted_at is not None and after.error_code == "cancelled"
    assert await _stored(rig, job) == []
