"""The markdown report: machine, versions, then reelgate vs LiteLLM with ratios.

Each ratio is "how many times better reelgate is" on that row: reelgate / LiteLLM for
rates, LiteLLM / reelgate for latencies, CPU and memory. Above 1 means reelgate wins.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from bench.peers.report_extra import extra_sections, issue16_targets

__all__ = ["TARGETS", "machine", "ratio", "render", "versions"]

RG, LL = "reelgate", "LiteLLM"
MB = 1 << 20
#: issue #8: retrieve rate vs LiteLLM, content time to first byte, server RSS growth
TARGETS = {"retrieve_ratio": 30.0, "ttfb_ms": 50.0, "rss_growth_mb": 50.0}


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kb = next(int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text()
                      .splitlines() if ln.startswith("MemTotal:"))
        ram = f"{mem_kb / (1 << 20):.1f} GiB"
    except (OSError, StopIteration):
        ram = "unknown"
    load = "/".join(f"{v:.2f}" for v in os.getloadavg())
    return {"nproc": str(os.cpu_count()), "cpu": model, "ram": ram,
            "os": f"{platform.system()} {platform.release()}", "loadavg_at_start": load}


def versions(python: str | None, packages: list[str]) -> dict[str, str]:
    """Versions as seen by ``python`` (each gateway has its own venv; None: this one)."""
    if python is None:
        found = {"python": platform.python_version()}
        for name in packages:
            try:
                found[name] = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                found[name] = "-"
        return found
    code = ("import sys, importlib.metadata as m\n"
            "print('python', sys.version.split()[0])\n"
            "for p in sys.argv[1:]:\n"
            "    try: print(p, m.version(p))\n"
            "    except m.PackageNotFoundError: print(p, '-')\n")
    out = subprocess.run([python, "-c", code, *packages], capture_output=True, text=True,
                         check=True, timeout=60)
    return dict(line.split(" ", 1) for line in out.stdout.splitlines())


def ratio(rg: float, ll: float, *, higher_is_better: bool) -> str:
    if rg <= 0 or ll <= 0:
        return "-"
    value = rg / ll if higher_is_better else ll / rg
    return f"**{value:.1f}x**" if value >= 10 else f"{value:.2f}x"


def _ms(v: float) -> str:
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"


def _load_rows(rg: dict[str, Any], ll: dict[str, Any]) -> list[str]:
    rows = ["| Test | reelgate req/s | LiteLLM req/s | ratio | reelgate p50 / p99 ms "
            "| LiteLLM p50 / p99 ms | p99 ratio |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for name, a in rg["load"].items():
        b = ll["load"].get(name)
        if b is None:
            continue
        rows.append(
            f"| {name} | {a['rps']:.0f} | {b['rps']:.1f} "
            f"| {ratio(a['rps'], b['rps'], higher_is_better=True)} "
            f"| {_ms(a['p50_ms'])} / {_ms(a['p99_ms'])} | {_ms(b['p50_ms'])} / {_ms(b['p99_ms'])} "
            f"| {ratio(a['p99_ms'], b['p99_ms'], higher_is_better=False)} |")
    return rows


def _cost_rows(rg: dict[str, Any], ll: dict[str, Any]) -> list[str]:
    rows = ["| Test | reelgate CPU s / 1k req | LiteLLM CPU s / 1k req | ratio "
            "| reelgate's own upstream polls/s |",
            "|---|---:|---:|---:|---:|"]
    for name, a in rg["load"].items():
        b = ll["load"].get(name)
        if b is None:
            continue
        polls = a["upstream"].get("GET retrieve", 0) / a["seconds"] if a["seconds"] else 0.0
        rows.append(
            f"| {name} | {a['cpu_per_1k']:.2f} | {b['cpu_per_1k']:.2f} "
            f"| {ratio(a['cpu_per_1k'], b['cpu_per_1k'], higher_is_better=False)} "
            f"| {polls:.1f} |")
    return rows


def _calls_rows(rg: dict[str, Any], ll: dict[str, Any]) -> list[str]:
    rows = ["| Client call | reelgate | LiteLLM |", "|---|---:|---:|"]
    for name, a in rg.get("calls", {}).items():
        b = ll.get("calls", {}).get(name)
        if b is not None:
            rows.append(f"| {name} (x{a['calls']}) | {a['per_call']:.2f} | {b['per_call']:.2f} |")
    return rows


def _size_label(n: int) -> str:
    return f"{n / (1 << 30):g} GiB" if n >= 1 << 30 else f"{n / MB:g} MiB"


def _download_rows(rg: dict[str, Any], ll: dict[str, Any]) -> list[str]:
    rows = ["| Download | reelgate | LiteLLM | ratio |", "|---|---:|---:|---:|"]
    for name, a in rg["downloads"].items():
        b = ll["downloads"].get(name)
        if b is None:
            continue
        label = _size_label(a["bytes"])
        rows += [
            f"| {label}: MB/s | {a['mb_per_s']:.0f} | {b['mb_per_s']:.1f} "
            f"| {ratio(a['mb_per_s'], b['mb_per_s'], higher_is_better=True)} |",
            f"| {label}: time to first byte, ms | {_ms(a['ttfb_ms'])} | {_ms(b['ttfb_ms'])} "
            f"| {ratio(a['ttfb_ms'], b['ttfb_ms'], higher_is_better=False)} |",
            f"| {label}: peak RSS growth, MiB | {a['rss_growth'] / MB:.1f} "
            f"| {b['rss_growth'] / MB:.0f} "
            f"| {ratio(max(a['rss_growth'], MB), b['rss_growth'], higher_is_better=False)} |",
            f"| {label}: server CPU s | {a['cpu_s']:.2f} | {b['cpu_s']:.1f} "
            f"| {ratio(a['cpu_s'], b['cpu_s'], higher_is_better=False)} |",
        ]
        pa, pb = a.get("probe"), b.get("probe")
        if pa and pb:
            rows.append(
                f"| retrieves sent every 100 ms during the {label} download: p50 / p99 / max ms "
                f"| {_ms(pa['p50_ms'])} / {_ms(pa['p99_ms'])} / {_ms(pa['max_ms'])} "
                f"| {_ms(pb['p50_ms'])} / {_ms(pb['p99_ms'])} / {_ms(pb['max_ms'])} "
                f"| {ratio(pa['p99_ms'], pb['p99_ms'], higher_is_better=False)} (p99) |")
    return rows


def _targets(rg: dict[str, Any], ll: dict[str, Any]) -> list[str]:
    def verdict(ok: bool) -> str:
        return "met" if ok else "**MISSED**"

    retrieve = [(name, a["rps"] / ll["load"][name]["rps"]) for name, a in rg["load"].items()
                if name.startswith("retrieve") and ll["load"].get(name, {}).get("rps")]
    lines = []
    if retrieve:
        worst = min(retrieve, key=lambda kv: kv[1])
        lines.append(f"- Retrieve ≥ {TARGETS['retrieve_ratio']:g}x LiteLLM's req/s: "
                     f"lowest ratio {worst[1]:.1f}x ({worst[0]}): "
                     f"{verdict(worst[1] >= TARGETS['retrieve_ratio'])}")
    downloads = rg["downloads"].values()
    if downloads:
        ttfb = max(d["ttfb_ms"] for d in downloads)
        rss = max(d["rss_growth"] for d in downloads) / MB
        lines.append(f"- Content time to first byte < {TARGETS['ttfb_ms']:g} ms: worst "
                     f"{ttfb:.1f} ms: {verdict(ttfb < TARGETS['ttfb_ms'])}")
        lines.append(f"- Server RSS growth during a download < {TARGETS['rss_growth_mb']:g} MiB: "
                     f"worst {rss:.1f} MiB: {verdict(rss < TARGETS['rss_growth_mb'])}")
    return lines


def _startup_row(rg: dict[str, Any], ll: dict[str, Any]) -> str:
    a, b = rg.get("startup_s"), ll.get("startup_s")
    if a is None or b is None:
        return "| start-up to first healthy answer, s | - | - | not measured in quick mode |"
    return (f"| start-up to first healthy answer, s | {a:.1f} | {b:.1f} "
            f"| {ratio(a, b, higher_is_better=False)} |")


def render(data: dict[str, Any]) -> str:
    """The whole report from the runner's JSON-able ``data``."""
    rg, ll = data["results"][RG], data["results"][LL]
    m, v = data["machine"], data["versions"]
    out = [
        "# reelgate vs LiteLLM proxy, same fake upstream, same machine",
        "",
        f"Run {data['date']} with `{data['command']}` ({data['mode']}), "
        f"load generator: {data['tool']}.",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram']} RAM, {m['os']}; "
        f"load average at start {m['loadavg_at_start']}. Load generator, fake upstream "
        "and gateway share these CPUs; absolute numbers are noisy, ratios less so.",
        "",
        f"reelgate {v[RG].get('reelgate', '?')} (Python {v[RG].get('python', '?')}, "
        f"uvicorn {v[RG].get('uvicorn', '?')}, SQLite, one `reelgate serve` process with "
        f"its in-process worker); LiteLLM {v[LL].get('litellm', '?')} "
        f"(Python {v[LL].get('python', '?')}, uvicorn {v[LL].get('uvicorn', '?')}, no "
        "database, default settings). Both in their default configuration.",
        "",
        f"Each load test: {data['plan']['seconds']:g} s (creates "
        f"{data['plan']['create_seconds']:g} s) after a {data['plan']['warmup']:g} s "
        "warm-up, closed loop with N connections. Ratio = how many times better reelgate "
        "is on that row (above 1: reelgate wins).",
        "",
        "## Throughput and latency",
        "",
        *_load_rows(rg, ll),
        "",
        "## Cost per request",
        "",
        "CPU seconds (utime + stime of the whole process tree, from /proc) per 1,000 "
        "requests. For creates the CPU is read once the upstream has every job "
        "(reelgate submits from its worker, after answering the client) and divided by "
        "the jobs the upstream received. Last column: the upstream polls reelgate made "
        "on its own schedule for all its in-flight jobs during the run.",
        "",
        *_cost_rows(rg, ll),
        "",
        "Upstream calls per client call, counted by the fake over sequential calls "
        "(reelgate's scheduled polls made meanwhile included). reelgate answers retrieves "
        "from its database and content from its own storage; LiteLLM forwards each one.",
        "",
        *_calls_rows(rg, ll),
        "",
        "## Content download",
        "",
        "curl to /dev/null; peak RSS of the server's process tree sampled every 50 ms.",
        "",
        *_download_rows(rg, ll),
        "",
        "## At rest",
        "",
        "| | reelgate | LiteLLM | ratio |",
        "|---|---:|---:|---:|",
        _startup_row(rg, ll),
        f"| idle RSS after the fixtures, MiB | {rg['idle_rss'] / MB:.0f} "
        f"| {ll['idle_rss'] / MB:.0f} "
        f"| {ratio(rg['idle_rss'], ll['idle_rss'], higher_is_better=False)} |",
        "",
        *extra_sections(data),
        *issue16_targets(data),
        "## Targets (issue #8)",
        "",
        *_targets(rg, ll),
        "",
    ]
    return "\n".join(out)
