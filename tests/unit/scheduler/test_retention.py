"""Retention covers everything a job stored: media, variants, the reference image and
uploads, on expiry, for failed jobs, and for deletes a crash interrupted. Each test
lists the storage directory itself, not what the code believes is there."""

from __future__ import annotations

from typing import Any

from reelgate.ids import now
from reelgate.jobs.model import Job
from reelgate.jobs.owned import media_prefix, owned_prefixes, reference_key
from reelgate.jobs.states import State
from reelgate.scheduler.housekeeping import Housekeeping
from tests.unit.jobs.support import insert_job
from tests.unit.scheduler.support import Rig

DAY = 86400.0


def _listing(rig: Rig) -> set[str]:
    """Every file under the storage root, a sidecar ``.name.meta.json`` as ``name#meta``."""
    root = rig.settings.data_dir / "media"
    found = set()
    for path in root.rglob("*") if root.exists() else ():
        if path.is_file():
            name = path.name
            if name.startswith(".") and name.endswith(".meta.json"):
                name = name[1:-len(".meta.json")] + "#meta"
            found.add(str(path.with_name(name).relative_to(root)))
    return found


async def _stored_job(rig: Rig, state: State, **values: Any) -> Job:
    """A job row plus real files: video, two variants, an uploaded clip and a reference."""
    job_id = values.pop("id", None) or f"video_{len(_listing(rig))}x{now():.0f}"
    src = rig.settings.data_dir / "blob"
    src.write_bytes(b"\x00" * 64)
    media = {}
    for variant, name in (("video", "video.mp4"), ("thumbnail", "thumbnail.webp"),
                          ("spritesheet", "spritesheet.webp")):
        obj = await rig.storage.put_file(media_prefix(job_id) + name, src, "video/mp4")
        media[variant] = {"key": obj.key, "size": obj.size, "etag": obj.etag,
                          "content_type": obj.content_type}
    await rig.storage.put_file(media_prefix(job_id) + "source.mp4", src, "video/mp4")
    ref = reference_key(job_id, "image/png")
    await rig.storage.put_file(ref, src, "image/png")
    media = values.pop("media", media)
    return await insert_job(rig.db, state, id=job_id, media=media, reference_key=ref,
                            reference_mime="image/png", **values)


def _of(job: Job, listing: set[str]) -> set[str]:
    return {k for k in listing if any(k.startswith(p) for p in owned_prefixes(job))}


def _objects(job: Job) -> set[str]:
    return {media_prefix(job.id) + n for n in ("video.mp4", "thumbnail.webp",
                                               "spritesheet.webp", "source.mp4")} | {
        f"references/{job.id}.png"}


def _kept(rig: Rig, job: Job) -> bool:
    """Everything the job stored is still there."""
    return {k for k in _of(job, _listing(rig)) if "#" not in k} == _objects(job)


async def _sweep(rig: Rig) -> None:
    await Housekeeping(rig.lifecycle, rig.storage, rig.settings).expire_media()


async def test_owned_prefixes_name_every_file_a_job_stored(rig: Rig) -> None:
    job = await _stored_job(rig, State.COMPLETED, id="video_all")
    objects = {"videos/video_all/video.mp4", "videos/video_all/thumbnail.webp",
               "videos/video_all/spritesheet.webp", "videos/video_all/source.mp4",
               "references/video_all.png"}
    assert _of(job, _listing(rig)) == _listing(rig)
    assert {k.removesuffix("#meta") for k in _listing(rig)} == objects


async def test_an_expired_job_loses_its_reference_and_uploads_too(rig: Rig) -> None:
    expired = await _stored_job(rig, State.COMPLETED, id="video_exp", expires_at=now() - 1)
    kept = await _stored_job(rig, State.COMPLETED, id="video_kept", expires_at=now() + DAY)
    await _sweep(rig)
    assert _of(expired, _listing(rig)) == set()
    assert _kept(rig, kept)
    row = await rig.lifecycle.reload(expired.id)
    assert row is not None and row.media == {} and row.reference_key is None
    assert row.state == State.COMPLETED  # the row stays
    await _sweep(rig)  # and is not found again
    assert (await rig.lifecycle.reload(expired.id)).version == row.version  # type: ignore[union-attr]


async def test_a_failed_job_keeps_its_reference_only_for_the_retention(rig: Rig) -> None:
    retention = rig.settings.retention_days * DAY
    old = await _stored_job(rig, State.FAILED, id="video_oldfail",
                            updated_at=now() - retention - 60, media=None)
    young = await _stored_job(rig, State.FAILED, id="video_newfail", media=None)
    await _sweep(rig)
    assert not any(k.startswith("references/video_oldfail") for k in _listing(rig))
    assert "references/video_newfail.png" in _listing(rig)
    row = await rig.lifecycle.reload(old.id)
    assert row is not None and row.reference_key is None
    assert (await rig.lifecycle.reload(young.id)).reference_key  # type: ignore[union-attr]


async def test_a_delete_a_crash_interrupted_is_finished(rig: Rig) -> None:
    crashed = await _stored_job(rig, State.COMPLETED, id="video_crash",
                                deleted_at=now() - 3600, expires_at=now() + DAY)
    recent = await _stored_job(rig, State.COMPLETED, id="video_busy", deleted_at=now(),
                               expires_at=now() + DAY)
    await _sweep(rig)
    assert _of(crashed, _listing(rig)) == set()
    assert _kept(rig, recent)  # its own DELETE is still at it
    row = await rig.lifecycle.reload(crashed.id)
    assert row is not None and row.media == {} and row.reference_key is None


async def test_running_jobs_keep_what_they_need(rig: Rig) -> None:
    old = now() - 400 * DAY
    running = [await _stored_job(rig, state, id=f"video_run{i}", created_at=old,
                                 updated_at=old, media=None)
               for i, state in enumerate((State.QUEUED, State.SUBMITTING, State.IN_PROGRESS,
                                          State.DOWNLOADING))]
    await _sweep(rig)
    for job in running:
        assert _kept(rig, job), job.id


async def test_a_failed_edit_keeps_its_source_clip_only_for_the_retention(rig: Rig) -> None:
    retention = rig.settings.retention_days * DAY
    src = rig.settings.data_dir / "clip"
    src.write_bytes(b"\x00" * 64)
    kept = {}
    for name, updated in (("video_oldedit", now() - retention - 60), ("video_newedit", now())):
        key = media_prefix(name) + "source.mp4"
        await rig.storage.put_file(key, src, "video/mp4")
        kept[name] = await insert_job(rig.db, State.FAILED, id=name, source_key=key,
                                      operation="edit", updated_at=updated)
    await _sweep(rig)
    assert not any(k.startswith("videos/video_oldedit/") for k in _listing(rig))
    assert "videos/video_newedit/source.mp4" in _listing(rig)
    row = await rig.lifecycle.reload("video_oldedit")
    assert row is not None and row.source_key is None
