"""WAL checkpoints for SQLite, off the event loop.

SQLite's automatic checkpoint runs inside the COMMIT that crosses 1,000 WAL pages:
copying them into the database file and an fsync, on whatever thread committed. With
the database on the loop's thread (:mod:`reelgate.store.sqlite_loop`) that would be a
stall of every request now and then, so those connections turn it off and this
class checkpoints instead, in a worker thread on a connection of its own, at most
about once a second while there are writes. ``PASSIVE`` never waits for readers or
writers: what it cannot copy now it copies next time.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time

__all__ = ["Checkpointer"]

log = logging.getLogger(__name__)


class Checkpointer:
    def __init__(self, path: str, *, every_seconds: float = 1.0) -> None:
        self.path = path
        self.every_seconds = every_seconds
        self._last = time.monotonic()
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        self._conn: sqlite3.Connection | None = None

    def wrote(self) -> None:
        """A write transaction committed: checkpoint soon, in the background."""
        self._dirty = True
        if time.monotonic() - self._last < self.every_seconds:
            return
        if self._task is not None and not self._task.done():
            return
        self._last = time.monotonic()
        self._dirty = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name="wal-checkpoint")

    async def _run(self) -> None:
        try:
            await asyncio.to_thread(self.checkpoint)
        except Exception:  # the next one tries again; the WAL only grows meanwhile
            log.warning("WAL checkpoint of %s failed", self.path, exc_info=True)

    def checkpoint(self) -> None:
        if self._conn is None:
            self._conn = sqlite3.connect(self.path, timeout=0.0, isolation_level=None,
                                         check_same_thread=False)
        self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    async def close(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if self._dirty:
            await self._run()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
