"""One behavioural contract, run against LocalStorage and S3Storage on a real moto server.

The local backend is the reference: S3 must behave the same way for every call the
gateway makes, so each check below runs once per backend via the ``storage`` fixture.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from reelgate.media.factory import storage_from_url
from reelgate.media.local import LocalStorage
from reelgate.media.responder import media_response
from reelgate.media.s3 import PART_SIZE, S3Storage
from reelgate.media.storage import Storage

from .s3_server import ACCESS_KEY, SECRET_KEY, moto_server

MiB = 1024 * 1024
BIG = 20 * MiB + 12345  # three multipart parts on S3, the last one short
BUCKET = "reelgate-contract"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


def _s3(endpoint: str, prefix: str) -> S3Storage:
    return S3Storage(
        BUCKET,
        endpoint_url=endpoint,
        region="us-east-1",
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        prefix=prefix,
        create_bucket=True,
    )


@pytest.fixture(params=["local", "s3"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    """A fresh, empty store: a temp directory, or a unique prefix in the moto bucket."""
    backend: Storage
    if request.param == "local":
        backend = LocalStorage(tmp_path / "media")
    else:
        endpoint = request.getfixturevalue("s3_endpoint")
        backend = _s3(endpoint, f"t-{uuid.uuid4().hex[:12]}")
    yield backend
    await backend.aclose()


def _pattern(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


async def _stream(data: bytes, chunk: int = 1000 * 1000) -> AsyncIterator[bytes]:
    """Odd-sized chunks so part boundaries never line up with chunk boundaries."""
    for offset in range(0, len(data), chunk):
        yield data[offset : offset + chunk]


async def _read(storage: Storage, key: str, start: int, end: int) -> bytes:
    return b"".join([chunk async for chunk in storage.read_range(key, start, end)])


@pytest.fixture(scope="module")
def big_data() -> bytes:
    return _pattern(BIG)


async def test_big_stream_round_trip(storage: Storage, big_data: bytes) -> None:
    stored = await storage.put_stream("videos/v1/video.mp4", _stream(big_data), "video/mp4")
    assert (stored.key, stored.size, stored.content_type) == (
        "videos/v1/video.mp4",
        BIG,
        "video/mp4",
    )
    assert stored.etag and '"' not in stored.etag
    assert await storage.stat("videos/v1/video.mp4") == stored
    digest = hashlib.sha256()
    async for chunk in storage.read_range("videos/v1/video.mp4", 0, BIG - 1):
        assert 0 < len(chunk) <= 1024 * 1024  # bounded chunks, never the whole object
        digest.update(chunk)
    assert digest.digest() == hashlib.sha256(big_data).digest()


RANGES = [
    (0, 0),
    (PART_SIZE - 3, PART_SIZE + 2),  # across the first part boundary
    (2 * PART_SIZE - 1, 2 * PART_SIZE),
    (BIG - 10, BIG - 1),
    (BIG - 10, BIG + 1000),  # end is clamped to the size
]


async def test_ranged_reads(storage: Storage, big_data: bytes) -> None:
    await storage.put_stream("r/video.mp4", _stream(big_data), "video/mp4")
    for start, end in RANGES:  # one upload, several reads
        got = await _read(storage, "r/video.mp4", start, end)
        assert got == big_data[start : end + 1], (start, end)


async def test_small_and_empty_objects(storage: Storage) -> None:
    small = await storage.put_stream("s/a.txt", _stream(b"hello world"), "text/plain")
    assert small.size == 11 and await storage.stat("s/a.txt") == small
    assert await _read(storage, "s/a.txt", 6, 10) == b"world"
    empty = await storage.put_stream("s/empty.bin", _stream(b""), "application/octet-stream")
    assert empty.size == 0 and (await storage.stat("s/empty.bin")) == empty
    assert await _read(storage, "s/empty.bin", 0, -1) == b""


async def test_same_bytes_same_etag_and_overwrite(storage: Storage) -> None:
    first = await storage.put_stream("e/a", _stream(b"one"), "text/plain")
    again = await storage.put_stream("e/b", _stream(b"one"), "text/plain")
    other = await storage.put_stream("e/a", _stream(b"two!"), "application/json")
    assert first.etag == again.etag != other.etag
    assert await storage.stat("e/a") == other
    assert await _read(storage, "e/a", 0, 100) == b"two!"


async def test_missing_and_out_of_range(storage: Storage) -> None:
    assert await storage.stat("nope/video.mp4") is None
    with pytest.raises(FileNotFoundError):
        await _read(storage, "nope/video.mp4", 0, 10)
    await storage.put_stream("o/a", _stream(b"0123456789"), "text/plain")
    with pytest.raises(ValueError):
        await _read(storage, "o/a", 10, 20)
    with pytest.raises(ValueError):
        await _read(storage, "o/a", -1, 5)


async def test_failed_stream_keeps_previous_object(storage: Storage, big_data: bytes) -> None:
    before = await storage.put_stream("f/video.mp4", _stream(b"old"), "video/mp4")

    async def broken() -> AsyncIterator[bytes]:
        yield big_data[: 9 * MiB]  # far enough for S3 to have started a multipart upload
        raise ConnectionError("upstream went away")

    with pytest.raises(ConnectionError):
        await storage.put_stream("f/video.mp4", broken(), "video/mp4")
    assert await storage.stat("f/video.mp4") == before
    assert await _read(storage, "f/video.mp4", 0, 2) == b"old"


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "../x", "a//b", "a/./b", "a\\b", "a/"])
async def test_invalid_keys(storage: Storage, key: str) -> None:
    with pytest.raises(ValueError):
        await storage.put_stream(key, _stream(b"x"), "text/plain")
    with pytest.raises(ValueError):
        await storage.stat(key)
    with pytest.raises(ValueError):
        await _read(storage, key, 0, 1)


async def test_delete_prefix(storage: Storage) -> None:
    for key in ["d/v1/video.mp4", "d/v1/thumb.jpg", "d/v10/video.mp4", "d/v2/video.mp4"]:
        await storage.put_stream(key, _stream(key.encode()), "video/mp4")
    await storage.delete_prefix("d/v1/")
    assert await storage.stat("d/v1/video.mp4") is None
    assert await storage.stat("d/v1/thumb.jpg") is None
    assert await storage.stat("d/v10/video.mp4") is not None
    await storage.delete_prefix("d/v")  # a plain string prefix, as S3 defines it
    assert await storage.stat("d/v10/video.mp4") is None
    assert await storage.stat("d/v2/video.mp4") is None
    await storage.delete_prefix("d/nothing-here/")  # deleting nothing is fine
    with pytest.raises(ValueError):
        await storage.delete_prefix("")


async def test_put_file_and_download_to(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "in.bin"
    source.write_bytes(_pattern(3 * MiB + 5, seed=3))
    stored = await storage.put_file("p/in.bin", source, "application/octet-stream")
    assert stored.size == 3 * MiB + 5
    dest = tmp_path / "out" / "copy.bin"
    await storage.download_to("p/in.bin", dest)
    assert dest.read_bytes() == source.read_bytes()
    assert [p.name for p in dest.parent.iterdir()] == ["copy.bin"]  # no temp left behind


async def test_presigned_url(storage: Storage) -> None:
    await storage.put_stream("u/clip.mp4", _stream(b"presigned body"), "video/mp4")
    url = await storage.presigned_url("u/clip.mp4", 300)
    if isinstance(storage, LocalStorage):
        assert url is None
        return
    assert url is not None
    async with httpx.AsyncClient() as client:
        whole = await client.get(url)
        part = await client.get(url, headers={"Range": "bytes=0-8"})
    assert (whole.status_code, whole.content) == (200, b"presigned body")
    assert (part.status_code, part.content) == (206, b"presigned")


async def test_check(storage: Storage) -> None:
    await storage.check()


async def test_served_through_responder(storage: Storage, big_data: bytes) -> None:
    """The HTTP layer sees the same bytes whichever backend holds them."""
    stored = await storage.put_stream("h/video.mp4", _stream(big_data), "video/mp4")

    async def content(request: Request) -> Response:
        return await media_response(storage, stored, request, filename="video.mp4")

    app = Starlette(routes=[Route("/content", content)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/content", headers={"Range": f"bytes={PART_SIZE - 5}-"})
    assert response.status_code == 206
    assert response.headers["etag"] == f'"{stored.etag}"'
    assert response.content == big_data[PART_SIZE - 5 :]


async def test_s3_check_fails_for_missing_bucket(s3_endpoint: str) -> None:
    storage = S3Storage(
        "no-such-bucket",
        endpoint_url=s3_endpoint,
        region="us-east-1",
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
    )
    try:
        with pytest.raises(Exception, match=r"404|Not Found|NoSuchBucket"):
            await storage.check()
    finally:
        await storage.aclose()


async def test_s3_failed_upload_is_aborted(s3_endpoint: str) -> None:
    """A broken stream must not leave an open multipart upload accruing storage."""
    storage = _s3(s3_endpoint, f"abort-{uuid.uuid4().hex[:8]}")

    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * (PART_SIZE + 1)
        raise ConnectionError("gone")

    try:
        with pytest.raises(ConnectionError):
            await storage.put_stream("a/video.mp4", broken(), "video/mp4")
        client = await storage._s3()
        uploads = await client.list_multipart_uploads(Bucket=BUCKET, Prefix=storage.prefix)
        assert uploads.get("Uploads", []) == []
    finally:
        await storage.aclose()


async def test_factory_builds_working_s3_storage(s3_endpoint: str) -> None:
    url = (
        f"s3://{BUCKET}/factory/prefix?endpoint_url={s3_endpoint}&region=us-east-1"
        f"&access_key={ACCESS_KEY}&secret_key={SECRET_KEY}&create_bucket=true"
    )
    storage = storage_from_url(url)
    assert isinstance(storage, S3Storage)
    assert storage.prefix == "factory/prefix/"
    try:
        await storage.check()
        stored = await storage.put_stream("k", _stream(b"abc"), "text/plain")
        assert await storage.stat("k") == stored
    finally:
        await storage.aclose()
