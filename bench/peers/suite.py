"""One gateway through every measurement, with the same code for both.

Order matters and is the same for both: fixtures (an in-flight job, a completed
one, the big ones), retrieves, downloads, then creates last (the thousands of jobs
they leave behind keep reelgate's poller busy, which would tax later phases).
Before each measurement the gateway is left to settle until its CPU is idle.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from bench.peers.load import download, load, pct
from bench.peers.peers import UPSTREAM_MODEL, Peer
from bench.peers.procs import RssSampler, tree_cpu_seconds, tree_rss_bytes

__all__ = ["Plan", "Upstream", "run_suite"]

_SIZE = "1280x720"


@dataclass
class Plan:
    seconds: float = 15.0  # per load run
    create_seconds: float = 10.0
    warmup: float = 3.0
    settle_window: float = 1.0  # idle CPU needed before each measurement
    sequential_calls: int = 40  # per kind, to count upstream calls per client call
    retrieve_concurrency: tuple[int, ...] = (1, 64)
    create_concurrency: tuple[int, ...] = (1, 32)
    sizes: dict[str, int] = field(default_factory=dict)  # name -> bytes
    probe_size: str = ""  # the download during which retrieves are probed


class Upstream:
    """The fake upstream's control endpoints."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30)

    def counts(self) -> dict[str, int]:
        data: dict[str, int] = self.http.get("/_bench/counts").json()
        return data

    def configure(self, **values: Any) -> None:
        self.http.post("/_config", json=values).raise_for_status()

    def reset(self) -> None:
        self.http.post("/_reset").raise_for_status()


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def settle(pid: int, *, below: float = 0.05, window: float = 1.0, timeout: float = 30.0) -> float:
    """Wait until the tree uses less than ``below`` of a core over ``window`` seconds."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        cpu = tree_cpu_seconds(pid)
        time.sleep(window)
        if (tree_cpu_seconds(pid) - cpu) / window < below:
            break
    return time.monotonic() - start


def _body(prompt: str) -> dict[str, str]:
    return {"model": UPSTREAM_MODEL, "prompt": prompt, "seconds": "4", "size": _SIZE}


def _create(client: httpx.Client, prompt: str) -> str:
    resp = client.post("/videos", json=_body(prompt))
    if resp.status_code != 200:
        raise RuntimeError(f"create failed: {resp.status_code} {resp.text[:500]}")
    vid: str = resp.json()["id"]
    return vid


def _wait_status(client: httpx.Client, ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = set(ids)
    while pending and time.monotonic() < deadline:
        for vid in list(pending):
            video = client.get(f"/videos/{vid}").json()
            if video.get("status") == "completed":
                pending.discard(vid)
            elif video.get("status") == "failed":
                raise RuntimeError(f"{vid} failed: {json.dumps(video)[:500]}")
        time.sleep(0.5)
    if pending:
        raise RuntimeError(f"not completed within {timeout:.0f} s: {sorted(pending)}")


def _wait_count(up: Upstream, key: str, target: int, timeout: float,
                quiet: float = 0.0) -> float:
    """Wait until the fake has seen ``target`` calls of ``key``, and then (with
    ``quiet``) until no new one arrived for that long; returns the seconds waited."""
    start = time.monotonic()
    last, changed = -1, time.monotonic()
    while time.monotonic() - start < timeout:
        seen = up.counts().get(key, 0)
        if seen != last:
            last, changed = seen, time.monotonic()
        if seen >= target and time.monotonic() - changed >= quiet:
            break
        time.sleep(0.1)
    return time.monotonic() - start


def _fixtures(peer: Peer, up: Upstream, client: httpx.Client, plan: Plan) -> dict[str, str]:
    up.configure(complete_after=1e9)
    before = up.counts().get("POST create", 0)
    ids = {"in-flight": _create(client, "bench in-flight job")}
    _wait_count(up, "POST create", before + 1, 60)  # reelgate submits in the background
    up.configure(complete_after=0.2)
    ids["completed"] = _create(client, "bench completed job")
    for name in plan.sizes:
        ids[name] = _create(client, f"[big:{name}] bench download")
    _wait_count(up, "POST create", before + 2 + len(plan.sizes), 60)
    up.configure(complete_after=1e9)  # everything created from now on stays in flight
    _wait_status(client, [v for k, v in ids.items() if k != "in-flight"], 900)
    return ids


def _measure_load(peer: Peer, up: Upstream, plan: Plan, url: str, concurrency: int,
                  seconds: float, warmup: float, body: str | None = None) -> dict[str, Any]:
    if warmup > 0:
        load(url, key=peer.key, concurrency=concurrency, seconds=warmup, body=body)
    settle(peer.pid, window=plan.settle_window)
    cpu, counts = tree_cpu_seconds(peer.pid), up.counts()
    result = load(url, key=peer.key, concurrency=concurrency, seconds=seconds, body=body)
    drain, done = 0.0, result.requests
    if body is not None:
        # A create costs what it takes until the upstream has the job (reelgate submits
        # in the background), so CPU is read after that, and divided by the jobs that
        # reached the upstream (which also counts requests wrk abandoned at the end).
        drain = _wait_count(up, "POST create", counts.get("POST create", 0) + result.ok,
                            120, quiet=1.0)
        done = up.counts().get("POST create", 0) - counts.get("POST create", 0)
    used = tree_cpu_seconds(peer.pid) - cpu
    out = asdict(result)
    out.update(rps=result.rps, cpu_s=used, drain_s=drain, upstream=_delta(up.counts(), counts),
               cpu_per_1k=used / done * 1000 if done else 0.0)
    return out


def _calls_per_request(up: Upstream, client: httpx.Client, ids: dict[str, str],
                       n: int = 40) -> dict[str, Any]:
    """Upstream calls per client call, from ``n`` sequential calls of each kind.

    Sequential, so nothing is in flight when the fake's counters are read. Whatever
    reelgate polls on its own schedule meanwhile is counted too (it is a real cost).
    """
    out: dict[str, Any] = {}
    probes = {
        "retrieve in-flight": ("GET", f"/videos/{ids['in-flight']}", "GET retrieve"),
        "retrieve completed": ("GET", f"/videos/{ids['completed']}", "GET retrieve"),
        "content (small video)": ("GET", f"/videos/{ids['completed']}/content", "GET content"),
    }
    for label, (method, path, kind) in probes.items():
        before, started = up.counts(), time.monotonic()
        count = n if kind == "GET retrieve" else max(3, n // 10)
        for _ in range(count):
            client.request(method, path).raise_for_status()
        delta = _delta(up.counts(), before)
        out[label] = {"calls": count, "upstream": delta, "seconds": time.monotonic() - started,
                      "per_call": delta.get(kind, 0) / count}
    before, count = up.counts(), max(5, n // 4)
    for _ in range(count):
        _create(client, "bench create (counted)")
    _wait_count(up, "POST create", before.get("POST create", 0) + count, 60, quiet=0.5)
    delta = _delta(up.counts(), before)
    out["create"] = {"calls": count, "upstream": delta,
                     "per_call": delta.get("POST create", 0) / count}
    return out


def _measure_download(peer: Peer, up: Upstream, plan: Plan, url: str, probe_url: str | None,
                      size: int) -> dict[str, Any]:
    settle(peer.pid, window=plan.settle_window)
    cpu, counts = tree_cpu_seconds(peer.pid), up.counts()
    with RssSampler(peer.pid) as rss:
        dl, probe = asyncio.run(download(url, peer.key, probe_url=probe_url))
    if dl.status != 200 or dl.bytes != size:
        raise RuntimeError(f"{peer.name}: download got {dl.status}, {dl.bytes} of {size} bytes")
    out: dict[str, Any] = {
        "bytes": dl.bytes, "ttfb_ms": dl.ttfb_s * 1000, "total_s": dl.total_s,
        "mb_per_s": dl.mb_per_s, "rss_before": rss.baseline, "rss_peak": rss.peak,
        "rss_growth": rss.growth, "cpu_s": tree_cpu_seconds(peer.pid) - cpu,
        "upstream": _delta(up.counts(), counts),
    }
    if probe_url is not None:
        lat = probe.latencies_ms
        out["probe"] = {"sent": len(lat) + probe.unanswered, "p50_ms": pct(lat, 0.5),
                        "p99_ms": pct(lat, 0.99), "max_ms": max(lat, default=0.0),
                        "errors": probe.errors, "unanswered": probe.unanswered}
    return out


def run_suite(peer: Peer, up: Upstream, plan: Plan, log: Any = print) -> dict[str, Any]:
    """Every measurement for ``peer`` (already started); returns plain JSON data."""
    headers = {"Authorization": f"Bearer {peer.key}"}
    results: dict[str, Any] = {"load": {}, "downloads": {}}
    with httpx.Client(base_url=peer.base_url, headers=headers, timeout=600) as client:
        log(f"[{peer.name}] creating fixture jobs")
        ids = _fixtures(peer, up, client, plan)
        settle(peer.pid, window=plan.settle_window)
        results["idle_rss"] = tree_rss_bytes(peer.pid)
        # the body a retrieve of the completed job returns (the ceiling app serves it)
        results["retrieve_body"] = client.get(f"/videos/{ids['completed']}").text
        for label in ("in-flight", "completed"):
            url = f"{peer.base_url}/videos/{ids[label]}"
            for c in plan.retrieve_concurrency:
                name = f"retrieve {label} c={c}"
                log(f"[{peer.name}] {name}")
                results["load"][name] = _measure_load(peer, up, plan, url, c,
                                                      plan.seconds, plan.warmup)
        log(f"[{peer.name}] upstream calls per client call")
        settle(peer.pid, window=plan.settle_window)  # requests wrk left behind finish first
        results["calls"] = _calls_per_request(up, client, ids, plan.sequential_calls)
        probe_url = f"{peer.base_url}/videos/{ids['completed']}"
        for size_name, size in plan.sizes.items():
            log(f"[{peer.name}] download {size_name}")
            results["downloads"][size_name] = _measure_download(
                peer, up, plan, f"{peer.base_url}/videos/{ids[size_name]}/content",
                probe_url if size_name == plan.probe_size else None, size)
        for c in plan.create_concurrency:
            name = f"create c={c}"
            log(f"[{peer.name}] {name}")
            body = json.dumps(_body("bench create"))
            results["load"][name] = _measure_load(peer, up, plan, f"{peer.base_url}/videos",
                                                  c, plan.create_seconds,
                                                  min(plan.warmup, 1.0), body=body)
    return results
