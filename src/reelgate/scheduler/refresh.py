"""Inline refresh: a client's GET of a job whose last poll is stale polls it now.

Workers normally keep jobs fresh, but with backoff (up to 30 s) or overloaded or
absent workers a client could read an old status. When the last poll is older than
``stale_refresh_seconds``, the GET takes the job's lease itself (so no worker, and
no other API process, polls it at the same time), runs one ordinary driver step and
answers with the result, waiting at most ``refresh_timeout_seconds``; a slow step
carries on in the background and the client gets the stored state.

Concurrent GETs of one job in one process share one refresh (a per-job lock, then a
second look at the row); across processes the lease decides who polls.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from reelgate.config import Settings
from reelgate.ids import now
from reelgate.jobs import repository as repo
from reelgate.jobs.model import Job
from reelgate.jobs.states import State
from reelgate.scheduler.worker import Worker

__all__ = ["Refresher"]

log = logging.getLogger(__name__)

#: the local renderer's progress lives in the process that renders; polling it from
#: an API process would start a second render there
_NOT_REFRESHED = frozenset({"local"})


class Refresher:
    def __init__(self, worker: Worker, settings: Settings) -> None:
        self.worker = worker
        self.db = worker.db
        self.settings = settings
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary())

    def is_stale(self, job: Job, at: float | None = None) -> bool:
        if job.state != State.IN_PROGRESS or job.deleted_at is not None:
            return False
        t = at if at is not None else now()
        if job.lease_until is not None and job.lease_until >= t:
            return False  # someone is driving it right now
        last = job.last_polled_at or job.started_at or job.created_at
        return t - last > self.settings.stale_refresh_seconds

    async def refresh(self, job: Job) -> Job:
        """The job, polled now if it was stale; never raises, never waits unbounded."""
        if self.settings.stale_refresh_seconds <= 0 or not self.is_stale(job):
            return job
        try:
            async with asyncio.timeout(self.settings.refresh_timeout_seconds):
                return await self._refresh(job)
        except TimeoutError:
            pass
        except Exception:
            log.exception("inline refresh of %s failed", job.id)
        return await self._latest(job)

    async def _refresh(self, job: Job) -> Job:
        lock = self._locks.get(job.id)
        if lock is None:
            lock = self._locks[job.id] = asyncio.Lock()
        async with lock:
            latest = await self._latest(job)
            if not self.is_stale(latest):
                return latest  # refreshed by whoever held the lock before us
            channel = await self.worker.directory.channel(latest.channel_id or "")
            if channel is None or channel.provider in _NOT_REFRESHED:
                return latest
            async with self.db.begin() as conn:
                claimed = await repo.claim_stale(
                    conn, latest.id, worker_id=self.settings.worker_id,
                    lease_seconds=self.settings.lease_seconds,
                    polled_before=now() - self.settings.stale_refresh_seconds)
            if claimed is None:
                return latest  # a worker or another API process holds it
            # shielded: a client that stops waiting must not cancel a half-done step
            await asyncio.shield(self.worker.start(claimed))
            return await self._latest(claimed)

    async def _latest(self, job: Job) -> Job:
        return await self.worker.lifecycle.reload(job.id) or job
