"""Characters in the database: each belongs to a tenant and to the channel and key that
created it upstream (a create naming it runs there)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.store.tables import characters

__all__ = ["CharacterRecord", "get", "insert"]


@dataclass(frozen=True)
class CharacterRecord:
    id: str
    tenant_id: str
    key_id: str
    name: str
    channel_id: str
    credential_id: str | None
    upstream_id: str
    price_micros: int
    created_at: float

    @classmethod
    def from_row(cls, row: Any) -> CharacterRecord:
        return cls(**dict(row._mapping))


async def insert(conn: AsyncConnection, record: CharacterRecord) -> None:
    await conn.execute(characters.insert().values(**record.__dict__))


async def get(conn: AsyncConnection, character_id: str, *,
              tenant_id: str) -> CharacterRecord | None:
    row = (await conn.execute(select(characters).where(
        characters.c.id == character_id, characters.c.tenant_id == tenant_id))).first()
    return CharacterRecord.from_row(row) if row else None
