"""Advancing one job by one step: submit it, poll it, or copy its result home.

Every step starts from a leased snapshot of the job and ends with a compare-and-swap;
if anyone else (a DELETE, another worker after our lease expired) changed the job
meanwhile, our change is dropped and the job is looked at again later. The job's
channel, provider and key are resolved once per step, here, and handed down.
"""

from __future__ import annotations

from reelgate.config import Settings
from reelgate.jobs.lifecycle import Lifecycle
from reelgate.jobs.model import Job
from reelgate.jobs.states import State
from reelgate.media.storage import Storage
from reelgate.routing.channels import Channel
from reelgate.routing.health import ChannelHealth
from reelgate.scheduler.copy import Copier, recorded_result
from reelgate.scheduler.directory import ChannelDirectory, Pinned
from reelgate.scheduler.observe import Unobserved, UpstreamObserver
from reelgate.scheduler.poll import Poller
from reelgate.scheduler.scratch import Scratch
from reelgate.scheduler.submit import Submitter

__all__ = ["Driver"]


class Driver:
    def __init__(self, lifecycle: Lifecycle, directory: ChannelDirectory, storage: Storage,
                 settings: Settings, *, observer: UpstreamObserver | None = None) -> None:
        self.lifecycle = lifecycle
        self.directory = directory
        self.health = ChannelHealth(lifecycle.db, on_change=directory.invalidate)
        scratch = Scratch(settings.data_dir / "tmp")
        #: told of every failed upstream call (the metrics count them)
        self.observer = observer or Unobserved()
        self.copier = Copier(lifecycle, storage, settings, scratch, observer=self.observer)
        self.poller = Poller(lifecycle, self.health, self.copier, settings,
                             observer=self.observer)
        self.submitter = Submitter(lifecycle, directory, storage, self.health, self.poller,
                                   settings, scratch, observer=self.observer)

    async def step(self, job: Job, channel: Channel | None) -> None:
        """``channel``: the job's own, as the caller found it (None if it has none)."""
        if job.deleted_at is not None and not job.is_terminal:
            await self.lifecycle.fail(job, "cancelled", "Deleted by the client.")
            return
        if job.state == State.QUEUED:
            await self.submitter.submit(job, channel)
            return
        if job.is_terminal:
            return
        pinned = await self._pin(job, channel)
        if pinned is None:
            return
        if job.state == State.SUBMITTING:
            await self.submitter.recover(job, pinned)
        elif job.state == State.IN_PROGRESS:
            await self.poller.poll(job, pinned)
        elif job.state == State.DOWNLOADING:
            await self.copier.copy(job, pinned, recorded_result(job))

    async def _pin(self, job: Job, channel: Channel | None) -> Pinned | None:
        """The exact channel and key that created the job; fails it if either is gone."""
        if channel is None:
            await self.lifecycle.fail(job, "channel_missing",
                                      "The channel that runs this job was removed.")
            return None
        try:
            return await self.directory.pin(channel, job.credential_id)
        except LookupError:
            await self.lifecycle.fail(job, "credential_missing",
                                      "The upstream key of this job was removed.")
            return None
