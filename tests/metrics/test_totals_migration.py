"""Migration 0012 fills the running totals from the history already there: a database
with synthetic jobs, their ledger, deleted jobs and finished webhook deliveries, at
the revision before, serves after the upgrade what a scan of every row says (this
run's database: SQLite, or PostgreSQL on its pass)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from reelgate.ids import now
from reelgate.store.db import Database
from reelgate.store.migrate import upgrade
from tests.metrics.reference import totals_match
from tests.support.server import TEST_DATABASE, create_database
from tests.support.synthetic import Synthetic, load_postgres, load_sqlite

_DELIVERY = ("INSERT INTO webhook_deliveries (id, endpoint_id, job_id, event_type, "
             "event_key, payload, status, attempts, created_at) VALUES (:id, 'we_m', NULL, "
             "'video.completed', :id, '{}', :status, :attempts, 1.0)")


async def test_the_totals_start_from_the_history(tmp_path: Path) -> None:
    data = Synthetic(3000, end=now(), days=3)
    if TEST_DATABASE == "postgres":
        url = create_database()
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    db = Database(url)
    try:
        await upgrade(db, "0011")
        if db.is_postgres:
            await load_postgres(url.replace("postgresql+asyncpg://", "postgresql://"), data)
        else:
            load_sqlite(str(tmp_path / "m.db"), data)
        async with db.begin() as conn:
            await conn.execute(text(  # a few of every final state were deleted since
                "UPDATE jobs SET deleted_at = finished_at WHERE finished_at IS NOT NULL "
                "AND id IN (SELECT id FROM jobs ORDER BY id LIMIT 400)"))
            await conn.execute(text(
                "INSERT INTO webhook_endpoints (id, tenant_id, url, secret, events, enabled, "
                "allow_private, created_at) SELECT 'we_m', id, 'https://x.invalid', 's', "
                "'[\"video.completed\"]', true, false, 1.0 FROM tenants ORDER BY id LIMIT 1"))
            await conn.execute(text(_DELIVERY), [
                {"id": f"whd_{i}", "status": status, "attempts": attempts}
                for i, (status, attempts) in enumerate([
                    ("delivered", 1), ("delivered", 3), ("dead", 8), ("replayed", 8),
                    ("pending", 2), ("pending", 0)])])
        await upgrade(db)
        got = await totals_match(db)
        assert got.deliveries == {"delivered": 2, "dead": 1, "replayed": 1, "pending": 2}
        assert got.delivery_attempts == 22
        assert sum(n for (state, _, _), n in got.jobs.items() if state == "completed") > 1000
        async with db.read() as conn:
            deleted = (await conn.execute(text(
                "SELECT COUNT(*) FROM jobs WHERE deleted_at IS NOT NULL"))).scalar_one()
        assert deleted > 300
    finally:
        await db.dispose()
