"""The HTTP/1.1 server protocol ``reelgate serve`` runs: uvicorn's httptools protocol
with a bound on the request head (request line plus headers).

uvicorn's httptools protocol takes headers of any size (a 1 MB ``Authorization`` was
read and checked), and llhttp buffers a header until it ends. This one counts the head
as it arrives and answers ``431`` in OpenAI's envelope once it passes the limit, before
the application sees the request. The limit rides in uvicorn's
``h11_max_incomplete_event_size``, the one setting uvicorn has for it, so the h11
protocol would enforce the same number.
"""

from __future__ import annotations

import json
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["BoundedHttpToolsProtocol", "server_options"]


def server_options(max_header_bytes: int) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``."""
    return {"http": BoundedHttpToolsProtocol, "h11_max_incomplete_event_size": max_header_bytes}


class _HeadTooLarge(Exception):
    pass


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """Counts each request's head twice over: the headers llhttp has finished (so one
    read that brings a whole huge head is caught) and the bytes of a head still
    arriving (so a header that never ends is caught before llhttp buffers it all)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limit: int = self.config.h11_max_incomplete_event_size or 16 * 1024
        self._in_head = True
        self._head_bytes = 0
        self._pending_bytes = 0

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = self._pending_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self._limit:
            raise _HeadTooLarge

    def data_received(self, data: bytes) -> None:
        # uvicorn's own data_received, plus the 431 (it would answer a plain 400)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):
                self._refuse()
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        if self._in_head:
            self._pending_bytes += len(data)
            if self._pending_bytes > self._limit:
                self._refuse()

    def _refuse(self) -> None:
        body = json.dumps({"error": {
            "message": f"Request headers are larger than the limit of {self._limit} bytes.",
            "type": "invalid_request_error", "param": None,
            "code": "request_header_fields_too_large"}}).encode()
        self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                             b"content-type: application/json\r\n"
                             b"content-length: " + str(len(body)).encode() + b"\r\n"
                             b"connection: close\r\n\r\n" + body)
        self.transport.close()
