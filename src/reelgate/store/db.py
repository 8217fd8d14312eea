"""The database handle: async engines, transactions, and dialect differences.

SQLite: WAL mode, run on the event loop's thread (:mod:`reelgate.store.sqlite_loop`:
no thread hop per statement). Write transactions start with ``BEGIN IMMEDIATE`` so
that writers queue for the write lock instead of failing on a lock upgrade; within a
process they queue first on an asyncio lock, across processes by retrying without
blocking the loop. The WAL is checkpointed in a thread (:mod:`.checkpoint`). Reads
use a second engine in autocommit, one WAL snapshot per statement, which never
blocks writers. PostgreSQL: one pooled engine. Repositories take an
``AsyncConnection``.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from reelgate.store.checkpoint import Checkpointer
from reelgate.store.sqlite_loop import AUTOCOMMIT_READS, DRIVER, begin_immediate, retry_busy
from reelgate.store.turns import WriterTurns

__all__ = ["Database", "Tx"]

#: an open transaction, as hooks and repositories receive it; domain code names this
#: rather than SQLAlchemy's type, so it need not import SQLAlchemy to say "inside a
#: transaction"
Tx = AsyncConnection


def _sqlite_connect(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
    cur = dbapi_conn.cursor()
    # busy_timeout stays 0 (set by the dialect): waits are asynchronous retries
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON",
                   "wal_autocheckpoint=0"):  # checkpoints run in a thread instead
        retry_busy(cur.execute, f"PRAGMA {pragma}")
    cur.close()


def _loop_url(url: str) -> str:
    """The same SQLite database, through the on-the-loop driver."""
    return make_url(url).set(drivername=DRIVER).render_as_string(hide_password=False)


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.is_postgres = url.startswith("postgresql")
        kwargs: dict[str, Any] = {"pool_size": pool_size, "max_overflow": pool_size}
        self.checkpointer: Checkpointer | None = None
        #: turns at the write lock with the other processes on this database (SQLite)
        self.turns: WriterTurns | None = None
        #: per event loop: write transactions of this process queue here (SQLite)
        self._write_locks: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
        #: per event loop: the connection its write transactions use (SQLite)
        self._writers: dict[asyncio.AbstractEventLoop, AsyncConnection] = {}
        if not self.is_sqlite:
            self.engine: AsyncEngine = create_async_engine(url, pool_pre_ping=True, **kwargs)
            self.read_engine: AsyncEngine = self.engine
            return
        loop_url = _loop_url(url)
        self.engine = create_async_engine(loop_url, **kwargs)
        # reads run each statement in autocommit (a WAL snapshot per statement):
        # no BEGIN and no ROLLBACK
        self.read_engine = create_async_engine(loop_url, pool_reset_on_return=None,
                                               execution_options={AUTOCOMMIT_READS: True},
                                               **kwargs)
        path = make_url(url).database
        if path and path != ":memory:":
            self.checkpointer = Checkpointer(path)
            self.turns = WriterTurns(path)
        event.listen(self.engine.sync_engine, "connect", _sqlite_connect)
        event.listen(self.engine.sync_engine, "begin", self._begin_immediate)
        event.listen(self.read_engine.sync_engine, "connect", _sqlite_connect)

    def _begin_immediate(self, conn: Connection) -> None:
        raw = conn.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        begin_immediate(raw, self.turns)

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: committed on normal exit, rolled back on an exception."""
        if not self.is_sqlite:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock():
            conn = await self._writer()
            try:
                async with conn.begin():
                    yield conn
            except BaseException as exc:
                # rolled back; a connection that may be broken, or was interrupted
                # mid-transaction (a cancelled task), is not used again
                if not isinstance(exc, Exception) or isinstance(exc, DBAPIError):
                    await self._drop_writer(conn)
                raise
        if self.checkpointer is not None:
            self.checkpointer.wrote()

    async def _writer(self) -> AsyncConnection:
        """This loop's write connection, kept between transactions (SQLite): checking
        one out of the pool and back for each transaction cost ~110 us, more than the
        transaction's own BEGIN and COMMIT. Called with the write lock held."""
        loop = asyncio.get_running_loop()
        conn = self._writers.get(loop)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._writers[loop] = await self.engine.connect()
        return conn

    async def _drop_writer(self, conn: AsyncConnection) -> None:
        for loop, held in list(self._writers.items()):
            if held is conn:
                del self._writers[loop]
        try:
            await conn.close()
        except Exception:  # already broken: the pool forgets it
            if conn.sync_connection is not None:
                conn.sync_connection.invalidate()

    def _write_lock(self) -> asyncio.Lock:
        """SQLite has one writer at a time: this process's writers take turns here,
        awaiting, rather than polling SQLite's lock against each other."""
        loop = asyncio.get_running_loop()
        lock = self._write_locks.get(loop)
        if lock is None:
            lock = self._write_locks[loop] = asyncio.Lock()
        return lock

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
        if not self.is_sqlite:
            async with self.read_engine.connect() as conn:
                yield conn
            return
        conn = await self.read_engine.connect()
        try:
            yield conn
        finally:
            # closed in this task: SQLAlchemy's context manager closes in a task of
            # its own (so a cancellation cannot abandon the close), which kept every
            # read's connection out for another loop turn: at 64 concurrent retrieves
            # the pool overflowed, and each connection closed on return took SQLite's
            # parsed schema with it (the next one parsed it again). Here the close
            # never suspends, so nothing can interrupt it.
            await conn.close()

    async def ping(self) -> None:
        """One round trip; raises if the database cannot be reached."""
        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        for conn in list(self._writers.values()):
            await self._drop_writer(conn)
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
        if self.checkpointer is not None:
            await self.checkpointer.close()
        if self.turns is not None:
            self.turns.close()
            self.turns = None
