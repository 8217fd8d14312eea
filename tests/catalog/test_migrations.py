"""The migrations build exactly the tables the code declares (on this test's database)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from reelgate.store.db import Database
from reelgate.store.tables import catalog_revision, metadata


async def test_schema_matches_metadata(db: Database) -> None:
    async with db.engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), metadata))
        assert diff == []
        assert (await conn.execute(select(catalog_revision))).all() == [(1, 0)]
