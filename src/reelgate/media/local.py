"""A directory on local disk as a media store.

Every write goes to a hidden temporary file beside its target and is renamed into
place, so readers always see a whole object. The etag and content type live in a
hidden sidecar so ``stat`` never rereads the media. Blocking file calls run in worker
threads in bounded pieces so one big video cannot stall the event loop.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mimetypes
import os
import secrets
import shutil
import stat as stat_mod
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Mapping
from pathlib import Path
from typing import BinaryIO

from anyio import to_thread

from reelgate.media.storage import StoredObject

__all__ = ["CHUNK_SIZE", "LocalStorage", "file_chunks", "validate_key", "validate_prefix"]

CHUNK_SIZE = 256 * 1024  # bytes handed to the network per read
_WRITE_BATCH = 1024 * 1024  # bytes gathered before one trip to a worker thread
_MAX_KEY_LENGTH = 1024


def validate_key(key: str) -> str:
    """Reject keys that could leave the store or collide with its hidden files.

    Both backends share this rule so a key valid on one is valid on the other:
    relative ``/``-separated names, no empty or dot-leading segments (which also
    excludes ``.`` and ``..``), no backslashes or control characters.
    """
    if not key or len(key) > _MAX_KEY_LENGTH:
        raise ValueError(f"invalid storage key {key!r}: empty or too long")
    if "\\" in key or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
        raise ValueError(f"invalid storage key {key!r}: backslash or control character")
    for segment in key.split("/"):
        if not segment or segment.startswith("."):
            raise ValueError(f"invalid storage key {key!r}: empty or dot-leading segment")
    return key


def validate_prefix(prefix: str) -> str:
    """A prefix is a key, optionally ending in ``/``; an empty one (everything) is refused."""
    validate_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def _sidecar(path: Path) -> Path:
    return path.with_name(f".{path.name}.meta.json")


def _temp_beside(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable; some filesystems refuse to open directories, which is fine."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fingerprint(st: os.stat_result) -> list[int]:
    """What ties a sidecar to one particular file body (rename keeps all three)."""
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def _write_sidecar(meta_path: Path, meta: Mapping[str, object]) -> Path:
    """Write the sidecar to a temporary file and return it, ready to be renamed."""
    tmp = _temp_beside(meta_path)
    with open(tmp, "xb") as fh:
        fh.write(json.dumps(meta).encode())
        fh.flush()
        os.fsync(fh.fileno())
    return tmp


def _read_sidecar(meta_path: Path) -> dict[str, object] | None:
    try:
        data = json.loads(meta_path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _hash_file(fh: BinaryIO) -> str:
    hasher = hashlib.blake2b(digest_size=16)
    while block := fh.read(_WRITE_BATCH):
        hasher.update(block)
    return hasher.hexdigest()


class _PendingFile:
    """A temporary file being filled; hashes as it writes so content is never reread."""

    def __init__(self, final: Path) -> None:
        final.parent.mkdir(parents=True, exist_ok=True)
        self.final = final
        self.tmp = _temp_beside(final)
        self.fh: BinaryIO = open(self.tmp, "xb")  # noqa: SIM115 - closed in commit/discard
        self.hasher = hashlib.blake2b(digest_size=16)
        self.size = 0

    def write(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.hasher.update(chunk)
            self.fh.write(chunk)
            self.size += len(chunk)

    def commit(self, key: str, content_type: str) -> StoredObject:
        """Flush, then rename data and sidecar into place (data first, see ``stat``)."""
        self.fh.flush()
        os.fsync(self.fh.fileno())
        st = os.fstat(self.fh.fileno())
        self.fh.close()
        etag = self.hasher.hexdigest()
        meta = {"etag": etag, "content_type": content_type, "fingerprint": _fingerprint(st)}
        meta_tmp = _write_sidecar(_sidecar(self.final), meta)
        try:
            os.replace(self.tmp, self.final)
        except BaseException:
            meta_tmp.unlink(missing_ok=True)
            raise
        os.replace(meta_tmp, _sidecar(self.final))
        _fsync_dir(self.final.parent)
        return StoredObject(key=key, size=self.size, etag=etag, content_type=content_type)

    def discard(self) -> None:
        """Drop a half-written file; cheap enough to run on the loop even when cancelled."""
        self.fh.close()
        self.tmp.unlink(missing_ok=True)


class LocalStorage:
    """Media under one root directory; see the module docstring for the layout."""

    def __init__(self, root: Path | str, *, chunk_size: int = CHUNK_SIZE) -> None:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self.root = Path(os.path.abspath(root))
        self.chunk_size = chunk_size

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    async def put_stream(
        self, key: str, chunks: AsyncIterable[bytes], content_type: str
    ) -> StoredObject:
        """Stream into a temporary file in batches of about 1 MiB, then rename it in."""
        pending = await to_thread.run_sync(_PendingFile, self._path(key))
        try:
            batch: list[bytes] = []
            batch_size = 0
            async for chunk in chunks:
                if not chunk:
                    continue
                batch.append(chunk)
                batch_size += len(chunk)
                if batch_size >= _WRITE_BATCH:
                    await to_thread.run_sync(pending.write, batch)
                    batch, batch_size = [], 0
            await to_thread.run_sync(pending.write, batch)
            return await to_thread.run_sync(pending.commit, key, content_type)
        except BaseException:
            pending.discard()
            raise

    async def put_file(self, key: str, path: Path, content_type: str) -> StoredObject:
        return await self.put_stream(key, file_chunks(Path(path), _WRITE_BATCH), content_type)

    async def stat(self, key: str) -> StoredObject | None:
        return await to_thread.run_sync(self._stat_sync, key)

    def _stat_sync(self, key: str) -> StoredObject | None:
        path = self._path(key)
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat_mod.S_ISREG(st.st_mode):
            return None
        meta = _read_sidecar(_sidecar(path))
        if meta is not None and meta.get("fingerprint") == _fingerprint(st):
            return StoredObject(key, st.st_size, str(meta["etag"]), str(meta["content_type"]))
        return self._rebuild_sidecar(key, path, meta)

    def _rebuild_sidecar(
        self, key: str, path: Path, old: dict[str, object] | None
    ) -> StoredObject | None:
        """Recover after a crash between the two renames (or a file placed by hand).

        The etag is recomputed from the bytes; the content type is the old sidecar's if
        there is one, else a guess from the name.
        """
        try:
            with open(path, "rb") as fh:
                st = os.fstat(fh.fileno())
                etag = _hash_file(fh)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        content_type = str(old["content_type"]) if old and "content_type" in old else None
        content_type = content_type or mimetypes.guess_type(path.name)[0]
        content_type = content_type or "application/octet-stream"
        meta = {"etag": etag, "content_type": content_type, "fingerprint": _fingerprint(st)}
        with contextlib.suppress(OSError):  # a read-only store still answers
            os.replace(_write_sidecar(_sidecar(path), meta), _sidecar(path))
        return StoredObject(key, st.st_size, etag, content_type)

    async def read_range(self, key: str, start: int, end: int) -> AsyncGenerator[bytes, None]:
        """Yield ``start..end`` inclusive (clamped to the size) in bounded chunks.

        Raises FileNotFoundError for a missing key and ValueError when ``start`` is
        negative or past the end. The open descriptor keeps reading the object it
        opened even if a writer replaces it meanwhile.
        """
        path = self._path(key)
        if start < 0:
            raise ValueError("start must not be negative")
        if end < start:
            return
        fd, size = await to_thread.run_sync(_open_at, path, start)
        try:
            pos, last = start, min(end, size - 1)
            while pos <= last:
                data = await to_thread.run_sync(
                    os.pread, fd, min(self.chunk_size, last - pos + 1), pos
                )
                if not data:
                    raise OSError(f"{key!r} was truncated while being read")
                pos += len(data)
                yield data
        finally:
            os.close(fd)

    async def download_to(self, key: str, path: Path) -> None:
        await to_thread.run_sync(self._download_sync, key, Path(path))

    def _download_sync(self, key: str, dest: Path) -> None:
        source = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temp_beside(dest)
        try:
            shutil.copyfile(source, tmp)
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    async def delete_prefix(self, prefix: str) -> None:
        """Delete every key starting with ``prefix`` (plain string match, as on S3)."""
        await to_thread.run_sync(self._delete_prefix_sync, validate_prefix(prefix))

    def _delete_prefix_sync(self, prefix: str) -> None:
        if prefix.endswith("/"):
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                shutil.rmtree(self._path(prefix[:-1]))
            return
        head, _, name = prefix.rpartition("/")
        parent = self._path(head) if head else self.root
        try:
            entries = list(os.scandir(parent))
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            if not entry.name.startswith(name):  # hidden files never match: keys have no dots
                continue
            target = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(target, ignore_errors=True)
            else:
                target.unlink(missing_ok=True)
                _sidecar(target).unlink(missing_ok=True)

    async def presigned_url(self, key: str, expires_in: int) -> str | None:
        validate_key(key)
        return None

    async def check(self) -> None:
        """Readiness: the root exists (or can be made) and accepts a write."""
        await to_thread.run_sync(self._check_sync)

    def _check_sync(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        probe = _temp_beside(self.root / "probe")
        try:
            with open(probe, "xb") as fh:
                fh.write(b"ok")
        finally:
            probe.unlink(missing_ok=True)

    async def aclose(self) -> None:
        """Nothing to release: files are opened per call."""


def _open_at(path: Path, start: int) -> tuple[int, int]:
    """Open for reading and check ``start`` against the size of what was opened."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except NotADirectoryError as exc:
        raise FileNotFoundError(str(path)) from exc
    st = os.fstat(fd)
    if not stat_mod.S_ISREG(st.st_mode) or start >= st.st_size:
        os.close(fd)
        if not stat_mod.S_ISREG(st.st_mode):  # a "directory of keys" is not an object
            raise FileNotFoundError(str(path))
        raise ValueError(f"start {start} is past the end of a {st.st_size}-byte object")
    return fd, st.st_size


async def file_chunks(path: Path, size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
    """Read a local file in worker-thread chunks (feeds ``put_file`` on any backend)."""
    fh = await to_thread.run_sync(path.open, "rb")
    try:
        while chunk := await to_thread.run_sync(fh.read, size):
            yield chunk
    finally:
        fh.close()
