"""Migration 0005 gives jobs that already ended their ``finished_at``: the completion
time, or the time of the event that failed them (``updated_at`` moves on later, e.g.
when the client deletes the job)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from reelgate.store.db import Database
from tests.unit.store.test_migration_0003 import _to

_JOB = ("INSERT INTO jobs (id, tenant_id, key_id, model, prompt, size, seconds, quality, "
        "state, progress, version, created_at, updated_at, completed_at, poll_count, "
        "submit_attempts, price_micros) VALUES (:id, 't', 'k', 'sora-2', 'p', '1280x720', 4, "
        "'standard', :state, 0, 0, 10.0, :updated, :completed, 0, 0, 0)")
_EVENT = "INSERT INTO job_events (job_id, at, kind, state) VALUES (:job, :at, :kind, :state)"


async def test_jobs_that_ended_get_finished_at(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        async with db.engine.connect() as conn:
            await conn.run_sync(_to("0004"))
            await conn.execute(text("INSERT INTO tenants (id, name, balance_micros, "
                                    "price_multiplier_ppm, unlimited, created_at) "
                                    "VALUES ('t', 't', 0, 1000000, 1, 1.0)"))
            await conn.execute(text(_JOB), [
                {"id": "video_done", "state": "completed", "updated": 99.0, "completed": 50.0},
                {"id": "video_failed", "state": "failed", "updated": 99.0, "completed": None},
                {"id": "video_bare", "state": "failed", "updated": 70.0, "completed": None},
                {"id": "video_live", "state": "in_progress", "updated": 60.0,
                 "completed": None}])
            await conn.execute(text(_EVENT), [
                {"job": "video_failed", "at": 12.0, "kind": "created", "state": "queued"},
                {"job": "video_failed", "at": 40.0, "kind": "state:failed", "state": "failed"},
                {"job": "video_failed", "at": 99.0, "kind": "deleted", "state": "failed"}])
            await conn.commit()
            await conn.run_sync(_to("head"))
            await conn.commit()
            rows = (await conn.execute(text(
                "SELECT id, finished_at FROM jobs ORDER BY id"))).all()
        assert [tuple(r) for r in rows] == [("video_bare", 70.0), ("video_done", 50.0),
                                            ("video_failed", 40.0), ("video_live", None)]
    finally:
        await db.dispose()
