"""A real SQLite database in a temp dir, and jobs put straight into it, for the unit
tests of jobs/ and scheduler/ (no gateway, no HTTP)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from reelgate.auth import repository as auth_repo
from reelgate.ids import new_id, now
from reelgate.jobs import repository as repo
from reelgate.jobs.model import Job
from reelgate.jobs.states import State
from reelgate.store.db import Database, Tx
from reelgate.store.migrate import upgrade

__all__ = ["RecordingHooks", "insert_job", "open_database"]


async def open_database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'unit.db'}")
    await upgrade(db)
    yield db
    await db.dispose()


async def insert_job(db: Database, state: State = State.QUEUED, **values: Any) -> Job:
    t = now()
    async with db.begin() as conn:
        tenant = await auth_repo.ensure_tenant(conn, "unit", unlimited=True)
        return await repo.insert(conn, {
            "id": new_id("video"), "tenant_id": tenant.id, "key_id": "key_unit",
            "model": "sora-2", "prompt": "a unit test", "size": "1280x720", "seconds": 4,
            "quality": "standard", "state": state.value, "created_at": t, "updated_at": t,
            "next_poll_at": t, **values})


class RecordingHooks:
    """Records what it saw; raises from ``on_transition`` when ``explode`` is set."""

    def __init__(self, explode: bool = False) -> None:
        self.explode = explode
        self.seen: list[tuple[State, State]] = []

    async def on_created(self, conn: Tx, job: Job, principal: object) -> None:
        pass

    async def on_transition(self, conn: Tx, before: Job, after: Job) -> None:
        self.seen.append((before.state, after.state))
        if self.explode:
            raise RuntimeError("hook failed")
