"""API keys for the CLI, the admin UI and the API's authentication, in one place.

Each operation is one transaction. The rules every edge shares live here: a key goes
to an existing tenant (a new one only when asked, ``create_tenant``), its name is
unique among its tenant's live keys (also a unique index, against races), and a
revoke names exactly one live key or says why not. Revoking a key also empties this
process's cache of authenticated keys (after the commit, so no request can re-cache
it meanwhile); other processes stop accepting it within the cache's lifetime.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.auth import repository as repo
from reelgate.auth.cache import PrincipalCache
from reelgate.auth.principal import Principal
from reelgate.auth.records import KeyRecord, TenantRecord
from reelgate.errors import ConflictError, InvalidRequest, NotFound
from reelgate.store.db import Database

__all__ = ["KeyLimits", "KeyService", "NewKey"]


def _name_taken(name: str, tenant: str) -> ConflictError:
    return ConflictError(f"Tenant '{tenant}' already has an active key named '{name}'; "
                         "choose another name (or revoke that key first).", param="name",
                         code="key_name_taken")


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

    async def create(self, tenant: str, name: str, limits: KeyLimits | None = None, *,
                     create_tenant: bool = False) -> NewKey:
        """A key for ``tenant`` (name or id). An unknown tenant is ``tenant_not_found``
        (a typo must not make a new, postpaid tenant) unless ``create_tenant``, which
        creates it postpaid; a name a live key of the tenant has is ``key_name_taken``."""
        name = name.strip()
        if not 0 < len(name) <= 200:
            raise InvalidRequest("A key name must be 1 to 200 characters.", param="name",
                                 code="invalid_value")
        values = {k: v for k, v in asdict(limits or KeyLimits()).items() if v is not None}
        try:
            async with self.db.begin() as conn:
                record = await self._tenant(conn, tenant, create=create_tenant)
                if await repo.live_keys_matching(conn, name, tenant_id=record.id,
                                                 name_only=True):
                    raise _name_taken(name, record.name)
                key_id, secret = await repo.create_key(conn, record, name, **values)
        except IntegrityError as exc:  # another create of the same name won the race
            raise _name_taken(name, tenant) from exc
        return NewKey(key_id, secret)

    @staticmethod
    async def _tenant(conn: AsyncConnection, ref: str, *, create: bool) -> TenantRecord:
        found = await repo.find_tenant(conn, ref)
        if found is not None:
            return found
        if not create:
            raise NotFound(f"No tenant '{ref}': create it first, or ask for a new "
                           "(postpaid) tenant explicitly.", param="tenant",
                           code="tenant_not_found")
        return await repo.ensure_tenant(conn, ref, unlimited=True)

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

    async def revoke(self, ref: str, *, tenant: str | None = None) -> KeyRecord:
        """The one live key whose id, name or displayed prefix is ``ref`` (within
        ``tenant``, name or id, if given), revoked. None matching is ``key_not_found``;
        several (one name in two tenants) is ``ambiguous_key``, naming them."""
        async with self.db.begin() as conn:
            tenant_id = None
            if tenant is not None:
                tenant_id = (await self._tenant(conn, tenant, create=False)).id
            matches = await repo.live_keys_matching(conn, ref, tenant_id=tenant_id)
            if not matches:
                where = f" of tenant '{tenant}'" if tenant is not None else ""
                raise NotFound(f"No active key{where} has the id, name or prefix '{ref}'.",
                               param="key", code="key_not_found")
            if len(matches) > 1:
                listed = ", ".join(f"{k.id} (tenant {k.tenant_name})" for k in matches)
                raise ConflictError(f"'{ref}' matches {len(matches)} active keys: {listed}. "
                                    "Revoke by id, or name the tenant.", param="key",
                                    code="ambiguous_key")
            await repo.revoke_key(conn, matches[0].id)
        self.principals.clear()
        return matches[0]
