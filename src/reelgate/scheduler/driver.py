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
from reelgate.jobs.lifecycle import Lifecycle
from reelgate.jobs.model import Job, MediaRef
from reelgate.jobs.service import media_prefix
from reelgate.jobs.states import State
from reelgate.media.derive import VideoInfo, make_spritesheet, make_thumbnail, probe
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
from reelgate.providers.http import URL_REFUSED
from reelgate.routing import router
from reelgate.routing.channels import Channel, active_counts, set_channel, set_credential
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
_DOWN_COOLDOWN = 10.0  # an endpoint that refused a connection or answered 5xx
_AUTH_COOLDOWN = 600.0  # a key the upstream rejected; `channels test` says why


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
        return await self.lifecycle.fail(job, code, message)

    def _poll_delay(self, job: Job, hint: float | None = None, *,
                    started_at: float | None = None) -> float:
        elapsed = now() - (started_at or job.started_at or job.created_at)
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
        loads = await self._loads()
        if job.channel_id:  # remixes stay on the channel and key of their source
            channel = await self.directory.channel(job.channel_id)
            cands = [router.Candidate(channel, job.credential_id or "",
                                      channel.upstream_model(job.model) or job.model)
                     ] if channel else []
        else:
            cands = router.candidates(await self.directory.channels(), job.model, now=now(),
                                      busy=loads)
        if not cands:
            await self.fail(job, "no_channel", f"No channel serves model '{job.model}'.")
            return
        request = SubmitRequest(job.id, job.model, job.prompt, job.size, job.seconds,
                                await self._reference(job), await self._remix_source(job))
        waits: list[float] = []  # when each candidate may take the job again
        down: set[str] = set()  # channels that refused the connection: skip their other keys
        for cand in cands:
            if cand.channel.id in down:
                continue
            outcome = await self._try_candidate(job, cand, request, loads)
            if isinstance(outcome, tuple):
                job, exc = outcome  # back in QUEUED with a new version: try the next one
                if exc.kind == ErrorKind.UNAVAILABLE and exc.status_code is None:
                    down.add(cand.channel.id)
                rate_limited = exc.kind == ErrorKind.RATE_LIMITED
                waits.append((exc.retry_after or 5.0) if rate_limited else 0.0)
                continue
            if isinstance(outcome, float):
                waits.append(outcome)
                continue
            return  # accepted, failed or lost the race
        if now() - job.created_at > self.settings.job_timeout_seconds:
            await self.fail(job, "upstream_unavailable", "No upstream accepted the job in time.")
        else:  # the soonest any candidate may say yes, so a throttled upstream is not hammered
            wait = max(min(waits, default=0.0), self.settings.poll_min_seconds)
            await self.lifecycle.release(job, now() + wait)

    async def _loads(self) -> dict[tuple[str, str], int]:
        """Jobs running per (channel, credential); pinned but unsent remixes do not count."""
        channels = await self.directory.channels()
        async with self.lifecycle.db.read() as conn:
            return await active_counts(conn, [c.id for c in channels],
                                       [s.value for s in _RUNNING])

    async def _try_candidate(
        self, job: Job, cand: router.Candidate, request: SubmitRequest,
        loads: dict[tuple[str, str], int],
    ) -> tuple[Job, UpstreamError] | float | None:
        """(job, error): not accepted, try on; float: skipped (at capacity); None: done."""
        channel = cand.channel
        running = sum(n for (cid, _), n in loads.items() if cid == channel.id)
        if channel.max_concurrent and running >= channel.max_concurrent:
            return 1.0
        provider = await self.directory.provider(channel)
        cred = await self.directory.credential(cand.credential_id)
        sending = await self.lifecycle.route(job, channel_id=channel.id,
                                             credential_id=cand.credential_id,
                                             upstream_model=cand.upstream_model)
        if sending is None:
            return None
        req = SubmitRequest(request.job_id, cand.upstream_model, request.prompt, request.size,
                            request.seconds, request.reference, request.remix_of)
        try:
            up = await provider.submit(req, cred)
        except UpstreamError as exc:
            back = await self._submit_failed(sending, channel, exc)
            return (back, exc) if back is not None else None
        key = (channel.id, cand.credential_id)
        loads[key] = loads.get(key, 0) + 1
        await self._accepted(sending, up)
        return None

    async def _submit_failed(self, job: Job, channel: Channel, exc: UpstreamError) -> Job | None:
        """Back to QUEUED when the upstream certainly did not take the job, else failed."""
        fields = {"job_id": job.id, "channel": channel.name, "credential_id": job.credential_id,
                  "error_kind": exc.kind.value, "status_code": exc.status_code}
        log.warning("submit of %s to %s failed: %r", job.id, channel.name, exc, extra=fields)
        if exc.accepted_impossible:
            await self._cool_down_after(channel, job.credential_id or "", exc)
            return await self.lifecycle.requeue(job, unroute=not job.remixed_from)
        if exc.kind in (ErrorKind.AMBIGUOUS, ErrorKind.PROTOCOL):
            await self._ambiguous(job, channel, exc, fields)
        else:
            await self.fail(job, exc.code or "upstream_rejected", exc.message)
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

    async def _cool_down_after(self, channel: Channel, cred_id: str, exc: UpstreamError) -> None:
        """Move what failed to the back of the routing order for a while.

        429 and a rejected key are about one key; a refused connection or a 5xx is the
        endpoint itself, whichever key is used.
        """
        t = now()
        async with self.lifecycle.db.begin() as conn:
            if exc.kind == ErrorKind.UNAVAILABLE or not cred_id:
                await set_channel(conn, channel.id, cooldown_until=t + _DOWN_COOLDOWN)
            else:
                pause = _AUTH_COOLDOWN if exc.kind == ErrorKind.AUTH else (exc.retry_after or 5.0)
                await set_credential(conn, cred_id, cooldown_until=t + pause)
                others = [c for c in channel.credential_ids if c != cred_id
                          and channel.key_cooldowns.get(c, 0.0) <= t]
                if exc.kind == ErrorKind.RATE_LIMITED and not others:
                    await set_channel(conn, channel.id, cooldown_until=t + pause)
        self.directory.invalidate()

    async def _cool_down(self, channel: Channel, seconds: float) -> None:
        async with self.lifecycle.db.begin() as conn:
            await set_channel(conn, channel.id, cooldown_until=now() + seconds)
        self.directory.invalidate()

    async def _accepted(self, job: Job, up: UpstreamJob, *, retry: bool = True) -> None:
        if await self._apply(job, up, accepted=True):
            log.info("job %s accepted upstream as %s", job.id, up.upstream_id,
                     extra={"job_id": job.id})
            return
        # The job changed while the upstream was taking it: a client deleted it, or our
        # lease ran out. Record the upstream id if it is still ours to record, else
        # cancel the upstream job, which nobody would ever poll or pay for.
        latest = await self.lifecycle.reload(job.id)
        if (retry and latest is not None and latest.state == State.SUBMITTING
                and latest.deleted_at is None and not latest.upstream_id):
            await self._accepted(latest, up, retry=False)
        elif latest is None or not latest.upstream_id:
            await self._cancel_orphan(job, up)

    async def _cancel_orphan(self, job: Job, up: UpstreamJob) -> None:
        fields = {"job_id": job.id, "channel_id": job.channel_id,
                  "upstream_id": up.upstream_id}
        try:
            channel = await self.directory.channel(job.channel_id or "")
            if channel is not None:
                provider = await self.directory.provider(channel)
                await provider.delete(up.upstream_id,
                                      await self.directory.credential(job.credential_id))
            log.info("job %s went away while submitting; cancelled %s upstream", job.id,
                     up.upstream_id, extra=fields)
        except (UpstreamError, LookupError) as exc:
            log.warning("job %s went away while submitting; could not cancel %s upstream: "
                        "%r", job.id, up.upstream_id, exc, extra={**fields, "reconcile": True})

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
        await self._apply(job, up, accepted=True, event="recovered")

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
            await self.lifecycle.release(job, now() + delay, count_poll=True)
        elif exc.kind == ErrorKind.NOT_FOUND and job.poll_count >= _NOT_FOUND_LIMIT:
            await self.fail(job, "upstream_lost", "The upstream no longer knows this job.")
        else:
            await self.lifecycle.release(job, now() + self._poll_delay(job), count_poll=True)

    async def _apply(self, job: Job, up: UpstreamJob, *, accepted: bool = False,
                     event: str | None = None) -> bool:
        """Record what the upstream said and schedule what comes next; ``accepted``:
        ``up`` answers our submit (or recovery), so it also carries the upstream id.
        False if the job changed meanwhile (nothing was recorded)."""
        new_id = up.upstream_id if accepted else None
        if up.status == UpstreamStatus.FAILED:
            log.info("job %s failed upstream: %s", job.id, up.error_code,
                     extra={"job_id": job.id})
            return await self.lifecycle.fail(
                job, up.error_code or "generation_failed",
                up.error_message or "The upstream reported a failure.",
                upstream_id=new_id) is not None
        if up.status == UpstreamStatus.COMPLETED:
            moved = await self.lifecycle.downloading(
                job, upstream_status=up.raw_status or "completed", result_url=up.result_url,
                rendered_seconds=up.seconds, rendered_size=up.size, upstream_id=new_id)
            if moved is not None:
                await self.copy(moved)
            return moved is not None
        progress = min(up.progress or 0, 99)
        due = now() + self._poll_delay(job, up.poll_after,
                                       started_at=now() if accepted else None)
        if accepted:
            moved = await self.lifecycle.accept(job, up.upstream_id,
                                                upstream_status=up.status.value,
                                                progress=progress, due_at=due, event=event)
        else:
            moved = await self.lifecycle.progress(job, progress=progress,
                                                  upstream_status=up.status.value, due_at=due)
        return moved is not None

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
            media, info = await self._copy_variants(job, provider, cred, up, video)
        except UpstreamError as exc:
            if exc.kind == ErrorKind.NOT_FOUND:
                await self.fail(job, "upstream_content_expired",
                                "The upstream finished but its file could not be fetched.")
            elif exc.code == URL_REFUSED:  # it pointed us at a private address
                log.warning("job %s: %s", job.id, exc.message, extra={"job_id": job.id})
                await self.fail(job, URL_REFUSED, "The upstream's file is at an address "
                                "this gateway does not fetch from (a private network).")
            else:
                await self.lifecycle.release(job, now() + self._poll_delay(job), count_poll=True)
            return
        except ValueError as exc:
            await self.fail(job, "invalid_upstream_media", str(exc))
            return
        finally:
            video.unlink(missing_ok=True)
        t = now()
        seconds, size = self._rendered(job, info)
        done = await self.lifecycle.complete(
            job, media, rendered_seconds=seconds, rendered_size=size,
            expires_at=t + self.settings.retention_days * 86400)
        if done is None:
            latest = await self.lifecycle.reload(job.id)
            if latest is None or latest.deleted_at is not None:  # deleted meanwhile:
                await self.storage.delete_prefix(media_prefix(job.id))  # leave no orphans
            # else another worker finished it after our lease ran out: its files stay
        else:
            log.info("job %s completed", job.id, extra={"job_id": job.id})

    @staticmethod
    def _rendered(job: Job, info: VideoInfo) -> tuple[float, str]:
        """What billing charges for: what the upstream says it rendered, else what was
        asked. The file's own duration is only a cross-check (containers round)."""
        seconds = job.rendered_seconds if job.rendered_seconds else float(job.seconds)
        size = job.rendered_size or job.size
        probed = f"{info.width}x{info.height}"
        if abs(info.seconds - seconds) > 1.0 or probed != size:
            log.warning("job %s: upstream reports %gs %s but the file is %.2fs %s", job.id,
                        seconds, size, info.seconds, probed, extra={"job_id": job.id})
        return seconds, size

    async def _copy_variants(self, job: Job, provider: Provider, cred: Credential,
                             up: UpstreamJob, video: Path) -> tuple[dict[str, MediaRef], VideoInfo]:
        """Stream the video to a temp file, check it decodes, then store it and the
        images (the upstream's own when it has them and they are images, else ours)."""
        with video.open("wb") as fh:
            async for chunk in provider.download(up, Variant.VIDEO, cred):
                fh.write(chunk)
        info = await asyncio.to_thread(probe, video)
        media: dict[str, MediaRef] = {}
        prefix = media_prefix(job.id)
        obj = await self.storage.put_file(prefix + _FILENAMES[Variant.VIDEO], video,
                                          "video/mp4")
        media[Variant.VIDEO.value] = MediaRef(obj.key, obj.size, obj.etag, obj.content_type)
        for variant in (Variant.THUMBNAIL, Variant.SPRITESHEET):
            key = prefix + _FILENAMES[variant]
            ref = None
            if variant in provider.native_variants:
                ref = await self._native(job, provider, cred, up, variant, key)
            media[variant.value] = ref or await self._derive(job, video, variant, key)
        return media, info

    async def _native(self, job: Job, provider: Provider, cred: Credential, up: UpstreamJob,
                      variant: Variant, key: str) -> MediaRef | None:
        """The upstream's own image, stored under the type its bytes show; None if it
        has none or sends something that is not an image."""
        path = self._tmp_path(job.id, "img")
        try:
            with path.open("wb") as fh:
                async for chunk in provider.download(up, variant, cred):
                    fh.write(chunk)
            with path.open("rb") as fh:
                mime = image_type(fh.read(16))
            if mime is None:
                log.info("native %s of %s is not an image: deriving it", variant, job.id,
                         extra={"job_id": job.id})
                return None
            obj = await self.storage.put_file(key, path, mime)
            return MediaRef(obj.key, obj.size, obj.etag, obj.content_type)
        except UpstreamError as exc:
            log.info("no native %s for %s (%r): deriving it", variant, job.id, exc,
                     extra={"job_id": job.id})
            return None
        finally:
            path.unlink(missing_ok=True)

    async def _derive(self, job: Job, video: Path, variant: Variant, key: str) -> MediaRef:
        out = self._tmp_path(job.id, "webp")
        try:
            make = make_thumbnail if variant == Variant.THUMBNAIL else make_spritesheet
            await asyncio.to_thread(make, video, out)
            obj = await self.storage.put_file(key, out, _CONTENT_TYPES[variant])
        finally:
            out.unlink(missing_ok=True)
        return MediaRef(obj.key, obj.size, obj.etag, obj.content_type)


def image_type(head: bytes) -> str | None:
    """The MIME type of a WEBP, JPEG or PNG by its first bytes; None for anything else."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return None
