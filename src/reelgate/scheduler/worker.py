"""The worker: leases due jobs in bulk and drives them concurrently, plus housekeeping.

Any number of workers may run against one database, on any number of machines. Each
claims a batch of due jobs with one statement (``SKIP LOCKED`` on PostgreSQL, so
claimers never wait on each other), drives them concurrently under a global bound
and, per channel, under ``max_concurrent`` and ``requests_per_second``, and keeps
its leases alive while it works. A worker that dies stops renewing: its leases run
out and another worker takes the jobs over. Every change a step makes is a
compare-and-swap on the version its claim produced, so a worker that comes back
after losing its lease cannot overwrite its successor's work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from reelgate.config import Settings
from reelgate.ids import now
from reelgate.jobs import repository as repo
from reelgate.jobs.lifecycle import Lifecycle
from reelgate.jobs.model import Job
from reelgate.jobs.states import ACTIVE
from reelgate.media.storage import Storage
from reelgate.routing.channels import Channel
from reelgate.scheduler.directory import ChannelDirectory
from reelgate.scheduler.driver import Driver
from reelgate.scheduler.gate import ChannelGate
from reelgate.scheduler.housekeeping import Housekeeping
from reelgate.scheduler.loop import TickLoop
from reelgate.scheduler.observe import UpstreamObserver

__all__ = ["Worker"]

log = logging.getLogger(__name__)


class Worker(TickLoop):
    def __init__(self, lifecycle: Lifecycle, directory: ChannelDirectory, storage: Storage,
                 settings: Settings, *, observer: UpstreamObserver | None = None) -> None:
        super().__init__(settings.idle_seconds)
        self.name = f"worker {settings.worker_id}"
        self.lifecycle = lifecycle
        self.db = lifecycle.db
        self.directory = directory
        self.storage = storage
        self.settings = settings
        self.driver = Driver(lifecycle, directory, storage, settings, observer=observer)
        self.gate = ChannelGate()
        self.housekeeping = Housekeeping(lifecycle, storage, settings)
        self._slots = asyncio.Semaphore(settings.worker_concurrency)
        #: ids of the jobs this worker is driving, whose leases it keeps alive
        self._held: set[str] = set()
        self._last_housekeeping = 0.0
        self._renewer: asyncio.Task[None] | None = None
        #: the last claim found nothing due: the next tick reads before it writes
        self._found_nothing = False

    async def stopped(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
        if self._held:  # steps still running when we go: let others have them at once
            try:
                async with self.db.begin() as conn:
                    n = await repo.release_leases(conn, worker_id=self.settings.worker_id)
                log.info("worker %s released %d leases on the way out",
                         self.settings.worker_id, n)
            except Exception:
                log.warning("could not release leases; they run out by themselves",
                            exc_info=True)

    async def tick(self) -> int:
        """Claim what is due and start driving it; returns how many jobs were claimed."""
        t = now()
        if t - self._last_housekeeping > self.settings.housekeeping_seconds:
            self._last_housekeeping = t
            await self.housekeeping.run()
        free = await self.free_slots(self.settings.worker_concurrency,
                                     wait=self.settings.lease_seconds / 3)
        if not free:
            return 1
        if self._found_nothing:  # idle: look before taking SQLite's write lock
            async with self.db.read() as conn:
                if not await repo.any_due(conn):
                    return 0
        limit = min(free, self.settings.worker_batch)
        async with self.db.begin() as conn:
            claimed = await repo.claim_due(
                conn, worker_id=self.settings.worker_id, limit=limit,
                lease_seconds=self.settings.lease_seconds, skip_locked=self.db.is_postgres)
        # a short batch was everything due: the next tick reads before it writes (a
        # lone create claimed one job, and the claim after it took the write lock for
        # nothing)
        self._found_nothing = len(claimed) < limit
        for job in claimed:
            self.start(job)
        return len(claimed)

    def wake(self) -> None:
        """Something may be due now (a create, a refresh): claim without looking first."""
        self._found_nothing = False
        super().wake()

    def start(self, job: Job) -> asyncio.Task[None]:
        """Drive a job this process holds the lease of, in the background."""
        self._held.add(job.id)
        task = self.spawn(self.drive(job), name=f"drive:{job.id}")
        task.add_done_callback(lambda _t: self._held.discard(job.id))
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._keep_leases(), name="lease-renewal")
        return task

    async def _keep_leases(self) -> None:
        """Renew the leases of held jobs every third of a lease, while there are any
        (also in API processes, whose inline refreshes hold leases without a loop)."""
        while self._held:
            await asyncio.sleep(self.settings.lease_seconds / 3)
            try:
                await self.renew_leases()
            except Exception:
                log.warning("lease renewal failed", exc_info=True)

    async def renew_leases(self) -> None:
        held = list(self._held)
        if held:
            async with self.db.begin() as conn:
                await repo.renew_leases(conn, worker_id=self.settings.worker_id, job_ids=held,
                                        lease_seconds=self.settings.lease_seconds)

    async def drive(self, job: Job) -> None:
        """One step of one leased job, within the global and the channel's limits."""
        async with self._slots:
            try:
                channel = await self._channel(job)
                async with self.gate.slot(channel):
                    if not await self.gate.turn(channel, self.settings.lease_seconds / 4):
                        await self._hand_back(job, now() + 1.0)  # budget spent for a while
                        return
                    # looked up again after the waits: a 429 seen in this process while
                    # this job waited for its slot or turn cools the channel for it too
                    channel = await self._channel(job)
                    if channel is not None and channel.cooldown_until > now():
                        await self._hand_back(job, channel.cooldown_until)
                        return
                    await self.driver.step(job, channel)
            except Exception:
                log.exception("step of %s failed; retrying later", job.id)
                await self._retry_later(job.id)

    async def _channel(self, job: Job) -> Channel | None:
        return await self.directory.channel(job.channel_id) if job.channel_id else None

    async def _hand_back(self, job: Job, due: float) -> None:
        """Release a claimed job untouched (no poll counted), due again at ``due``."""
        await self.lifecycle.release(job, due)

    async def _retry_later(self, job_id: str) -> None:
        with contextlib.suppress(Exception):
            latest = await self.lifecycle.reload(job_id)
            if (latest is not None and latest.state in ACTIVE
                    and latest.lease_owner == self.settings.worker_id):
                await self.lifecycle.release(latest, now() + self.settings.poll_max_seconds)
