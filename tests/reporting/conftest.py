"""A fresh, migrated database per module: SQLite in a temp dir, or a new PostgreSQL
database on the PostgreSQL pass."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from reelgate.store.db import Database
from reelgate.store.migrate import upgrade
from tests.support.server import TEST_DATABASE, create_database


@pytest.fixture(scope="module")
async def db(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Database]:
    if TEST_DATABASE == "postgres":
        url = create_database()
    else:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('reporting') / 'r.sqlite'}"
    database = Database(url)
    await upgrade(database)
    yield database
    await database.dispose()
