"""Sending a queued job upstream, with failover; recovering one a worker dropped
mid-submit.

The job is written as ``submitting`` on its channel and key *before* the upstream is
called, so a crash at any point is recovered (looked up by our id, or failed and
refunded), never submitted twice. A refusal that certainly left no job upstream puts
it back in ``queued`` (keeping which channel refused and why) and the next candidate
is tried; an unclear answer fails it. A job every channel keeps refusing fails once
its submit deadline has passed, naming the last refusal, and is refunded.
"""

from __future__ import annotations

import logging
from typing import Any

from reelgate.config import Settings
from reelgate.ids import now
from reelgate.jobs.lifecycle import Lifecycle
from reelgate.jobs.model import Job
from reelgate.jobs.states import State
from reelgate.media.storage import Storage
from reelgate.providers.base import (
    ErrorKind,
    SubmitRequest,
    UpstreamError,
    UpstreamJob,
)
from reelgate.routing import router
from reelgate.routing.channels import Channel, active_counts
from reelgate.routing.failover import Failover, refusal
from reelgate.routing.health import ChannelHealth
from reelgate.routing.operations import able
from reelgate.scheduler.directory import ChannelDirectory, Pinned
from reelgate.scheduler.inputs import Inputs, needs
from reelgate.scheduler.observe import Unobserved, UpstreamObserver
from reelgate.scheduler.poll import Poller
from reelgate.scheduler.scratch import Scratch

__all__ = ["Submitter"]

log = logging.getLogger(__name__)

#: states whose jobs load a (channel, key): the router spreads new jobs by them
_RUNNING = (State.SUBMITTING.value, State.IN_PROGRESS.value, State.DOWNLOADING.value)


