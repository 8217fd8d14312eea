"""A small keep-alive HTTP/1.1 client for one trusted origin: a channel's own base URL.

Why not httpx here: a poll is a tiny GET answered by a few hundred bytes of JSON, and
the worker makes thousands a second. Through httpx + httpcore most of a poll's CPU
went to the client itself (request and URL objects, header merging, an auth and hook
flow, and a pool that checks every idle connection's readability on each request):
50-67 % of the worker's time in ``bench/poller.py``. This client does only what these
calls need: one origin the operator configured (so no redirects, proxies, cookies or
address checks: :mod:`reelgate.net.transport` still guards every *other* host),
``Content-Length`` or chunked bodies read whole up to a bound, gzip/deflate, and a
LIFO stack of idle connections. Failures are raised as the httpx exceptions the
error mapping in :mod:`reelgate.providers.failures` already understands, so "could
the upstream have taken this create?" is still decided in one place.

Large or streamed bodies (downloads) and every other host keep using httpx.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx

from reelgate.net.policy import host_port

__all__ = ["OriginClient", "RawResponse", "TooLarge"]

#: connections open at once per origin; a request beyond waits up to the connect timeout
MAX_CONNECTIONS = 128
#: idle connections kept per origin; more in flight at once are closed after use
MAX_IDLE = 64
#: an idle connection older than this is closed rather than reused: servers drop idle
#: keep-alive connections after a few seconds (uvicorn 5 s, nginx 75 s), and reusing one
#: at the moment it is dropped fails the request
IDLE_EXPIRY = 4.0
#: the most of a status line + headers we read (httpcore's bound too)
MAX_HEADER_BYTES = 100 * 1024
_NO_BODY_STATUS = frozenset({204, 304})
_IDEMPOTENT = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})


class TooLarge(Exception):
    """The body is larger than the caller's bound; the connection was closed."""

    def __init__(self, status_code: int, limit: int) -> None:
        super().__init__(f"upstream answer larger than {limit} bytes")
        self.status_code = status_code


@dataclass(frozen=True, slots=True)
class RawResponse:
    """Status, headers as received (decoded latin-1), and the whole decoded body."""

    status_code: int
    headers: list[tuple[str, str]]
    content: bytes


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0

    def usable(self, at: float) -> bool:
        return (at - self.idle_since < IDLE_EXPIRY and not self.reader.at_eof()
                and not self.writer.is_closing())

    def close(self) -> None:
        self.writer.close()


