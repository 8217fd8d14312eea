"""The video service: what the API asks of jobs, independent of HTTP.

Creates write the job row (and, through hooks, the money reservation) in one
transaction before any upstream is called; the scheduler does the rest. Every read
and write is scoped to the caller's tenant, so another tenant's job is "not found".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from reelgate.auth.principal import Principal
from reelgate.config import Settings
from reelgate.errors import ConflictError, InvalidRequest, NotFound
from reelgate.ids import new_id, now
from reelgate.jobs import repository as repo
from reelgate.jobs.hooks import JobCounters, JobHooks, Pricer
from reelgate.jobs.lifecycle import Lifecycle
from reelgate.jobs.model import Job
from reelgate.jobs.origin import Origin, store_source
from reelgate.jobs.owned import delete_owned, media_prefix, reference_key
from reelgate.jobs.requests import CreateParams
from reelgate.jobs.states import ACTIVE, State
from reelgate.media.objects import StoredObject
from reelgate.media.storage import Storage
from reelgate.store.db import Database

__all__ = ["CancelUpstream", "VideoService", "media_prefix", "reference_key"]

log = logging.getLogger(__name__)

#: asks the job's own channel to cancel it upstream (best effort)
CancelUpstream = Callable[[Job], Awaitable[None]]
#: polls a job whose status is stale before a client sees it (scheduler.refresh)
Refresh = Callable[[Job], Awaitable[Job]]

@dataclass(frozen=True)
class Page:
    jobs: list[Job]
    has_more: bool


class VideoService:
    def __init__(
        self, db: Database, storage: Storage, settings: Settings, pricer: Pricer,
        hooks: Sequence[JobHooks] = (), wake_worker: Callable[[], None] | None = None,
        counters: JobCounters | None = None,
    ) -> None:
        self.db = db
        self.storage = storage
        self.settings = settings
        self.pricer = pricer
        self.hooks = list(hooks)
        self.lifecycle = Lifecycle(db, self.hooks, counters)
        self.wake_worker = wake_worker or (lambda: None)
        self.cancel_upstream: CancelUpstream | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.refresh: Refresh | None = None

    async def create(
        self, principal: Principal, params: CreateParams, *, idempotency_key: str | None = None,
        request_hash: str | None = None, remixed_from: Job | None = None,
        origin: Origin | None = None,
    ) -> Job:
        """``origin``: a remix, edit, extension or character-naming create (see
        :mod:`reelgate.jobs.origin`); ``remixed_from`` is short for a remix's."""
        if origin is None:
            origin = Origin.remix(remixed_from) if remixed_from else Origin()
        job_id = new_id("video")
        ref_key = None
        if params.reference is not None:
            ref_key = reference_key(job_id, params.reference.mime)
            await self.storage.put_stream(ref_key, _once(params.reference.data),
                                          params.reference.mime)
        try:
            src_key = await store_source(self.storage, job_id, origin)
        except BaseException:
            if ref_key is not None:
                await self.storage.delete_prefix(ref_key)
            raise
        t = now()
        values = dict(
            id=job_id, tenant_id=principal.tenant_id, key_id=principal.key_id,
            model=params.model.id, requested_model=params.requested_model,
            prompt=params.prompt, size=params.size,
            seconds=params.seconds, quality=params.model.quality, state=State.QUEUED.value,
            created_at=t, updated_at=t, next_poll_at=t,
            reference_key=ref_key,
            reference_mime=params.reference.mime if params.reference else None,
            reference_width=params.reference.width if params.reference else None,
            reference_height=params.reference.height if params.reference else None,
            idempotency_key=idempotency_key, request_hash=request_hash,
            model_alias=params.alias, source_key=src_key, **origin.values(),
        )
        try:
            async with self.db.begin() as conn:
                if idempotency_key is not None:
                    await repo.expire_idempotency_key(
                        conn, principal.tenant_id, idempotency_key,
                        before=t - self.settings.idempotency_ttl_seconds)
                values["render_cap_seconds"] = params.model.render_cap
                values["price_micros"] = await self.pricer.quote(  # an extension: its segment
                    conn, principal.tenant_id, params.model.id, params.size,
                    params.model.reserved_seconds(origin.segment_seconds or params.seconds))
                job = await repo.insert(conn, values)
                for hook in self.hooks:
                    await hook.on_created(conn, job, principal)
        except BaseException as exc:
            if ref_key is not None:  # a refused create's upload belongs to no job
                await self.storage.delete_prefix(ref_key)
            if src_key is not None:
                await self.storage.delete_prefix(media_prefix(job_id))
            if isinstance(exc, repo.DuplicateJob) and idempotency_key is not None:
                return await self._idempotent_replay(principal, idempotency_key, request_hash)
            raise
        self.wake_worker()
        return job

    async def find_idempotent(
        self, principal: Principal, key: str, request_hash: str | None
    ) -> Job | None:
        async with self.db.read() as conn:
            job = await repo.get_by_idempotency_key(conn, principal.tenant_id, key)
        if job is None or job.created_at < now() - self.settings.idempotency_ttl_seconds:
            return None  # never used, or used so long ago that the key is free again
        if job.request_hash != request_hash:
            raise ConflictError(
                "This Idempotency-Key was already used with a different request body.",
                param="Idempotency-Key", code="idempotency_key_reused")
        return job

    async def _idempotent_replay(
        self, principal: Principal, key: str, request_hash: str | None
    ) -> Job:
        job = await self.find_idempotent(principal, key, request_hash)
        if job is None:  # the conflicting row vanished: surface it as a conflict
            raise ConflictError("Concurrent request with the same Idempotency-Key.",
                                param="Idempotency-Key", code="idempotency_key_in_use")
        return job

    async def get(self, principal: Principal, job_id: str) -> Job:
        async with self.db.read() as conn:
            job = await repo.get(conn, job_id, tenant_id=principal.tenant_id)
        if job is None:
            raise NotFound(f"No video found with id '{job_id}'.", param="video_id")
        return job

    async def retrieve(self, principal: Principal, job_id: str) -> Job:
        """What a client polling the job sees: refreshed first if its status is stale."""
        job = await self.get(principal, job_id)
        if self.refresh is not None and not job.is_terminal:
            job = await self.refresh(job)
        return job

    async def list(
        self, principal: Principal, *, after: str | None, limit: int, order: str
    ) -> Page:
        async with self.db.read() as conn:
            cursor = None
            if after is not None:
                cursor = await repo.get(conn, after, tenant_id=principal.tenant_id)
                if cursor is None:
                    raise InvalidRequest(f"No video found with id '{after}' for 'after'.",
                                         param="after", code="invalid_value")
            jobs, has_more = await repo.list_page(
                conn, principal.tenant_id, after=cursor, limit=limit, order=order)
        return Page(jobs, has_more)

    async def delete(self, principal: Principal, job_id: str) -> Job:
        """Cancel a job still running (refunded through hooks), then remove it and its media."""
        while True:
            job = await self.get(principal, job_id)
            after = await self.lifecycle.delete(job)
            if after is not None:
                break  # else the worker moved it meanwhile: look again
        if job.upstream_id and self.cancel_upstream is not None:
            if job.state in ACTIVE:  # stop the render now: it may cost the upstream money
                await self._delete_upstream(job)
            else:  # only tidying up the upstream's copy: the client need not wait
                task = asyncio.create_task(self._delete_upstream(job))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
        await delete_owned(self.storage, after)  # media, reference, uploads: everything
        return await self.lifecycle.storage_deleted(after) or after

    async def _delete_upstream(self, job: Job) -> None:
        assert self.cancel_upstream is not None
        try:
            await self.cancel_upstream(job)
        except Exception:  # best effort: the job is already failed and refunded here
            log.warning("upstream delete failed for %s", job.id, exc_info=True)

    async def content(self, principal: Principal, job_id: str, variant: str) -> StoredObject:
        job = await self.get(principal, job_id)
        if job.state != State.COMPLETED:
            raise NotFound(f"Video '{job_id}' is not ready: its status is '{job.status}'. "
                           "Content is available once the status is 'completed'.",
                           param="video_id", code="video_not_ready")
        ref = job.media.get(variant)
        if ref is None:
            if job.expires_at is not None and job.expires_at <= now():
                raise NotFound(f"The content of video '{job_id}' has expired.",
                               param="video_id", code="video_expired")
            raise NotFound(f"Video '{job_id}' has no '{variant}' content.",
                           param="variant", code="variant_not_found")
        return ref


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
