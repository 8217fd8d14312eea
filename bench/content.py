"""Content benchmark: download a 1 GiB stored video through the gateway.

    python bench/content.py                 # 1 GiB, local storage, SQLite
    python bench/content.py --mib 256

Stores one completed job whose video is ``--mib`` MiB of pseudo-random bytes, starts
``reelgate serve --no-worker`` on it, downloads ``GET /v1/videos/{id}/content`` and
prints throughput, time to first byte, and how much the server's resident memory
grew at its peak during the transfer (VmHWM after resetting it through
/proc/PID/clear_refs, so it is the peak of this download alone): the file must be
streamed, not buffered. Then a Range request for the last 8 MiB.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.scale.support import Deployment, in_thread  # noqa: E402

from reelgate.ids import new_id, now  # noqa: E402
from reelgate.media.local import LocalStorage  # noqa: E402
from reelgate.store.db import Database  # noqa: E402
from reelgate.store.tables import jobs, tenants  # noqa: E402

MiB = 1 << 20


async def blocks(total: int, digest: Any) -> AsyncIterator[bytes]:
    seed = os.urandom(MiB)
    for n in range(total // MiB):
        block = seed[n % 97:] + seed[:n % 97]  # differs per MiB, cheap to make
        digest.update(block)
        yield block


async def store_job(dep: Deployment, mib: int) -> tuple[str, str]:
    """A completed job whose video is ``mib`` MiB; returns (job id, sha256)."""
    job_id = new_id("video")
    digest = hashlib.sha256()
    storage = LocalStorage(Path(dep.storage_url))
    obj = await storage.put_stream(f"videos/{job_id}/video.mp4", blocks(mib * MiB, digest),
                                   "video/mp4")
    db = Database(dep.database_url)
    t = now()
    try:
        async with db.begin() as conn:
            tenant = (await conn.execute(
                tenants.select().where(tenants.c.name == "bench"))).first()
            assert tenant is not None
            await conn.execute(jobs.insert().values(
                id=job_id, tenant_id=tenant.id, key_id="bench", model="sora-2",
                prompt="a very long video", size="1280x720", seconds=12, quality="standard",
                state="completed", progress=100, version=1, created_at=t, updated_at=t,
                completed_at=t, expires_at=t + 86400, poll_count=1, submit_attempts=1,
                price_micros=0, media={"video": {"key": obj.key, "size": obj.size,
                                                 "etag": obj.etag,
                                                 "content_type": obj.content_type}}))
    finally:
        await db.dispose()
    return job_id, digest.hexdigest()


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def download(url: str, key: str, pid: int) -> dict[str, float | str]:
    headers = {"Authorization": f"Bearer {key}"}
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # peak RSS := current RSS
    rss_before = status_kib(pid, "VmRSS")
    digest = hashlib.sha256()
    size = 0
    started = time.perf_counter()
    first = 0.0
    with httpx.stream("GET", url, headers=headers, timeout=120) as resp:
        resp.raise_for_status()
        for chunk in resp.iter_raw(MiB):
            if not first:
                first = time.perf_counter() - started
            digest.update(chunk)
            size += len(chunk)
    elapsed = time.perf_counter() - started
    peak = status_kib(pid, "VmHWM")
    return {"bytes": size, "seconds": elapsed, "ttfb_ms": first * 1000,
            "mb_per_s": size / MiB / elapsed, "rss_before_mib": rss_before / 1024,
            "peak_growth_mib": (peak - rss_before) / 1024, "sha256": digest.hexdigest()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reelgate-content-") as tmp:
        dep = Deployment(Path(tmp), database_url=f"sqlite+aiosqlite:///{tmp}/bench.db")
        key = dep.create_key(tenant="bench", name="bench")
        job_id, sha = in_thread(store_job(dep, args.mib))
        try:
            [api] = dep.add_apis(1)
            assert api.proc is not None
            url = f"{api.base_url}/videos/{job_id}/content"
            cold = download(url, key, api.proc.pid)  # first: page cache, lazy imports
            r = download(url, key, api.proc.pid)
            tail = httpx.get(url, timeout=60, headers={
                "Authorization": f"Bearer {key}", "Range": f"bytes=-{8 * MiB}"})
        finally:
            dep.stop()
    ok = r["bytes"] == args.mib * MiB and r["sha256"] == sha
    print(f"GET /v1/videos/{{id}}/content of a {args.mib} MiB video (local storage):")
    print(f"  {r['mb_per_s']:.0f} MiB/s, {r['seconds']:.2f} s, time to first byte "
          f"{r['ttfb_ms']:.1f} ms, bytes {'intact' if ok else 'WRONG'}")
    print(f"  server RSS {r['rss_before_mib']:.0f} MiB before; peak growth during the "
          f"download {r['peak_growth_mib']:.1f} MiB (first download: "
          f"{cold['peak_growth_mib']:.1f} MiB, {cold['mb_per_s']:.0f} MiB/s)")
    print(f"  Range bytes=-{8 * MiB}: HTTP {tail.status_code}, {len(tail.content)} bytes")
    return 0 if ok and tail.status_code == 206 else 1


if __name__ == "__main__":
    sys.exit(main())
