"""What a /metrics scrape costs at many jobs: each database query of the snapshot, and
the whole text (snapshot + exposition); and what migration 0012 (the running totals,
filled from that history) took.

    python bench/metrics.py                       # 100,000 jobs, SQLite
    python bench/metrics.py --jobs 1000000 --repeat 3
    python bench/metrics.py --postgres URL        # and the same on PostgreSQL

Seeds synthetic jobs over 30 days with their ledger entries (tests/support/synthetic.py,
the dashboard's generator) into a database at the revision before the totals, then
migrates it to the newest, as an upgrade of a running deployment would. Times are the
median of ``--repeat`` runs, first run in brackets. The API reuses one scrape's text
for 2 s (api/metrics.py). Prints the load.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import text  # noqa: E402
from tests.support.server import create_database  # noqa: E402
from tests.support.synthetic import Synthetic, load_postgres, load_sqlite  # noqa: E402

from reelgate.ids import now  # noqa: E402
from reelgate.metrics import render  # noqa: E402
from reelgate.metrics.snapshot import Snapshot, snapshot  # noqa: E402
from reelgate.store.db import Database  # noqa: E402
from reelgate.store.migrate import upgrade  # noqa: E402

#: the module (the package's ``snapshot`` is the function)
snap_mod = importlib.import_module("reelgate.metrics.snapshot")

#: the revision before the running totals: the synthetic history is loaded there
BEFORE_TOTALS = "0011"


async def _running(conn: Any, snap: Snapshot) -> None:
    await snap_mod._running(conn, snap, await snap_mod._channel_names(conn))


async def _totals(conn: Any, snap: Snapshot) -> None:
    await snap_mod._totals(conn, snap, await snap_mod._channel_names(conn))


PARTS: dict[str, Callable[[Any, Snapshot], Awaitable[None]]] = {
    "running jobs by state, model, channel; polls; due": _running,
    "totals (money, ended jobs, polls, durations)": _totals,
    "upstream errors": snap_mod._upstream_errors,
    "pending webhook deliveries": snap_mod._webhooks,
}


async def _time(step: Callable[[], Awaitable[object]], repeat: int) -> tuple[float, float]:
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        await step()
        runs.append(time.perf_counter() - t)
    return runs[0], statistics.median(runs)


#: the newest jobs made running again (before the totals are filled, so they agree)
_IN_FLIGHT = ("UPDATE jobs SET state = 'in_progress', finished_at = NULL, completed_at = NULL, "
              "next_poll_at = {due} WHERE id IN (SELECT id FROM jobs ORDER BY created_at DESC "
              "LIMIT {n})")


async def bench(url: str, jobs: int, repeat: int, seed: Callable[[], Awaitable[None]],
                in_flight: int = 0) -> None:
    db = Database(url)
    try:
        await upgrade(db, BEFORE_TOTALS)
        t = time.perf_counter()
        await seed()
        print(f"  seeded {jobs:,} jobs in {time.perf_counter() - t:.1f} s")
        if in_flight:
            async with db.begin() as conn:
                await conn.execute(text(_IN_FLIGHT.format(due=now() - 1, n=in_flight)))
            print(f"  the newest {in_flight:,} of them running again (due now)")
        t = time.perf_counter()
        await upgrade(db)
        print(f"  migrated to the newest revision (totals filled) in "
              f"{time.perf_counter() - t:.1f} s")
        for name, part in PARTS.items():
            for by_tenant in (False, True) if "money" in name else (False,):
                async def one(part: Any = part, by_tenant: bool = by_tenant) -> None:
                    async with db.read() as conn:
                        await part(conn, Snapshot(by_tenant=by_tenant))
                first, median = await _time(one, repeat)
                label = name + (" (+ tenant)" if by_tenant else "")
                print(f"  {label:<52} {median * 1000:8.1f} ms  [{first * 1000:.1f}]")

        async def whole() -> None:
            render(await snapshot(db))
        first, median = await _time(whole, repeat)
        print(f"  {'whole scrape (snapshot + text)':<52} {median * 1000:8.1f} ms  "
              f"[{first * 1000:.1f}]")
    finally:
        await db.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--postgres", help="admin URL of a PostgreSQL server")
    ap.add_argument("--in-flight", type=int, default=0,
                    help="make the newest N jobs running again (a scrape reads those rows)")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    data = Synthetic(args.jobs, end=now())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        print(f"SQLite, {args.jobs:,} jobs")

        async def seed_sqlite() -> None:
            load_sqlite(str(path), data)
        asyncio.run(bench(f"sqlite+aiosqlite:///{path}", args.jobs, args.repeat, seed_sqlite,
                          args.in_flight))
    if args.postgres:
        url = create_database(args.postgres)
        print(f"PostgreSQL, {args.jobs:,} jobs")

        async def seed_pg() -> None:
            await load_postgres(url.replace("postgresql+asyncpg://", "postgresql://"),
                                Synthetic(args.jobs, end=now()))
        asyncio.run(bench(url, args.jobs, args.repeat, seed_pg, args.in_flight))


if __name__ == "__main__":
    main()
