"""Loopback servers that count who reached them, and stubs for DNS and sockets."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING

import httpcore

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
