"""The embedded local provider: a real "upstream" inside the gateway process.

It behaves like a remote video API so the whole pipeline (submit, poll, download,
copy to storage) is exercised offline. Its state lives in files under its own work
directory, one folder per job, so a restart resumes unfinished renders instead of
losing them. Rendering runs in a thread pool, off the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from reelgate.media.derive import make_spritesheet, make_thumbnail
from reelgate.providers.base import (
    ChannelSpec,
    Credential,
    ErrorKind,
    Operation,
    SubmitRequest,
    UpstreamError,
    UpstreamJob,
    UpstreamStatus,
    Variant,
)
from reelgate.providers.local.render import RenderCancelled, RenderSpec, render_video

__all__ = ["LocalProvider"]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


@dataclass
class _Render:
    progress: float = 0.0
    started: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)


class LocalProvider:
    name = "local"
    supports_remix = True
    native_variants = frozenset(Variant)
    #: every operation, rendered for real (see :mod:`.derived`)
    operations = frozenset(Operation)

    def __init__(self, channel: ChannelSpec) -> None:
        opts = channel.options
        self.work_dir = Path(str(opts.get("work_dir", "data/local"))).resolve()
        self.preset = str(opts.get("preset", "veryfast"))
        self.moderation_words = tuple(str(w).lower() for w in opts.get("moderation_words", ()))
        self._pool = ThreadPoolExecutor(max_workers=int(opts.get("concurrency", 1)),
                                        thread_name_prefix="render")
        self._renders: dict[str, _Render] = {}

    def _dir(self, upstream_id: str) -> Path:
        if not upstream_id.replace("_", "").isalnum():
            raise UpstreamError(ErrorKind.NOT_FOUND, f"no such job {upstream_id!r}")
        return self.work_dir / upstream_id

    async def submit(self, request: SubmitRequest, credential: Credential) -> UpstreamJob:
        job_dir = self._dir(request.job_id)
        reference = request.reference.data if request.reference else None
        if request.remix_of is not None:
            source = self._dir(request.remix_of) / Variant.THUMBNAIL.filename
            if not source.exists():
                raise UpstreamError(ErrorKind.REJECTED, "the source video is not available",
                                    code="remix_source_unavailable")
            reference = await asyncio.to_thread(source.read_bytes)
        await asyncio.to_thread(self._write_request, job_dir, request, reference)
        return await self.fetch(request.job_id, credential)

    def _write_request(self, job_dir: Path, request: SubmitRequest, ref: bytes | None) -> None:
        job_dir.mkdir(parents=True, exist_ok=True)
        if ref is not None:
            (job_dir / "reference.bin").write_bytes(ref)
        meta = {"prompt": request.prompt, "size": request.size, "seconds": request.seconds,
                "model": request.model, "variation": request.remix_of or ""}
        blocked = next((w for w in self.moderation_words if w in request.prompt.lower()), None)
        if blocked:
            meta["error"] = {"code": "moderation_blocked",
                             "message": "The prompt was blocked by content moderation."}
        tmp = job_dir / "request.json.tmp"
        tmp.write_text(json.dumps(meta))
        tmp.replace(job_dir / "request.json")

    async def fetch(self, upstream_id: str, credential: Credential) -> UpstreamJob:
        job_dir = self._dir(upstream_id)
        meta_path = job_dir / "request.json"
        if not meta_path.exists():
            raise UpstreamError(ErrorKind.NOT_FOUND, f"no such job {upstream_id!r}")
        meta = json.loads(await asyncio.to_thread(meta_path.read_text))
        failed = job_dir / "failed"
        if failed.exists():
            return UpstreamJob(upstream_id, UpstreamStatus.FAILED, raw_status="failed",
                               error_code="render_failed", error_message=failed.read_text())
        if "error" in meta:
            return UpstreamJob(upstream_id, UpstreamStatus.FAILED, raw_status="failed",
                               error_code=meta["error"]["code"],
                               error_message=meta["error"]["message"])
        if (job_dir / "done").exists():
            return UpstreamJob(upstream_id, UpstreamStatus.COMPLETED, 100, "completed",
                               seconds=float(meta["seconds"]), size=meta["size"])
        render = self._renders.get(upstream_id)
        if render is None:  # new, or interrupted by a restart: (re)start it
            render = self._start(upstream_id, job_dir, meta)
        if not render.started:
            return UpstreamJob(upstream_id, UpstreamStatus.QUEUED, 0, "queued", poll_after=0.5)
        pct = min(99, int(render.progress * 100))
        return UpstreamJob(upstream_id, UpstreamStatus.IN_PROGRESS, pct, "in_progress",
                           poll_after=0.5)

    def _start(self, upstream_id: str, job_dir: Path, meta: dict[str, object]) -> _Render:
        render = _Render()
        self._renders[upstream_id] = render
        ref_path = job_dir / "reference.bin"
        width, height = (int(v) for v in str(meta["size"]).split("x"))
        spec = RenderSpec(prompt=str(meta["prompt"]), width=width, height=height,
                          seconds=int(str(meta["seconds"])),
                          reference=ref_path.read_bytes() if ref_path.exists() else None,
                          variation=str(meta.get("variation", "")))
        future = asyncio.get_running_loop().run_in_executor(
            self._pool, self._render_sync, job_dir, spec, render)
        future.add_done_callback(lambda f: self._finished(upstream_id, f))
        return render

    def _render_sync(self, job_dir: Path, spec: RenderSpec, render: _Render) -> None:
        render.started = True
        if render.cancel.is_set():
            raise RenderCancelled()

        def progress(fraction: float) -> None:
            render.progress = fraction * 0.9

        video = job_dir / Variant.VIDEO.filename
        render_video(spec, video, preset=self.preset, progress=progress,
                     should_stop=render.cancel.is_set)
        make_thumbnail(video, job_dir / Variant.THUMBNAIL.filename)
        render.progress = 0.95
        make_spritesheet(video, job_dir / Variant.SPRITESHEET.filename)
        (job_dir / "done").touch()
        render.progress = 1.0

    def _finished(self, upstream_id: str, future: asyncio.Future[None]) -> None:
        self._renders.pop(upstream_id, None)
        exc = None if future.cancelled() else future.exception()
        if exc is not None and not isinstance(exc, RenderCancelled):
            log.error("local render of %s failed: %r", upstream_id, exc)
            job_dir = self.work_dir / upstream_id
            if job_dir.exists():  # a deterministic failure must not be retried forever
                (job_dir / "failed").write_text(f"The local renderer failed: {exc}")

    async def download(
        self, job: UpstreamJob, variant: Variant, credential: Credential
    ) -> AsyncIterator[bytes]:
        path = self._dir(job.upstream_id) / variant.filename
        if not path.exists():
            raise UpstreamError(ErrorKind.NOT_FOUND, f"{variant.value} of {job.upstream_id} "
                                "is not available")
        with path.open("rb") as fh:
            while chunk := await asyncio.to_thread(fh.read, _CHUNK):
                yield chunk

    async def delete(self, upstream_id: str, credential: Credential) -> None:
        render = self._renders.get(upstream_id)
        if render is not None:
            render.cancel.set()
        await asyncio.to_thread(shutil.rmtree, self._dir(upstream_id), True)

    async def recover(self, job_id: str, credential: Credential) -> UpstreamJob | None:
        try:
            return await self.fetch(job_id, credential)
        except UpstreamError:
            return None

    async def check(self, credential: Credential) -> None:
        """The renderer needs only a writable work directory."""
        try:
            await asyncio.to_thread(self.work_dir.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            raise UpstreamError(ErrorKind.UNAVAILABLE, f"work directory unusable: {exc}") from exc

    async def aclose(self) -> None:
        for render in self._renders.values():
            render.cancel.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
