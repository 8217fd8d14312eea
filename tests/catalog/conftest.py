"""A fresh, migrated database per test: SQLite in a temp dir, or a new PostgreSQL database
on the PostgreSQL pass."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from reelgate.store.db import Database
from reelgate.store.migrate import upgrade
from tests.support.server import TEST_DATABASE, create_database


def database_url(tmp_path: Path) -> str:
    if TEST_DATABASE == "postgres":
        return create_database()
    return f"sqlite+aiosqlite:///{tmp_path / 'catalog.sqlite'}"


@pytest.fixture()
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(database_url(tmp_path))
    await upgrade(database)
    yield database
    await database.dispose()
