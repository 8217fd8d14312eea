"""The guarded fetch an ``input_reference.image_url`` goes through, against loopback servers."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reelgate.net.fetch import FetchFailed, fetch_limited
from reelgate.net.policy import OutboundPolicy
from tests.net.support import Target

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
LAX = OutboundPolicy(allow_private=True)  # the servers are on loopback


async def test_an_image_is_fetched_whole_with_its_type() -> None:
    with Target(PNG, "image/png; charset=binary") as image:
        got = await fetch_limited(image.url + "/ref.png", max_bytes=1000, policy=LAX)
    assert (got.data, got.content_type) == (PNG, "image/png")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "127.1"])
async def test_a_private_url_is_refused_and_never_connected_to(host: str) -> None:
    with Target(PNG, "image/png") as image:
        with pytest.raises(FetchFailed) as failed:
            await fetch_limited(f"http://{host}:{image.port}/ref.png", max_bytes=1000)
        assert failed.value.code == "unsafe_url"
        assert image.hits == []


async def test_every_redirect_hop_is_checked() -> None:
    """A host the policy lets through redirects to another loopback port: refused."""
    with Target(PNG, "image/png") as internal, \
            Target(b"", status=302, headers={"location": internal.url + "/ref.png"}) as hop:
        policy = OutboundPolicy.trusting([hop.url])
        with pytest.raises(FetchFailed) as failed:
            await fetch_limited(hop.url + "/start", max_bytes=1000, policy=policy)
        assert failed.value.code == "unsafe_url" and "loopback" in failed.value.message
        assert len(hop.hits) == 1 and internal.hits == []
        got = await fetch_limited(hop.url + "/start", max_bytes=1000, policy=LAX)
        assert got.data == PNG and got.url == internal.url + "/ref.png"


async def test_redirects_are_bounded() -> None:
    with Target(b"", status=302, headers={"location": "/again"}) as loop:
        with pytest.raises(FetchFailed) as failed:
            await fetch_limited(loop.url, max_bytes=1000, policy=LAX, max_redirects=3)
        assert failed.value.code == "too_many_redirects" and len(loop.hits) == 4


@pytest.mark.parametrize(("body", "ctype", "status", "code"), [
    (PNG * 10, "image/png", 200, "too_large"),
    (PNG, "text/html", 200, "bad_content_type"),
    (PNG, "", 200, "bad_content_type"),
    (PNG, "image/png", 404, "bad_status"),
])  # fmt: skip
async def test_what_is_refused(body: bytes, ctype: str, status: int, code: str) -> None:
    with Target(body, ctype, status=status) as server, pytest.raises(FetchFailed) as failed:
        await fetch_limited(server.url, max_bytes=1000, policy=LAX)
    assert failed.value.code == code


async def test_a_body_without_a_length_is_cut_off_at_the_limit() -> None:
    """Chunked: no Content-Length to refuse up front, so the stream is counted."""
    sent: list[int] = []

    class Endless(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "image/png")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            try:
                for _ in range(10_000):  # 640 MB if nobody stops reading
                    chunk = b"\x00" * 65536
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent.append(len(chunk))
            except OSError:
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        with pytest.raises(FetchFailed) as failed:
            await fetch_limited(f"http://127.0.0.1:{server.server_address[1]}/", policy=LAX,
                                max_bytes=256 * 1024)
    finally:
        server.shutdown()
        server.server_close()
    assert failed.value.code == "too_large"
    assert sum(sent) < 64 * 1024 * 1024  # it stopped long before the end


@pytest.mark.parametrize("url", ["ftp://example.com/x.png", "http://user:pw@example.com/x",
                                 "file:///etc/passwd", "not a url"])
async def test_bad_urls(url: str) -> None:
    with pytest.raises(FetchFailed) as failed:
        await fetch_limited(url, max_bytes=1000)
    assert failed.value.code == "unsafe_url"
