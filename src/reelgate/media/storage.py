"""Where finished media lives: the interface every storage backend implements.

Media is always moved as a stream of chunks so a multi-gigabyte video never sits in
memory. Keys are relative paths such as ``videos/video_abc/video.mp4``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Protocol, runtime_checkable

from reelgate.media.objects import StoredObject

__all__ = ["Storage", "StoredObject"]


@runtime_checkable
class Storage(Protocol):
    async def put_stream(
        self, key: str, chunks: AsyncIterable[bytes], content_type: str
    ) -> StoredObject:
        """Write atomically: readers see the old object or the whole new one."""
        ...

    async def put_file(self, key: str, path: Path, content_type: str) -> StoredObject: ...

    async def stat(self, key: str) -> StoredObject | None: ...

    def read_range(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Yield bytes ``start..end`` inclusive, in chunks of bounded size."""
        ...

    async def download_to(self, key: str, path: Path) -> None:
        """Copy an object to a local file (for deriving thumbnails)."""
        ...

    async def delete_prefix(self, prefix: str) -> None: ...

    async def presigned_url(self, key: str, expires_in: int) -> str | None:
        """A URL the client may fetch directly, or None if the backend has none."""
        ...

    async def check(self) -> None:
        """Raise if the backend is not reachable (readiness probe)."""
        ...

    async def aclose(self) -> None: ...
