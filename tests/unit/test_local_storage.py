"""LocalStorage details the shared contract (tests/integration/test_s3_storage.py) can't see:
on-disk layout, crash recovery, key confinement and resource handling."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from reelgate.media.factory import storage_from_url
from reelgate.media.local import LocalStorage, validate_key, validate_prefix
from reelgate.media.s3 import S3Storage


async def _stream(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def _read(storage: LocalStorage, key: str, start: int, end: int) -> list[bytes]:
    return [chunk async for chunk in storage.read_range(key, start, end)]


def _visible(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "root", chunk_size=4096)


async def test_layout_is_file_plus_hidden_sidecar(storage: LocalStorage) -> None:
    data = b"x" * 10_000
    stored = await storage.put_stream("videos/v1/video.mp4", _stream(data), "video/mp4")
    assert stored.etag == hashlib.blake2b(data, digest_size=16).hexdigest()
    assert _visible(storage.root) == ["videos/v1/.video.mp4.meta.json", "videos/v1/video.mp4"]
    assert (storage.root / "videos/v1/video.mp4").read_bytes() == data
    meta = json.loads((storage.root / "videos/v1/.video.mp4.meta.json").read_text())
    assert meta["etag"] == stored.etag and meta["content_type"] == "video/mp4"


async def test_chunks_are_bounded_and_tiny_writes_are_batched(storage: LocalStorage) -> None:
    pieces = [bytes([i % 256]) for i in range(20_000)]  # 20k one-byte chunks
    stored = await storage.put_stream("a/b", _stream(*pieces), "application/octet-stream")
    assert stored.size == 20_000
    chunks = await _read(storage, "a/b", 0, 19_999)
    assert [len(c) for c in chunks] == [4096] * 4 + [20_000 - 4 * 4096]
    assert b"".join(chunks) == b"".join(pieces)


async def test_failed_write_leaves_no_temp_files(storage: LocalStorage) -> None:
    await storage.put_stream("a/b", _stream(b"old"), "text/plain")

    async def broken() -> AsyncIterator[bytes]:
        yield b"new" * 1_000_000
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await storage.put_stream("a/b", broken(), "text/plain")
    assert _visible(storage.root) == ["a/.b.meta.json", "a/b"]
    assert b"".join(await _read(storage, "a/b", 0, 10)) == b"old"


async def test_stat_recovers_when_sidecar_is_stale(storage: LocalStorage) -> None:
    """A crash between the data rename and the sidecar rename leaves an old sidecar."""
    await storage.put_stream("a/clip.mp4", _stream(b"first version"), "video/mp4")
    path = storage.root / "a/clip.mp4"
    replacement = path.with_name("replacement")
    replacement.write_bytes(b"second, longer version")
    os.replace(replacement, path)
    stored = await storage.stat("a/clip.mp4")
    assert stored is not None
    assert stored.size == len(b"second, longer version")
    assert stored.etag == hashlib.blake2b(b"second, longer version", digest_size=16).hexdigest()
    assert stored.content_type == "video/mp4"  # kept from the stale sidecar
    assert await storage.stat("a/clip.mp4") == stored  # and the sidecar was repaired


async def test_stat_of_file_placed_by_hand_guesses_type(storage: LocalStorage) -> None:
    (storage.root / "by-hand").mkdir(parents=True)
    (storage.root / "by-hand/poster.png").write_bytes(b"\x89PNG")
    stored = await storage.stat("by-hand/poster.png")
    assert stored is not None and stored.content_type == "image/png" and stored.size == 4


async def test_directories_are_not_objects(storage: LocalStorage) -> None:
    await storage.put_stream("dir/inner", _stream(b"x"), "text/plain")
    assert await storage.stat("dir") is None
    with pytest.raises(FileNotFoundError):
        await _read(storage, "dir", 0, 0)
    with pytest.raises(FileNotFoundError):
        await _read(storage, "dir/inner/deeper", 0, 0)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/etc/passwd",
        "..",
        "../x",
        "a/../../x",
        "a/./b",
        "a//b",
        ".hidden",
        "a/.meta",
        "a\\..\\b",
        "a\x00b",
        "a\nb",
        "x" * 1025,
    ],
)
def test_validate_key_rejects(key: str) -> None:
    with pytest.raises(ValueError):
        validate_key(key)


@pytest.mark.parametrize("key", ["a", "videos/video_abc/video.mp4", "a b/ü.mp4", "v..1/x"])
def test_validate_key_accepts(key: str) -> None:
    assert validate_key(key) == key


def test_validate_prefix() -> None:
    assert validate_prefix("videos/v1/") == "videos/v1/"
    assert validate_prefix("videos/v") == "videos/v"
    for bad in ["", "/", "../", "a//"]:
        with pytest.raises(ValueError):
            validate_prefix(bad)


async def test_keys_cannot_escape_the_root(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "root")
    with pytest.raises(ValueError):
        await storage.put_stream("../escaped", _stream(b"x"), "text/plain")
    with pytest.raises(ValueError):
        await storage.delete_prefix("../")
    assert not (tmp_path / "escaped").exists()


async def test_abandoned_read_closes_its_descriptor(storage: LocalStorage) -> None:
    await storage.put_stream("a/b", _stream(b"y" * 100_000), "text/plain")
    before = len(os.listdir("/proc/self/fd"))
    reader = storage.read_range("a/b", 0, 99_999)
    assert len(await anext(reader)) == 4096
    assert len(os.listdir("/proc/self/fd")) == before + 1
    await reader.aclose()
    assert len(os.listdir("/proc/self/fd")) == before


async def test_reader_keeps_its_snapshot_across_replace(storage: LocalStorage) -> None:
    """Readers see the old object or the new one, never a mixture."""
    await storage.put_stream("a/b", _stream(b"o" * 10_000), "text/plain")
    reader = storage.read_range("a/b", 0, 9_999)
    first = await anext(reader)
    await storage.put_stream("a/b", _stream(b"n" * 10_000), "text/plain")
    rest = [chunk async for chunk in reader]
    assert b"".join([first, *rest]) == b"o" * 10_000


async def test_check(tmp_path: Path) -> None:
    await LocalStorage(tmp_path / "fresh" / "root").check()
    assert (tmp_path / "fresh" / "root").is_dir()
    assert list((tmp_path / "fresh" / "root").iterdir()) == []  # probe removed
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(OSError):
        await LocalStorage(blocker).check()


async def test_presigned_url_is_none(storage: LocalStorage) -> None:
    assert await storage.presigned_url("a/b", 60) is None


def test_factory_local_forms(tmp_path: Path) -> None:
    for url in [f"file://{tmp_path}", str(tmp_path), f"file://localhost{tmp_path}"]:
        storage = storage_from_url(url)
        assert isinstance(storage, LocalStorage) and storage.root == tmp_path
    spaced = storage_from_url("file:///srv/my%20media")
    assert isinstance(spaced, LocalStorage) and spaced.root == Path("/srv/my media")


def test_factory_s3_options() -> None:
    storage = storage_from_url(
        "s3://bucket/a/b/?endpoint_url=http://127.0.0.1:9000&region=eu-west-1&create_bucket=1"
    )
    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.prefix, storage.endpoint_url, storage.region) == (
        "bucket",
        "a/b/",
        "http://127.0.0.1:9000",
        "eu-west-1",
    )
    assert isinstance(storage_from_url("s3://bucket"), S3Storage)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "ftp://host/x",
        "file://otherhost/x",
        "s3://",
        "s3://bucket?nope=1",
        "s3://bucket?create_bucket=maybe",
        "s3://key:secret@bucket",
        "s3://bucket/../x",
    ],
)
def test_factory_rejects(url: str) -> None:
    with pytest.raises(ValueError):
        storage_from_url(url)
