"""Dashboard benchmark: each dashboard query and the whole page at a million jobs.

    python bench/dashboard.py                           # 1,000,000 jobs, SQLite
    python bench/dashboard.py --postgres URL            # and the same on PostgreSQL
    python bench/dashboard.py --jobs 100000 --repeat 5 --explain

Seeds synthetic jobs over 30 days (plus their ledger entries: ~2 per job) with bulk
inserts (tests/support/synthetic.py), then for each window (24h, 7d, 30d) times every
query of reelgate.reporting.queries over the whole window, the service call that runs
them in one snapshot (DashboardService.build), and the whole page (build + SVG charts
+ template).
``--postgres`` takes a server's admin URL (``bash scripts/services.sh postgres-start
DIR`` prints one) and creates a fresh database in it. Times are the median of
``--repeat`` runs (first run in brackets: colder caches). Prints the machine's load.
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import delete, event, text  # noqa: E402
from starlette.requests import Request  # noqa: E402
from tests.support.server import create_database  # noqa: E402
from tests.support.synthetic import Synthetic, load_postgres, load_sqlite  # noqa: E402

from reelgate.api.admin_ui import dashboard_pages  # noqa: E402
from reelgate.api.admin_ui.views import templates  # noqa: E402
from reelgate.ids import now  # noqa: E402
from reelgate.reporting import queries as q  # noqa: E402
from reelgate.reporting.dashboard import DashboardService  # noqa: E402
from reelgate.reporting.windows import WINDOWS  # noqa: E402
from reelgate.store.db import Database  # noqa: E402
from reelgate.store.migrate import upgrade  # noqa: E402
from reelgate.store.tables import report_buckets  # noqa: E402

Step = Callable[[Any], Awaitable[object]]


def _queries(name: str, end: float) -> dict[str, Step]:
    w = WINDOWS[name]
    jb, sb, qs = w.jobs(end), w.spend(end), w.queue_samples(end)
    return {
        "ended: states, channels, durations": lambda c: q.ended(c, jb),
        "refunds per channel": lambda c: q.refunds_by_channel(c, jb),
        "spend per tenant": lambda c: q.spend_by_tenant(c, sb),
        "queue arrivals": lambda c: q.arrivals(c, qs),
        "queue departures": lambda c: q.departures(c, qs),
        "active jobs by state": lambda c: q.active_by_state(c),
        "waiting now": lambda c: q.waiting(c, end),
    }


Timing = tuple[float, float, float]  # first run, median wall, median CPU of this process


async def _timed(fn: Callable[[], Awaitable[object]], repeat: int,
                 before: Callable[[], Awaitable[object]] | None = None) -> Timing:
    """``fn`` ``repeat`` times, ``before`` (untimed) ahead of each."""
    runs, cpu = [], []
    for _ in range(repeat):
        if before is not None:
            await before()
        t, c = time.perf_counter(), time.process_time()
        await fn()
        runs.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return runs[0], statistics.median(runs), statistics.median(cpu)


def _render_page(board: Any) -> str:
    scope = {"type": "http", "method": "GET", "path": "/admin/dashboard", "headers": [],
             "query_string": b"", "app": None}
    return templates.get_template("dashboard.html").render(
        request=Request(scope), section="dashboard", csrf="", signed_in=True,
        **dashboard_pages.context(board))


async def measure(url: str, repeat: int, explain: bool) -> list[tuple[str, str, Timing]]:
    db = Database(url)
    out: list[tuple[str, str, Timing]] = []
    try:
        end = now()
        for name in WINDOWS:
            for label, step in _queries(name, end).items():
                async def run(step: Step = step) -> object:
                    async with db.read() as conn:
                        return await step(conn)
                out.append((name, label, await _timed(run, repeat)))
            async def forget() -> None:
                async with db.begin() as conn:
                    await conn.execute(delete(report_buckets))
            out.append((name, "cold: nothing computed before", await _timed(
                lambda n=name: DashboardService(db).build(n, at=end), repeat, forget)))
            await DashboardService(db).build(name, at=end)
            out.append((name, "new process: closed buckets stored", await _timed(
                lambda n=name: DashboardService(db).build(n, at=end), repeat)))
            warm = DashboardService(db)
            await warm.build(name, at=end)  # closed buckets cached from here on
            out.append((name, "warm: the same process again", await _timed(
                lambda n=name, w=warm: w.build(n, at=end), repeat)))

            async def page(n: str = name, w: DashboardService = warm) -> object:
                return _render_page(await w.build(n, at=end))
            out.append((name, "warm: whole page (+ SVG + HTML)", await _timed(page, repeat)))
        if explain:
            await _explain(db, end)
    finally:
        await db.dispose()
    return out


async def _explain(db: Database, end: float) -> None:
    """Each query's plan in the 30-day window: which index it scans, and how."""
    prefix = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN "
    seen: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    engine = db.read_engine.sync_engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        async with db.read() as conn:
            for label, step in _queries("30d", end).items():
                seen.clear()
                await step(conn)
                for statement, params in list(seen):
                    plan = await conn.exec_driver_sql(prefix + statement, params)
                    print(f"-- {label}: {' '.join(statement.split())}")
                    for row in plan:
                        print("   ", " | ".join(str(v) for v in row))
    finally:
        event.remove(engine, "before_cursor_execute", capture)


