"""The embedded local provider: a real "upstream" inside the gateway process.

It behaves like a remote video API so the whole pipeline (submit, poll, download,
copy to storage) is exercised offline. Its state lives in files under its own work
directory, one folder per job, so a restart resumes unfinished renders instead of
losing them. Rendering runs in child processes at a lower priority
(:mod:`.process`), off the event loop and out of the gateway's GIL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
from collections.abc import AsyncIterator
from concurrent.futures import BrokenExecutor
from dataclasses import dataclass
from pathlib import Path

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
from reelgate.providers.local.characters import (
    CharacterLook,
    create_character,
    load_character,
)
from reelgate.providers.local.process import CANCEL, PROGRESS, make_pool, read_progress, render_job
from reelgate.providers.local.render import RenderCancelled, RenderSpec

__all__ = ["LocalProvider"]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_SOURCE = "source.mp4"
_MODES = {Operation.EDIT: "edit", Operation.EXTEND: "extend"}


@dataclass
class _Render:
    """A render this process started; its progress is in the job's folder."""

    job_dir: Path

    def cancel(self) -> None:
        with contextlib.suppress(OSError):
            (self.job_dir / CANCEL).touch()


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
        self.concurrency = int(opts.get("concurrency", 1))
        self._pool = make_pool(self.concurrency)
        self._renders: dict[str, _Render] = {}

    def _dir(self, upstream_id: str) -> Path:
        if not upstream_id.replace("_", "").isalnum():
            raise UpstreamError(ErrorKind.NOT_FOUND, f"no such job {upstream_id!r}")
        return self.work_dir / upstream_id

    async def submit(self, request: SubmitRequest, credential: Credential) -> UpstreamJob:
        job_dir = self._dir(request.job_id)
        for upstream_id in request.characters:  # known here, or the create is refused
            try:
                await asyncio.to_thread(load_character, self.work_dir, upstream_id)
            except LookupError as exc:
                raise UpstreamError(ErrorKind.REJECTED, str(exc),
                                    code="character_not_found") from exc
        if request.source is not None:  # the clip to edit or extend: our own copy of it
            await asyncio.to_thread(job_dir.mkdir, parents=True, exist_ok=True)
            await asyncio.to_thread(shutil.copyfile, request.source.path, job_dir / _SOURCE)
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
        meta: dict[str, object] = {
            "prompt": request.prompt, "size": request.size, "seconds": request.seconds,
            "model": request.model, "variation": request.remix_of or "",
            "mode": _MODES.get(request.operation, "create"),
            "source_seconds": round(request.source.seconds) if request.source else 0,
            "characters": list(request.characters)}
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
        if (job_dir / "done").exists():  # an extension reports the stitched whole
            seconds = float(meta["seconds"]) + float(meta.get("source_seconds", 0)
                                                     if meta.get("mode") == "extend" else 0)
            return UpstreamJob(upstream_id, UpstreamStatus.COMPLETED, 100, "completed",
                               seconds=seconds, size=meta["size"])
        if upstream_id not in self._renders:  # new, or interrupted by a restart: (re)start it
            self._start(upstream_id, job_dir, meta)
        fraction = read_progress(job_dir)
        if fraction is None:
            return UpstreamJob(upstream_id, UpstreamStatus.QUEUED, 0, "queued", poll_after=0.5)
        pct = min(99, int(fraction * 100))
        return UpstreamJob(upstream_id, UpstreamStatus.IN_PROGRESS, pct, "in_progress",
                           poll_after=0.5)

    def _start(self, upstream_id: str, job_dir: Path, meta: dict[str, object]) -> None:
        for stale in (PROGRESS, CANCEL):  # left by a render before a restart
            (job_dir / stale).unlink(missing_ok=True)
        self._renders[upstream_id] = _Render(job_dir)
        ref_path = job_dir / "reference.bin"
        width, height = (int(v) for v in str(meta["size"]).split("x"))
        mode = str(meta.get("mode", "create"))
        spec = RenderSpec(prompt=str(meta["prompt"]), width=width, height=height,
                          seconds=int(str(meta["seconds"])),
                          reference=ref_path.read_bytes() if ref_path.exists() else None,
                          variation=str(meta.get("variation", "")), mode=mode,
                          source=job_dir / _SOURCE if mode != "create" else None,
                          source_seconds=int(str(meta.get("source_seconds", 0))),
                          characters=tuple(self._characters(meta)))
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self._pool, render_job, str(job_dir), spec,
                                          self.preset)
        except BrokenExecutor:  # a render process died (killed, out of memory): anew
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = make_pool(self.concurrency)
            future = loop.run_in_executor(self._pool, render_job, str(job_dir), spec,
                                          self.preset)
        future.add_done_callback(lambda f: self._finished(upstream_id, f))

    def _characters(self, meta: dict[str, object]) -> list[CharacterLook]:
        ids = meta.get("characters") or []
        assert isinstance(ids, list)
        try:
            return [load_character(self.work_dir, str(i)) for i in ids]
        except LookupError:  # deleted since the submit: the render goes on without it
            log.warning("local render: a character of %s is gone", meta.get("prompt"))
            return []

    async def create_character(self, name: str, clip: Path, credential: Credential) -> str:
        """A still of the clip becomes the character's look (see :mod:`.characters`)."""
        try:
            return await asyncio.to_thread(create_character, self.work_dir, name, clip)
        except ValueError as exc:
            raise UpstreamError(ErrorKind.REJECTED, f"the clip cannot be used: {exc}",
                                code="invalid_video") from exc

    def _finished(self, upstream_id: str, future: asyncio.Future[None]) -> None:
        self._renders.pop(upstream_id, None)
        exc = None if future.cancelled() else future.exception()
        if isinstance(exc, BrokenExecutor):  # not the job's fault: the next poll restarts it
            log.warning("local render of %s lost its process: %r", upstream_id, exc)
            return
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
            render.cancel()
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
            render.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
