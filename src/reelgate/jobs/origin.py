"""Where a new job comes from: a plain create, a remix, an edit or an extension of
another job (by id), of an uploaded clip, or a create that names characters.

The origin decides what the row records (its lineage, its pin to a channel and key),
what it is billed on (an extension: its new segment only), and the source clip the
job keeps *in its own storage*: uploaded, or copied from the source job when the job
is created, so deleting the source later breaks neither this job nor its content.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelgate.catalog.spec import Operation
from reelgate.jobs.model import Job
from reelgate.jobs.owned import media_prefix
from reelgate.media.storage import Storage

__all__ = ["SOURCE_FILE", "CharacterRef", "Origin", "source_key", "store_source"]

#: the name of a job's source clip under its media prefix
SOURCE_FILE = "source.mp4"


def source_key(job_id: str) -> str:
    return media_prefix(job_id) + SOURCE_FILE


@dataclass(frozen=True)
class CharacterRef:
    """A character a create names: our id, and its id on the channel that knows it."""

    id: str
    upstream_id: str
    channel_id: str
    credential_id: str | None


@dataclass(frozen=True)
class Origin:
    operation: Operation = Operation.CREATE
    #: the job this one is made from by id (remix, edit, extension): same channel and key
    source: Job | None = None
    #: an uploaded clip, on local disk (the caller deletes it): edits and extensions
    clip: Path | None = None
    #: an extension's new segment
    segment_seconds: int | None = None
    #: extensions in the chain, this one included
    extensions: int | None = None
    characters: tuple[CharacterRef, ...] = ()

    @classmethod
    def remix(cls, source: Job) -> Origin:
        return cls(Operation.REMIX, source)

    @property
    def pin(self) -> tuple[str | None, str | None]:
        """The (channel, key) the job must run on, or (None, None): routed like a create."""
        if self.source is not None:
            return self.source.channel_id, self.source.credential_id
        if self.characters:
            return self.characters[0].channel_id, self.characters[0].credential_id
        return None, None

    def values(self) -> dict[str, Any]:
        """The row's columns this origin sets (besides ``source_key``)."""
        channel_id, credential_id = self.pin
        source = self.source
        derived = self.operation in (Operation.EDIT, Operation.EXTEND)
        return {
            "operation": None if self.operation is Operation.CREATE else self.operation.value,
            "remixed_from": source.id if source and self.operation is Operation.REMIX else None,
            "source_id": source.id if source and derived else None,
            "segment_seconds": self.segment_seconds, "extensions": self.extensions,
            "characters": [{"id": c.id, "upstream_id": c.upstream_id}
                           for c in self.characters] or None,
            "channel_id": channel_id, "credential_id": credential_id,
        }


async def store_source(storage: Storage, job_id: str, origin: Origin) -> str | None:
    """Put the job's source clip in its own storage; its key, or None if it has none.

    An uploaded clip is stored as is; a source job's video is copied, streamed, so the
    job never depends on the source's storage (which a DELETE or retention removes).
    """
    if origin.operation not in (Operation.EDIT, Operation.EXTEND):
        return None
    key = source_key(job_id)
    if origin.clip is not None:
        await storage.put_file(key, origin.clip, "video/mp4")
        return key
    source = origin.source
    video = source.media.get("video") if source is not None else None
    if video is None:
        raise ValueError("an edit or extension needs a completed source or a clip")
    await storage.put_stream(key, _copy(storage, video.key, video.size), "video/mp4")
    return key


async def _copy(storage: Storage, key: str, size: int) -> AsyncIterator[bytes]:
    if size <= 0:
        return
    async for chunk in storage.read_range(key, 0, size - 1):
        yield chunk
