"""Housekeeping a worker does now and then: time out stuck jobs, expire old media.

Both go through the job's named transitions, so a timed-out job is refunded like any
failure and a job that finishes at the same moment is not touched (compare-and-swap).
Any number of workers may do it at once.
"""

from __future__ import annotations

import logging

from reelgate.config import Settings
from reelgate.ids import now
from reelgate.jobs import repository as repo
from reelgate.jobs.lifecycle import Lifecycle
from reelgate.jobs.owned import delete_owned
from reelgate.media.storage import Storage

__all__ = ["Housekeeping"]

log = logging.getLogger(__name__)

_BATCH = 100
#: a client's DELETE removes its storage itself; housekeeping only finishes one that
#: a crash stopped, so it leaves recent ones to the request still doing it
_DELETE_GRACE_SECONDS = 60.0


class Housekeeping:
    def __init__(self, lifecycle: Lifecycle, storage: Storage, settings: Settings) -> None:
        self.lifecycle = lifecycle
        self.storage = storage
        self.settings = settings

    async def run(self) -> None:
        try:
            await self.time_out_stuck()
            await self.expire_media()
        except Exception:
            log.exception("housekeeping failed")

    async def time_out_stuck(self) -> None:
        """Fail jobs older than ``job_timeout_seconds`` with code ``timeout``; leased
        jobs are left to their worker (its lease runs out if it died)."""
        t = now()
        limit = self.settings.job_timeout_seconds
        async with self.lifecycle.db.read() as conn:
            stuck = await repo.unleased_active(conn, created_before=t - limit, at=t,
                                               limit=_BATCH)
        for job in stuck:
            moved = await self.lifecycle.fail(
                job, "timeout", f"The job did not finish within {limit:.0f} seconds.")
            if moved is not None:
                log.warning("job %s timed out in state %s", job.id, job.state.value)

    async def expire_media(self) -> None:
        """Everything a job stored goes when its retention ends: a completed job's at
        ``expires_at``, a failed one's reference ``retention_days`` after it failed; and
        a delete a crash interrupted is finished (after a minute's grace)."""
        t = now()
        async with self.lifecycle.db.read() as conn:
            expired = await repo.media_expired(
                conn, at=t, limit=_BATCH,
                failed_before=t - self.settings.retention_days * 86400,
                deleted_before=t - _DELETE_GRACE_SECONDS)
        for job in expired:
            await delete_owned(self.storage, job)
            if job.deleted_at is not None:
                await self.lifecycle.storage_deleted(job)
            else:
                await self.lifecycle.expire_media(job)
