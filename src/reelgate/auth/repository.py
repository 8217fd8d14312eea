"""Tenants and keys in the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select, update
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
    "find_tenant",
    "get_tenant_by_name",
    "list_keys",
    "list_live_keys",
    "live_keys_matching",
    "principal_by_key_id",
    "revoke_key",
]


def _tenant(row: Any) -> TenantRecord:
    return TenantRecord(row.id, row.name, row.balance_micros, row.price_multiplier_ppm,
                        bool(row.unlimited))


async def get_tenant_by_name(conn: AsyncConnection, name: str) -> TenantRecord | None:
    row = (await conn.execute(select(tenants).where(tenants.c.name == name))).first()
    return _tenant(row) if row else None


async def find_tenant(conn: AsyncConnection, ref: str) -> TenantRecord | None:
    """By id or name."""
    row = (await conn.execute(select(tenants).where(
        (tenants.c.id == ref) | (tenants.c.name == ref)))).first()
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


def _keys_with_tenant() -> Select[Any]:
    return (select(api_keys, tenants.c.name.label("tenant_name"))
            .join(tenants, tenants.c.id == api_keys.c.tenant_id))


def _principal(row: Any) -> Principal | None:
    """The caller a live key row stands for; None once the key has expired."""
    if row is None or (row.expires_at is not None and row.expires_at <= now()):
        return None
    return Principal(
        key_id=row.id, key_name=row.name, tenant_id=row.tenant_id, tenant_name=row.tenant_name,
        allowed_models=tuple(row.allowed_models) if row.allowed_models else None,
        spend_cap_micros=row.spend_cap_micros, max_in_flight=row.max_in_flight,
        creates_per_minute=row.creates_per_minute, polls_per_minute=row.polls_per_minute,
        expires_at=row.expires_at,
    )


def _key(row: Any) -> KeyRecord:
    return KeyRecord(row.id, row.tenant_id, row.tenant_name, row.name, row.prefix,
                     row.created_at, row.revoked_at)


async def find_principal(conn: AsyncConnection, secret: str) -> Principal | None:
    query = _keys_with_tenant().where(api_keys.c.key_hash == hash_key(secret),
                                      api_keys.c.revoked_at.is_(None))
    return _principal((await conn.execute(query)).first())


async def principal_by_key_id(conn: AsyncConnection, key_id: str) -> Principal | None:
    """Acting as a key without its secret (the admin playground); live keys only."""
    query = _keys_with_tenant().where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
    return _principal((await conn.execute(query)).first())


async def list_live_keys(conn: AsyncConnection) -> list[KeyRecord]:
    """Keys that authenticate right now (not revoked, not expired), by tenant and name."""
    t = now()
    query = (_keys_with_tenant().where(api_keys.c.revoked_at.is_(None))
             .order_by(tenants.c.name, api_keys.c.name))
    return [_key(r) for r in await conn.execute(query)
            if r.expires_at is None or r.expires_at > t]


async def list_keys(conn: AsyncConnection) -> list[KeyRecord]:
    query = _keys_with_tenant().order_by(api_keys.c.created_at)
    return [_key(r) for r in await conn.execute(query)]


async def live_keys_matching(conn: AsyncConnection, key_ref: str, *,
                             tenant_id: str | None = None,
                             name_only: bool = False) -> list[KeyRecord]:
    """Live (not revoked) keys whose id, name or displayed prefix is ``key_ref``."""
    match = (api_keys.c.name == key_ref) if name_only else (
        (api_keys.c.id == key_ref) | (api_keys.c.name == key_ref)
        | (api_keys.c.prefix == key_ref))
    query = _keys_with_tenant().where(match, api_keys.c.revoked_at.is_(None))
    if tenant_id is not None:
        query = query.where(api_keys.c.tenant_id == tenant_id)
    return [_key(r) for r in await conn.execute(query.order_by(api_keys.c.created_at))]


async def revoke_key(conn: AsyncConnection, key_id: str) -> bool:
    """Revoke one key by id; False if it was revoked already (or never existed)."""
    done = await conn.execute(update(api_keys).where(
        api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)).values(revoked_at=now()))
    return bool(done.rowcount)
