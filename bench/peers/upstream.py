"""The fake OpenAI upstream both gateways talk to, plus what a benchmark needs.

It is :class:`tests.fakes.OpenAIFake` (the one the test suite uses) with three
additions, all in this subclass so the tests' fake stays small:

* a **big content** mode: a job whose prompt contains ``[big:NAME]`` gets the file
  registered as ``NAME`` (``--big NAME=PATH``) as its video, streamed from disk in
  1 MiB reads, never held in memory (the tests' fake buffers every response);
* its own **poll hint**: ``openai-poll-after-ms`` is ``--poll-after-ms`` (0 = none),
  not the 200 ms the tests use to stay fast;
* **counters** per route (``GET /_bench/counts``), so the benchmark can tell how many
  upstream calls each gateway made for a given number of client calls.

Run: ``python -m bench.peers.upstream --port 18080 --key sk-up --big 100m=/tmp/x.mp4``.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from tests.fakes import FakeServer, OpenAIFake

__all__ = ["BIG_MARKER", "BenchUpstream", "route_kind"]

BIG_MARKER = re.compile(r"\[big:([\w.-]+)\]")
_CONTENT = re.compile(r"^/v1/videos/([^/]+)/content$")
_READ = 1 << 20


def route_kind(method: str, path: str) -> str:
    """``create``, ``retrieve``, ``content``, ``delete``, ``list`` or ``other``."""
    if path == "/v1/videos":
        return {"POST": "create", "GET": "list"}.get(method, "other")
    if _CONTENT.match(path):
        return "content"
    if path.startswith("/v1/videos/") and path.count("/") == 3:
        return {"GET": "retrieve", "DELETE": "delete"}.get(method, "other")
    return "other"


class BenchUpstream(OpenAIFake):
    def __init__(self, *, big: dict[str, Path] | None = None,
                 poll_after_ms: int = 0, **options: Any) -> None:
        super().__init__("openai", **options)
        self.big = dict(big or {})
        self.poll_after_ms = poll_after_ms
        self._counts: Counter[str] = Counter()
        self._count_lock = threading.Lock()

    async def retrieve(self, request: Request) -> Response:
        response = await super().retrieve(request)
        del response.headers["openai-poll-after-ms"]
        if self.poll_after_ms > 0:
            response.headers["openai-poll-after-ms"] = str(self.poll_after_ms)
        return response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        if path == "/_bench/counts":
            await self._send_counts(send)
            return
        with self._count_lock:
            self._counts[f"{method} {route_kind(method, path)}"] += 1
        big = self._big_file(scope)
        if big is None:
            await super().__call__(scope, receive, send)
        else:
            await _stream_file(big, send)

    def _big_file(self, scope: Scope) -> Path | None:
        """The file to stream for a ``/content`` call, if this job is a big one."""
        match = _CONTENT.match(scope["path"])
        if match is None or scope["method"] != "GET":
            return None
        request = Request(scope)
        if request.query_params.get("variant", "video") != "video":
            return None
        job = self.jobs.get(match.group(1))
        marker = BIG_MARKER.search(job.prompt) if job is not None else None
        if job is None or marker is None or marker.group(1) not in self.big:
            return None
        if self.credential(request) != job.creator or job.phase()[0] != "completed":
            return None  # let the ordinary handler answer (and record) the refusal
        return self.big[marker.group(1)]

    async def _send_counts(self, send: Send) -> None:
        with self._count_lock:
            body = json.dumps(dict(self._counts)).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


async def _stream_file(path: Path, send: Send) -> None:
    size = path.stat().st_size
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"video/mp4"),
                            (b"content-length", str(size).encode())]})
    with path.open("rb") as fh:
        while chunk := await anyio.to_thread.run_sync(fh.read, _READ):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI upstream for bench/peers.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--key", action="append", required=True, help="accepted key")
    parser.add_argument("--big", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--poll-after-ms", type=int, default=0)
    parser.add_argument("--complete-after", type=float, default=3600.0)
    args = parser.parse_args(argv)
    big = {name: Path(p) for name, _, p in (b.partition("=") for b in args.big)}
    fake = BenchUpstream(big=big, poll_after_ms=args.poll_after_ms, keys=args.key,
                         complete_after=args.complete_after)
    with FakeServer(fake, port=args.port) as server:
        print(f"base_url={fake.base_url(server.url)}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