class OriginClient:
    """Requests to one ``scheme://host:port``, over pooled keep-alive connections."""

    def __init__(self, url: httpx.URL, *, ssl_context: ssl.SSLContext | None,
                 connect_timeout: float, read_timeout: float,
                 user_agent: str = "reelgate/0.1") -> None:
        self.scheme = url.scheme
        self.host, self.port = host_port(url)  # as the guarded transport names origins
        self._origin = (url.scheme, self.host, self.port)
        authority = self.host if ":" not in self.host else f"[{self.host}]"
        # httpx drops a scheme's default port from the URL: then the Host header has none
        self._host_header = (authority if url.port is None else f"{authority}:{self.port}"
                             ).encode()
        self._ssl = ssl_context if self.scheme == "https" else None
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._user_agent = user_agent.encode()
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)

    def serves(self, url: httpx.URL) -> bool:
        """Does ``url`` point at this origin (so this client may send it)?"""
        return (url.scheme, *host_port(url)) == self._origin

    async def request(self, method: str, url: httpx.URL, *,
                      headers: Sequence[tuple[str, str]] | Mapping[str, str] = (),
                      body: bytes = b"", limit: int) -> RawResponse:
        """Send one request and read the whole answer (at most ``limit`` decoded bytes).

        Raises httpx's ``ConnectError``/``ConnectTimeout`` when nothing was sent,
        ``WriteError``/``ReadError``/``ReadTimeout``/``RemoteProtocolError`` once it may
        have been, and :class:`TooLarge` past ``limit``.
        """
        head = self._head(method, url, headers, body)
        await self._take_slot()
        try:
            return await self._exchange(method, head, body, limit)
        finally:
            self._slots.release()

    async def _take_slot(self) -> None:
        if not self._slots.locked():
            await self._slots.acquire()
            return
        try:
            async with asyncio.timeout(self.connect_timeout):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise httpx.PoolTimeout(f"all {MAX_CONNECTIONS} connections to {self.host} busy"
                                    ) from exc

    async def _exchange(self, method: str, head: bytes, body: bytes, limit: int
                        ) -> RawResponse:
        connection, reused = await self._checkout()
        try:
            try:
                await _send(connection, head, body, self.read_timeout)
                response, keep = await _read_response(connection.reader, method, limit,
                                                      self.read_timeout)
            except (httpx.RemoteProtocolError, httpx.WriteError) as exc:
                if not (reused and method in _IDEMPOTENT and (
                        isinstance(exc, httpx.WriteError) or exc.args[:1] == (_NO_ANSWER,))):
                    raise
                # a kept-alive connection the server closed as we reused it: not a byte
                # came back; an idempotent request goes once more on a new connection (a
                # create never does: the server may have read it before it closed)
                connection.close()
                connection = await self._connect()
                await _send(connection, head, body, self.read_timeout)
                response, keep = await _read_response(connection.reader, method, limit,
                                                      self.read_timeout)
        except BaseException:
            connection.close()
            raise
        if keep and len(self._idle) < MAX_IDLE:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            connection.close()
        return response

    def _head(self, method: str, url: httpx.URL,
              headers: Sequence[tuple[str, str]] | Mapping[str, str], body: bytes) -> bytes:
        target = url.raw_path  # path + query, already percent-encoded
        lines = [b"%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: */*\r\n"
                 b"Accept-Encoding: gzip, deflate\r\n"
                 % (method.encode("ascii"), target, self._host_header, self._user_agent)]
        items = headers.items() if isinstance(headers, Mapping) else headers
        for name, value in items:
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise httpx.LocalProtocolError(f"invalid header {name!r}")
            lines.append(b"%s: %s\r\n" % (name.encode("latin-1"), value.encode("latin-1")))
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(b"Content-Length: %d\r\n" % len(body))
        lines.append(b"\r\n")
        return b"".join(lines)

    async def _checkout(self) -> tuple[_Connection, bool]:
        at = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if connection.usable(at):
                return connection, True
            connection.close()
        return await self._connect(), False

    async def _connect(self) -> _Connection:
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    self.host, self.port, ssl=self._ssl,
                    server_hostname=self.host if self._ssl is not None else None,
                    limit=MAX_HEADER_BYTES)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connecting to {self.host}:{self.port} timed out"
                                       ) from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}") from exc
        return _Connection(reader, writer)

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


_NO_ANSWER = "Server disconnected without sending a response."


async def _send(connection: _Connection, head: bytes, body: bytes, timeout: float) -> None:
    writer = connection.writer
    try:
        writer.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            writer.write(body)
        async with asyncio.timeout(timeout):
            await writer.drain()
    except TimeoutError as exc:
        raise httpx.WriteTimeout("sending the request timed out") from exc
    except OSError as exc:
        raise httpx.WriteError(f"{type(exc).__name__}: {exc}") from exc


