"""Advancing one job by one step: submit it, poll it, or copy its result home.

Every step starts from a leased snapshot of the job and ends with a compare-and-swap;
if anyone else (a DELETE, another worker after our lease expired) changed the job
meanwhile, our change is dropped and the job is looked at again later.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from reelgate.config import Settings
from reelgate.ids import now
from reelgate.jobs import repository as repo
from reelgate.jobs.lifecycle import Lifecycle
from reelgate.jobs.model import Job, MediaRef
from reelgate.jobs.service import media_prefix
from reelgate.jobs.states import State
from reelgate.media.derive import make_spritesheet, make_thumbnail, probe
from reelgate.media.storage import Storage
from reelgate.providers.base import (
    Credential,
    ErrorKind,
    Provider,
    ReferenceImage,
    SubmitRequest,
    UpstreamError,
    UpstreamJob,
    UpstreamStatus,
    Variant,
)
from reelgate.routing import router
from reelgate.routing.channels import Channel, set_channel
from reelgate.scheduler.backoff import next_delay
from reelgate.scheduler.directory import ChannelDirectory

__all__ = ["Driver"]

log = logging.getLogger(__name__)

_CONTENT_TYPES = {Variant.VIDEO: "video/mp4", Variant.THUMBNAIL: "image/webp",
                  Variant.SPRITESHEET: "image/webp"}
_FILENAMES = {Variant.VIDEO: "video.mp4", Variant.THUMBNAIL: "thumbnail.webp",
              Variant.SPRITESHEET: "spritesheet.webp"}
_NOT_FOUND_LIMIT = 5
_RUNNING = frozenset({State.SUBMITTING, State.IN_PROGRESS, State.DOWNLOADING})


class Driver:
    def __init__(self, lifecycle: Lifecycle, directory: ChannelDirectory, storage: Storage,
                 settings: Settings) -> None:
        self.lifecycle = lifecycle
        self.directory = directory
        self.storage = storage
        self.settings = settings
        self.tmp_dir = settings.data_dir / "tmp"

    async def step(self, job: Job) -> None:
        if job.deleted_at is not None and job.state not in (State.COMPLETED, State.FAILED):
            await self.fail(job, "cancelled", "Deleted by the client.")
        elif job.state == State.QUEUED:
            await self.submit(job)
        elif job.state == State.SUBMITTING:
            await self.recover(job)
        elif job.state == State.IN_PROGRESS:
            await self.poll(job)
        elif job.state == State.DOWNLOADING:
            await self.copy(job)

    # --- helpers -----------------------------------------------------------------

    async def fail(self, job: Job, code: str, message: str) -> Job | None:
        log.info("job %s failed: %s: %s", job.id, code, message, extra={"job_id": job.id})
        return await self.lifecycle.move(
            job, State.FAILED, error_code=code, error_message=message, next_poll_at=None,
            lease_owner=None, lease_until=None)

    async def later(self, job: Job, delay: float, **changes: Any) -> Job | None:
        return await self.lifecycle.move(job, None, lease_owner=None, lease_until=None,
                                         next_poll_at=now() + delay, **changes)

    def _poll_delay(self, job: Job, hint: float | None = None) -> float:
        elapsed = now() - (job.started_at or job.created_at)
        expected = 10.0 + job.seconds * 3.0  # a rough guess, only to poll near the end
        return next_delay(job.poll_count, minimum=self.settings.poll_min_seconds,
                          maximum=self.settings.poll_max_seconds, hint=hint,
                          remaining=expected - elapsed)

    async def _pinned(self, job: Job) -> tuple[Channel, Provider, Credential] | None:
        channel = await self.directory.channel(job.channel_id or "")
        if channel is None:
            await self.fail(job, "channel_missing", "The channel that runs this job was removed.")
            return None
        try:
            cred = await self.directory.credential(job.credential_id)
        except LookupError:
            await self.fail(job, "credential_missing", "The upstream key of this job was removed.")
            return None
        return channel, await self.directory.provider(channel), cred

    async def _reference(self, job: Job) -> ReferenceImage | None:
        if not job.reference_key:
            return None
        path = self._tmp_path(job.id, "ref")
        try:
            await self.storage.download_to(job.reference_key, path)
            data = path.read_bytes()
        finally:
            path.unlink(missing_ok=True)
        width, height = (int(v) for v in job.size.split("x"))
        return ReferenceImage(data, job.reference_mime or "image/png", width, height)

    def _tmp_path(self, job_id: str, suffix: str) -> Path:
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f"{job_id}-", suffix=f".{suffix}", dir=self.tmp_dir)
        os.close(fd)
        return Path(name)

    # --- submit ------------------------------------------------------------------

    async def _remix_source(self, job: Job) -> str | None:
        if not job.remixed_from:
            return None
        source = await self.lifecycle.reload(job.remixed_from)
        return source.upstream_id if source else None

    async def submit(self, job: Job) -> None:
        if job.channel_id:  # remixes stay on the channel and key of their source
            channel = await self.directory.channel(job.channel_id)
            cands = [router.Candidate(channel, job.credential_id or "",
                                      channel.upstream_model(job.model) or job.model)
                     ] if channel else []
        else:
            cands = router.candidates(await self.directory.channels(), job.model, now=now())
        if not cands:
            await self.fail(job, "no_channel", f"No channel serves model '{job.model}'.")
            return
        request = SubmitRequest(job.id, job.model, job.prompt, job.size, job.seconds,
                                await self._reference(job), await self._remix_source(job))
        retry_after = 0.0
        for cand in cands:
            outcome = await self._try_candidate(job, cand, request)
            if isinstance(outcome, Job):
                job = outcome  # back in QUEUED with a new version: try the next candidate
                continue
            if isinstance(outcome, float):
                retry_after = max(retry_after, outcome)
                continue
            return  # accepted, failed or lost the race
        if now() - job.created_at > self.settings.job_timeout_seconds:
            await self.fail(job, "upstream_unavailable", "No upstream accepted the job in time.")
        else:
            await self.later(job, max(retry_after, self.settings.poll_min_seconds))

    async def _try_candidate(
        self, job: Job, cand: router.Candidate, request: SubmitRequest
    ) -> Job | float | None:
        """Job: not accepted, try on; float: skipped (capacity/cooldown); None: done."""
        channel = cand.channel
        if channel.max_concurrent and await self._busy(channel) >= channel.max_concurrent:
            return 1.0
        provider = await self.directory.provider(channel)
        cred = await self.directory.credential(cand.credential_id)
        sending = await self.lifecycle.move(
            job, State.SUBMITTING, channel_id=channel.id, credential_id=cand.credential_id,
            upstream_model=cand.upstream_model, submit_attempts=job.submit_attempts + 1)
        if sending is None:
            return None
        req = SubmitRequest(request.job_id, cand.upstream_model, request.prompt, request.size,
                            request.seconds, request.reference, request.remix_of)
        try:
            up = await provider.submit(req, cred)
        except UpstreamError as exc:
            return await self._submit_failed(sending, channel, exc)
        await self._accepted(sending, up)
        return None

    async def _busy(self, channel: Channel) -> int:
        """Jobs the channel is running now (pinned but unsent remixes do not count)."""
        async with self.lifecycle.db.read() as conn:
            return await repo.count_active(conn, channel_id=channel.id, states=_RUNNING)

    async def _submit_failed(self, job: Job, channel: Channel, exc: UpstreamError) -> Job | None:
        log.warning("submit of %s to %s failed: %r", job.id, channel.name, exc,
                    extra={"job_id": job.id, "channel": channel.name})
        if exc.accepted_impossible:
            if exc.kind == ErrorKind.RATE_LIMITED:
                await self._cool_down(channel, exc.retry_after or 5.0)
            keep = {} if job.remixed_from else {"channel_id": None, "credential_id": None}
            return await self.lifecycle.move(job, State.QUEUED, event="submit_rejected", **keep)
        if exc.kind in (ErrorKind.AMBIGUOUS, ErrorKind.PROTOCOL):
            await self.fail(job, "upstream_submit_ambiguous",
                            "The upstream did not answer the submission clearly; the job was "
                            "not resubmitted to avoid running it twice.")
        else:
            await self.fail(job, exc.code or "upstream_rejected", exc.message)
        return None

    async def _cool_down(self, channel: Channel, seconds: float) -> None:
        async with self.lifecycle.db.begin() as conn:
            await set_channel(conn, channel.id, cooldown_until=now() + seconds)
        self.directory.invalidate()

    async def _accepted(self, job: Job, up: UpstreamJob) -> None:
        t = now()
        moved = await self.lifecycle.move(
            job, State.IN_PROGRESS, upstream_id=up.upstream_id, upstream_status=up.status.value,
            started_at=t, progress=up.progress or 0, lease_owner=job.lease_owner,
            lease_until=job.lease_until)
        if moved is not None:
            log.info("job %s accepted upstream as %s", job.id, up.upstream_id,
                     extra={"job_id": job.id})
            await self._apply(moved, up)

    # --- recover / poll ------------------------------------------------------------

    async def recover(self, job: Job) -> None:
        """A worker died mid-submit: find the job upstream or fail it, never resubmit."""
        pinned = await self._pinned(job)
        if pinned is None:
            return
        _, provider, cred = pinned
        try:
            up = await provider.recover(job.id, cred)
        except UpstreamError as exc:
            log.warning("recover of %s failed: %r", job.id, exc, extra={"job_id": job.id})
            up = None
        if up is None:
            await self.fail(job, "upstream_submit_ambiguous",
                            "The gateway stopped while submitting this job and the upstream "
                            "cannot be asked about it; it was not resubmitted.")
            return
        moved = await self.lifecycle.move(job, State.IN_PROGRESS, upstream_id=up.upstream_id,
                                          upstream_status=up.status.value, started_at=now(),
                                          event="recovered")
        if moved is not None:
            await self._apply(moved, up)

    async def poll(self, job: Job) -> None:
        pinned = await self._pinned(job)
        if pinned is None:
            return
        channel, provider, cred = pinned
        try:
            up = await provider.fetch(job.upstream_id or "", cred)
        except UpstreamError as exc:
            await self._poll_failed(job, channel, exc)
            return
        await self._apply(job, up)

    async def _poll_failed(self, job: Job, channel: Channel, exc: UpstreamError) -> None:
        log.warning("poll of %s on %s failed: %r", job.id, channel.name, exc,
                    extra={"job_id": job.id, "channel": channel.name})
        if exc.kind == ErrorKind.RATE_LIMITED:
            delay = exc.retry_after or self.settings.poll_max_seconds
            await self._cool_down(channel, delay)
            await self.later(job, delay, poll_count=job.poll_count + 1)
        elif exc.kind == ErrorKind.NOT_FOUND and job.poll_count >= _NOT_FOUND_LIMIT:
            await self.fail(job, "upstream_lost", "The upstream no longer knows this job.")
        else:
            await self.later(job, self._poll_delay(job), poll_count=job.poll_count + 1)

    async def _apply(self, job: Job, up: UpstreamJob) -> None:
        """Record what the upstream said and schedule what comes next."""
        t = now()
        if up.status == UpstreamStatus.FAILED:
            await self.fail(job, up.error_code or "generation_failed",
                            up.error_message or "The upstream reported a failure.")
            return
        if up.status == UpstreamStatus.COMPLETED:
            moved = await self.lifecycle.move(
                job, State.DOWNLOADING, upstream_status=up.raw_status or "completed",
                result_url=up.result_url, rendered_seconds=up.seconds, rendered_size=up.size,
                progress=max(job.progress, 99), last_polled_at=t, poll_count=job.poll_count + 1)
            if moved is not None:
                await self.copy(moved)
            return
        progress = max(job.progress, min(up.progress or 0, 99))
        await self.later(job, self._poll_delay(job, up.poll_after), progress=progress,
                         upstream_status=up.status.value, last_polled_at=t,
                         poll_count=job.poll_count + 1)

    # --- copy home -------------------------------------------------------------------

    async def copy(self, job: Job) -> None:
        pinned = await self._pinned(job)
        if pinned is None:
            return
        _, provider, cred = pinned
        up = UpstreamJob(job.upstream_id or "", UpstreamStatus.COMPLETED,
                         result_url=job.result_url, seconds=job.rendered_seconds,
                         size=job.rendered_size)
        video = self._tmp_path(job.id, "mp4")
        try:
            media = await self._copy_variants(job, provider, cred, up, video)
            info = await asyncio.to_thread(probe, video)
        except UpstreamError as exc:
            video.unlink(missing_ok=True)
            if exc.kind == ErrorKind.NOT_FOUND:
                await self.fail(job, "upstream_content_expired",
                                "The upstream finished but its file could not be fetched.")
            else:
                await self.later(job, self._poll_delay(job), poll_count=job.poll_count + 1)
            return
        except ValueError as exc:
            video.unlink(missing_ok=True)
            await self.fail(job, "invalid_upstream_media", str(exc))
            return
        video.unlink(missing_ok=True)
        t = now()
        done = await self.lifecycle.move(
            job, State.COMPLETED, media=media, progress=100, completed_at=t,
            expires_at=t + self.settings.retention_days * 86400,
            rendered_seconds=job.rendered_seconds or info.seconds,
            rendered_size=job.rendered_size or f"{info.width}x{info.height}",
            next_poll_at=None, lease_owner=None, lease_until=None)
        if done is None:  # deleted meanwhile: do not leave orphaned files behind
            await self.storage.delete_prefix(media_prefix(job.id))
        else:
            log.info("job %s completed", job.id, extra={"job_id": job.id})

    async def _copy_variants(self, job: Job, provider: Provider, cred: Credential,
                             up: UpstreamJob, video: Path) -> dict[str, MediaRef]:
        with video.open("wb") as fh:
            async for chunk in provider.download(up, Variant.VIDEO, cred):
                fh.write(chunk)
        media: dict[str, MediaRef] = {}
        prefix = media_prefix(job.id)
        obj = await self.storage.put_file(prefix + _FILENAMES[Variant.VIDEO], video,
                                          "video/mp4")
        media[Variant.VIDEO.value] = MediaRef(obj.key, obj.size, obj.etag, obj.content_type)
        for variant in (Variant.THUMBNAIL, Variant.SPRITESHEET):
            key = prefix + _FILENAMES[variant]
            if variant in provider.native_variants:
                try:
                    obj = await self.storage.put_stream(
                        key, provider.download(up, variant, cred), _CONTENT_TYPES[variant])
                    media[variant.value] = MediaRef(obj.key, obj.size, obj.etag,
                                                    obj.content_type)
                    continue
                except UpstreamError as exc:
                    log.info("no native %s for %s (%r): deriving it", variant, job.id, exc,
                             extra={"job_id": job.id})
            media[variant.value] = await self._derive(job, video, variant, key)
        return media

    async def _derive(self, job: Job, video: Path, variant: Variant, key: str) -> MediaRef:
        out = self._tmp_path(job.id, "webp")
        try:
            make = make_thumbnail if variant == Variant.THUMBNAIL else make_spritesheet
            await asyncio.to_thread(make, video, out)
            obj = await self.storage.put_file(key, out, _CONTENT_TYPES[variant])
        finally:
            out.unlink(missing_ok=True)
        return MediaRef(obj.key, obj.size, obj.etag, obj.content_type)
