"""The origin client against real loopback servers that answer byte for byte as scripted.

Each server reads requests off its connections and writes the next scripted answer, so
the tests can produce what real upstreams do: chunked and gzip bodies, bodies that run
to the end of the connection, ``Connection: close``, idle keep-alive connections the
server drops, answers that never come, and oversized ones.
"""

from __future__ import annotations

import gzip
import ssl
import zlib
from pathlib import Path

import httpx
import pytest

from reelgate.net.origin import OriginClient, TooLarge
from reelgate.net.transport import verifying_context
from reelgate.providers.base import ErrorKind
from reelgate.providers.failures import upstream_error
from tests.net.support import Scripted, certificate, ok


def client(url: httpx.URL, *, read_timeout: float = 10.0,
           ssl_context: ssl.SSLContext | None = None) -> OriginClient:
    return OriginClient(url, ssl_context=ssl_context, connect_timeout=5.0,
                        read_timeout=read_timeout)


async def test_keep_alive_reuses_one_connection_and_sends_what_it_was_given() -> None:
    async with Scripted(lambda head, body: ok()) as server:
        origin = client(server.url())
        for _ in range(3):
            answer = await origin.request("GET", server.url("/v1/videos/v?api-version=x%20y"),
                                          headers={"authorization": "Bearer k"}, limit=1000)
            assert (answer.status_code, answer.content) == (200, b'{"ok":true}')
        posted = await origin.request("POST", server.url("/v1/videos"),
                                      headers=[("content-type", "application/json")],
                                      body=b'{"prompt":"p"}', limit=1000)
        await origin.aclose()
    assert posted.status_code == 200
    assert server.connections == 1
    head, _ = server.requests[0]
    lines = head.decode().split("\r\n")
    assert lines[0] == "GET /v1/videos/v?api-version=x%20y HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}" in lines
    assert "authorization: Bearer k" in lines
    assert server.requests[3][1] == b'{"prompt":"p"}'
    assert b"Content-Length: 14" in server.requests[3][0]


async def test_chunked_and_compressed_bodies_are_read_whole_and_decoded() -> None:
    payload = b'{"status":"in_progress","progress":45}'
    packed = gzip.compress(payload)
    chunked = (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-encoding: gzip\r\n\r\n"
               + b"".join(b"%x;ext=1\r\n%s\r\n" % (len(part), part)
                          for part in (packed[:10], packed[10:]))
               + b"0\r\nx-trailer: y\r\n\r\n")
    answers = iter([chunked, ok(zlib.compress(payload), "content-encoding: deflate")])
    async with Scripted(lambda head, body: next(answers)) as server:
        origin = client(server.url())
        first = await origin.request("GET", server.url(), headers={}, limit=1000)
        second = await origin.request("GET", server.url(), headers={}, limit=1000)
        await origin.aclose()
    assert first.content == payload and second.content == payload
    assert server.connections == 1  # the chunked answer ended cleanly: reused
    assert not any(name.lower() in ("content-encoding", "content-length")
                   for name, _ in second.headers)


async def test_a_body_without_a_length_runs_to_the_close_and_is_not_reused() -> None:
    async with Scripted(lambda head, body: b"HTTP/1.1 200 OK\r\n\r\nuntil the end") as server:
        server.close_after_answer = True
        origin = client(server.url())
        answers = [await origin.request("GET", server.url(), headers={}, limit=1000)
                   for _ in range(2)]
        await origin.aclose()
    assert [a.content for a in answers] == [b"until the end"] * 2
    assert server.connections == 2


async def test_connection_close_is_honoured() -> None:
    async with Scripted(lambda head, body: ok(b"{}", "connection: close")) as server:
        origin = client(server.url())
        for _ in range(2):
            await origin.request("GET", server.url(), headers={}, limit=1000)
        await origin.aclose()
    assert server.connections == 2


async def test_informational_answers_before_the_real_one_are_skipped() -> None:
    async with Scripted(lambda head, body: b"HTTP/1.1 100 Continue\r\n\r\n" + ok()) as server:
        origin = client(server.url())
        answer = await origin.request("POST", server.url(), headers={}, body=b"x", limit=1000)
        await origin.aclose()
    assert answer.status_code == 200 and answer.content == b'{"ok":true}'


@pytest.mark.parametrize("answer", [
    ok(b"x" * 1001),
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3e9\r\n" + b"x" * 1001
    + b"\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n" + b"x" * 1001,
    ok(gzip.compress(b"x" * 100_000), "content-encoding: gzip"),  # small on the wire
], ids=["length", "chunked", "to-close", "gzip-bomb"])
async def test_a_body_past_the_limit_is_refused(answer: bytes) -> None:
    async with Scripted(lambda head, body: answer) as server:
        server.close_after_answer = True
        origin = client(server.url())
        with pytest.raises(TooLarge) as caught:
            await origin.request("GET", server.url(), headers={}, limit=1000)
        await origin.aclose()
    assert caught.value.status_code == 200


