"""UpstreamClient's guard without sockets: every redirect hop and URL checked, bodies bounded.

With an injected transport (``httpx.MockTransport``) there is no DNS, so these cover the
per-hop checks the client makes itself; tests/net and tests/providers/test_outbound_guard.py
cover the guarded connections.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from reelgate.providers import http
from reelgate.providers.base import ChannelSpec, ErrorKind, UpstreamError
from reelgate.providers.http import MAX_BODY_BYTES, MAX_ERROR_BYTES, URL_REFUSED, UpstreamClient


def _client(handler: Any, **options: Any) -> UpstreamClient:
    channel = ChannelSpec("c", "c", "openai", "https://api.example/v1", options)
    return UpstreamClient(channel, transport=httpx.MockTransport(handler))


async def _drain(client: UpstreamClient, url: str) -> bytes:
    try:
        return b"".join([c async for c in client.stream(url, auth={"authorization": "Bearer k"})])
    finally:
        await client.aclose()


@pytest.mark.parametrize("location", [
    "http://127.0.0.1:8080/internal.mp4", "http://[::1]/x", "http://[::ffff:127.0.0.1]/x",
    "http://[2002:7f00:1::]/x", "http://[2002:a9fe:a9fe::]/latest/meta-data",
    "http://169.254.169.254/latest/meta-data", "http://10.0.0.5/x", "http://100.64.1.1/x",
    "http://0.0.0.0/x", "http://[64:ff9b::7f00:1]/x", "http://[fd00::1]/x",
    "file:///etc/passwd", "http://user:pw@cdn.example/x",
])  # fmt: skip
async def test_a_redirect_to_a_private_address_is_refused_before_it_is_sent(
        location: str) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.host == "api.example" and request.url.port is None:
            return httpx.Response(302, headers={"location": location})
        return httpx.Response(200, content=b"internal", headers={"content-type": "video/mp4"})

    with pytest.raises(UpstreamError) as caught:
        await _drain(_client(handler), "https://api.example/v1/videos/v/content")
    assert caught.value.code == URL_REFUSED and caught.value.kind is ErrorKind.PROTOCOL
    assert seen == ["https://api.example/v1/videos/v/content"]


async def test_a_result_url_on_a_private_address_is_refused() -> None:
    client = _client(lambda r: httpx.Response(200, content=b"internal"))
    with pytest.raises(UpstreamError) as caught:
        await _drain(client, "http://192.168.1.20/result.mp4")
    assert caught.value.code == URL_REFUSED


async def test_the_channel_opt_in_opens_private_hops_but_not_link_local() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "api.example":
            return httpx.Response(302, headers={"location": "http://10.0.0.5/v.mp4"})
        if request.url.host == "10.0.0.5":
            return httpx.Response(302, headers={"location": "http://169.254.169.254/x"})
        return httpx.Response(200, content=b"metadata")

    with pytest.raises(UpstreamError) as caught:
        await _drain(_client(handler, allow_private_network=True), "https://api.example/v")
    assert caught.value.code == URL_REFUSED and "link-local" in caught.value.message


async def test_the_channels_own_private_base_url_stays_reachable() -> None:
    channel = ChannelSpec("c", "c", "openai", "http://10.0.0.5:9000/v1")
    client = UpstreamClient(channel, transport=httpx.MockTransport(
        lambda r: httpx.Response(200, content=b"video", headers={"content-type": "video/mp4"})))
    assert await _drain(client, client.url("videos/v/content")) == b"video"


async def test_a_json_answer_is_bounded() -> None:
    big = b'{"id": "' + b"x" * (MAX_BODY_BYTES + 10) + b'"}'
    client = _client(lambda r: httpx.Response(200, content=big,
                                              headers={"content-type": "application/json"}))
    with pytest.raises(UpstreamError) as caught:
        await client.request_json("GET", client.url("videos/v"))
    await client.aclose()
    assert caught.value.kind is ErrorKind.PROTOCOL and "larger than" in caught.value.message


async def test_a_json_answer_under_the_bound_reads_as_before() -> None:
    client = _client(lambda r: httpx.Response(200, json={"id": "v", "status": "queued"},
                                              headers={"x-request-id": "r1"}))
    response = await client.request("GET", client.url("videos/v"))
    await client.aclose()
    assert response.json() == {"id": "v", "status": "queued"}
    assert response.headers["x-request-id"] == "r1"


async def test_a_gzipped_answer_is_decoded_once() -> None:
    body = gzip.compress(b'{"id": "v"}')
    client = _client(lambda r: httpx.Response(
        200, content=body, headers={"content-encoding": "gzip",
                                    "content-type": "application/json"}))
    assert await client.request_json("GET", client.url("videos/v")) == {"id": "v"}
    await client.aclose()


async def test_an_endless_error_page_is_read_only_in_part() -> None:
    pulled: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(100_000):  # 6.5 GB if read to the end
            pulled.append(1)
            yield b"e" * 65536

    client = _client(lambda r: httpx.Response(503, content=endless()))
    with pytest.raises(UpstreamError) as caught:
        await _drain(client, "https://cdn.example/v.mp4")
    assert caught.value.kind is ErrorKind.UNAVAILABLE
    assert len(pulled) * 65536 <= MAX_ERROR_BYTES + 2 * 65536


async def test_request_any_hands_back_an_error_answer_bounded() -> None:
    client = _client(lambda r: httpx.Response(429, json={"code": "busy"}))
    response = await client.request_any("GET", client.url("videos/v"))
    await client.aclose()
    assert (response.status_code, response.json()) == (429, {"code": "busy"})


async def test_an_endless_download_stops_at_the_media_cap(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "MAX_MEDIA_BYTES", 1024 * 1024)
    pulled: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(100_000):
            pulled.append(1)
            yield b"v" * 65536

    client = _client(lambda r: httpx.Response(200, content=endless(),
                                              headers={"content-type": "video/mp4"}))
    with pytest.raises(UpstreamError) as caught:
        await _drain(client, client.url("videos/v/content"))
    assert caught.value.kind is ErrorKind.PROTOCOL and "larger than" in caught.value.message
    assert len(pulled) <= 1024 * 1024 // 65536 + 2


async def test_oversized_response_headers_are_refused() -> None:
    """A real server on loopback sending 1 MiB of headers: httpcore stops at 100 KiB."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        try:
            writer.write(b"HTTP/1.1 200 OK\r\n")
            for i in range(1024):
                writer.write(b"x-filler-%d: %s\r\n" % (i, b"h" * 1000))
                await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = UpstreamClient(ChannelSpec("c", "c", "openai", f"http://127.0.0.1:{port}/v1"))
    try:
        with pytest.raises(UpstreamError) as caught:
            await client.request("GET", client.url("videos/v"))
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()
    assert caught.value.kind is ErrorKind.UNAVAILABLE
    assert "RemoteProtocolError" in caught.value.message
