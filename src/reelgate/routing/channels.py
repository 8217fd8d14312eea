"""Channels and their credentials in the database.

A channel is one upstream endpoint (provider type, base URL, options, model map,
priority, weight, concurrency cap); it has one or more credentials. Jobs keep the
ids of the channel and credential that created them, so every follow-up call goes
to exactly that pair even after the channel is edited or disabled, and even after
the credential is removed from routing (removal only disables it: see
:func:`remove_credential`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.ids import new_id, now
from reelgate.providers.base import ChannelSpec, Credential
from reelgate.routing.crypto import SecretBox, mask
from reelgate.store.tables import channel_credentials, channels, jobs

__all__ = [
    "WILDCARD",
    "Channel",
    "CredentialInfo",
    "active_counts",
    "add_channel",
    "add_credential",
    "credential_in_use",
    "delete_credential",
    "get_channel",
    "get_credential",
    "list_channels",
    "list_credentials",
    "set_channel",
    "set_credential",
]

WILDCARD = "*"


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    provider: str
    base_url: str
    options: dict[str, Any]
    models: dict[str, str]
    priority: int
    weight: int
    max_concurrent: int
    requests_per_second: float | None
    enabled: bool
    cooldown_until: float
    #: credentials that take new jobs (enabled), oldest first
    credential_ids: tuple[str, ...] = field(default_factory=tuple)
    #: credential id -> unix time until which it is cooling down (after a 429 or a 401)
    key_cooldowns: dict[str, float] = field(default_factory=dict)

    @property
    def spec(self) -> ChannelSpec:
        return ChannelSpec(self.id, self.name, self.provider, self.base_url, dict(self.options))

    def upstream_model(self, model: str) -> str | None:
        """The upstream's name for a public model, or None if this channel lacks it."""
        if model in self.models:
            return self.models[model]
        if WILDCARD in self.models:
            return model
        return None


@dataclass(frozen=True)
class CredentialInfo:
    """A credential as an operator may see it: never the secret itself."""

    id: str
    channel_id: str
    label: str
    masked: str
    enabled: bool
    cooldown_until: float
    created_at: float


def _channel(row: Any, creds: list[Any]) -> Channel:
    return Channel(
        id=row.id, name=row.name, provider=row.provider, base_url=row.base_url,
        options=dict(row.options or {}), models=dict(row.models or {}), priority=row.priority,
        weight=row.weight, max_concurrent=row.max_concurrent,
        requests_per_second=row.requests_per_second, enabled=bool(row.enabled),
        cooldown_until=row.cooldown_until or 0.0,
        credential_ids=tuple(c.id for c in creds),
        key_cooldowns={c.id: c.cooldown_until for c in creds if c.cooldown_until},
    )


async def _enabled_credentials(
    conn: AsyncConnection, channel_ids: Iterable[str] | None = None
) -> dict[str, list[Any]]:
    query = (
        select(channel_credentials.c.id, channel_credentials.c.channel_id,
               channel_credentials.c.cooldown_until)
        .where(channel_credentials.c.enabled.is_(True))
        .order_by(channel_credentials.c.created_at, channel_credentials.c.id)
    )
    if channel_ids is not None:
        query = query.where(channel_credentials.c.channel_id.in_(list(channel_ids)))
    by_channel: dict[str, list[Any]] = {}
    for c in (await conn.execute(query)).all():
        by_channel.setdefault(c.channel_id, []).append(c)
    return by_channel


async def list_channels(conn: AsyncConnection, *, enabled_only: bool = False) -> list[Channel]:
    query = select(channels).order_by(channels.c.priority.desc(), channels.c.name)
    if enabled_only:
        query = query.where(channels.c.enabled.is_(True))
    rows = (await conn.execute(query)).all()
    creds = await _enabled_credentials(conn)
    return [_channel(r, creds.get(r.id, [])) for r in rows]


async def get_channel(conn: AsyncConnection, ref: str) -> Channel | None:
    """By id or name, enabled or not: follow-ups must reach disabled channels too."""
    row = (await conn.execute(
        select(channels).where((channels.c.id == ref) | (channels.c.name == ref))
    )).first()
    if row is None:
        return None
    creds = await _enabled_credentials(conn, [row.id])
    return _channel(row, creds.get(row.id, []))


