"""What a submit sends besides the prompt: the reference image, the source clip of an
edit or extension, a remix's source, the characters, each read from the job's own
storage (never from another job's, which may be deleted by now).

The source clip goes to a scratch file (the provider streams it from there) that
:meth:`Inputs.close` removes once the submit is over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reelgate.catalog.spec import Operation
from reelgate.jobs.lifecycle import Lifecycle
from reelgate.jobs.model import Job
from reelgate.media.storage import Storage
from reelgate.providers.base import ReferenceImage, SourceVideo, SubmitRequest
from reelgate.scheduler.scratch import Scratch

__all__ = ["Inputs", "needs"]


def needs(job: Job) -> frozenset[Operation]:
    """What the channel of an unpinned job must be able to do."""
    if job.operation in (Operation.EDIT.value, Operation.EXTEND.value):
        return frozenset({Operation(job.operation)})
    return frozenset()


def _operation(job: Job) -> Operation:
    if job.operation:
        return Operation(job.operation)
    return Operation.REMIX if job.remixed_from else Operation.CREATE


@dataclass
class Inputs:
    """A job's inputs for one submit; ``close`` deletes the scratch files."""

    reference: ReferenceImage | None = None
    remix_of: str | None = None
    source_path: Path | None = None
    source_seconds: float = 0.0
    #: the source job's id upstream, if it still exists (an edit or extension by id)
    source_upstream: str | None = None
    _files: list[Path] = field(default_factory=list)

    @classmethod
    async def load(cls, job: Job, storage: Storage, scratch: Scratch,
                   lifecycle: Lifecycle) -> Inputs:
        inputs = cls()
        try:
            inputs.reference = await inputs._reference(job, storage, scratch)
            source_id = job.remixed_from or job.source_id
            source = await lifecycle.reload(source_id) if source_id else None
            alive = source is not None and source.deleted_at is None
            if job.remixed_from:
                inputs.remix_of = source.upstream_id if source else None
            elif source is not None and alive and source.channel_id == job.channel_id:
                inputs.source_upstream = source.upstream_id
            if job.source_key:
                path = scratch.path(job.id, "source.mp4")
                inputs._files.append(path)
                await storage.download_to(job.source_key, path)
                inputs.source_path = path
                inputs.source_seconds = float(job.seconds - (job.segment_seconds or 0))
        except BaseException:
            inputs.close()
            raise
        return inputs

    async def _reference(self, job: Job, storage: Storage,
                         scratch: Scratch) -> ReferenceImage | None:
        if not job.reference_key:
            return None
        path = scratch.path(job.id, "ref")
        try:
            await storage.download_to(job.reference_key, path)
            data = path.read_bytes()
        finally:
            path.unlink(missing_ok=True)
        # measured when it arrived (and backfilled by migration 0003 for older jobs)
        assert job.reference_width is not None and job.reference_height is not None
        return ReferenceImage(data, job.reference_mime or "image/png", job.reference_width,
                              job.reference_height)

    def request(self, job: Job, upstream_model: str) -> SubmitRequest:
        source = None
        if self.source_path is not None:
            source = SourceVideo(self.source_path, self.source_seconds, self.source_upstream)
        return SubmitRequest(
            job.id, upstream_model, job.prompt, job.size, job.billed_seconds, self.reference,
            self.remix_of, operation=_operation(job), source=source,
            characters=tuple(c["upstream_id"] for c in job.characters or ()))

    def close(self) -> None:
        for path in self._files:
            path.unlink(missing_ok=True)
        self._files.clear()
