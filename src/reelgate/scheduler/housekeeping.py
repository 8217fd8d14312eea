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
from reelgate.jobs.service import media_prefix
from reelgate.media.storage import Storage

__all__ = ["Housekeeping"]

log = logging.getLogger(__name__)

_BATCH = 100


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
        async with self.lifecycle.db.read() as conn:
            expired = await repo.media_expired(conn, at=now(), limit=_BATCH)
        for job in expired:
            await self.storage.delete_prefix(media_prefix(job.id))
            await self.lifecycle.expire_media(job)
