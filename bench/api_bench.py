"""Retrieve throughput and create latency of a running gateway.

    python bench/api_bench.py --base-url http://127.0.0.1:8000/v1 --key sk-rg-...
    python bench/api_bench.py --spawn          # starts a throwaway gateway itself

Prints numbers; asserts nothing. Creates are made with the local renderer behind
them, so they are cancelled (DELETE) right after being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def retrieve_load(client: httpx.AsyncClient, video_id: str, concurrency: int,
                        duration: float) -> tuple[int, list[float]]:
    latencies: list[float] = []
    stop = time.perf_counter() + duration

    async def one() -> None:
        while time.perf_counter() < stop:
            t = time.perf_counter()
            resp = await client.get(f"/videos/{video_id}")
            resp.raise_for_status()
            latencies.append(time.perf_counter() - t)

    await asyncio.gather(*(one() for _ in range(concurrency)))
    return len(latencies), latencies


async def create_latency(client: httpx.AsyncClient, count: int) -> list[float]:
    latencies = []
    for i in range(count):
        t = time.perf_counter()
        resp = await client.post("/videos", json={"prompt": f"bench {i}", "model": "sora-2"})
        latencies.append(time.perf_counter() - t)
        resp.raise_for_status()
        await client.delete(f"/videos/{resp.json()['id']}")
    return latencies


async def run(base_url: str, key: str, duration: float, creates: int) -> None:
    limits = httpx.Limits(max_connections=128, max_keepalive_connections=128)
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {key}"},
                                 limits=limits, timeout=30) as client:
        created = await client.post("/videos", json={"prompt": "bench target"})
        created.raise_for_status()
        vid = created.json()["id"]
        print(f"{'test':<28}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
        for conc in (1, 16, 64):
            n, lat = await retrieve_load(client, vid, conc, duration)
            print(f"{f'retrieve c={conc}':<28}{n / duration:>10.0f}"
                  f"{statistics.median(lat) * 1000:>10.2f}{pct(lat, 0.99) * 1000:>10.2f}")
        lat = await create_latency(client, creates)
        print(f"{'create (sequential)':<28}{len(lat) / sum(lat):>10.0f}"
              f"{statistics.median(lat) * 1000:>10.2f}{pct(lat, 0.99) * 1000:>10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", default="http://127.0.0.1:8000/v1")
    parser.add_argument("--key", default="")
    parser.add_argument("--spawn", action="store_true", help="start a throwaway gateway")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--creates", type=int, default=200)
    args = parser.parse_args()
    if not args.spawn:
        asyncio.run(run(args.base_url, args.key, args.duration, args.creates))
        return
    from tests.support.server import GatewayProcess

    with tempfile.TemporaryDirectory() as tmp:
        gw = GatewayProcess(Path(tmp), env={"REELGATE_LOCAL_CHANNEL": "auto"})
        gw.start()
        try:
            key = gw.create_key("bench")
            asyncio.run(run(gw.base_url, key, args.duration, args.creates))
        finally:
            gw.stop()


if __name__ == "__main__":
    main()
