"""A :class:`Direct` statement gives what SQLAlchemy's execution would have given.

Each case runs the same Core statement both ways, in a transaction on a real SQLite
file, and compares rows (JSON decoded, floats, NULLs, labels), row counts and the
exception type; then checks what it must leave to SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.store.db import Database
from reelgate.store.direct import Direct

meta = MetaData()
things = Table(
    "things", meta,
    Column("id", String(10), primary_key=True),
    Column("n", Integer, nullable=False, default=7),
    Column("at", Float),
    Column("blob", JSON),
    Column("tag", String(10)),
)


@pytest.fixture()
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    async with database.begin() as conn:
        await conn.run_sync(meta.create_all)
    try:
        yield database
    finally:
        await database.dispose()


def _core_rows(result: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in result] if result.returns_rows else []


async def _both(conn: AsyncConnection, stmt: Any, params: dict[str, Any]) -> None:
    """Run ``stmt`` directly and through SQLAlchemy (each in a savepoint rolled back)
    and compare what each returned: the rows, or the count of rows changed
    (SQLAlchemy reads sqlite3's count of a RETURNING statement before the rows are
    fetched, so it is 0 there, and nobody reads it)."""
    outcomes = []
    for way in ("direct", "core"):
        nested = await conn.begin_nested()
        try:
            if way == "direct":
                got = await Direct(stmt).execute(conn, params)
                outcomes.append(got.rows or got.rowcount)
            else:
                res = await conn.execute(stmt, params)
                outcomes.append(_core_rows(res) or res.rowcount)
        finally:
            await nested.rollback()
    assert outcomes[0] == outcomes[1]


async def test_update_returning_with_json_floats_and_nulls(db: Database) -> None:
    async with db.begin() as conn:
        await conn.execute(insert(things), [
            {"id": "a", "n": 1, "at": 1.5, "blob": {"k": [1, "x"]}, "tag": None},
            {"id": "b", "n": 2, "at": None, "blob": None, "tag": "t"}])
        cas = (update(things).where(things.c.id == bindparam("b_id"),
                                    things.c.n == bindparam("b_n")).returning(*things.c))
        await _both(conn, cas, {"b_id": "a", "b_n": 1, "at": 2.25, "blob": {"z": None}})
        await _both(conn, cas, {"b_id": "b", "b_n": 2, "tag": None})
        await _both(conn, cas, {"b_id": "a", "b_n": 99, "tag": "lost"})  # no row: CAS lost
        row = (await Direct(cas).execute(conn, {"b_id": "a", "b_n": 1,
                                                "blob": {"k": 1}})).first()
        assert row is not None and row["blob"] == {"k": 1} and row["at"] == 1.5


async def test_insert_fills_scalar_defaults_and_counts_conflicts(db: Database) -> None:
    async with db.begin() as conn:
        plain = insert(things).returning(things.c.id, things.c.n)
        await _both(conn, plain, {"id": "c", "tag": "x"})  # n from its default, 7
        upsert = sqlite.insert(things).values(id=bindparam("b_id")).on_conflict_do_nothing()
        first = await Direct(upsert).execute(conn, {"b_id": "d"})
        again = await Direct(upsert).execute(conn, {"b_id": "d"})
        assert (first.rowcount, again.rowcount) == (1, 0)


async def test_a_violated_constraint_raises_sqlalchemys_integrity_error(db: Database) -> None:
    async with db.begin() as conn:
        await Direct(insert(things)).execute(conn, {"id": "e"})
        with pytest.raises(IntegrityError):
            await Direct(insert(things)).execute(conn, {"id": "e"})


async def test_labels_repeated_parameters_and_literals(db: Database) -> None:
    async with db.begin() as conn:
        await conn.execute(insert(things), [{"id": "f", "n": 3, "tag": ""},
                                            {"id": "g", "n": 4, "tag": "q"}])
        sub = select(things.c.n).where(things.c.tag == "").scalar_subquery()
        stmt = select(things.c.id.label("who"), (things.c.n + bindparam("b_k")).label("sum"),
                      sub.label("empty_tag")).where(things.c.n >= bindparam("b_k"))
        await _both(conn, stmt, {"b_k": 3})
        got = await Direct(stmt).execute(conn, {"b_k": 4})
        assert got.rows == [{"who": "g", "sum": 8, "empty_tag": 3}]
        assert got.scalar() == "g" and got.one()["who"] == "g"


async def test_what_expands_at_execution_is_left_to_sqlalchemy(db: Database) -> None:
    async with db.begin() as conn:
        await conn.execute(insert(things), [{"id": "h"}, {"id": "i"}])
        stmt = select(things.c.id).where(things.c.id.in_(bindparam("b_ids", expanding=True)))
        direct = Direct(stmt)
        got = await direct.execute(conn, {"b_ids": ["h", "i", "zz"]})
        assert sorted(r["id"] for r in got.rows) == ["h", "i"]
        assert list(direct._plans.values()) == [None]  # planned once: not directly


async def test_a_connection_not_in_a_transaction_is_left_to_sqlalchemy(db: Database) -> None:
    """Outside ``Database.begin`` (a bare connection of the write engine), SQLAlchemy
    begins the transaction as it always would; the statement is not autocommitted."""
    async with db.engine.connect() as conn:
        await Direct(insert(things)).execute(conn, {"id": "j"})
        assert conn.in_transaction()
        await conn.rollback()
    async with db.read() as conn:  # a read connection runs it directly, in autocommit
        got = await Direct(select(things.c.id)).execute(conn, {})
        assert got.rows == []
