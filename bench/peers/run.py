"""reelgate vs LiteLLM proxy on one fake upstream, one machine, one run.

    make bench-peers                     # full run, writes bench/results/peers.md
    make bench-peers ARGS=--quick        # < 2 min sanity check (100 MiB download only)
    python bench/peers/run.py --help

Starts the fake OpenAI upstream (bench/peers/upstream.py), installs LiteLLM proxy
into bench/.venv-litellm on first use, then measures each gateway in turn with the
same code (bench/peers/suite.py) and prints a table with ratios. Everything it starts
runs in its own process group and is stopped on exit, errors and Ctrl-C included.
This is a benchmark: it asserts nothing about speed.

Next to the markdown it writes the same numbers as JSON (``peers.json``), for
comparing runs. Its keys are stable; a change that renames or re-means one bumps
``schema``:

* ``schema`` (1), ``date``, ``command``, ``mode`` (full | quick), ``tool`` (wrk | httpx),
  ``machine`` {nproc, cpu, ram, os, loadavg_at_start}, ``versions`` {gateway: {package:
  version}}, ``plan`` {seconds, create_seconds, warmup, sizes};
* ``results`` {gateway: {``load`` {test name, e.g. "retrieve in-flight c=64": {requests,
  seconds, rps, p50_ms, p99_ms, max_ms, errors, tool, cpu_s, cpu_per_1k, drain_s,
  upstream {route: calls}}}, ``calls`` {client call: {calls, upstream, per_call}},
  ``downloads`` {size: {bytes, ttfb_ms, total_s, mb_per_s, rss_before, rss_peak,
  rss_growth, cpu_s, upstream, probe?}}, ``idle_rss``, ``startup_s``, ``retrieve_body``
  (the completed job's retrieve JSON)}}, gateway being "reelgate" or "LiteLLM"; CPU is
  utime + stime of the process tree, in seconds;
* ``extra`` (absent with ``--no-extra``), reelgate only (bench/peers/extra.py):
  ``ceiling`` {bytes, "retrieve c=N": {requests, seconds, rps, p50_ms, p99_ms, max_ms,
  errors, tool}}; ``renders`` {renders, render_concurrency, idle, rendering (both like
  a ceiling row), states_before, states_after}; ``workers`` {"N": {"retrieve in-flight
  c=64", "create c=32" (both like a ``load`` row)}}; ``loadavg_at_end``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as a script: make `bench.peers` and `tests` importable
    sys.path.insert(0, str(REPO))

from bench.peers import extra, load  # noqa: E402
from bench.peers.bigfile import make_big_mp4, parse_size  # noqa: E402
from bench.peers.peers import (  # noqa: E402
    LitellmPeer,
    Peer,
    ReelgatePeer,
    install_litellm,
)
from bench.peers.procs import Proc  # noqa: E402
from bench.peers.report import LL, RG, machine, render, versions  # noqa: E402
from bench.peers.suite import Plan, Upstream, run_suite  # noqa: E402

RESULTS = REPO / "bench" / "results"
UPSTREAM_KEY = "sk-bench-upstream"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="short runs and the 100 MiB download only (under 2 minutes)")
    p.add_argument("--seconds", type=float, help="length of each retrieve run (default 15)")
    p.add_argument("--sizes", help="download sizes, comma separated (default 100m,1g)")
    p.add_argument("--out", type=Path, help="markdown output (default "
                   "bench/results/peers.md, or peers-quick.md with --quick)")
    p.add_argument("--poll-after-ms", type=int, default=0,
                   help="openai-poll-after-ms the fake upstream sends (default: none)")
    p.add_argument("--keep", action="store_true", help="keep the work directory and logs")
    p.add_argument("--no-extra", action="store_true",
                   help="skip the reelgate-only rows (ceiling, renders, --workers N)")
    return p.parse_args(argv)


def make_plan(args: argparse.Namespace) -> Plan:
    if args.quick:
        plan = Plan(seconds=3.0, create_seconds=2.0, warmup=0.0, settle_window=0.5,
                    sequential_calls=12)
        sizes = args.sizes or "100m"
    else:
        plan = Plan()
        sizes = args.sizes or "100m,1g"
    if args.seconds:
        plan.seconds = args.seconds
    plan.sizes = {s.strip(): parse_size(s) for s in sizes.split(",") if s.strip()}
    plan.probe_size = max(plan.sizes, key=lambda k: plan.sizes[k]) if plan.sizes else ""
    return plan


def ensure_wrk() -> None:
    """wrk from Debian packages when missing and we may install (else: httpx fallback)."""
    if load.have_wrk() or shutil.which("apt-get") is None or os.geteuid() != 0:
        return
    print("installing wrk (apt-get)...", flush=True)
    def apt(*args: str) -> int:
        return subprocess.run(["apt-get", *args], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode

    if apt("install", "-y", "-qq", "wrk") != 0:
        apt("update", "-qq")
        apt("install", "-y", "-qq", "wrk")


def start_upstream(work: Path, big: dict[str, Path], poll_after_ms: int) -> tuple[Proc, str]:
    argv = [sys.executable, "-m", "bench.peers.upstream", "--key", UPSTREAM_KEY,
            "--poll-after-ms", str(poll_after_ms)]
    for name, path in big.items():
        argv += ["--big", f"{name}={path}"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = Proc("upstream", argv, env=env, log=work / "upstream.log", cwd=REPO)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in proc.tail(10_000).splitlines():
            if line.startswith("base_url="):
                return proc, line.removeprefix("base_url=").strip()
        if not proc.alive():
            break
        time.sleep(0.1)
    raise RuntimeError(f"fake upstream did not start:\n{proc.tail()}")


def big_files(work: Path, sizes: dict[str, int]) -> dict[str, Path]:
    from tests.fakes.media import render_mp4

    clip = render_mp4(1280, 720, 4.0)
    out = {}
    for name, size in sizes.items():
        _log(f"writing a {size / (1 << 20):.0f} MiB MP4 for the download test")
        out[name] = make_big_mp4(work / f"big-{name}.mp4", size, clip)
    return out


_T0 = time.monotonic()


def _log(message: str) -> None:
    print(f"{time.monotonic() - _T0:6.1f}s {message}", flush=True)


def measure(peer: Peer, up: Upstream, plan: Plan,
            early: threading.Thread | None = None) -> dict[str, Any]:
    """Start ``peer`` (unless ``early`` is already starting it), run the suite, stop it."""
    up.reset()
    try:
        if early is None:
            _log(f"[{peer.name}] preparing")
            peer.prepare()
            _log(f"[{peer.name}] starting")
            t = time.monotonic()
            peer.start()
            startup: float | None = time.monotonic() - t
        else:
            early.join()
            startup = None  # it started while other things ran: not a fair number
            peer.wait_ready()  # at once if it came up; else it waits, or says why not
        results = run_suite(peer, up, plan, log=_log)
    finally:
        peer.stop()
    results["startup_s"] = startup
    return results


def _start_early(peer: Peer) -> threading.Thread:
    """Quick mode: start LiteLLM (~15 s) while reelgate is measured; idle, it uses no CPU.
    The process is spawned here, so the caller's ``finally`` can always stop it."""
    peer.spawn()

    def run() -> None:
        try:
            peer.wait_ready()
        except Exception as exc:  # measure() waits again and raises
            _log(f"[{peer.name}] failed to start: {exc}")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def run_extra(work: Path, data: dict[str, Any], up: Upstream, upstream_url: str,
              plan: Plan) -> dict[str, Any]:
    """The reelgate-only rows (bench/peers/extra.py), each on its own process."""
    body = data["results"][RG].get("retrieve_body", "").encode()
    out: dict[str, Any] = {"ceiling": extra.ceiling(work, body, plan, _log)}
    out["renders"] = extra.renders(work, plan, _log)
    out["workers"] = extra.workers(work, upstream_url, UPSTREAM_KEY, up, plan, _log)
    out["loadavg_at_end"] = "/".join(f"{v:.2f}" for v in os.getloadavg())
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = make_plan(args)
    out = args.out or RESULTS / ("peers-quick.md" if args.quick else "peers.md")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
    work = Path(tempfile.mkdtemp(prefix="reelgate-peers-"))
    started = time.monotonic()
    procs: list[Proc] = []
    peers: list[Peer] = []
    try:
        ensure_wrk()
        litellm_bin = install_litellm(work / "litellm-install.log")
        big = big_files(work, plan.sizes)
        _log("starting the fake upstream")
        upstream, upstream_url = start_upstream(work, big, args.poll_after_ms)
        procs.append(upstream)
        up = Upstream(upstream_url.removesuffix("/v1"))
        data: dict[str, Any] = {
            "schema": 1,
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "command": "make bench-peers" + (" ARGS=--quick" if args.quick else ""),
            "mode": "quick" if args.quick else "full",
            "tool": "wrk" if load.have_wrk() else "httpx (wrk not installed)",
            "machine": machine(),
            "versions": {RG: versions(None, ["reelgate", "uvicorn", "httpx"]),
                         LL: versions(str(litellm_bin / "python"),
                                      ["litellm", "uvicorn", "httpx"])},
            "plan": {"seconds": plan.seconds, "create_seconds": plan.create_seconds,
                     "warmup": plan.warmup, "sizes": plan.sizes},
            "results": {},
        }
        rg = ReelgatePeer(work, upstream_url, UPSTREAM_KEY)
        ll = LitellmPeer(work, litellm_bin, upstream_url, UPSTREAM_KEY)
        peers += [rg, ll]
        early = _start_early(ll) if args.quick else None
        data["results"][RG] = measure(rg, up, plan)
        data["results"][LL] = measure(ll, up, plan, early)
        if not args.no_extra:
            data["extra"] = run_extra(work, data, up, upstream_url, plan)
        text = render(data)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        out.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
        print("\n" + text)
        print(f"written to {out} (as JSON: {out.with_suffix('.json')}) "
              f"in {time.monotonic() - started:.0f} s")
        return 0
    finally:
        for peer in peers:
            peer.stop()
        for proc in procs:
            proc.stop()
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # everything started was stopped by main()'s finally
        print("interrupted", file=sys.stderr)
        sys.exit(130)
