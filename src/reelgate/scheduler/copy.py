"""Copying a finished job home: the video, checked, and its images, into our storage.

Runs right after a poll (or a submit) saw the upstream finish, with that answer, or
for a job found in ``downloading`` (a worker stopped mid-copy), with what its row
recorded. Storage writes are atomic, so a copy is simply redone after a crash.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from reelgate.config import Settings
from reelgate.ids import now
from reelgate.jobs.lifecycle import Lifecycle
from reelgate.jobs.model import Job
from reelgate.jobs.owned import media_prefix
from reelgate.media.derive import VideoInfo, make_spritesheet, make_thumbnail, probe
from reelgate.media.images import image_type
from reelgate.media.objects import StoredObject
from reelgate.media.storage import Storage
from reelgate.providers.base import ErrorKind, UpstreamError, UpstreamJob, UpstreamStatus, Variant
from reelgate.providers.http import URL_REFUSED
from reelgate.scheduler.backoff import poll_delay
from reelgate.scheduler.directory import Pinned
from reelgate.scheduler.observe import Unobserved, UpstreamObserver
from reelgate.scheduler.scratch import Scratch

__all__ = ["Copier", "recorded_result"]

log = logging.getLogger(__name__)

def recorded_result(job: Job) -> UpstreamJob:
    """The upstream's last answer as the row of a ``downloading`` job recorded it."""
    return UpstreamJob(job.upstream_id or "", UpstreamStatus.COMPLETED,
                       result_url=job.result_url, seconds=job.rendered_seconds,
                       size=job.rendered_size)


class Copier:
    def __init__(self, lifecycle: Lifecycle, storage: Storage, settings: Settings,
                 scratch: Scratch, *, observer: UpstreamObserver | None = None) -> None:
        self.lifecycle = lifecycle
        self.storage = storage
        self.settings = settings
        self.scratch = scratch
        self.observer = observer or Unobserved()

    async def copy(self, job: Job, pinned: Pinned, up: UpstreamJob) -> None:
        video = self.scratch.path(job.id, "mp4")
        try:
            media, info = await self._copy_variants(job, pinned, up, video)
        except UpstreamError as exc:
            await self.observer.upstream_error("download", pinned.channel.id, exc)
            if exc.kind == ErrorKind.NOT_FOUND:
                await self.lifecycle.fail(
                    job, "upstream_content_expired",
                    "The upstream finished but its file could not be fetched.")
            elif exc.code == URL_REFUSED:  # it pointed us at a private address
                log.warning("job %s: %s", job.id, exc.message, extra={"job_id": job.id})
                await self.lifecycle.fail(job, URL_REFUSED, "The upstream's file is at an "
                                          "address this gateway does not fetch from (a "
                                          "private network).")
            else:
                await self.lifecycle.release(job, now() + poll_delay(job, self.settings),
                                             count_poll=True)
            return
        except ValueError as exc:
            await self.lifecycle.fail(job, "invalid_upstream_media", str(exc))
            return
        finally:
            video.unlink(missing_ok=True)
        seconds, size = _rendered(job, info)
        done = await self.lifecycle.complete(
            job, media, rendered_seconds=seconds, rendered_size=size,
            expires_at=now() + self.settings.retention_days * 86400)
        if done is not None:
            log.info("job %s completed", job.id, extra={"job_id": job.id})
            return
        latest = await self.lifecycle.reload(job.id)
        if latest is None or latest.deleted_at is not None:  # deleted meanwhile:
            await self.storage.delete_prefix(media_prefix(job.id))  # leave no orphans
        # else another worker finished it after our lease ran out: its files stay

    async def _copy_variants(self, job: Job, pinned: Pinned, up: UpstreamJob,
                             video: Path) -> tuple[dict[str, StoredObject], VideoInfo]:
        """Stream the video to a temp file, check it decodes, then store it and the
        images (the upstream's own when it has them and they are images, else ours)."""
        with video.open("wb") as fh:
            async for chunk in pinned.provider.download(up, Variant.VIDEO, pinned.credential):
                fh.write(chunk)
        info = await asyncio.to_thread(probe, video)
        prefix = media_prefix(job.id)
        obj = await self.storage.put_file(prefix + Variant.VIDEO.filename, video,
                                          Variant.VIDEO.content_type)
        media = {Variant.VIDEO.value: obj}
        for variant in (Variant.THUMBNAIL, Variant.SPRITESHEET):
            key = prefix + variant.filename
            ref = None
            if variant in pinned.provider.native_variants:
                ref = await self._native(job, pinned, up, variant, key)
            media[variant.value] = ref or await self._derive(job, video, variant, key)
        return media, info

    async def _native(self, job: Job, pinned: Pinned, up: UpstreamJob, variant: Variant,
                      key: str) -> StoredObject | None:
        """The upstream's own image, stored under the type its bytes show; None if it
        has none or sends something that is not an image."""
        path = self.scratch.path(job.id, "img")
        try:
            with path.open("wb") as fh:
                async for chunk in pinned.provider.download(up, variant, pinned.credential):
                    fh.write(chunk)
            with path.open("rb") as fh:
                mime = image_type(fh.read(16))
            if mime is None:
                log.info("native %s of %s is not an image: deriving it", variant, job.id,
                         extra={"job_id": job.id})
                return None
            obj = await self.storage.put_file(key, path, mime)
            return obj
        except UpstreamError as exc:
            log.info("no native %s for %s (%r): deriving it", variant, job.id, exc,
                     extra={"job_id": job.id})
            return None
        finally:
            path.unlink(missing_ok=True)

    async def _derive(self, job: Job, video: Path, variant: Variant, key: str) -> StoredObject:
        out = self.scratch.path(job.id, "webp")
        try:
            make = make_thumbnail if variant == Variant.THUMBNAIL else make_spritesheet
            await asyncio.to_thread(make, video, out)
            obj = await self.storage.put_file(key, out, variant.content_type)
        finally:
            out.unlink(missing_ok=True)
        return obj


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
