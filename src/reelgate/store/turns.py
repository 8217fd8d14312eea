"""Turns at SQLite's write lock between processes.

SQLite has one writer at a time and no queue: a process that finds the lock taken
can only try again later. Within a process, writers already queue on an asyncio
lock (:class:`reelgate.store.db.Database`), so a busy process runs its write
transactions back to back, and another process's retries, spaced further apart each
time, keep landing while the lock is held: with the API and the worker in two
processes, a create waited up to 620 ms behind a worker busy submitting (and the
worker as long behind a burst of creates).

Here a process that found the lock taken says so in a small shared file next to the
database (``<db>-turn``: who waits, and since when) and keeps retrying every
millisecond; a process about to start a write transaction first lets any other
process that says it waits go ahead. Only fairness depends on the file: a
process that died while waiting leaves a claim that ages out after
:data:`STALE_SECONDS`, and a torn read of it costs at most one turn's order.
"""

from __future__ import annotations

import mmap
import os
import secrets
import struct
import time

__all__ = ["STALE_SECONDS", "WriterTurns"]

#: a claim not renewed for this long is ignored (its process died or gave up)
STALE_SECONDS = 0.25
#: the longest a process lets a waiting one go first, per transaction
YIELD_SECONDS = 0.25
#: who waits (a token of the waiting ``Database``, 0: nobody) and since when
_LAYOUT = struct.Struct("<Qd")


class WriterTurns:
    """One database's shared turn file, as seen by one :class:`Database`."""

    def __init__(self, db_path: str) -> None:
        #: not the pid: two ``Database`` objects in one process take turns as well
        self.token = secrets.randbits(63) | 1
        fd = os.open(f"{db_path}-turn", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < _LAYOUT.size:
                os.ftruncate(fd, _LAYOUT.size)
            self._map = mmap.mmap(fd, _LAYOUT.size)
        finally:
            os.close(fd)

    def _read(self) -> tuple[int, float]:
        token, since = _LAYOUT.unpack_from(self._map, 0)
        return int(token), float(since)

    def other_waits(self) -> bool:
        """Another process waits for the lock (and said so recently)."""
        token, since = self._read()
        return token not in (0, self.token) and time.monotonic() - since < STALE_SECONDS

    def waiting(self) -> None:
        """This process found the lock taken: the others let it go next."""
        _LAYOUT.pack_into(self._map, 0, self.token, time.monotonic())

    def served(self) -> None:
        """This process holds the lock: its claim, if it is still the one on record,
        is withdrawn."""
        if self._read()[0] == self.token:
            _LAYOUT.pack_into(self._map, 0, 0, 0.0)

    def close(self) -> None:
        self.served()
        self._map.close()
