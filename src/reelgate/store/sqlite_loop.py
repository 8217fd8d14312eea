"""SQLite for the asyncio engine, run on the event loop's own thread.

aiosqlite sends every call (each statement, each fetch, each commit) to a thread of
its own and back: about 0.8 ms of CPU per statement on a loaded 2-core machine,
where the statement itself costs tens of microseconds. A create, a poll or a
retrieve is made of a handful of statements, so that hop was most of their cost.

Here the standard library's ``sqlite3`` runs synchronously inside SQLAlchemy's
greenlet, on the loop. That is sound for SQLite in WAL mode because nothing on the
way waits for long:

* readers never wait for writers (each statement reads its own WAL snapshot);
* writers wait only for the write lock, and that wait is made here, in
  :func:`begin_immediate`, as an *asynchronous* sleep between non-blocking attempts
  (``busy_timeout`` is 0 on these connections), so another process holding the lock
  never stalls this process's loop, and processes take turns at it
  (:mod:`reelgate.store.turns`); within one process,
  :class:`reelgate.store.db.Database` queues write transactions on an asyncio lock
  before they reach SQLite at all;
* a statement that still finds the database busy (a reader during WAL recovery)
  is retried the same way;
* commits do not fsync (``synchronous=NORMAL``), and the WAL is checkpointed off
  the loop (``wal_autocheckpoint=0`` here; see :mod:`reelgate.store.checkpoint`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine.interfaces import DBAPICursor, ExecutionContext
from sqlalchemy.engine.url import URL
from sqlalchemy.util.concurrency import await_, in_greenlet

from reelgate.store.turns import YIELD_SECONDS, WriterTurns

__all__ = ["AUTOCOMMIT_READS", "DRIVER", "SQLiteLoopDialect", "begin_immediate", "is_busy",
           "retry_busy", "retry_busy_async"]

#: the ``drivername`` this dialect is registered under
DRIVER = "sqlite+reelgate_loop"
#: the execution option that marks the read engine's connections: each statement
#: is its own snapshot, outside any transaction
AUTOCOMMIT_READS = "reelgate_autocommit_reads"
#: the longest a statement keeps retrying a busy database before it gives up
#: (the ``busy_timeout`` the threaded driver used)
BUSY_GIVE_UP_SECONDS = 30.0


def is_busy(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text


def _delay(attempt: int, longest: float = 0.05) -> float:
    return min(longest, 0.0005 * float(2 ** min(attempt, 7)))


def _sleep(delay: float) -> None:
    """Wait without blocking the loop (when called from a greenlet)."""
    if in_greenlet():
        await_(asyncio.sleep(delay))
    else:  # a plain synchronous caller (migrations run through run_sync): just sleep
        time.sleep(delay)


class _BusyWait:
    """One caller's wait for a busy database: ever longer pauses (at most
    ``longest``), given up after :data:`BUSY_GIVE_UP_SECONDS`; any other error at once."""

    def __init__(self, longest: float = 0.05) -> None:
        self.deadline = time.monotonic() + BUSY_GIVE_UP_SECONDS
        self.longest = longest
        self.attempt = 0

    def pause_after(self, exc: sqlite3.OperationalError) -> float:
        """The pause before the next attempt; ``exc`` again if none is due."""
        if not is_busy(exc) or time.monotonic() > self.deadline:
            raise exc
        delay = _delay(self.attempt, self.longest)
        self.attempt += 1
        return delay


async def _done() -> None:
    return None


def _touch_loop() -> None:
    """SQLAlchemy's asyncio layer checks that each statement awaited something (it
    guards against blocking drivers): hand it a coroutine that is already finished.
    It costs two greenlet switches and never lets the loop run other tasks."""
    if in_greenlet():
        await_(_done())


def retry_busy(call: Any, *args: Any) -> Any:
    """``call(*args)``, retried while SQLite answers "busy", for up to 30 s."""
    _touch_loop()
    busy = _BusyWait()
    while True:
        try:
            return call(*args)
        except sqlite3.OperationalError as exc:
            delay = busy.pause_after(exc)
        _sleep(delay)


async def retry_busy_async(call: Any, *args: Any) -> Any:
    """:func:`retry_busy` for a caller on the loop itself, outside SQLAlchemy's
    greenlet (``store/direct.py``)."""
    busy = _BusyWait()
    while True:
        try:
            return call(*args)
        except sqlite3.OperationalError as exc:
            delay = busy.pause_after(exc)
        await asyncio.sleep(delay)


def begin_immediate(conn: sqlite3.Connection, turns: WriterTurns | None) -> None:
    """``BEGIN IMMEDIATE``: the write lock, waited for without blocking the loop, in
    turn with other processes. A process that says it waits goes first; one that
    waits says so and tries again every millisecond, so it gets the lock at the other
    side's next commit rather than whenever its own, ever longer, retries land."""
    if turns is not None:
        give_way_until = time.monotonic() + YIELD_SECONDS
        attempt = 0
        while turns.other_waits() and time.monotonic() < give_way_until:
            _sleep(_delay(attempt, longest=0.001))
            attempt += 1
    busy = _BusyWait() if turns is None else _BusyWait(longest=0.001)
    try:
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                delay = busy.pause_after(exc)
            if turns is not None:
                turns.waiting()
            _sleep(delay)
    finally:
        if turns is not None:
            turns.served()


class LoopCursor(sqlite3.Cursor):
    """sqlite3's cursor, with the one hook SQLAlchemy's asyncio results call on a
    driver cursor before handing the result to synchronous code. sqlite3 cursors
    fetch synchronously wherever they are, so there is nothing to do."""

    async def _async_soft_close(self) -> None:
        return None


class LoopConnection(sqlite3.Connection):
    def cursor(self, factory: Any = LoopCursor) -> Any:
        return super().cursor(factory)


class SQLiteLoopDialect(SQLiteDialect_pysqlite):
    """pysqlite, declared asynchronous: SQLAlchemy's asyncio layer calls it from its
    greenlet, where it runs directly; the only waits are the busy retries above."""

    driver = "reelgate_loop"
    is_async = True
    supports_statement_cache = True

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        # an asyncio-aware queue: a checkout waiting for a free connection awaits
        return pool.AsyncAdaptedQueuePool

    def create_connect_args(self, url: URL) -> Any:
        args, kwargs = super().create_connect_args(url)
        # one connection per checkout, used by whichever thread runs the loop
        # (tests run loops in helper threads); never by two threads at once
        kwargs["check_same_thread"] = False
        kwargs["timeout"] = 0.0  # busy: fail at once, retried asynchronously
        kwargs["factory"] = LoopConnection
        return args, kwargs

    def do_execute(self, cursor: DBAPICursor, statement: str, parameters: Any,
                   context: ExecutionContext | None = None) -> None:
        retry_busy(cursor.execute, statement, parameters)

    def do_execute_no_params(self, cursor: DBAPICursor, statement: str,
                             context: ExecutionContext | None = None) -> None:
        retry_busy(cursor.execute, statement)

    def do_executemany(self, cursor: DBAPICursor, statement: str, parameters: Any,
                       context: ExecutionContext | None = None) -> None:
        retry_busy(cursor.executemany, statement, parameters)


registry.register("sqlite.reelgate_loop", __name__, "SQLiteLoopDialect")