async def _read_response(reader: asyncio.StreamReader, method: str, limit: int,
                         timeout: float) -> tuple[RawResponse, bool]:
    """(the response, may the connection be reused?)"""
    try:
        async with asyncio.timeout(timeout):
            while True:
                status, headers, keep = await _read_head(reader)
                if status >= 200 or status == 101:
                    break  # 1xx informational answers precede the real one
            if method == "HEAD" or status in _NO_BODY_STATUS or status < 200:
                return RawResponse(status, headers, b""), keep
            raw, keep = await _read_body(reader, headers, keep, limit, status)
    except TimeoutError as exc:
        raise httpx.ReadTimeout("reading the answer timed out") from exc
    except OSError as exc:
        raise httpx.ReadError(f"{type(exc).__name__}: {exc}") from exc
    encoding = next((v.lower() for n, v in headers if n.lower() == "content-encoding"), "")
    if encoding in ("", "identity") or not raw:
        return RawResponse(status, headers, raw), keep
    body = _decode(raw, encoding, limit, status)
    # the body is decoded now: its encoding and length headers no longer describe it
    headers = [(n, v) for n, v in headers
               if n.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
    return RawResponse(status, headers, body), keep


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, list[tuple[str, str]], bool]:
    try:
        block = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise httpx.RemoteProtocolError(_NO_ANSWER) from None
        raise httpx.RemoteProtocolError("connection closed in the middle of the headers"
                                        ) from None
    except asyncio.LimitOverrunError:
        raise httpx.RemoteProtocolError("response headers too large") from None
    lines = block[:-4].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise httpx.RemoteProtocolError(f"not an HTTP/1.x answer: {lines[0][:80]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise httpx.RemoteProtocolError(f"malformed header line {line[:80]!r}")
        headers.append((name, value.strip()))
    keep = parts[0] == "HTTP/1.1"
    for name, value in headers:
        if name.lower() == "connection":
            tokens = {t.strip().lower() for t in value.split(",")}
            if "close" in tokens:
                keep = False
            elif "keep-alive" in tokens:
                keep = True
    return int(parts[1]), headers, keep


async def _read_body(reader: asyncio.StreamReader, headers: list[tuple[str, str]],
                     keep: bool, limit: int, status: int) -> tuple[bytes, bool]:
    length: int | None = None
    chunked = False
    for name, value in headers:
        lowered = name.lower()
        if lowered == "transfer-encoding":
            chunked = value.lower().endswith("chunked")
        elif lowered == "content-length":
            if not value.isdigit() or (length is not None and int(value) != length):
                raise httpx.RemoteProtocolError(f"bad Content-Length {value!r}")
            length = int(value)
    try:
        if chunked:
            return await _read_chunked(reader, limit, status), keep
        if length is not None:
            if length > limit:
                raise TooLarge(status, limit)
            return await reader.readexactly(length), keep
        # neither: the body runs to the end of the connection
        data = await reader.read(limit + 1)
        chunks = [data]
        size = len(data)
        while data and size <= limit:
            data = await reader.read(limit + 1 - size)
            chunks.append(data)
            size += len(data)
        if size > limit:
            raise TooLarge(status, limit)
        return b"".join(chunks), False
    except asyncio.IncompleteReadError:
        raise httpx.RemoteProtocolError("connection closed in the middle of the body"
                                        ) from None


async def _read_chunked(reader: asyncio.StreamReader, limit: int, status: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        line = await reader.readuntil(b"\r\n")
        try:
            length = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise httpx.RemoteProtocolError(f"bad chunk size {line[:40]!r}") from None
        if length == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers, ignored
            return b"".join(chunks)
        size += length
        if size > limit:
            raise TooLarge(status, limit)
        chunks.append(await reader.readexactly(length))
        if await reader.readexactly(2) != b"\r\n":
            raise httpx.RemoteProtocolError("chunk not followed by CRLF")


def _decode(raw: bytes, encoding: str, limit: int, status: int) -> bytes:
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise httpx.DecodingError(f"unsupported content-encoding {encoding!r}")
    try:
        if encoding == "deflate":
            try:
                decoder = zlib.decompressobj()
                out = decoder.decompress(raw, limit + 1)
            except zlib.error:  # raw deflate, without the zlib wrapper
                decoder = zlib.decompressobj(-zlib.MAX_WBITS)
                out = decoder.decompress(raw, limit + 1)
        else:
            decoder = zlib.decompressobj(zlib.MAX_WBITS | 16)
            out = decoder.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise httpx.DecodingError(f"could not decode {encoding} body: {exc}") from exc
    if len(out) > limit or decoder.unconsumed_tail:
        raise TooLarge(status, limit)
    return out