async def test_a_dropped_idle_connection_is_replaced_for_a_poll() -> None:
    """The server closes each connection after its answer without saying so: the next
    GET finds it dead (at once, or when not a byte comes back) and uses a new one."""
    async with Scripted(lambda head, body: ok()) as server:
        server.close_after_answer = True
        origin = client(server.url())
        await origin.request("GET", server.url(), headers={}, limit=1000)
        await server.closed_idle.wait()
        answer = await origin.request("GET", server.url(), headers={}, limit=1000)
        await origin.aclose()
    assert answer.status_code == 200
    assert server.connections == 2


async def test_a_poll_on_a_reused_connection_closed_unanswered_goes_once_more() -> None:
    """The race the check above cannot see: the server closes the connection just as
    the request arrives. Not a byte came back, so a GET is sent again on a new one."""
    answers = iter([ok(), None, ok(b'{"again":1}')])
    async with Scripted(lambda head, body: next(answers)) as server:
        origin = client(server.url())
        await origin.request("GET", server.url(), headers={}, limit=1000)
        answer = await origin.request("GET", server.url(), headers={}, limit=1000)
        await origin.aclose()
    assert answer.content == b'{"again":1}'
    assert (server.connections, len(server.requests)) == (2, 3)


async def test_a_create_the_server_drops_unanswered_is_never_sent_twice() -> None:
    """A POST whose connection closes without an answer may have been read: it fails
    (and maps to AMBIGUOUS for a create) instead of being sent again."""
    answers = iter([ok(), None])
    async with Scripted(lambda head, body: next(answers)) as server:
        origin = client(server.url())
        await origin.request("GET", server.url(), headers={}, limit=1000)
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            await origin.request("POST", server.url("/v1/videos"), headers={}, body=b"{}",
                                 limit=1000)
        await origin.aclose()
    assert sum(head.startswith(b"POST") for head, _ in server.requests) == 1
    assert upstream_error(caught.value, creates=True).kind is ErrorKind.AMBIGUOUS


async def test_an_answer_that_never_comes_times_out_as_a_read_timeout() -> None:
    async with Scripted(lambda head, body: b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc"
                        ) as server:
        origin = client(server.url(), read_timeout=0.2)
        with pytest.raises(httpx.ReadTimeout):
            await origin.request("GET", server.url(), headers={}, limit=1000)
        await origin.aclose()


async def test_nothing_listening_is_a_connect_error_that_sent_nothing() -> None:
    async with Scripted(lambda head, body: ok()) as server:
        url = server.url()
    origin = client(url)
    with pytest.raises(httpx.ConnectError) as caught:
        await origin.request("POST", url, headers={}, body=b"{}", limit=1000)
    assert upstream_error(caught.value, creates=True).kind is ErrorKind.UNAVAILABLE


@pytest.mark.parametrize("answer", [b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/1.1 200 OK\r\nbad\r\n\r\n",
                                    b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n"])
async def test_garbage_is_a_protocol_error(answer: bytes) -> None:
    async with Scripted(lambda head, body: answer) as server:
        server.close_after_answer = True
        origin = client(server.url())
        with pytest.raises(httpx.RemoteProtocolError):
            await origin.request("GET", server.url(), headers={}, limit=1000)
        await origin.aclose()


async def test_header_injection_is_refused_before_connecting() -> None:
    async with Scripted(lambda head, body: ok()) as server:
        origin = client(server.url())
        with pytest.raises(httpx.LocalProtocolError):
            await origin.request("GET", server.url(), headers={"x": "a\r\nevil: 1"}, limit=1000)
        await origin.aclose()
    assert server.connections == 0


async def test_tls_verifies_the_certificate_for_the_configured_name(tmp_path: Path) -> None:
    cert, key = certificate(tmp_path, "localhost")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    async with Scripted(lambda head, body: ok(), ssl_context=server_ctx) as server:
        url = server.url(host="localhost", scheme="https")
        trusting = client(url, ssl_context=ssl.create_default_context(cafile=str(cert)))
        answer = await trusting.request("GET", url, headers={}, limit=1000)
        await trusting.aclose()
        default = client(url, ssl_context=verifying_context())
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await default.request("GET", url, headers={}, limit=1000)
    assert answer.status_code == 200
    assert f"Host: localhost:{server.port}".encode() in server.requests[0][0]


def test_it_serves_only_its_own_origin() -> None:
    origin = client(httpx.URL("https://api.example.com/v1"))
    assert origin.serves(httpx.URL("https://api.example.com/v1/videos/x?a=1"))
    assert origin.serves(httpx.URL("https://api.example.com:443/other"))
    assert not origin.serves(httpx.URL("http://api.example.com/v1"))
    assert not origin.serves(httpx.URL("https://cdn.example.com/v1"))
    assert not origin.serves(httpx.URL("https://api.example.com:8443/v1"))
