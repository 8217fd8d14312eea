"""The hottest statements, sent straight to SQLite's driver.

SQLAlchemy's execution layer costs 30-100 us per statement (an execution context,
parameter processing, a result object, events) where SQLite itself takes a few: a
create and its submit are ~14 statements, so that layer was about a third of their
CPU. A :class:`Direct` statement is still written in SQLAlchemy Core; it is compiled
once per set of parameter names, with the same bind and result processors the
dialect would apply, and then runs on the transaction's own ``sqlite3`` connection
(inside the transaction :class:`reelgate.store.db.Database` began, or on a read
connection in autocommit, with the same busy retry, awaited). On any other database,
on a connection that has not begun its transaction (SQLAlchemy would begin it), and
for a statement this cannot plan (one whose parameters expand at execution, or whose
defaults are computed), it runs through SQLAlchemy as before. Errors are
SQLAlchemy's exception types either way.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from reelgate.store.sqlite_loop import AUTOCOMMIT_READS, SQLiteLoopDialect, retry_busy_async

__all__ = ["Direct", "DirectResult"]

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Plan:
    sql: str
    #: per positional parameter: its name, a default, and the bind processor
    binds: tuple[tuple[str, Any, Processor], ...]
    #: the result's column keys, in order
    keys: tuple[str, ...]
    #: the result columns the dialect converts (JSON, booleans), with the converter
    processed: tuple[tuple[str, Callable[[Any], Any]], ...]


class DirectResult:
    """What callers of a :class:`Direct` statement read: the rows (as mappings, the
    shape ``Job.from_row`` and the rest take) and how many rows changed."""

    def __init__(self, rows: list[dict[str, Any]], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def first(self) -> dict[str, Any] | None:
        return self.rows[0] if self.rows else None

    def one(self) -> dict[str, Any]:
        if len(self.rows) != 1:
            raise sa_exc.NoResultFound("expected one row") if not self.rows else \
                sa_exc.MultipleResultsFound("expected one row")
        return self.rows[0]

    def scalar(self) -> Any:
        return next(iter(self.rows[0].values())) if self.rows else None


_NO_DEFAULT = object()


class Direct:
    """A Core statement, run below SQLAlchemy's execution layer on SQLite."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._plans: dict[frozenset[str], _Plan | None] = {}

    async def execute(self, conn: AsyncConnection, params: Mapping[str, Any]) -> DirectResult:
        """The same result on every database: rows as mappings, and the row count."""
        dialect = conn.dialect
        if not isinstance(dialect, SQLiteLoopDialect):
            return await self._through_sqlalchemy(conn, params)
        names = frozenset(params)
        plan = self._plans.get(names, _NO_DEFAULT)
        if plan is _NO_DEFAULT:
            plan = self._plans[names] = self._plan(dialect, names)
        if plan is None:
            return await self._through_sqlalchemy(conn, params)
        assert isinstance(plan, _Plan)
        sync = conn.sync_connection
        assert sync is not None
        if not (sync.in_transaction() or sync.get_execution_options().get(AUTOCOMMIT_READS)):
            return await self._through_sqlalchemy(conn, params)
        raw = sync.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        values = [_bound(params, name, default, process)
                  for name, default, process in plan.binds]
        cursor = raw.cursor()
        try:
            await retry_busy_async(cursor.execute, plan.sql, values)
            fetched = cursor.fetchall() if plan.keys else []
            count = cursor.rowcount
        except sqlite3.Error as exc:
            raise sa_exc.DBAPIError.instance(plan.sql, values, exc, sqlite3.Error) from exc
        finally:
            cursor.close()
        rows = [dict(zip(plan.keys, row, strict=True)) for row in fetched]
        for key, process in plan.processed:  # the few typed columns (JSON, booleans)
            for r in rows:
                r[key] = process(r[key])
        return DirectResult(rows, count)

    async def _through_sqlalchemy(self, conn: AsyncConnection,
                                  params: Mapping[str, Any]) -> DirectResult:
        result = await conn.execute(self.statement, dict(params))
        rows = [dict(r._mapping) for r in result] if result.returns_rows else []
        return DirectResult(rows, result.rowcount)

    def _plan(self, dialect: Dialect, names: frozenset[str]) -> _Plan | None:
        assert isinstance(self.statement, ClauseElement)
        compiled = self.statement.compile(dialect=dialect, column_keys=sorted(names))
        assert isinstance(compiled, SQLCompiler)
        if "POSTCOMPILE" in compiled.string or compiled.update_prefetch:
            return None  # parameters that expand at execution, computed defaults
        defaults: dict[str, Any] = {}
        for column in compiled.insert_prefetch:
            default = column.default
            if default is None or not getattr(default, "is_scalar", False):
                return None
            defaults[column.key] = default.arg  # type: ignore[attr-defined]
        binds = []
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            value = defaults.get(name, bind.value if bind.value is not None else _NO_DEFAULT)
            if bind.callable is not None:
                return None
            binds.append((name, value, bind.type.bind_processor(dialect)))
        columns = _columns(self.statement, dialect)
        return _Plan(compiled.string, tuple(binds), tuple(key for key, _ in columns),
                     tuple((key, p) for key, p in columns if p is not None))


def _bound(params: Mapping[str, Any], name: str, default: Any, process: Processor) -> Any:
    value = params[name] if name in params or default is _NO_DEFAULT else default
    return process(value) if process is not None else value


def _columns(statement: Any, dialect: Dialect) -> tuple[tuple[str, Processor], ...]:
    returned: Sequence[Any] = list(getattr(statement, "exported_columns", ()) or ())
    return tuple((c.key, c.type.result_processor(dialect, None)) for c in returned)
