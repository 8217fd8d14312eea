"""What a submit of an edit or extension sends: the job's own copy of its source clip
(from its storage, whatever happened to the source job), the source's upstream id while
that job still exists on the same channel, and an extension's new segment as seconds."""

from __future__ import annotations

from typing import Any

from reelgate.catalog import Operation
from reelgate.ids import now
from reelgate.jobs.origin import source_key
from reelgate.jobs.states import State
from reelgate.providers.base import ErrorKind, SubmitRequest
from tests.unit.jobs.support import insert_job
from tests.unit.scheduler.support import Rig, mp4, refused, running

CLIP = mp4()


async def _derived(rig: Rig, cid: str, key: str, **values: Any) -> Any:
    source = await insert_job(rig.db, State.COMPLETED, channel_id=cid, credential_id=key,
                              upstream_id="up_source")
    job_id = f"video_derived{now():.6f}".replace(".", "")
    path = rig.settings.data_dir / "clip.mp4"
    path.write_bytes(CLIP)
    await rig.storage.put_file(source_key(job_id), path, "video/mp4")
    job = await rig.job(id=job_id, source_id=source.id, source_key=source_key(job_id),
                        channel_id=cid, credential_id=key, **values)
    return source, job


def _sent(rig: Rig, name: str) -> tuple[SubmitRequest, bytes]:
    [(request, _)] = rig.fake(name).called("submit")
    return request, rig.sent_clip  # type: ignore[attr-defined]


def _capture(rig: Rig, name: str) -> None:
    """Keep the clip's bytes as the provider sees them (the scratch file goes after)."""
    fake = rig.fake(name)

    async def read() -> None:
        request, _ = fake.calls[-1][1]
        rig.sent_clip = request.source.path.read_bytes()  # type: ignore[attr-defined]

    fake.during_submit = read


async def test_an_edit_by_id_sends_the_source_id_and_its_own_copy(rig: Rig) -> None:
    cid, [key] = await rig.add_channel("a")
    _, job = await _derived(rig, cid, key, operation="edit")
    rig.fake("a").submits = [running("up_edit")]
    _capture(rig, "a")
    after = await rig.step(job)
    assert after.state == State.IN_PROGRESS and after.channel_id == cid
    request, clip = _sent(rig, "a")
    assert request.operation is Operation.EDIT and request.source is not None
    assert request.source.upstream_id == "up_source" and clip == CLIP
    assert not request.source.path.exists()  # the scratch copy is gone after the submit
    assert request.seconds == 4


async def test_a_deleted_source_leaves_the_copy_and_no_id(rig: Rig) -> None:
    cid, [key] = await rig.add_channel("a")
    source, job = await _derived(rig, cid, key, operation="extend", seconds=12,
                                 segment_seconds=8, extensions=1)
    await rig.lifecycle.delete(source)
    rig.fake("a").submits = [running("up_ext")]
    _capture(rig, "a")
    await rig.step(job)
    request, clip = _sent(rig, "a")
    assert request.operation is Operation.EXTEND and request.seconds == 8  # the segment
    assert request.source is not None and request.source.upstream_id is None
    assert request.source.seconds == 4.0 and clip == CLIP


async def test_a_missing_copy_fails_the_job_without_a_submit(rig: Rig) -> None:
    cid, [key] = await rig.add_channel("a")
    _, job = await _derived(rig, cid, key, operation="edit")
    await rig.storage.delete_prefix(source_key(job.id))
    after = await rig.step(job)
    assert after.state == State.FAILED and after.error_code == "input_missing"
    assert rig.fake("a").called("submit") == []


async def test_a_pinned_job_refused_for_now_stays_on_its_channel(rig: Rig) -> None:
    cid, [key] = await rig.add_channel("a")
    await rig.add_channel("b", priority=10)
    _, job = await _derived(rig, cid, key, operation="edit")
    rig.fake("a").submits = [refused(ErrorKind.RATE_LIMITED, 429, retry_after=5.0)]
    after = await rig.step(job)
    assert after.state == State.QUEUED and (after.channel_id, after.credential_id) == (cid, key)
    assert rig.fake("b").calls == []
