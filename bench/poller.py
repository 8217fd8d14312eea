"""Poller benchmark: how long 1 and 4 worker processes take to poll 10,000 jobs once.

    python bench/poller.py                      # 10,000 jobs, 1 then 4 workers
    python bench/poller.py --jobs 100000 --workers 1 --passes 3   # memory stays flat?
    python bench/poller.py --jobs 2000 --workers 1 2 4 --database-url postgresql+asyncpg://...

10,000 in-flight jobs sit on one channel whose upstream is the fake OpenAI server
(in this process, on loopback); each is known upstream and still rendering, so every
poll is a real HTTP round trip plus a compare-and-swap write. The jobs are made due
all at once and the clock runs until every one has been polled; polls repeat far
later (``REELGATE_POLL_MIN_SECONDS`` is large), so each round polls each job once.
Also prints how many polls the upstream saw (extra polls would be wasted requests),
the workers' CPU seconds for the pass (utime + stime from /proc), polls per CPU-second,
and the workers' RSS after each pass (flat across passes: memory does not grow with
the number of jobs polled).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.peers.procs import tree_cpu_seconds, tree_rss_bytes  # noqa: E402
from sqlalchemy import insert, text, update  # noqa: E402
from tests.fakes import FakeJob, FakeServer, OpenAIFake  # noqa: E402
from tests.scale.support import Deployment, in_thread  # noqa: E402
from tests.support.server import create_database  # noqa: E402

from reelgate.auth import repository as auth_repo  # noqa: E402
from reelgate.ids import new_id, now  # noqa: E402
from reelgate.store.db import Database  # noqa: E402
from reelgate.store.tables import jobs  # noqa: E402

KEY = "sk-upstream-bench"
FAR = 10**10


async def seed(url: str, channel_id: str, credential_id: str, fake: OpenAIFake,
               count: int) -> None:
    """``count`` in-progress jobs, known to the fake upstream, not due yet."""
    db = Database(url)
    t = now()
    try:
        async with db.begin() as conn:
            tenant = await auth_repo.ensure_tenant(conn, "bench", unlimited=True)
        rows: list[dict[str, Any]] = []
        for i in range(count):
            upstream_id = f"video_{i:032x}"
            fake.jobs[upstream_id] = FakeJob(upstream_id, KEY, "sora-2", f"bench {i}", 1280,
                                             720, 4, complete_after=10**9)
            rows.append(dict(
                id=new_id("video"), tenant_id=tenant.id, key_id="bench", model="sora-2",
                prompt=f"bench {i}", size="1280x720", seconds=4, quality="standard",
                state="in_progress", progress=10, version=0, created_at=t, updated_at=t,
                started_at=t, channel_id=channel_id, credential_id=credential_id,
                upstream_model="sora-2", upstream_id=upstream_id, upstream_status="in_progress",
                next_poll_at=FAR, poll_count=0, submit_attempts=1, price_micros=0))
        for start in range(0, count, 1000):
            async with db.begin() as conn:
                await conn.execute(insert(jobs), rows[start:start + 1000])
        # statistics, as a table that grew to this size over time has them from autovacuum
        # (on a table bulk-loaded a second ago the planner knows nothing yet)
        async with db.engine.connect() as conn:
            await conn.execute(text("ANALYZE jobs"))
            await conn.commit()
    finally:
        await db.dispose()


async def _sql(url: str, stmt: Any) -> Any:
    db = Database(url)
    try:
        async with db.begin() as conn:
            result = await conn.execute(stmt)
            return result.scalar() if result.returns_rows else None
    finally:
        await db.dispose()


def _cpu(dep: Deployment) -> float:
    return sum(tree_cpu_seconds(w.proc.pid) for w in dep.workers)


def _rss(dep: Deployment) -> int:
    return sum(tree_rss_bytes(w.proc.pid) for w in dep.workers)


def one_round(dep: Deployment, fake: OpenAIFake, workers: int, count: int,
              passes: int) -> list[dict[str, float]]:
    for proc in dep.workers:
        proc.stop()
    dep.workers.clear()
    for _ in range(workers):
        dep.add_worker()
    time.sleep(6)  # let them boot (imports, migrations check) before the clock starts
    out = []
    for n in range(1, passes + 1):
        in_thread(_sql(dep.database_url, update(jobs).values(poll_count=0, next_poll_at=FAR)))
        for job in fake.jobs.values():
            job.polls = 0
        cpu, started = _cpu(dep), time.perf_counter()
        in_thread(_sql(dep.database_url, update(jobs).values(next_poll_at=now())))
        polled = 0
        while polled < count:
            time.sleep(0.1)
            polled = in_thread(_sql(dep.database_url,
                                    text("SELECT count(*) FROM jobs WHERE poll_count >= 1")))
        elapsed = time.perf_counter() - started
        used = _cpu(dep) - cpu
        out.append({"workers": workers, "pass": n, "seconds": elapsed,
                    "per_second": count / elapsed, "cpu_s": used,
                    "per_cpu_second": count / used if used else 0.0,
                    "rss_mib": _rss(dep) / (1 << 20),
                    "upstream_polls": sum(job.polls for job in fake.jobs.values())})
        print(f"  ... {workers} worker(s), pass {n}: {elapsed:.1f} s, {used:.1f} CPU s, "
              f"RSS {out[-1]['rss_mib']:.0f} MiB", flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--concurrency", type=int, default=64,
                        help="REELGATE_WORKER_CONCURRENCY per worker")
    parser.add_argument("--passes", type=int, default=1,
                        help="passes per worker count (memory over passes)")
    parser.add_argument("--database-url", help="admin URL of a PostgreSQL server; default: "
                                               "a throwaway cluster")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reelgate-poller-") as tmp:
        root = Path(tmp)
        cluster = None
        admin = args.database_url
        if admin is None:
            cluster = root / "pg"
            admin = subprocess.run(["bash", str(ROOT / "scripts/services.sh"),
                                    "postgres-start", str(cluster)], check=True,
                                   capture_output=True, text=True).stdout.strip()
        try:
            results = bench(args, root, create_database(admin))
        finally:
            if cluster is not None:
                subprocess.run(["bash", str(ROOT / "scripts/services.sh"), "postgres-stop",
                                str(cluster)], check=False)
    print(f"{args.jobs} in-flight jobs on one channel, PostgreSQL, "
          f"worker concurrency {args.concurrency}:")
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())} (2 cores shared "
          "with everything else on the machine)")
    for r in results:
        print(f"  {r['workers']} worker(s), pass {r['pass']}: all polled once in "
              f"{r['seconds']:.1f} s ({r['per_second']:.0f} polls/s; {r['cpu_s']:.1f} worker "
              f"CPU s, {r['per_cpu_second']:.0f} polls per CPU-second; worker RSS "
              f"{r['rss_mib']:.0f} MiB); upstream saw {r['upstream_polls']} polls")
    return 0


def bench(args: argparse.Namespace, root: Path, url: str) -> list[dict[str, float]]:
    fake = OpenAIFake("openai", keys={KEY}, complete_after=10**9)
    env = {"REELGATE_POLL_MIN_SECONDS": "3600", "REELGATE_POLL_MAX_SECONDS": "3600",
           "REELGATE_WORKER_CONCURRENCY": str(args.concurrency),
           "REELGATE_LEASE_SECONDS": "60", "REELGATE_HOUSEKEEPING_SECONDS": "3600",
           "REELGATE_DB_POOL_SIZE": "20"}
    dep = Deployment(root, env=env, database_url=url)
    results = []
    with FakeServer(fake) as server:
        channel_id = dep.add_fake_channel(fake.base_url(server.url), key=KEY)
        credential = dep.query("SELECT id FROM channel_credentials WHERE channel_id = :c",
                               c=channel_id)[0][0]
        in_thread(seed(url, channel_id, credential, fake, args.jobs))
        try:
            for workers in args.workers:
                results += one_round(dep, fake, workers, args.jobs, args.passes)
        finally:
            dep.stop()
    return results


if __name__ == "__main__":
    sys.exit(main())