async def migrate(url: str) -> None:
    db = Database(url)
    try:
        await upgrade(db)
    finally:
        await db.dispose()


async def seed(url: str, data: Synthetic) -> float:
    await migrate(url)
    t = time.perf_counter()
    if url.startswith("sqlite"):
        load_sqlite(url.split("///", 1)[1], data)
    else:
        await load_postgres(url.replace("postgresql+asyncpg://", "postgresql://"), data)
    return time.perf_counter() - t


async def counts(url: str) -> tuple[int, int]:
    db = Database(url)
    try:
        async with db.read() as conn:
            jobs = (await conn.execute(text("SELECT count(*) FROM jobs"))).scalar_one()
            ledger = (await conn.execute(text("SELECT count(*) FROM ledger"))).scalar_one()
        return int(jobs), int(ledger)
    finally:
        await db.dispose()


def report(kind: str, seeded: float, size: tuple[int, int],
           rows: list[tuple[str, str, Timing]]) -> None:
    print(f"\n{kind}: {size[0]:,} jobs, {size[1]:,} ledger entries, seeded in {seeded:.0f} s")
    print(f"{'window':7} {'what':38} {'median ms':>10} {'(first)':>9} {'CPU ms':>8}")
    for window, label, (first, median, cpu) in rows:
        print(f"{window:7} {label:38} {median * 1000:10.1f} {first * 1000:9.1f} "
              f"{cpu * 1000:8.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", metavar="URL", help="admin URL of a PostgreSQL server")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--keep", metavar="DIR", help="leave the SQLite database in DIR")
    parser.add_argument("--reuse", action="store_true",
                        help="measure the SQLite database already in --keep DIR")
    parser.add_argument("--postgres-database", metavar="URL",
                        help="measure this already seeded PostgreSQL database")
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    print(f"load average (1, 5, 15 min) at start: {os.getloadavg()}; "
          f"{os.cpu_count()} CPUs")
    end = now()
    with tempfile.TemporaryDirectory(prefix="reelgate-dashboard-") as tmp:
        if not args.no_sqlite:
            where = Path(args.keep or tmp)
            where.mkdir(parents=True, exist_ok=True)
            url = f"sqlite+aiosqlite:///{where / 'dashboard.sqlite'}"
            seeded = 0.0
            if args.reuse:
                asyncio.run(migrate(url))
            else:
                seeded = asyncio.run(seed(url, Synthetic(args.jobs, end=end, days=args.days)))
            report("SQLite", seeded, asyncio.run(counts(url)),
                   asyncio.run(measure(url, args.repeat, args.explain)))
        if args.postgres or args.postgres_database:
            seeded = 0.0
            if args.postgres_database:
                url = args.postgres_database
                asyncio.run(migrate(url))
            else:
                url = create_database(args.postgres)
                seeded = asyncio.run(seed(url, Synthetic(args.jobs, end=end, days=args.days)))
            report("PostgreSQL", seeded, asyncio.run(counts(url)),
                   asyncio.run(measure(url, args.repeat, args.explain)))
    print(f"\nload average (1, 5, 15 min) at the end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
