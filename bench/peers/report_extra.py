"""The report's reelgate-only sections (ceiling, renders, --workers N) and the
targets of issue #16, from the runner's JSON data."""

from __future__ import annotations

from typing import Any

__all__ = ["extra_sections", "issue16_targets"]

RG, LL = "reelgate", "LiteLLM"


def _ms(v: float) -> str:
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**MISSED**"


def _ceiling(data: dict[str, Any]) -> list[str]:
    ceiling = data["extra"]["ceiling"]
    rg = data["results"][RG]["load"]
    rows = ["## The ceiling: a bare ASGI app on the same uvicorn", "",
            f"bench/peers/ceiling.py answers every request with the completed job's retrieve "
            f"JSON ({ceiling['bytes']} bytes): no framework, no auth, no database.", "",
            "| Test | ceiling req/s | ceiling p50 / p99 ms | reelgate in-flight | "
            "reelgate completed |", "|---|---:|---:|---:|---:|"]
    for name, row in ceiling.items():
        if not name.startswith("retrieve"):
            continue
        c = name.split()[-1]
        fractions = []
        for label in ("in-flight", "completed"):
            mine = rg.get(f"retrieve {label} {c}")
            fractions.append(f"{mine['rps'] / row['rps']:.0%} ({mine['rps']:.0f} req/s)"
                             if mine and row["rps"] else "-")
        rows.append(f"| retrieve {c} | {row['rps']:.0f} | {_ms(row['p50_ms'])} / "
                    f"{_ms(row['p99_ms'])} | {fractions[0]} | {fractions[1]} |")
    return rows


def _renders(data: dict[str, Any]) -> list[str]:
    r = data["extra"]["renders"]
    idle, busy = r["idle"], r["rendering"]
    return ["## Retrieves while the embedded renderer works", "",
            f"A reelgate with only its local channel; {r['renders']} videos (4 s, 1280x720) "
            f"rendering, {r['render_concurrency']} at a time, in child processes at a lower "
            f"priority. Job states before / after the run: {', '.join(r['states_before'])} "
            f"/ {', '.join(r['states_after'])}.", "",
            "| retrieve completed c=1 | req/s | p50 / p99 / max ms |", "|---|---:|---:|",
            f"| idle | {idle['rps']:.0f} | {_ms(idle['p50_ms'])} / {_ms(idle['p99_ms'])} / "
            f"{_ms(idle['max_ms'])} |",
            f"| while rendering | {busy['rps']:.0f} | {_ms(busy['p50_ms'])} / "
            f"{_ms(busy['p99_ms'])} / {_ms(busy['max_ms'])} |"]


def _workers(data: dict[str, Any]) -> list[str]:
    rows = ["## `reelgate serve --workers N`", "",
            "Same fake upstream, SQLite; each API process runs its own worker.", "",
            "| N | retrieve in-flight c=64 req/s | p99 ms | create c=32 req/s | p99 ms | "
            "create CPU s / 1k |", "|---:|---:|---:|---:|---:|---:|"]
    for n, row in data["extra"]["workers"].items():
        r, c = row["retrieve in-flight c=64"], row["create c=32"]
        rows.append(f"| {n} | {r['rps']:.0f} | {_ms(r['p99_ms'])} | {c['rps']:.0f} | "
                    f"{_ms(c['p99_ms'])} | {c['cpu_per_1k']:.2f} |")
    return rows


def extra_sections(data: dict[str, Any]) -> list[str]:
    if "extra" not in data:
        return []
    out: list[str] = []
    for part in (_ceiling, _renders, _workers):
        out += [*part(data), ""]
    out.append(f"Load average at the end of the run: {data['extra']['loadavg_at_end']}.")
    return [*out, ""]


def issue16_targets(data: dict[str, Any]) -> list[str]:
    rg, ll = data["results"][RG]["load"], data["results"][LL]["load"]
    lines = ["## Targets (issue #16)", ""]
    for c in ("c=1", "c=32"):
        a, b = rg.get(f"create {c}"), ll.get(f"create {c}")
        if a and b and b["rps"]:
            x = a["rps"] / b["rps"]
            lines.append(f"- Creates {c} ≥ 3x LiteLLM's req/s: {x:.2f}x: {_verdict(x >= 3)}")
    cpu = [(c, rg[f"create {c}"]["cpu_per_1k"] / ll[f"create {c}"]["cpu_per_1k"])
           for c in ("c=1", "c=32") if f"create {c}" in rg and ll.get(f"create {c}", {})
           .get("cpu_per_1k")]
    if cpu:
        worst = max(cpu, key=lambda kv: kv[1])
        lines.append(f"- Create CPU per 1,000 ≤ half of LiteLLM's: worst {worst[1]:.2f}x "
                     f"theirs ({worst[0]}): {_verdict(worst[1] <= 0.5)}")
    if "create c=1" in rg:
        p99 = rg["create c=1"]["p99_ms"]
        lines.append(f"- Create p99 at c=1 ≤ 25 ms: {p99:.1f} ms: {_verdict(p99 <= 25)}")
    for label in ("in-flight", "completed"):
        a, b = rg.get(f"retrieve {label} c=64"), ll.get(f"retrieve {label} c=64")
        if a and b and b["rps"]:
            x = a["rps"] / b["rps"]
            lines.append(f"- Retrieve {label} c=64 ≥ 15x LiteLLM's req/s: {x:.1f}x: "
                         f"{_verdict(x >= 15)}")
    busy = data.get("extra", {}).get("renders", {}).get("rendering")
    theirs = ll.get("retrieve completed c=1")
    if busy and theirs:
        lines.append(f"- Retrieve p99 at c=1 while rendering ≤ LiteLLM's retrieve p99 at c=1: "
                     f"{busy['p99_ms']:.1f} vs {theirs['p99_ms']:.1f} ms: "
                     f"{_verdict(busy['p99_ms'] <= theirs['p99_ms'])}")
    lines.append("- Poller (10,000 / 100,000 in-flight jobs, one worker, PostgreSQL): "
                 "measured by `bench/poller.py`, see below.")
    return [*lines, ""]
