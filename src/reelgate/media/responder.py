"""Serve a stored object over HTTP with validators and byte ranges.

Video players seek with ``Range`` requests and revalidate with ``If-None-Match``; both
are answered here without ever holding more than one storage chunk in memory. Errors
are raised as :mod:`reelgate.errors` exceptions for the API layer to render.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from urllib.parse import quote

import anyio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from reelgate.errors import NotFound, RangeNotSatisfiable
from reelgate.media.storage import Storage, StoredObject

__all__ = ["ByteRange", "content_disposition", "media_response", "parse_range"]

ByteRange = tuple[int, int]  # first and last byte, inclusive

# One range-spec only: "bytes=a-b", "bytes=a-" or "bytes=-n". Lists are not matched,
# so a multi-range request falls back to the whole object. Nineteen digits keep
# int() cheap; anything longer is treated as garbage, which also means "send it all".
_RANGE = re.compile(r"^\s*bytes\s*=\s*(?:(\d{1,19})\s*-\s*(\d{0,19})|-\s*(\d{1,19}))\s*$", re.I)


def parse_range(header: str, size: int) -> ByteRange | None:
    """Resolve one ``Range`` value against ``size``; None means "ignore it, send 200".

    Raises :class:`RangeNotSatisfiable` (416, with ``Content-Range: bytes */size``)
    when the range is well formed but starts past the end or is a zero-length suffix.
    """
    match = _RANGE.match(header)
    if match is None:
        return None
    first, last, suffix = match.groups()
    if suffix is not None:
        length = int(suffix)
        if length == 0:
            raise _unsatisfiable(header, size)
        if size == 0:  # a suffix of an empty body is the (empty) body itself
            return None
        return max(size - length, 0), size - 1
    start = int(first)
    if last and int(last) < start:  # "bytes=5-2" is invalid per RFC 9110, not a 416
        return None
    if start >= size:
        raise _unsatisfiable(header, size)
    end = min(int(last), size - 1) if last else size - 1
    return start, end


def _unsatisfiable(header: str, size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(
        f"range {header.strip()!r} is not satisfiable for {size} bytes",
        param="Range",
        headers={"Content-Range": f"bytes */{size}"},
    )


def _etag_list(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def _none_match(header: str, etag: str) -> bool:
    """``If-None-Match`` uses the weak comparison: ``W/`` prefixes are ignored."""
    tags = _etag_list(header)
    return "*" in tags or any(tag.removeprefix("W/") == etag for tag in tags)


def _if_range_holds(header: str | None, etag: str) -> bool:
    """``If-Range`` needs a strong match; a date never matches as we keep no mtime."""
    return header is None or header.strip() == etag


def content_disposition(filename: str) -> str:
    """``inline`` with an ASCII fallback name plus RFC 5987 ``filename*`` if needed."""
    fallback = "".join(ch if 0x20 <= ord(ch) < 0x7F else "_" for ch in filename)
    fallback = fallback.replace("\\", "_").replace('"', "_")
    value = f'inline; filename="{fallback}"'
    if fallback != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


class _Primed:
    """A storage iterator whose first chunk was fetched before the status line went
    out, so a vanished object is still a clean 404 rather than a truncated 200."""

    def __init__(self, chunks: AsyncIterator[bytes], first: bytes) -> None:
        self._chunks = chunks
        self._first: bytes | None = first or None

    @classmethod
    async def start(cls, chunks: AsyncIterator[bytes], key: str) -> _Primed:
        try:
            first = await anext(chunks, b"")
        except FileNotFoundError as exc:
            raise NotFound(f"media {key!r} is no longer available") from exc
        return cls(chunks, first)

    def __aiter__(self) -> _Primed:
        return self

    async def __anext__(self) -> bytes:
        first, self._first = self._first, None
        return first if first is not None else await anext(self._chunks)

    async def aclose(self) -> None:
        """Release the file descriptor or connection behind the storage iterator."""
        aclose = getattr(self._chunks, "aclose", None)
        if aclose is not None:
            await aclose()


class _ClosingStreamingResponse(StreamingResponse):
    """Close the storage iterator even when the client hangs up mid-body.

    Starlette abandons the iterator on disconnect; closing it here releases the file
    descriptor or S3 connection at once instead of whenever it is garbage-collected.
    """

    def __init__(self, chunks: _Primed, headers: Mapping[str, str], status: int) -> None:
        super().__init__(chunks, status_code=status, headers=headers)
        self._chunks = chunks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._chunks.aclose()


async def media_response(
    storage: Storage,
    obj: StoredObject,
    request: Request,
    *,
    filename: str | None = None,
    max_age: int = 3600,
) -> Response:
    """Answer GET or HEAD for ``obj``: 200, 206, 304, or raise 416 / 404.

    Precedence follows RFC 9110 section 13.2.2: ``If-None-Match`` first, then
    ``Range`` (GET only) gated by ``If-Range``. Invalid or multiple ranges are ignored.
    """
    etag = f'"{obj.etag}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Cache-Control": f"private, max-age={max_age}",
    }
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and _none_match(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    headers["Content-Type"] = obj.content_type
    if filename is not None:
        headers["Content-Disposition"] = content_disposition(filename)
    byte_range = _requested_range(request, obj.size, etag)
    status = 200
    start, end = 0, obj.size - 1
    if byte_range is not None:
        status, (start, end) = 206, byte_range
        headers["Content-Range"] = f"bytes {start}-{end}/{obj.size}"
    headers["Content-Length"] = str(end - start + 1)
    if request.method == "HEAD" or end < start:
        return Response(status_code=status, headers=headers)
    chunks = await _Primed.start(storage.read_range(obj.key, start, end), obj.key)
    return _ClosingStreamingResponse(chunks, headers, status)


def _requested_range(request: Request, size: int, etag: str) -> ByteRange | None:
    """The range to serve, or None for the whole object; raises the 416."""
    header = request.headers.get("range")
    if header is None or request.method != "GET":
        return None
    if not _if_range_holds(request.headers.get("if-range"), etag):
        return None
    return parse_range(header, size)
