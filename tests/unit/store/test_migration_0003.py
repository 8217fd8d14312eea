"""Migration 0003 gives jobs that already had a reference image its measured size
(the API had checked it equals the job's size)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from reelgate.store.db import Database
from reelgate.store.migrate import alembic_config


def _to(revision: str) -> Callable[[Connection], None]:
    def run(sync: Connection) -> None:
        command.upgrade(alembic_config(sync), revision)
    return run


_JOB = ("INSERT INTO jobs (id, tenant_id, key_id, model, prompt, size, seconds, quality, "
        "state, progress, version, created_at, updated_at, poll_count, submit_attempts, "
        "price_micros, reference_key) VALUES (:id, 't', 'k', 'sora-2', 'p', :size, 4, "
        "'standard', 'queued', 0, 0, 1.0, 1.0, 0, 0, 0, :ref)")


async def test_older_jobs_with_a_reference_get_its_size(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        async with db.engine.connect() as conn:
            await conn.run_sync(_to("0002"))
            await conn.execute(text("INSERT INTO tenants (id, name, balance_micros, "
                                    "price_multiplier_ppm, unlimited, created_at) "
                                    "VALUES ('t', 't', 0, 1000000, 1, 1.0)"))
            await conn.execute(text(_JOB), [
                {"id": "video_ref", "size": "720x1280", "ref": "references/x.png"},
                {"id": "video_plain", "size": "1280x720", "ref": None}])
            await conn.commit()
            await conn.run_sync(_to("head"))
            await conn.commit()
            rows = (await conn.execute(text(
                "SELECT id, reference_width, reference_height FROM jobs ORDER BY id"))).all()
        assert [tuple(r) for r in rows] == [("video_plain", None, None),
                                            ("video_ref", 720, 1280)]
    finally:
        await db.dispose()
