"""Bring a database to the newest schema with Alembic, safely from many processes."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection

from reelgate.store.db import Database

__all__ = ["alembic_config", "upgrade"]

_HERE = Path(__file__).parent / "migrations"
_LOCK_ID = 0x7265656C  # "reel": one advisory lock for concurrent starters on PostgreSQL


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


async def upgrade(db: Database, revision: str = "head") -> None:
    """To ``revision`` (the newest by default; an older one for tests of a migration)."""
    async with db.engine.connect() as conn:
        if db.is_postgres:
            await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_ID})
            await conn.commit()
        try:
            await conn.run_sync(_upgrade, revision)
            await conn.commit()
        finally:
            if db.is_postgres:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_ID})
                await conn.commit()
