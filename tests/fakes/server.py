"""Run any fake (or any ASGI app) in uvicorn on 127.0.0.1 in a background thread.

    with FakeServer(OpenAIFake()) as server:
        server.url          # "http://127.0.0.1:<free port>"

The port is bound before the thread starts, so it is free and known at once; leaving
the ``with`` block (or :meth:`FakeServer.stop`) shuts uvicorn down and joins the thread.
For demos: ``python -m tests.fakes openai --port 8801 --key sk-demo`` (see ``__main__``).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from .core import DroppedConnection

__all__ = ["FakeServer", "serve"]


class _QuietDrops(logging.Filter):
    """Injected connection drops are intended; keep their tracebacks out of the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], DroppedConnection))


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


class FakeServer:
    """A uvicorn server on a free loopback port; usable as a context manager."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        config = uvicorn.Config(
            app,
            http="httptools",
            lifespan="off",
            access_log=False,
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> FakeServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("fake server did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._socket.close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(app: Any, **kwargs: Any) -> FakeServer:
    """Start ``app`` (a fake or any ASGI app) and return the running server."""
    return FakeServer(app, **kwargs).start()
