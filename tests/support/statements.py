"""Every SQL statement a :class:`Database` sends, for tests that count them.

On SQLite, what the driver itself ran (``sqlite3``'s trace callback, set on each
connection as it is checked out or, for the write connection a ``Database`` keeps,
begins a transaction; that transaction's ``BEGIN`` itself is not seen): hot
statements go to the driver below SQLAlchemy (``reelgate.store.direct``), where
SQLAlchemy's events never see them. On
PostgreSQL, SQLAlchemy's ``before_cursor_execute`` and ``commit`` events. Either way a
commit is recorded as ``"COMMIT"``; connection set-up (``PRAGMA``) and the rollback
of a returned connection are left out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event

from reelgate.store.db import Database

__all__ = ["StatementLog"]


class StatementLog:
    def __init__(self, on_statement: Callable[[str], None] | None = None) -> None:
        self.seen: list[str] = []
        self._on = on_statement or self.seen.append
        self._listeners: list[tuple[Any, str, Any]] = []
        self._traced: list[Any] = []

    def attach(self, db: Database) -> StatementLog:
        for engine in {db.engine, db.read_engine}:
            sync = engine.sync_engine
            if db.is_sqlite:
                self._listen(sync, "checkout", self._trace)
                self._listen(sync, "begin", lambda c: self._trace(c.connection.driver_connection))
            else:
                self._listen(sync, "before_cursor_execute",
                             lambda _c, _cur, statement, *_: self._record(statement))
                self._listen(sync, "commit", lambda _c: self._on("COMMIT"))
        return self

    def detach(self) -> None:
        for target, name, fn in self._listeners:
            event.remove(target, name, fn)
        for conn in self._traced:
            conn.set_trace_callback(None)
        self._listeners, self._traced = [], []

    def _listen(self, target: Any, name: str, fn: Any) -> None:
        event.listen(target, name, fn)
        self._listeners.append((target, name, fn))

    def _trace(self, dbapi_conn: Any, *_: Any) -> None:
        if not any(c is dbapi_conn for c in self._traced):
            dbapi_conn.set_trace_callback(self._record)
            self._traced.append(dbapi_conn)

    def _record(self, statement: str) -> None:
        flat = " ".join(statement.split())
        if flat.upper().startswith(("PRAGMA", "ROLLBACK")):
            return
        self._on("COMMIT" if flat.upper() == "COMMIT" else flat)
