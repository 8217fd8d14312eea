"""Tenants and keys in the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.auth.keys import display_prefix, generate_key, hash_key
from reelgate.auth.principal import Principal
from reelgate.auth.records import KeyRecord, TenantRecord
from reelgate.ids import new_id, now
from reelgate.store.tables import api_keys, tenants

__all__ = [
    "create_key",
    "ensure_tenant",
    "find_principal",
    "get_tenant_by_name",
    "list_keys",
    "revoke_key",
]


def _tenant(row: Any) -> TenantRecord:
    return TenantRecord(row.id, row.name, row.balance_micros, row.price_multiplier_ppm,
                        bool(row.unlimited))


async def get_tenant_by_name(conn: AsyncConnection, name: str) -> TenantRecord | None:
    row = (await conn.execute(select(tenants).where(tenants.c.name == name))).first()
    return _tenant(row) if row else None


async def ensure_tenant(
    conn: AsyncConnection, name: str, *, unlimited: bool = False
) -> TenantRecord:
    existing = await get_tenant_by_name(conn, name)
    if existing:
        return existing
    tid = new_id("ten", 8)
    await conn.execute(
        tenants.insert().values(
            id=tid, name=name, balance_micros=0, price_multiplier_ppm=1_000_000,
            unlimited=unlimited, created_at=now(),
        )
    )
    return TenantRecord(tid, name, 0, 1_000_000, unlimited)


async def create_key(
    conn: AsyncConnection, tenant: TenantRecord, name: str, **limits: Any
) -> tuple[str, str]:
    """Returns (key id, the secret key); the secret is never stored."""
    secret = generate_key()
    kid = new_id("key", 8)
    await conn.execute(
        api_keys.insert().values(
            id=kid, tenant_id=tenant.id, name=name, prefix=display_prefix(secret),
            key_hash=hash_key(secret), created_at=now(), spent_micros=0, **limits,
        )
    )
    return kid, secret


async def find_principal(conn: AsyncConnection, secret: str) -> Principal | None:
    query = (
        select(api_keys, tenants.c.name.label("tenant_name"))
        .join(tenants, tenants.c.id == api_keys.c.tenant_id)
        .where(api_keys.c.key_hash == hash_key(secret), api_keys.c.revoked_at.is_(None))
    )
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    if row.expires_at is not None and row.expires_at <= now():
        return None
    return Principal(
        key_id=row.id, key_name=row.name, tenant_id=row.tenant_id, tenant_name=row.tenant_name,
        allowed_models=tuple(row.allowed_models) if row.allowed_models else None,
        spend_cap_micros=row.spend_cap_micros, max_in_flight=row.max_in_flight,
        creates_per_minute=row.creates_per_minute, polls_per_minute=row.polls_per_minute,
        expires_at=row.expires_at,
    )


async def list_keys(conn: AsyncConnection) -> list[KeyRecord]:
    query = (
        select(api_keys, tenants.c.name.label("tenant_name"))
        .join(tenants, tenants.c.id == api_keys.c.tenant_id)
        .order_by(api_keys.c.created_at)
    )
    return [
        KeyRecord(r.id, r.tenant_id, r.tenant_name, r.name, r.prefix, r.created_at, r.revoked_at)
        for r in await conn.execute(query)
    ]


async def revoke_key(conn: AsyncConnection, key_ref: str) -> bool:
    """Revoke by id, name or displayed prefix; only when exactly one live key matches."""
    matches = (
        await conn.execute(
            select(api_keys.c.id).where(
                (api_keys.c.id == key_ref)
                | (api_keys.c.name == key_ref)
                | (api_keys.c.prefix == key_ref),
                api_keys.c.revoked_at.is_(None),
            )
        )
    ).all()
    if len(matches) != 1:
        return False
    await conn.execute(
        update(api_keys).where(api_keys.c.id == matches[0].id).values(revoked_at=now())
    )
    return True
