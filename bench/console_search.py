"""Console read benchmark: job search by prompt and by id, the explorer's first page and
a tenant's spend by model, at a million jobs.

    python bench/console_search.py                      # 1,000,000 jobs, SQLite
    python bench/console_search.py --postgres URL       # and the same on PostgreSQL
    python bench/console_search.py --jobs 200000 --repeat 5

Seeds the dashboard's synthetic history (tests/support/synthetic.py: every prompt is
the same text, so a search for another word reads its whole window and finds nothing,
the worst case) and times each call through JobQueries, as the console makes it.
Times are the median of ``--repeat`` runs (the first run in brackets). Prints the load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.support.server import create_database  # noqa: E402
from tests.support.synthetic import Synthetic, load_postgres, load_sqlite  # noqa: E402

from reelgate.ids import now  # noqa: E402
from reelgate.jobs.queries import JobFilter, JobQueries  # noqa: E402
from reelgate.store.db import Database  # noqa: E402
from reelgate.store.migrate import upgrade  # noqa: E402


async def seed(url: str, data: Synthetic) -> float:
    db = Database(url)
    try:
        await upgrade(db)
    finally:
        await db.dispose()
    started = time.perf_counter()
    if url.startswith("sqlite"):
        load_sqlite(url.split("///", 1)[1], data)
    else:
        await load_postgres(url.replace("postgresql+asyncpg://", "postgresql://"), data)
    return time.perf_counter() - started


async def _timed(fn: Callable[[], Awaitable[object]], repeat: int) -> tuple[float, float]:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        await fn()
        runs.append(time.perf_counter() - started)
    return runs[0], statistics.median(runs)


async def measure(url: str, repeat: int, data: Synthetic) -> list[tuple[str, float, float]]:
    db = Database(url)
    queries = JobQueries(db)
    biggest = data.tenants[0][0]  # the Zipf head: the tenant with the most jobs
    try:
        page, _ = await queries.search(JobFilter(), limit=50)
        some_id = page[-1].job.id
        steps: dict[str, Callable[[], Awaitable[object]]] = {
            "explorer, first page (50)": lambda: queries.search(JobFilter(), limit=50),
            "by id (opens the job)": lambda: queries.find(some_id),
            "prompt, found (page of 50)": lambda: queries.search_prompt(
                JobFilter(), "synthetic", limit=50),
            "prompt, absent (20,000 read)": lambda: queries.search_prompt(
                JobFilter(), "no such words"),
            "prompt, absent, one tenant": lambda: queries.search_prompt(
                JobFilter(tenant=biggest), "no such words"),
            "spend by model, 30 d, biggest": lambda: queries.spend(
                biggest, since=now() - 30 * 86400),
        }
        return [(label, *await _timed(fn, repeat)) for label, fn in steps.items()]
    finally:
        await db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", help="admin URL of a PostgreSQL server")
    args = parser.parse_args()
    data = Synthetic(args.jobs, end=now())
    targets = []
    with tempfile.TemporaryDirectory() as tmp:
        targets.append(("SQLite", f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite'}"))
        if args.postgres:
            targets.append(("PostgreSQL", create_database(args.postgres)))
        for kind, url in targets:
            seeded = asyncio.run(seed(url, data))
            rows = asyncio.run(measure(url, args.repeat, data))
            print(f"\n{kind}: {args.jobs:,} jobs, seeded in {seeded:.0f} s")
            print(f"{'what':34} {'median ms':>10} {'(first)':>9}")
            for label, first, median in rows:
                print(f"{label:34} {median * 1000:10.1f} {first * 1000:9.1f}")
    print(f"\nload average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
