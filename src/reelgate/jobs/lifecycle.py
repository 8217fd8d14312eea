"""The named transitions of a job, each with everything that must move with it.

Every transition is one transaction holding the compare-and-swap on ``version`` and
the hooks (billing, webhooks), so a job can never be completed without being settled
or failed without being refunded, and a lost race changes nothing at all. Each
returns the job after the change, or None when someone else changed it first.

Transitions that end a step (``accept``, ``progress``, ``release``, ``complete``,
``fail``) also end the worker's lease on the job; the others keep it, because the
same step carries on (``route`` → submit, ``downloading`` → copy).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reelgate.ids import now
from reelgate.jobs import repository as repo
from reelgate.jobs.batch import GroupCommit
from reelgate.jobs.hooks import JobCounters, JobHooks
from reelgate.jobs.model import Job
from reelgate.jobs.states import ACTIVE, State
from reelgate.media.objects import StoredObject
from reelgate.store.db import Database, Tx

__all__ = ["Lifecycle"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Change:
    job: Job
    state: State
    values: Mapping[str, object]
    event: str | None = None
    release: bool = False
    detail: Mapping[str, object] | None = None


class Lifecycle:
    def __init__(self, db: Database, hooks: Sequence[JobHooks] = (),
                 counters: JobCounters | None = None) -> None:
        self.db = db
        self.hooks = list(hooks)
        #: told of every state change and delete (the metrics' running totals)
        self.counters = counters
        #: polls answered "still running", written many to a transaction
        self._polled = GroupCommit(self._commit_many, self._commit_one)

    # --- submit ----------------------------------------------------------------------

    async def route(self, job: Job, *, channel_id: str, credential_id: str,
                    upstream_model: str, lease_until: float | None = None) -> Job | None:
        """QUEUED → SUBMITTING on a chosen channel and key: from here on the upstream
        may have the job, so a crash is recovered, never resubmitted. ``lease_until``:
        the holder's lease, renewed in the same write, so the send starts on a whole
        lease whatever the work before it took (another worker that saw the job
        SUBMITTING with a lapsed lease would take it for a crash)."""
        values: dict[str, object] = {
            "channel_id": channel_id, "credential_id": credential_id,
            "upstream_model": upstream_model, "submit_attempts": job.submit_attempts + 1}
        if lease_until is not None:
            values["lease_until"] = lease_until
        return await self._commit(job, State.SUBMITTING, values)

    async def requeue(self, job: Job, *, unroute: bool,
                      refusal: Mapping[str, object]) -> Job | None:
        """SUBMITTING → QUEUED: the upstream certainly did not take the job (429,
        refused, bad key), so the next candidate may. ``unroute`` forgets the channel
        (a remix stays on its source's channel and key). ``refusal`` (the channel's name
        and what it answered) is kept on the job and in the event: why it waits."""
        values: dict[str, object] = {"last_refusal": dict(refusal)}
        if unroute:
            values.update(channel_id=None, credential_id=None)
        return await self._commit(job, State.QUEUED, values, event="submit_rejected",
                                  detail=refusal)

    async def unstarted(self, job: Job, *, unroute: bool) -> Job | None:
        """IN_PROGRESS → QUEUED: the upstream lost the job before it started rendering
        it (a restarted server forgot its queue), so it is sent again, to whichever
        channel is free. Never for a job that may have started: that one fails."""
        values: dict[str, object] = {
            "upstream_id": None, "upstream_status": None, "started_at": None, "progress": 0,
            "poll_count": 0, "next_poll_at": now()}
        if unroute:
            values.update(channel_id=None, credential_id=None)
        return await self._commit(job, State.QUEUED, values, event="upstream_forgot",
                                  release=True)

    async def accept(self, job: Job, upstream_id: str, *, upstream_status: str, progress: int,
                     due_at: float, event: str | None = None) -> Job | None:
        """SUBMITTING → IN_PROGRESS with the upstream's id, due for its next poll:
        the submit's answer counts as its first poll."""
        t = now()
        return await self._commit(job, State.IN_PROGRESS, {
            "upstream_id": upstream_id, "upstream_status": upstream_status,
            "started_at": t, "progress": max(job.progress, progress),
            **self._poll_values(job, t), "next_poll_at": due_at}, event=event, release=True)

    # --- poll ------------------------------------------------------------------------

    async def progress(self, job: Job, *, progress: int, upstream_status: str,
                       due_at: float) -> Job | None:
        """A poll found the job still running: record how far, and when to look again.
        Concurrent polls' records share a transaction (:mod:`reelgate.jobs.batch`)."""
        return await self._polled.submit(_Change(job, job.state, {
            "progress": max(job.progress, progress), "upstream_status": upstream_status,
            **self._poll_values(job, now()), "next_poll_at": due_at}, release=True))

    async def downloading(self, job: Job, *, upstream_status: str, result_url: str | None,
                          rendered_seconds: float | None, rendered_size: str | None,
                          upstream_id: str | None = None,
                          render_seconds: float | None = None) -> Job | None:
        """→ DOWNLOADING: the upstream finished; our copy is not complete yet. From
        SUBMITTING (an upstream that finished at once) ``upstream_id`` is new too.
        ``render_seconds``: the GPU time it reported (what render billing charges)."""
        t = now()
        values: dict[str, object] = {
            "upstream_status": upstream_status, "result_url": result_url,
            "rendered_seconds": rendered_seconds, "rendered_size": rendered_size,
            "render_seconds": render_seconds,
            "progress": max(job.progress, 99), **self._poll_values(job, t)}
        if upstream_id is not None:
            values.update(upstream_id=upstream_id, started_at=t)
        return await self._commit(job, State.DOWNLOADING, values)

    # --- end a step ------------------------------------------------------------------

    async def release(self, job: Job, due_at: float, *, count_poll: bool = False) -> Job | None:
        """Hand the job back unchanged, due again at ``due_at``; ``count_poll`` when an
        upstream call was made (so the backoff grows)."""
        values: dict[str, object] = {"next_poll_at": due_at}
        if count_poll:
            values["poll_count"] = job.poll_count + 1
        return await self._commit(job, job.state, values, release=True)

    async def complete(self, job: Job, media: Mapping[str, StoredObject], *,
                       rendered_seconds: float, rendered_size: str,
                       expires_at: float) -> Job | None:
        """DOWNLOADING → COMPLETED with our own copies of the media (billing settles
        on ``rendered_seconds`` at ``rendered_size``)."""
        return await self._commit(job, State.COMPLETED, {
            "media": repo.media_json(media), "progress": 100, "completed_at": now(),
            "expires_at": expires_at, "rendered_seconds": rendered_seconds,
            "rendered_size": rendered_size, "next_poll_at": None}, release=True)

    async def fail(self, job: Job, code: str, message: str, *, event: str | None = None,
                   upstream_id: str | None = None) -> Job | None:
        """→ FAILED with an error the client sees (billing refunds the reservation)."""
        values: dict[str, object] = {"error_code": code, "error_message": message,
                                     "next_poll_at": None}
        if upstream_id is not None:
            values["upstream_id"] = upstream_id
        failed = await self._commit(job, State.FAILED, values, event=event, release=True)
        if failed is not None:
            log.info("job %s failed: %s: %s", job.id, code, message, extra={"job_id": job.id})
        return failed

    # --- client and housekeeping -------------------------------------------------------

    async def delete(self, job: Job) -> Job | None:
        """A client's DELETE: hidden from now on, and if still running failed as
        ``cancelled`` (and so refunded). The row keeps naming its storage until that is
        deleted (:meth:`storage_deleted`), so a crash in between leaves housekeeping
        something to finish, never an orphan."""
        values: dict[str, object] = {"deleted_at": now()}
        if job.state not in ACTIVE:
            return await self._commit(job, job.state, values, event="deleted")
        values.update(error_code="cancelled", error_message="Deleted by the client.",
                      next_poll_at=None)
        return await self._commit(job, State.FAILED, values, event="deleted", release=True)

    async def expire_media(self, job: Job) -> Job | None:
        """A finished job past its retention: everything it stored (media, reference,
        uploads) is deleted, the row stays."""
        return await self._commit(job, job.state, {"media": None, "reference_key": None,
                                               "source_key": None},
                                  event="expired")

    async def storage_deleted(self, job: Job) -> Job | None:
        """A deleted job's storage is gone: the row stops naming it (so housekeeping,
        which finishes deletes a crash interrupted, leaves it alone)."""
        return await self._commit(job, job.state, {"media": None, "reference_key": None,
                                               "source_key": None})

    async def note(self, job: Job, kind: str, detail: Mapping[str, object]) -> None:
        """An entry in the job's event log that changes nothing (e.g. ``reconcile``)."""
        async with self.db.begin() as conn:
            await repo.log_event(conn, job.id, kind, state=job.state.value, detail=dict(detail))

    async def reload(self, job_id: str) -> Job | None:
        async with self.db.read() as conn:
            return await repo.get(conn, job_id, include_deleted=True)

    # --- the one way a job changes ---------------------------------------------------

    @staticmethod
    def _poll_values(job: Job, t: float) -> dict[str, object]:
        return {"last_polled_at": t, "poll_count": job.poll_count + 1}

    async def _commit(self, job: Job, state: State, values: Mapping[str, object], *,
                      event: str | None = None, release: bool = False,
                      detail: Mapping[str, object] | None = None) -> Job | None:
        return await self._commit_one(_Change(job, state, values, event, release, detail))

    async def _commit_one(self, change: _Change) -> Job | None:
        async with self.db.begin() as conn:
            return await self._apply(conn, change)

    async def _commit_many(self, changes: Sequence[_Change]) -> list[Job | None]:
        async with self.db.begin() as conn:
            return [await self._apply(conn, change) for change in changes]

    async def _apply(self, conn: Tx, c: _Change) -> Job | None:
        """The compare-and-swap, and the hooks of a change that moved something."""
        write = repo.release if c.release else repo.transition
        after = await write(conn, c.job, c.state, c.values, event=c.event, detail=c.detail)
        if after is not None and (after.state != c.job.state
                                  or after.progress != c.job.progress):
            for hook in self.hooks:
                await hook.on_transition(conn, c.job, after)
        if self.counters is not None and after is not None and (
                after.state != c.job.state or after.deleted_at != c.job.deleted_at):
            await self.counters.on_change(conn, c.job, after)
        return after
