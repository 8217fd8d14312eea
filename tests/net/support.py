"""Loopback servers that count who reached them, and stubs for DNS and sockets."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import threading
from collections.abc import Callable, Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import httpcore
import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

if TYPE_CHECKING:  # only for annotations: the e2e tests import this module on old code too
    from reelgate.net.transport import SocketOption

#: a globally routed address the tests pretend a name resolves to; never dialled
PUBLIC_IP = "93.184.216.34"


class Target:
    """A loopback HTTP server: answers every GET/POST with ``body`` and counts the hits."""

    def __init__(self, body: bytes = b"internal secret", content_type: str = "video/mp4",
                 status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.hits: list[tuple[str, str, str | None]] = []  # (method, path, Host header)
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                with outer._lock:
                    outer.hits.append((self.command, self.path, self.headers.get("host")))
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Target:
        self.thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.server.shutdown()
        self.server.server_close()


class StubResolver:
    """Answers a name from a script: the n-th lookup of a name gets the n-th answer
    (the last one repeating), so a test can play a DNS server that rebinds."""

    def __init__(self, script: dict[str, Sequence[Sequence[str]]]) -> None:
        self.script = script
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        answers = self.script[host]
        index = min(self.lookups.count(host), len(answers) - 1)
        self.lookups.append(host)
        return list(answers[index])


class RecordingConnector(httpcore.AsyncNetworkBackend):
    """The real socket backend for loopback; refuses (and records) any other address,
    so no test ever dials out."""

    def __init__(self) -> None:
        self.dialled: list[tuple[str, int]] = []
        self._real = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[SocketOption] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        self.dialled.append((host, port))
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise httpcore.ConnectError(f"tests never dial out ({host})")
        return await self._real.connect_tcp(host, port, timeout, local_address, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._real.sleep(seconds)


def certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``name`` and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


#: what a scripted server does with one request: the bytes to answer, or None to close
Answer = Callable[[bytes, bytes], bytes | None]


def ok(body: bytes = b'{"ok":true}', *extra: str) -> bytes:
    head = "".join(f"{line}\r\n" for line in extra)
    return (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            % len(body)) + head.encode() + b"\r\n" + body


class Scripted:
    """A loopback server: each request (head, body) is answered by ``answer``."""

    def __init__(self, answer: Answer, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.answer = answer
        self.ssl_context = ssl_context
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self.closed_idle = asyncio.Event()
        self.close_after_answer = False

    async def __aenter__(self) -> Scripted:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0,
                                                 ssl=self.ssl_context)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()

    def url(self, path: str = "/v1/videos/video_1", host: str = "127.0.0.1",
            scheme: str = "http") -> httpx.URL:
        return httpx.URL(f"{scheme}://{host}:{self.port}{path}")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                body = await reader.readexactly(length) if length else b""
                self.requests.append((head, body))
                answer = self.answer(head, body)
                if answer is None:
                    return
                writer.write(answer)
                await writer.drain()
                if self.close_after_answer:
                    return
        finally:
            writer.close()
            self.closed_idle.set()
