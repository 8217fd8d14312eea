"""Serving a 200 MiB video through a real uvicorn must not grow the server by 200 MiB.

The server runs in a subprocess so its RSS (and peak RSS, VmHWM) is measured alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from reelgate.media.local import LocalStorage

from .s3_server import free_port

MiB = 1024 * 1024
SIZE = 200 * MiB
KEY = "videos/video_big/video.mp4"
MAX_GROWTH = 50 * MiB

SERVER = """
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from reelgate.media.local import LocalStorage
from reelgate.media.responder import media_response

storage = LocalStorage(sys.argv[1])


async def content(request: Request) -> Response:
    obj = await storage.stat(request.path_params["key"])
    if obj is None:
        return Response(status_code=404)
    return await media_response(storage, obj, request)


app = Starlette(routes=[Route("/media/{key:path}", content)])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _media_fds(pid: int) -> int:
    """How many descriptors the server holds open on the big media file."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):  # fds come and go while we look
            count += os.readlink(fd).endswith(KEY)
    return count


@pytest.fixture(scope="module")
async def media_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Write the big object a chunk at a time; return its root and sha256."""
    root = tmp_path_factory.mktemp("memory-media")
    digest = hashlib.sha256()
    rng = random.Random(42)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(SIZE // MiB):
            chunk = rng.randbytes(MiB)
            digest.update(chunk)
            yield chunk

    stored = await LocalStorage(root).put_stream(KEY, chunks(), "video/mp4")
    assert stored.size == SIZE
    return root, digest.hexdigest()


@pytest.fixture(scope="module")
def server(
    media_root: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    script = tmp_path_factory.mktemp("server") / "serve.py"
    script.write_text(SERVER)
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(script), str(media_root[0]), str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, "server exited"
            try:
                httpx.get(f"{base}/media/missing", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        yield proc, base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_200_mib_download_keeps_server_rss_flat(
    server: tuple[subprocess.Popen[bytes], str], media_root: tuple[Path, str]
) -> None:
    proc, base = server
    url = f"{base}/media/{KEY}"
    warm = httpx.get(url, headers={"Range": "bytes=0-1023"})  # import/allocate the hot path
    assert warm.status_code == 206
    baseline = _status_kib(proc.pid, "VmRSS") * 1024

    digest, received = hashlib.sha256(), 0
    started = time.monotonic()
    with httpx.stream("GET", url, timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-length"] == str(SIZE)
        for chunk in response.iter_raw(MiB):
            digest.update(chunk)
            received += len(chunk)
    elapsed = time.monotonic() - started
    peak = _status_kib(proc.pid, "VmHWM") * 1024

    assert received == SIZE
    assert digest.hexdigest() == media_root[1]
    growth = peak - baseline
    print(f"\n200 MiB in {elapsed:.2f}s; server RSS {baseline / MiB:.1f} MiB, +{growth / MiB:.1f}")
    assert growth < MAX_GROWTH, f"server peak RSS grew {growth / MiB:.1f} MiB"


def test_ranged_download_matches_file(
    server: tuple[subprocess.Popen[bytes], str], media_root: tuple[Path, str]
) -> None:
    _, base = server
    start, end = 37 * MiB + 11, 151 * MiB - 3
    digest, received = hashlib.sha256(), 0
    with httpx.stream(
        "GET", f"{base}/media/{KEY}", headers={"Range": f"bytes={start}-{end}"}, timeout=60
    ) as response:
        assert response.status_code == 206
        assert response.headers["content-range"] == f"bytes {start}-{end}/{SIZE}"
        for chunk in response.iter_raw(MiB):
            digest.update(chunk)
            received += len(chunk)
    expected = hashlib.sha256()
    with open(media_root[0] / KEY, "rb") as fh:
        fh.seek(start)
        remaining = end - start + 1
        while remaining:
            block = fh.read(min(MiB, remaining))
            expected.update(block)
            remaining -= len(block)
    assert received == end - start + 1
    assert digest.hexdigest() == expected.hexdigest()


def test_client_hang_up_releases_the_file(server: tuple[subprocess.Popen[bytes], str]) -> None:
    """Starlette abandons the body iterator on disconnect; ours must still close the file."""
    proc, base = server
    assert _media_fds(proc.pid) == 0
    with (
        httpx.Client(timeout=30) as client,
        client.stream("GET", f"{base}/media/{KEY}") as response,
    ):
        assert response.status_code == 200
        body = response.iter_raw(MiB)  # keep a reference: dropping it closes the connection
        next(body)
        assert _media_fds(proc.pid) == 1
    deadline = time.monotonic() + 60
    while _media_fds(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _media_fds(proc.pid) == 0
