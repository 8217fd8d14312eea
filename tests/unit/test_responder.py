"""media_response against RFC 9110 semantics, through a tiny Starlette app."""

from __future__ import annotations

import random
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reelgate.errors import APIError, NotFound, RangeNotSatisfiable
from reelgate.media.local import LocalStorage
from reelgate.media.responder import content_disposition, media_response, parse_range
from reelgate.media.storage import Storage, StoredObject

SIZE = 10_000
DATA = random.Random(1).randbytes(SIZE)
KEY = "videos/video_abc/video.mp4"


def make_app(storage: Storage, *, filename: str | None = "video_abc.mp4") -> Starlette:
    """What the API layer will do: stat, 404 if missing, respond; render APIError."""

    async def content(request: Request) -> Response:
        obj = await storage.stat(request.path_params["key"])
        if obj is None:
            raise NotFound("no such video")
        return await media_response(storage, obj, request, filename=filename, max_age=60)

    async def render(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, APIError)
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    return Starlette(
        routes=[Route("/media/{key:path}", content, methods=["GET"])],
        exception_handlers={APIError: render},
    )


@pytest.fixture
async def storage(tmp_path: Path) -> LocalStorage:
    storage = LocalStorage(tmp_path, chunk_size=1024)  # many chunks per response

    async def once() -> AsyncIterator[bytes]:
        yield DATA

    await storage.put_stream(KEY, once(), "video/mp4")
    return storage


@pytest.fixture
async def client(storage: LocalStorage) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(storage))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
async def etag(storage: LocalStorage) -> str:
    obj = await storage.stat(KEY)
    assert obj is not None
    return f'"{obj.etag}"'


async def get(client: httpx.AsyncClient, **headers: str) -> httpx.Response:
    return await client.get(f"/media/{KEY}", headers=headers)


async def test_full_response(client: httpx.AsyncClient, etag: str) -> None:
    response = await get(client)
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["etag"] == etag
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-length"] == str(SIZE)
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["cache-control"] == "private, max-age=60"
    assert response.headers["content-disposition"] == 'inline; filename="video_abc.mp4"'
    assert "content-range" not in response.headers


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=0-0", 0, 0),
        ("bytes=1000-", 1000, SIZE - 1),
        ("bytes=-500", SIZE - 500, SIZE - 1),
        ("bytes=-1", SIZE - 1, SIZE - 1),
        ("bytes=-50000", 0, SIZE - 1),  # suffix longer than the file: all of it
        ("bytes=9990-20000", 9990, SIZE - 1),  # last-pos past the end is clamped
        ("bytes=1023-1025", 1023, 1025),  # straddles a storage chunk boundary
        (f"bytes={SIZE - 1}-", SIZE - 1, SIZE - 1),
        ("BYTES = 5 - 9 ", 5, 9),  # unit is case-insensitive, whitespace tolerated
    ],
)
async def test_single_ranges(client: httpx.AsyncClient, header: str, start: int, end: int) -> None:
    response = await get(client, range=header)
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {start}-{end}/{SIZE}"
    assert response.headers["content-length"] == str(end - start + 1)
    assert response.content == DATA[start : end + 1]


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", "bytes=20000-30000", "bytes=-0"])
async def test_unsatisfiable(client: httpx.AsyncClient, header: str) -> None:
    response = await get(client, range=header)
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{SIZE}"
    error = response.json()["error"]
    assert error["code"] == "range_not_satisfiable"
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    "header",
    [
        "bytes=abc",
        "bytes=",
        "bytes=-",
        "bytes=5-2",  # last < first is a syntax error, not a 416
        "bytes=--1",
        "bytes=0-1,5-6",  # multiple ranges: we send the whole object instead
        "items=0-10",
        "0-10",
        "bytes=" + "9" * 30 + "-",
    ],
)
async def test_invalid_or_multiple_ranges_are_ignored(
    client: httpx.AsyncClient, header: str
) -> None:
    response = await get(client, range=header)
    assert response.status_code == 200
    assert response.content == DATA
    assert "content-range" not in response.headers


@pytest.mark.parametrize("form", ["{etag}", "W/{etag}", '"other", {etag}', "*"])
async def test_if_none_match_hits(client: httpx.AsyncClient, etag: str, form: str) -> None:
    response = await get(client, **{"if-none-match": form.format(etag=etag)})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert "content-length" not in response.headers


async def test_if_none_match_miss_and_beats_range(client: httpx.AsyncClient, etag: str) -> None:
    miss = await get(client, **{"if-none-match": '"stale"'})
    assert (miss.status_code, miss.content) == (200, DATA)
    hit = await get(client, **{"if-none-match": etag, "range": "bytes=0-10"})
    assert hit.status_code == 304  # If-None-Match is evaluated before Range


