"""reelgate-only rows next to the comparison: the ceiling, renders, more processes.

* ``ceiling``: a bare ASGI app on the same uvicorn returning the same retrieve JSON
  (bench/peers/ceiling.py), at the retrieve concurrencies: reelgate's retrieve rate is
  reported as a fraction of it.
* ``renders``: a second reelgate with only its embedded local channel; retrieves of a
  completed job at c=1, first idle, then while ``RENDERS`` 4 s 720p videos encode
  (two at a time), to show what renders cost a polling client.
* ``workers``: ``reelgate serve --workers N`` for N in ``WORKERS`` against the same
  fake upstream: retrieve c=64 and create c=32, so an operator knows what a core buys.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from bench.peers.load import load
from bench.peers.peers import ReelgatePeer, free_port
from bench.peers.procs import Proc
from bench.peers.suite import (
    Plan,
    Upstream,
    _body,
    _create,
    _measure_load,
    _wait_count,
    settle,
)

__all__ = ["RENDERS", "WORKERS", "ceiling", "renders", "workers"]

RENDERS = 3
WORKERS = (1, 2, 4)
Log = Callable[[str], None]


def ceiling(work: Path, body: bytes, plan: Plan, log: Log) -> dict[str, Any]:
    """Retrieve-shaped load against the bare ASGI app, per retrieve concurrency."""
    path = work / "ceiling-body.json"
    path.write_bytes(body)
    port = free_port()
    proc = Proc("ceiling", [sys.executable, "-m", "bench.peers.ceiling", "--port", str(port),
                            "--body", str(path)],
                env={"PYTHONPATH": str(Path(__file__).resolve().parents[2])},
                log=work / "ceiling.log")
    out: dict[str, Any] = {"bytes": len(body)}
    try:
        url = f"http://127.0.0.1:{port}/v1/videos/x"
        _wait(url, proc)
        for c in plan.retrieve_concurrency:
            log(f"[ceiling] retrieve c={c}")
            if plan.warmup > 0:
                load(url, key="-", concurrency=c, seconds=plan.warmup)
            settle(proc.pid, window=plan.settle_window)
            out[f"retrieve c={c}"] = _plain(load(url, key="-", concurrency=c,
                                                 seconds=plan.seconds))
    finally:
        proc.stop()
    return out


class _LocalPeer(ReelgatePeer):
    """reelgate with its embedded renderer as the only channel (two renders at once)."""

    name = "reelgate (local renderer)"

    def __init__(self, work: Path) -> None:
        super().__init__(work, "", "")
        self.env.update(REELGATE_LOCAL_CHANNEL="auto", REELGATE_RENDER_CONCURRENCY="2")

    def prepare(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        self.key = self._cli("keys", "create", "--name", "bench", "--create-tenant"
                             ).strip().splitlines()[-1]


def renders(work: Path, plan: Plan, log: Log) -> dict[str, Any]:
    peer = _LocalPeer(work / "renders")
    peer.work.mkdir(parents=True, exist_ok=True)
    peer.prepare()
    peer.start()
    out: dict[str, Any] = {"renders": RENDERS, "render_concurrency": 2}
    try:
        client = httpx.Client(base_url=peer.base_url, timeout=120,
                              headers={"Authorization": f"Bearer {peer.key}"})
        done = _create(client, "bench retrieve target")
        _until(client, [done], {"completed"}, 600)
        url = f"{peer.base_url}/videos/{done}"
        log("[renders] retrieve c=1, idle")
        settle(peer.pid, window=plan.settle_window)
        out["idle"] = _plain(load(url, key=peer.key, concurrency=1, seconds=plan.seconds))
        jobs = [_create(client, f"bench render {i}") for i in range(RENDERS)]
        _until(client, jobs, {"in_progress", "completed"}, 300, any_of=True)
        log(f"[renders] retrieve c=1 while {RENDERS} renders run")
        states_before = _states(client, jobs)
        out["rendering"] = _plain(load(url, key=peer.key, concurrency=1, seconds=plan.seconds))
        out["states_before"], out["states_after"] = states_before, _states(client, jobs)
    finally:
        peer.stop()
    return out


def workers(work: Path, upstream_url: str, upstream_key: str, up: Upstream, plan: Plan,
            log: Log) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n in WORKERS:
        peer = ReelgatePeer(work / f"workers-{n}", upstream_url, upstream_key)
        peer.work.mkdir(parents=True, exist_ok=True)
        peer.name = f"reelgate --workers {n}"
        peer.serve_args = ["--workers", str(n)]
        up.reset()
        up.configure(complete_after=1e9)
        peer.prepare()
        peer.start()
        try:
            client = httpx.Client(base_url=peer.base_url, timeout=120,
                                  headers={"Authorization": f"Bearer {peer.key}"})
            before = up.counts().get("POST create", 0)
            vid = _create(client, "bench in-flight job")
            _wait_count(up, "POST create", before + 1, 120)  # submitted in the background
            row: dict[str, Any] = {}
            log(f"[workers {n}] retrieve in-flight c=64")
            row["retrieve in-flight c=64"] = _measure_load(
                peer, up, plan, f"{peer.base_url}/videos/{vid}", 64, plan.seconds, plan.warmup)
            log(f"[workers {n}] create c=32")
            row["create c=32"] = _measure_load(
                peer, up, plan, f"{peer.base_url}/videos", 32, plan.create_seconds,
                min(plan.warmup, 1.0), body=json.dumps(_body("bench create")))
            out[str(n)] = row
        finally:
            peer.stop()
    return out


def _plain(result: Any) -> dict[str, Any]:
    return {"requests": result.requests, "seconds": result.seconds, "rps": result.rps,
            "p50_ms": result.p50_ms, "p99_ms": result.p99_ms, "max_ms": result.max_ms,
            "errors": result.errors, "tool": result.tool}


def _states(client: httpx.Client, ids: list[str]) -> list[str]:
    return [str(client.get(f"/videos/{i}").json().get("status")) for i in ids]


def _until(client: httpx.Client, ids: list[str], wanted: set[str], timeout: float, *,
           any_of: bool = False) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = _states(client, ids)
        if "failed" in states:
            raise RuntimeError(f"a bench job failed: {states}")
        hits = [s in wanted for s in states]
        if any(hits) if any_of else all(hits):
            return
        time.sleep(0.3)
    raise RuntimeError(f"jobs not {wanted} within {timeout:.0f} s")


def _wait(url: str, proc: Proc, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{proc.name} did not answer within {timeout:.0f} s")