async def get_credential(conn: AsyncConnection, box: SecretBox, cred_id: str) -> Credential | None:
    """Any credential by id, even a disabled one (its jobs still need it)."""
    row = (await conn.execute(
        select(channel_credentials).where(channel_credentials.c.id == cred_id)
    )).first()
    return Credential(row.id, box.decrypt(row.secret_encrypted)) if row else None


async def list_credentials(
    conn: AsyncConnection, box: SecretBox, channel_id: str
) -> list[CredentialInfo]:
    """Every credential of a channel, removed ones included, masked for display."""
    rows = (await conn.execute(
        select(channel_credentials).where(channel_credentials.c.channel_id == channel_id)
        .order_by(channel_credentials.c.created_at, channel_credentials.c.id)
    )).all()
    out = []
    for r in rows:
        try:
            masked = mask(box.decrypt(r.secret_encrypted))
        except ValueError:
            masked = "<undecryptable>"
        out.append(CredentialInfo(r.id, r.channel_id, r.label, masked, bool(r.enabled),
                                  r.cooldown_until or 0.0, r.created_at))
    return out


async def add_channel(
    conn: AsyncConnection, *, name: str, provider: str, base_url: str = "",
    options: dict[str, Any] | None = None, models: dict[str, str] | None = None,
    priority: int = 0, weight: int = 1, max_concurrent: int = 0,
    requests_per_second: float | None = None, enabled: bool = True,
) -> str:
    cid = new_id("ch", 8)
    t = now()
    await conn.execute(channels.insert().values(
        id=cid, name=name, provider=provider, base_url=base_url.rstrip("/"),
        options=options or {}, models=models or {WILDCARD: WILDCARD}, priority=priority,
        weight=weight, max_concurrent=max_concurrent, requests_per_second=requests_per_second,
        enabled=enabled, cooldown_until=0.0, created_at=t, updated_at=t,
    ))
    return cid


async def add_credential(
    conn: AsyncConnection, box: SecretBox, channel_id: str, secret: str, label: str = ""
) -> str:
    kid = new_id("cred", 8)
    await conn.execute(channel_credentials.insert().values(
        id=kid, channel_id=channel_id, label=label, secret_encrypted=box.encrypt(secret),
        enabled=True, cooldown_until=0.0, created_at=now(),
    ))
    return kid


async def set_channel(conn: AsyncConnection, channel_id: str, **values: Any) -> None:
    await conn.execute(
        update(channels).where(channels.c.id == channel_id).values(updated_at=now(), **values)
    )


async def set_credential(conn: AsyncConnection, cred_id: str, **values: Any) -> None:
    await conn.execute(
        update(channel_credentials).where(channel_credentials.c.id == cred_id).values(**values)
    )


async def delete_credential(conn: AsyncConnection, cred_id: str) -> bool:
    """Delete the row outright; only safe when no job refers to it (the caller checks)."""
    res = await conn.execute(
        delete(channel_credentials).where(channel_credentials.c.id == cred_id)
    )
    return res.rowcount == 1


async def active_counts(
    conn: AsyncConnection, channel_ids: Iterable[str], states: Iterable[str]
) -> dict[tuple[str, str], int]:
    """Jobs per (channel, credential) in ``states``: the load the router spreads."""
    ids = list(channel_ids)
    if not ids:
        return {}
    rows = (await conn.execute(
        select(jobs.c.channel_id, jobs.c.credential_id, func.count())
        .where(jobs.c.channel_id.in_(ids), jobs.c.state.in_(list(states)))
        .group_by(jobs.c.channel_id, jobs.c.credential_id)
    )).all()
    return {(r[0], r[1] or ""): int(r[2]) for r in rows}


async def credential_in_use(conn: AsyncConnection, cred_id: str) -> bool:
    """Whether any job (of any state) refers to the credential."""
    row = (await conn.execute(
        select(jobs.c.id).where(jobs.c.credential_id == cred_id).limit(1)
    )).first()
    return row is not None
