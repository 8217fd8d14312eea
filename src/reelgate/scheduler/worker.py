"""The worker: leases due jobs and drives them, plus periodic housekeeping.

Any number of workers may run against one database. Each claims a batch of due jobs
under a lease (``SKIP LOCKED`` on PostgreSQL), advances each concurrently under a
global bound, and releases them with the time they are next due. A worker that dies
simply stops renewing: its leases expire and another worker takes the jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import and_, null, select

from reelgate.config import Settings
from reelgate.ids import now
from reelgate.jobs import repository as repo
from reelgate.jobs.lifecycle import Lifecycle
from reelgate.jobs.model import Job
from reelgate.jobs.service import media_prefix
from reelgate.jobs.states import ACTIVE, State
from reelgate.media.storage import Storage
from reelgate.scheduler.directory import ChannelDirectory
from reelgate.scheduler.driver import Driver
from reelgate.store.tables import jobs

__all__ = ["Worker"]

log = logging.getLogger(__name__)

_HOUSEKEEPING_EVERY = 30.0


class Worker:
    def __init__(self, lifecycle: Lifecycle, directory: ChannelDirectory, storage: Storage,
                 settings: Settings) -> None:
        self.lifecycle = lifecycle
        self.db = lifecycle.db
        self.directory = directory
        self.storage = storage
        self.settings = settings
        self.driver = Driver(lifecycle, directory, storage, settings)
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.worker_concurrency)
        self._inflight: set[asyncio.Task[None]] = set()
        self._last_housekeeping = 0.0

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    async def run(self) -> None:
        log.info("worker %s started", self.settings.worker_id)
        while not self._stop.is_set():
            try:
                claimed = await self.tick()
            except Exception:
                log.exception("worker tick failed")
                claimed = 0
            if claimed == 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=0.5)
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=10)

    async def tick(self) -> int:
        """Claim what is due and start driving it; returns how many jobs were claimed."""
        if now() - self._last_housekeeping > _HOUSEKEEPING_EVERY:
            self._last_housekeeping = now()
            await self.housekeeping()
        free = self.settings.worker_concurrency - len(self._inflight)
        if free <= 0:
            await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
            return 1
        async with self.db.begin() as conn:
            claimed = await repo.claim_due(
                conn, worker_id=self.settings.worker_id,
                limit=min(free, self.settings.worker_batch),
                lease_seconds=self.settings.lease_seconds, skip_locked=not self.db.is_sqlite)
        for job in claimed:
            task = asyncio.create_task(self._drive(job))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        return len(claimed)

    async def _drive(self, job: Job) -> None:
        async with self._slots:
            try:
                await self.driver.step(job)
            except Exception:
                log.exception("step of %s failed; retrying later", job.id)
                latest = await self.lifecycle.reload(job.id)
                if latest is not None and latest.state in ACTIVE:
                    await self.lifecycle.move(latest, None, lease_owner=None, lease_until=None,
                                              next_poll_at=now() + self.settings.poll_max_seconds)

    async def run_until_idle(self, timeout: float = 60.0) -> None:
        """Drive jobs until none is due or in flight (for tests and one-shot tools)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            claimed = await self.tick()
            if claimed == 0 and not self._inflight:
                return
            if self._inflight:
                await asyncio.wait(self._inflight, timeout=0.2)

    async def housekeeping(self) -> None:
        await self._time_out_stuck()
        await self._expire_media()

    async def _time_out_stuck(self) -> None:
        t = now()
        cutoff = t - self.settings.job_timeout_seconds
        async with self.db.read() as conn:
            rows = (await conn.execute(
                select(jobs).where(
                    jobs.c.state.in_([s.value for s in ACTIVE]), jobs.c.created_at < cutoff,
                    (jobs.c.lease_until.is_(None)) | (jobs.c.lease_until < t),
                ).limit(100)
            )).all()
        for row in rows:
            job = Job.from_row(row)
            await self.lifecycle.move(
                job, State.FAILED, error_code="timeout",
                error_message=f"The job did not finish within "
                              f"{self.settings.job_timeout_seconds:.0f} seconds.",
                next_poll_at=None, lease_owner=None, lease_until=None)

    async def _expire_media(self) -> None:
        t = now()
        async with self.db.read() as conn:
            rows = (await conn.execute(
                select(jobs).where(and_(jobs.c.state == State.COMPLETED.value,
                                        jobs.c.expires_at < t, jobs.c.media.is_not(None)))
                .limit(100)
            )).all()
        for row in rows:
            job = Job.from_row(row)
            if not job.media:
                continue
            await self.storage.delete_prefix(media_prefix(job.id))
            await self.lifecycle.move(job, None, event="expired", media=null())
