"""Housekeeping: stuck jobs time out (leased ones are left to their worker) and
expired media are deleted while the row stays."""

from __future__ import annotations

from pathlib import Path

from reelgate.ids import now
from reelgate.jobs.service import media_prefix
from reelgate.jobs.states import State
from reelgate.scheduler.housekeeping import Housekeeping
from tests.unit.jobs.support import insert_job
from tests.unit.scheduler.support import Rig


async def test_old_unleased_jobs_time_out_and_leased_or_young_ones_do_not(rig: Rig) -> None:
    old = now() - rig.settings.job_timeout_seconds - 60
    stuck = await insert_job(rig.db, State.IN_PROGRESS, created_at=old)
    held = await insert_job(rig.db, State.IN_PROGRESS, created_at=old, lease_owner="w2",
                            lease_until=now() + 60)
    young = await insert_job(rig.db, State.QUEUED)
    await Housekeeping(rig.lifecycle, rig.storage, rig.settings).time_out_stuck()
    after = [await rig.lifecycle.reload(j.id) for j in (stuck, held, young)]
    assert [(j.state, j.error_code) for j in after if j is not None] == [
        (State.FAILED, "timeout"), (State.IN_PROGRESS, None), (State.QUEUED, None)]


async def test_expired_media_are_deleted_and_the_row_stays(rig: Rig) -> None:
    key = media_prefix("video_old") + "video.mp4"
    obj = await rig.storage.put_file(key, _file(rig), "video/mp4")
    media = {"video": {"key": obj.key, "size": obj.size, "etag": obj.etag,
                       "content_type": obj.content_type}}
    expired = await insert_job(rig.db, State.COMPLETED, id="video_old", media=media,
                               expires_at=now() - 1)
    kept = await insert_job(rig.db, State.COMPLETED, media=media, expires_at=now() + 3600)
    await Housekeeping(rig.lifecycle, rig.storage, rig.settings).expire_media()
    gone, still = await rig.lifecycle.reload(expired.id), await rig.lifecycle.reload(kept.id)
    assert gone is not None and gone.media == {} and gone.state == State.COMPLETED
    assert still is not None and still.media
    assert await rig.storage.stat(key) is None


def _file(rig: Rig) -> Path:
    path = rig.settings.data_dir / "clip.mp4"
    path.write_bytes(b"\x00" * 100)
    return path
