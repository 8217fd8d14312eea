"""Load generators: wrk for request rates, curl for downloads, a paced prober.

wrk (C, one thread) is used because a Python client tops out near the rate reelgate
serves on two cores, so it would measure itself; its Lua ``done`` hook prints the
numbers as JSON. Without wrk, an asyncio + httpx closed loop stands in (slower;
the report says which one ran). Latencies are closed-loop (not corrected for
coordinated omission), like the anchor numbers in /work/shared/refs.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = ["Download", "LoadResult", "Probe", "download", "have_wrk", "load", "pct"]

_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


@dataclass
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # non-2xx/3xx answers, timeouts and socket errors
    tool: str

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> int:
        return max(0, self.requests - self.errors)


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def load(url: str, *, key: str, concurrency: int, seconds: float,
         body: str | None = None) -> LoadResult:
    """GET (or POST ``body`` as JSON) ``url`` in a closed loop for ``seconds``."""
    if have_wrk():
        return _wrk(url, key, concurrency, seconds, body)
    return asyncio.run(_httpx_load(url, key, concurrency, seconds, body))


def _wrk(url: str, key: str, concurrency: int, seconds: float, body: str | None) -> LoadResult:
    script = _DONE
    if body is not None:
        script = (f"wrk.method = 'POST'\nwrk.body = {json.dumps(body)}\n"
                  "wrk.headers['Content-Type'] = 'application/json'\n") + script
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s",
             "--timeout", "60s", "-H", f"Authorization: Bearer {key}", "-s", fh.name, url],
            capture_output=True, text=True, check=True, timeout=seconds + 120)
    finally:
        Path(fh.name).unlink(missing_ok=True)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON "))
    r = json.loads(line.removeprefix("WRKJSON "))
    errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    return LoadResult(r["requests"], r["duration_us"] / 1e6, r["p50_us"] / 1000,
                      r["p99_us"] / 1000, r["max_us"] / 1000, errors, "wrk")


async def _httpx_load(url: str, key: str, concurrency: int, seconds: float,
                      body: str | None) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=60) as client:
        start = time.perf_counter()
        stop = start + seconds

        async def one() -> None:
            nonlocal errors
            while time.perf_counter() < stop:
                t = time.perf_counter()
                try:
                    if body is None:
                        resp = await client.get(url)
                    else:
                        resp = await client.post(url, content=body)
                    errors += resp.status_code >= 400
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - t)

        await asyncio.gather(*(one() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    ms = [v * 1000 for v in latencies]
    return LoadResult(len(ms), elapsed, pct(ms, 0.5), pct(ms, 0.99), max(ms, default=0.0),
                      errors, "httpx")


@dataclass
class Download:
    status: int
    bytes: int
    ttfb_s: float
    total_s: float

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.total_s if self.total_s else 0.0


@dataclass
class Probe:
    """Retrieves sent at a fixed pace while something else runs; latency is counted
    from the moment each was due, so a stalled server shows as latency."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    unanswered: int = 0


async def download(url: str, key: str, *, probe_url: str | None = None,
                   probe_every: float = 0.1) -> tuple[Download, Probe]:
    """Fetch ``url`` with curl (to /dev/null); meanwhile probe ``probe_url`` if given."""
    task = asyncio.create_task(_curl(url, key) if shutil.which("curl") else _httpx_get(url, key))
    probe = Probe()
    if probe_url is not None:
        await _probe_until(task, probe_url, key, probe_every, probe)
    return await task, probe


async def _curl(url: str, key: str) -> Download:
    proc = await asyncio.create_subprocess_exec(
        "curl", "-sS", "-o", "/dev/null", "-H", f"Authorization: Bearer {key}",
        "-w", "%{http_code} %{size_download} %{time_starttransfer} %{time_total}", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"curl {url} failed: {err.decode(errors='replace')}")
    code, size, ttfb, total = out.decode().split()
    return Download(int(code), int(size), float(ttfb), float(total))


async def _httpx_get(url: str, key: str) -> Download:
    async with httpx.AsyncClient(timeout=600) as client:
        t = time.perf_counter()
        async with client.stream("GET", url, headers={"Authorization": f"Bearer {key}"}) as r:
            ttfb, size = 0.0, 0
            async for chunk in r.aiter_raw(1 << 20):
                ttfb = ttfb or time.perf_counter() - t
                size += len(chunk)
        return Download(r.status_code, size, ttfb, time.perf_counter() - t)


async def _probe_until(task: asyncio.Task[Download], url: str, key: str, every: float,
                       probe: Probe) -> None:
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=64)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, limits=limits,
                                 timeout=300) as client:

        async def one(due: float) -> None:
            try:
                resp = await client.get(url)
                probe.errors += resp.status_code >= 400
            except httpx.HTTPError:
                probe.errors += 1
            probe.latencies_ms.append((time.perf_counter() - due) * 1000)

        pending: set[asyncio.Task[None]] = set()
        due = time.perf_counter()
        while not task.done():
            pending.add(asyncio.create_task(one(due)))
            due += every
            await asyncio.wait([task], timeout=max(0.0, due - time.perf_counter()))
        # answers still owed when the download ends are counted up to a grace period
        if pending:
            _, late = await asyncio.wait(pending, timeout=30)
            probe.unanswered = len(late)
            for t in late:
                t.cancel()