class Submitter:
    def __init__(self, lifecycle: Lifecycle, directory: ChannelDirectory, storage: Storage,
                 health: ChannelHealth, poller: Poller, settings: Settings,
                 scratch: Scratch, *, observer: UpstreamObserver | None = None) -> None:
        self.lifecycle = lifecycle
        self.directory = directory
        self.storage = storage
        self.health = health
        self.poller = poller
        self.settings = settings
        self.scratch = scratch
        self.observer = observer or Unobserved()

    async def submit(self, job: Job, channel: Channel | None) -> None:
        """``channel``: the job's own (a remix, an edit or extension by id and a create
        naming characters stay on their source's channel and key)."""
        loads = await self._loads()
        if job.channel_id:
            cands = [router.Candidate(channel, job.credential_id or "",
                                      channel.upstream_model(job.model) or job.model)
                     ] if channel else []
        else:
            cands = router.candidates(await self.directory.channels(), job.model, now=now(),
                                      busy=loads, able=able(needs(job)))
        if not cands:
            await self.lifecycle.fail(job, "no_channel", f"No channel serves model '{job.model}'.")
            return
        try:
            inputs = await Inputs.load(job, self.storage, self.scratch, self.lifecycle)
        except FileNotFoundError:  # its own copy of an input is gone (a restore, by hand)
            await self.lifecycle.fail(job, "input_missing",
                                      "An input of this job is missing from storage.")
            return
        try:
            await self._walk(job, cands, loads, inputs)
        finally:
            inputs.close()

    async def _walk(self, job: Job, cands: list[router.Candidate],
                    loads: dict[tuple[str, str], int], inputs: Inputs) -> None:
        walk = Failover()
        refused = False
        for cand in cands:
            if walk.skips(cand):
                continue
            limit = cand.channel.max_concurrent
            if limit and sum(n for (cid, _), n in loads.items() if cid == cand.channel.id) >= limit:
                walk.at_capacity()
                continue
            request = inputs.request(job, cand.upstream_model)
            outcome = await self._try(job, cand, request)
            if outcome is None:
                return  # accepted, failed or lost the race
            job, exc = outcome  # back in QUEUED with a new version: try the next one
            walk.refused(cand, exc)
            refused = True
        age = now() - job.created_at
        if refused and age > self.settings.submit_deadline_seconds:
            await self._give_up(job)
        elif age > self.settings.job_timeout_seconds:
            await self.lifecycle.fail(job, "upstream_unavailable",
                                      "No upstream accepted the job in time.")
        else:
            await self.lifecycle.release(
                job, now() + walk.retry_in(self.settings.poll_min_seconds))

    async def _give_up(self, job: Job) -> None:
        """Past the submit deadline and refused again: failed (and so refunded, once:
        the transition is a compare-and-swap), saying who refused last and why."""
        last = job.last_refusal or {}
        await self.lifecycle.fail(
            job, "no_channel_accepted",
            f"No channel accepted the job within {self.settings.submit_deadline_seconds:g} "
            f"seconds; the last, '{last.get('channel')}', answered: {last.get('reason')}.")

    async def _try(self, job: Job, cand: router.Candidate,
                   request: SubmitRequest) -> tuple[Job, UpstreamError] | None:
        """(job, error): refused, try on; None: accepted, failed, or the race lost."""
        pinned = Pinned(cand.channel, await self.directory.provider(cand.channel),
                        await self.directory.credential(cand.credential_id))
        sending = await self.lifecycle.route(job, channel_id=cand.channel.id,
                                             credential_id=cand.credential_id,
                                             upstream_model=cand.upstream_model,
                                             lease_until=now() + self.settings.lease_seconds)
        if sending is None:
            return None
        try:
            up = await pinned.provider.submit(request, pinned.credential)
        except UpstreamError as exc:
            await self.observer.upstream_error("submit", pinned.channel.id, exc)
            back = await self._refused(sending, pinned.channel, exc)
            return (back, exc) if back is not None else None
        await self._accepted(sending, up, pinned)
        return None

    async def _refused(self, job: Job, channel: Channel, exc: UpstreamError) -> Job | None:
        """Back to QUEUED when the upstream certainly did not take the job, else failed."""
        fields = {"job_id": job.id, "channel": channel.name, "credential_id": job.credential_id,
                  "error_kind": exc.kind.value, "status_code": exc.status_code}
        log.warning("submit of %s to %s failed: %r", job.id, channel.name, exc, extra=fields)
        if exc.accepted_impossible:
            await self.health.submit_refused(channel, job.credential_id or "", exc)
            return await self.lifecycle.requeue(job, unroute=not job.pinned,
                                                refusal=refusal(channel, exc))
        if exc.kind in (ErrorKind.AMBIGUOUS, ErrorKind.PROTOCOL):
            await self._ambiguous(job, channel, exc, fields)
        else:
            await self.lifecycle.fail(job, exc.code or "upstream_rejected", exc.message)
        return None

    async def _ambiguous(self, job: Job, channel: Channel, exc: UpstreamError,
                         fields: dict[str, Any]) -> None:
        """The upstream may have the job: fail (and so refund) it, never send it again.

        If the upstream did start it, it may bill us for a job the client is not
        charged for; the warning and the ``reconcile`` event are what an operator
        reconciles against the upstream's own usage records.
        """
        log.warning("job %s may exist upstream on %s without an id (%s); failed without "
                    "resubmitting: reconcile against the upstream's usage", job.id,
                    channel.name, exc.message, extra={**fields, "reconcile": True})
        failed = await self.lifecycle.fail(
            job, "upstream_submit_ambiguous",
            "The upstream did not answer the submission clearly; the job was not "
            "resubmitted to avoid running it twice.", event="submit_ambiguous")
        if failed is not None:
            await self.lifecycle.note(failed, "reconcile", {
                "channel_id": channel.id, "channel": channel.name,
                "credential_id": job.credential_id, "reason": exc.message})

    async def _accepted(self, job: Job, up: UpstreamJob, pinned: Pinned, *,
                        event: str | None = None, retry: bool = True) -> None:
        if await self.poller.observe(job, up, pinned, accepted=True, event=event):
            log.info("job %s accepted upstream as %s", job.id, up.upstream_id,
                     extra={"job_id": job.id})
            return
        # The job changed while the upstream was taking it: a client deleted it, or our
        # lease ran out. Record the upstream id if it is still ours to record, else
        # cancel the upstream job, which nobody would ever poll or pay for.
        latest = await self.lifecycle.reload(job.id)
        if (retry and latest is not None and latest.state == State.SUBMITTING
                and latest.deleted_at is None and not latest.upstream_id):
            await self._accepted(latest, up, pinned, event=event, retry=False)
        elif latest is None or not latest.upstream_id:
            await self._cancel_orphan(job, up, pinned)

    async def _cancel_orphan(self, job: Job, up: UpstreamJob, pinned: Pinned) -> None:
        fields = {"job_id": job.id, "channel_id": pinned.channel.id,
                  "upstream_id": up.upstream_id}
        try:
            await pinned.provider.delete(up.upstream_id, pinned.credential)
            log.info("job %s went away while submitting; cancelled %s upstream", job.id,
                     up.upstream_id, extra=fields)
        except UpstreamError as exc:
            log.warning("job %s went away while submitting; could not cancel %s upstream: "
                        "%r", job.id, up.upstream_id, exc, extra={**fields, "reconcile": True})

    async def recover(self, job: Job, pinned: Pinned) -> None:
        """A worker died mid-submit: find the job upstream or fail it, never resubmit."""
        try:
            up = await pinned.provider.recover(job.id, pinned.credential)
        except UpstreamError as exc:
            await self.observer.upstream_error("recover", pinned.channel.id, exc)
            log.warning("recover of %s failed: %r", job.id, exc, extra={"job_id": job.id})
            up = None
        if up is None:
            await self.lifecycle.fail(job, "upstream_submit_ambiguous",
                                      "The gateway stopped while submitting this job and the "
                                      "upstream cannot be asked about it; it was not "
                                      "resubmitted.")
            return
        await self._accepted(job, up, pinned, event="recovered", retry=False)

    async def _loads(self) -> dict[tuple[str, str], int]:
        """Jobs running per (channel, credential); pinned but unsent remixes do not count.

        Only for channels where the number changes a decision: a ``max_concurrent``
        cap, or more than one key to spread over. A channel with one key and no cap
        (the common case) costs no count, which grows with the jobs in flight."""
        ids = [c.id for c in await self.directory.channels()
               if c.max_concurrent or len(c.credential_ids) > 1]
        if not ids:
            return {}
        async with self.lifecycle.db.read() as conn:
            return await active_counts(conn, ids, _RUNNING)
