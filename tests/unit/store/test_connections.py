"""SQLite's connections: write transactions share one kept per event loop
(``Database._writer``), and what fails or is cancelled inside one leaves nothing
behind; reads give their connection back at once, so many at a time do not open
connection after connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError

from reelgate.store.db import Database


@pytest.fixture()
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    async with database.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    try:
        yield database
    finally:
        await database.dispose()


async def _rows(db: Database) -> list[tuple[int, str]]:
    async with db.read() as conn:
        return [tuple(r) for r in await conn.execute(text("SELECT id, v FROM t ORDER BY id"))]


async def test_transactions_commit_on_one_kept_connection(db: Database) -> None:
    seen = set()
    for i in range(3):
        async with db.begin() as conn:
            seen.add(id(conn))
            await conn.execute(text("INSERT INTO t VALUES (:i, 'x')"), {"i": i})
    assert len(seen) == 1
    assert await _rows(db) == [(0, "x"), (1, "x"), (2, "x")]


async def test_an_error_in_the_body_rolls_back_and_the_next_commits(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (1, 'lost')"))
            raise RuntimeError("refused")
    with pytest.raises(IntegrityError):
        async with db.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (2, 'also lost')"))
            await conn.execute(text("INSERT INTO t VALUES (2, 'twice')"))
    async with db.begin() as conn:
        await conn.execute(text("INSERT INTO t VALUES (3, 'kept')"))
    assert await _rows(db) == [(3, "kept")]


async def test_a_task_cancelled_inside_a_transaction_leaves_nothing(db: Database) -> None:
    inside = asyncio.Event()

    async def writer() -> None:
        async with db.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (1, 'cancelled')"))
            inside.set()
            await asyncio.Event().wait()  # cancelled here, the transaction open

    task = asyncio.create_task(writer())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with db.begin() as conn:  # the lock was released, the row rolled back
        await conn.execute(text("INSERT INTO t VALUES (2, 'after')"))
    assert await _rows(db) == [(2, "after")]


async def test_dispose_closes_the_kept_connection(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    async with db.begin() as conn:
        await conn.execute(text("SELECT 1"))
    pool = db.engine.sync_engine.pool
    assert pool.checkedout() == 1  # type: ignore[attr-defined]
    await db.dispose()
    assert pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_concurrent_reads_reuse_their_connections(db: Database) -> None:
    """A read's connection was closed in a task of its own (SQLAlchemy's context
    manager), out for another loop turn: 64 reads at once overflowed the pool, and
    every overflow connection was closed on return and opened again."""
    opened = 0

    def count(*_: object) -> None:
        nonlocal opened
        opened += 1

    event.listen(db.read_engine.sync_engine, "connect", count)

    async def one() -> None:
        async with db.read() as conn:
            await conn.execute(text("SELECT count(*) FROM t"))

    for _ in range(5):
        await asyncio.gather(*(one() for _ in range(64)))
    assert opened <= 2, opened
