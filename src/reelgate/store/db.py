"""The database handle: async engines, transactions, and dialect differences.

SQLite: WAL mode, and write transactions start with ``BEGIN IMMEDIATE`` so that the
API and the in-process worker queue for the write lock (busy timeout) instead of
failing on a lock upgrade; reads use a second engine in autocommit, one WAL snapshot
per statement, which never blocks writers. PostgreSQL: one pooled engine.
Repositories take an ``AsyncConnection``.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

__all__ = ["Database", "Tx"]

#: an open transaction, as hooks and repositories receive it; domain code names this
#: rather than SQLAlchemy's type, so it need not import SQLAlchemy to say "inside a
#: transaction"
Tx = AsyncConnection


def _sqlite_connect(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _begin_immediate(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.is_postgres = url.startswith("postgresql")
        kwargs: dict[str, Any] = {}
        if not self.is_sqlite:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        self.read_engine: AsyncEngine = self.engine
        if self.is_sqlite:
            # reads run each statement in autocommit (a WAL snapshot per statement):
            # no BEGIN and no ROLLBACK round trips through aiosqlite's thread
            self.read_engine = create_async_engine(url, pool_reset_on_return=None)
            event.listen(self.engine.sync_engine, "connect", _sqlite_connect)
            event.listen(self.engine.sync_engine, "begin", _begin_immediate)
            event.listen(self.read_engine.sync_engine, "connect", _sqlite_connect)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: committed on normal exit, rolled back on an exception."""
        async with self.engine.begin() as conn:
            yield conn

    async def exclusive(self, conn: AsyncConnection, name: str) -> None:
        """Serialise the rest of this write transaction with every other process doing
        the same for ``name`` (start-up chores such as creating the first key, which
        N processes started together would otherwise all try). PostgreSQL: a
        transaction-scoped advisory lock; SQLite: write transactions are serial already.
        """
        if self.is_postgres:
            key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big",
                                 signed=True)
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only snapshot."""
        async with self.read_engine.connect() as conn:
            yield conn

    async def ping(self) -> None:
        """One round trip; raises if the database cannot be reached."""
        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