async def test_if_range(client: httpx.AsyncClient, etag: str) -> None:
    match = await get(client, range="bytes=10-19", **{"if-range": etag})
    assert (match.status_code, match.content) == (206, DATA[10:20])
    stale = await get(client, range="bytes=10-19", **{"if-range": '"stale"'})
    assert (stale.status_code, stale.content) == (200, DATA)
    weak = await get(client, range="bytes=10-19", **{"if-range": f"W/{etag}"})
    assert weak.status_code == 200  # If-Range requires a strong match
    dated = await get(client, range="bytes=10-19", **{"if-range": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert dated.status_code == 200
    unsatisfiable_but_stale = await get(client, range="bytes=99999-", **{"if-range": '"x"'})
    assert unsatisfiable_but_stale.status_code == 200


async def test_head(client: httpx.AsyncClient, etag: str) -> None:
    response = await client.head(f"/media/{KEY}")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(SIZE)
    assert response.headers["etag"] == etag
    ranged = await client.head(f"/media/{KEY}", headers={"range": "bytes=0-9"})
    assert ranged.status_code == 200  # RFC 9110: range handling is defined for GET only
    assert ranged.headers["content-length"] == str(SIZE)


async def test_missing_object_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/media/videos/nope/video.mp4")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_object_vanishing_after_stat_is_a_clean_404(storage: LocalStorage) -> None:
    """The first chunk is fetched before headers go out, so this is not a broken 200."""
    ghost = StoredObject("videos/ghost/video.mp4", 100, "abc", "video/mp4")

    async def content(request: Request) -> Response:
        return await media_response(storage, ghost, request)

    app = make_app(storage)
    app.router.routes.insert(0, Route("/ghost", content))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await c.get("/ghost")
    assert response.status_code == 404


async def test_empty_object(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)

    async def nothing() -> AsyncIterator[bytes]:
        return
        yield b""

    await storage.put_stream("e/empty.mp4", nothing(), "video/mp4")
    transport = httpx.ASGITransport(app=make_app(storage))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        full = await client.get("/media/e/empty.mp4")
        ranged = await client.get("/media/e/empty.mp4", headers={"range": "bytes=0-"})
        suffix = await client.get("/media/e/empty.mp4", headers={"range": "bytes=-10"})
    assert (full.status_code, full.content, full.headers["content-length"]) == (200, b"", "0")
    assert (ranged.status_code, ranged.headers["content-range"]) == (416, "bytes */0")
    assert (suffix.status_code, suffix.content) == (200, b"")


async def test_no_filename_no_disposition(storage: LocalStorage) -> None:
    transport = httpx.ASGITransport(app=make_app(storage, filename=None))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get(f"/media/{KEY}")
    assert "content-disposition" not in response.headers


def test_content_disposition_escapes() -> None:
    assert content_disposition("a.mp4") == 'inline; filename="a.mp4"'
    assert content_disposition('we"ird\\.mp4') == (
        "inline; filename=\"we_ird_.mp4\"; filename*=UTF-8''we%22ird%5C.mp4"
    )
    assert content_disposition("vidéo.mp4") == (
        "inline; filename=\"vid_o.mp4\"; filename*=UTF-8''vid%C3%A9o.mp4"
    )


def test_parse_range_directly() -> None:
    assert parse_range("bytes=0-", 10) == (0, 9)
    assert parse_range("bytes=-3", 10) == (7, 9)
    assert parse_range("bytes=2-1", 10) is None
    assert parse_range("bytes=0-1, 3-4", 10) is None
    with pytest.raises(RangeNotSatisfiable) as unsatisfiable:
        parse_range("bytes=10-", 10)
    assert unsatisfiable.value.headers == {"Content-Range": "bytes */10"}


class _TrackingStorage(LocalStorage):
    """Records whether the iterator handed to the response was closed."""

    closed = 0

    async def read_range(self, key: str, start: int, end: int) -> AsyncGenerator[bytes, None]:
        try:
            async for chunk in super().read_range(key, start, end):
                yield chunk
        finally:
            type(self).closed += 1


async def test_storage_iterator_is_closed(tmp_path: Path) -> None:
    storage = _TrackingStorage(tmp_path, chunk_size=1024)

    async def once() -> AsyncIterator[bytes]:
        yield DATA

    await storage.put_stream(KEY, once(), "video/mp4")
    transport = httpx.ASGITransport(app=make_app(storage))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get(f"/media/{KEY}", headers={"range": "bytes=0-4999"})
    assert response.content == DATA[:5000]
    assert _TrackingStorage.closed == 1
