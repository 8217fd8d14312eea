"""Polling a job upstream and recording the answer: still running (when to look
again), finished (copy it home now), or failed.

:meth:`Poller.observe` is also how a submit's (or a recovery's) answer is recorded,
so an accepted job is written once: in progress, with its upstream id, due for its
next poll, its lease released.
"""

from __future__ import annotations

import logging

from reelgate.config import Settings
from reelgate.ids import now
from reelgate.jobs.lifecycle import Lifecycle
from reelgate.jobs.model import Job
from reelgate.providers.base import ErrorKind, UpstreamError, UpstreamJob, UpstreamStatus
from reelgate.routing.health import ChannelHealth
from reelgate.scheduler.backoff import poll_delay
from reelgate.scheduler.copy import Copier
from reelgate.scheduler.directory import Pinned
from reelgate.scheduler.observe import Unobserved, UpstreamObserver

__all__ = ["NOT_FOUND_LIMIT", "Poller"]

log = logging.getLogger(__name__)

#: polls answered "not found" before a job counts as lost upstream (some upstreams
#: take a moment before a new job is visible)
NOT_FOUND_LIMIT = 5


class Poller:
    def __init__(self, lifecycle: Lifecycle, health: ChannelHealth, copier: Copier,
                 settings: Settings, *, observer: UpstreamObserver | None = None) -> None:
        self.lifecycle = lifecycle
        self.health = health
        self.copier = copier
        self.settings = settings
        self.observer = observer or Unobserved()

    async def poll(self, job: Job, pinned: Pinned) -> None:
        try:
            up = await pinned.provider.fetch(job.upstream_id or "", pinned.credential)
        except UpstreamError as exc:
            await self._failed(job, pinned, exc)
            return
        await self.observe(job, up, pinned)

    async def _failed(self, job: Job, pinned: Pinned, exc: UpstreamError) -> None:
        channel = pinned.channel
        await self.observer.upstream_error("poll", channel.id, exc)
        log.warning("poll of %s on %s failed: %r", job.id, channel.name, exc,
                    extra={"job_id": job.id, "channel": channel.name})
        if exc.kind == ErrorKind.RATE_LIMITED:
            delay = exc.retry_after or self.settings.poll_max_seconds
            await self.health.throttled(channel, delay)
            await self.lifecycle.release(job, now() + delay, count_poll=True)
        elif exc.kind == ErrorKind.NOT_FOUND and exc.never_started:
            # forgotten before it started (a restarted server's queue): send it again,
            # to any channel; one that had started is never resubmitted (below)
            if await self.lifecycle.unstarted(job, unroute=not job.pinned) is not None:
                log.info("job %s was lost by %s before it started; queued again", job.id,
                         channel.name, extra={"job_id": job.id, "channel": channel.name})
        elif exc.kind == ErrorKind.NOT_FOUND and job.poll_count >= NOT_FOUND_LIMIT:
            await self.lifecycle.fail(job, "upstream_lost",
                                      "The upstream no longer knows this job.")
        else:
            if exc.kind == ErrorKind.UNAVAILABLE and exc.status_code is None:
                await self.health.unreachable(channel)  # nobody answers there
            await self.lifecycle.release(job, now() + poll_delay(job, self.settings),
                                         count_poll=True)

    async def observe(self, job: Job, up: UpstreamJob, pinned: Pinned, *,
                      accepted: bool = False, event: str | None = None) -> bool:
        """Record what the upstream said and schedule what comes next; ``accepted``:
        ``up`` answers our submit (or recovery), so it also brings the upstream id.
        False if the job changed meanwhile (then nothing was recorded)."""
        new_id = up.upstream_id if accepted else None
        if up.status == UpstreamStatus.FAILED:
            return await self.lifecycle.fail(
                job, up.error_code or "generation_failed",
                up.error_message or "The upstream reported a failure.",
                upstream_id=new_id) is not None
        if up.status == UpstreamStatus.COMPLETED:
            copying = await self.lifecycle.downloading(
                job, upstream_status=up.raw_status or "completed", result_url=up.result_url,
                rendered_seconds=up.seconds, rendered_size=up.size, upstream_id=new_id,
                render_seconds=up.render_seconds)
            if copying is not None:
                await self.copier.copy(copying, pinned, up)
            return copying is not None
        progress = min(up.progress or 0, 99)
        t = now()
        due = t + poll_delay(job, self.settings, up.poll_after,
                             started_at=t if accepted else None)
        if accepted:
            moved = await self.lifecycle.accept(job, up.upstream_id,
                                                upstream_status=up.status.value,
                                                progress=progress, due_at=due, event=event)
        else:
            moved = await self.lifecycle.progress(job, progress=progress,
                                                  upstream_status=up.status.value, due_at=due)
        return moved is not None
