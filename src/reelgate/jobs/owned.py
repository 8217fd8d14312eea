"""Everything a job keeps in storage, named in one place.

A job owns its media (the video and its variants, under :func:`media_prefix`), the
reference image a client sent (:func:`reference_key`), and any other input uploaded for
it: an uploaded clip goes under the media prefix too (``videos/<id>/source.mp4``).
Deleting a job and retention both remove exactly :func:`owned_prefixes`, so a new kind
of stored input is covered once it is listed here, and forgotten nowhere.
"""

from __future__ import annotations

from reelgate.jobs.model import Job
from reelgate.media.storage import Storage

__all__ = ["delete_owned", "media_prefix", "owned_prefixes", "reference_key"]

_EXT = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


def media_prefix(job_id: str) -> str:
    """The video, its thumbnail and spritesheet, and uploaded clips of the job."""
    return f"videos/{job_id}/"


def reference_key(job_id: str, mime: str) -> str:
    return f"references/{job_id}.{_EXT.get(mime, 'bin')}"


def owned_prefixes(job: Job) -> tuple[str, ...]:
    """Storage prefixes that together hold everything ``job`` stored, and nothing else."""
    prefixes = [media_prefix(job.id)]
    if job.reference_key:
        prefixes.append(job.reference_key)
    return tuple(prefixes)


async def delete_owned(storage: Storage, job: Job) -> None:
    """Remove everything ``job`` stored (idempotent: what is gone stays gone)."""
    for prefix in owned_prefixes(job):
        await storage.delete_prefix(prefix)
