"""API keys for the CLI, the admin UI and the API's authentication, in one place.

Each operation is one transaction. Revoking a key also empties this process's cache
of authenticated keys (after the commit, so no request can re-cache it meanwhile);
other processes stop accepting it within the cache's lifetime.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from reelgate.auth import repository as repo
from reelgate.auth.cache import PrincipalCache
from reelgate.auth.principal import Principal
from reelgate.auth.records import KeyRecord
from reelgate.store.db import Database

__all__ = ["KeyLimits", "KeyService", "NewKey"]


@dataclass(frozen=True)
class KeyLimits:
    """What a key may do; None everywhere is a key without limits."""

    allowed_models: list[str] | None = None
    spend_cap_micros: int | None = None
    max_in_flight: int | None = None
    creates_per_minute: int | None = None
    polls_per_minute: int | None = None
    #: unix seconds
    expires_at: float | None = None


@dataclass(frozen=True)
class NewKey:
    id: str
    #: shown once, never stored
    secret: str


class KeyService:
    def __init__(self, db: Database, principals: PrincipalCache) -> None:
        self.db = db
        self.principals = principals

    async def authenticate(self, secret: str) -> Principal | None:
        """The caller behind a bearer key; the cache spares a look-up per request."""
        found = self.principals.get(secret)
        if found is None:
            async with self.db.read() as conn:
                found = await repo.find_principal(conn, secret)
            if found is not None:
                self.principals.put(secret, found)
        return found

    async def create(self, tenant: str, name: str, limits: KeyLimits | None = None) -> NewKey:
        """A key for ``tenant``, which is created (postpaid) if it does not exist yet."""
        values = {k: v for k, v in asdict(limits or KeyLimits()).items() if v is not None}
        async with self.db.begin() as conn:
            record = await repo.ensure_tenant(conn, tenant, unlimited=True)
            key_id, secret = await repo.create_key(conn, record, name, **values)
        return NewKey(key_id, secret)

    async def create_first(self, tenant: str, name: str) -> NewKey | None:
        """A key only if none exists at all, so a fresh install is usable at once.

        Serialised across processes: N started together create exactly one.
        """
        async with self.db.begin() as conn:
            await self.db.exclusive(conn, "bootstrap")
            if await repo.list_keys(conn):
                return None
            record = await repo.ensure_tenant(conn, tenant, unlimited=True)
            key_id, secret = await repo.create_key(conn, record, name)
        return NewKey(key_id, secret)

    async def list_all(self) -> list[KeyRecord]:
        async with self.db.read() as conn:
            return await repo.list_keys(conn)

    async def live(self) -> list[KeyRecord]:
        """Keys that work right now, for choosing one to act as."""
        async with self.db.read() as conn:
            return await repo.list_live_keys(conn)

    async def act_as(self, key_id: str) -> Principal | None:
        """The principal of a live key, without its secret (the admin playground)."""
        async with self.db.read() as conn:
            return await repo.principal_by_key_id(conn, key_id)

    async def revoke(self, ref: str) -> bool:
        """By id, name or displayed prefix; False unless exactly one live key matches."""
        async with self.db.begin() as conn:
            revoked = await repo.revoke_key(conn, ref)
        if revoked:
            self.principals.clear()
        return revoked
