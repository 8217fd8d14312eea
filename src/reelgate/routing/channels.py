"""Channels and their credentials in the database.

A channel is one upstream endpoint (provider type, base URL, options, model map,
priority, weight, concurrency cap); it has one or more credentials. Jobs keep the
ids of the channel and credential that created them, so every follow-up call goes
to exactly that pair even after the channel is edited or disabled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.ids import new_id, now
from reelgate.providers.base import ChannelSpec, Credential
from reelgate.routing.crypto import SecretBox
from reelgate.store.tables import channel_credentials, channels

__all__ = [
    "WILDCARD",
    "Channel",
    "add_channel",
    "add_credential",
    "get_channel",
    "get_credential",
    "list_channels",
    "set_channel",
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
    credential_ids: tuple[str, ...] = field(default_factory=tuple)

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


def _channel(row: Any, cred_ids: tuple[str, ...]) -> Channel:
    return Channel(
        id=row.id, name=row.name, provider=row.provider, base_url=row.base_url,
        options=dict(row.options or {}), models=dict(row.models or {}), priority=row.priority,
        weight=row.weight, max_concurrent=row.max_concurrent,
        requests_per_second=row.requests_per_second, enabled=bool(row.enabled),
        cooldown_until=row.cooldown_until or 0.0, credential_ids=cred_ids,
    )


async def list_channels(conn: AsyncConnection, *, enabled_only: bool = False) -> list[Channel]:
    query = select(channels).order_by(channels.c.priority.desc(), channels.c.name)
    if enabled_only:
        query = query.where(channels.c.enabled.is_(True))
    rows = (await conn.execute(query)).all()
    creds = (await conn.execute(
        select(channel_credentials.c.id, channel_credentials.c.channel_id)
        .where(channel_credentials.c.enabled.is_(True))
        .order_by(channel_credentials.c.created_at, channel_credentials.c.id)
    )).all()
    by_channel: dict[str, list[str]] = {}
    for c in creds:
        by_channel.setdefault(c.channel_id, []).append(c.id)
    return [_channel(r, tuple(by_channel.get(r.id, ()))) for r in rows]


async def get_channel(conn: AsyncConnection, ref: str) -> Channel | None:
    """By id or name, enabled or not: follow-ups must reach disabled channels too."""
    row = (await conn.execute(
        select(channels).where((channels.c.id == ref) | (channels.c.name == ref))
    )).first()
    if row is None:
        return None
    creds = (await conn.execute(
        select(channel_credentials.c.id).where(channel_credentials.c.channel_id == row.id,
                                               channel_credentials.c.enabled.is_(True))
        .order_by(channel_credentials.c.created_at, channel_credentials.c.id)
    )).all()
    return _channel(row, tuple(c.id for c in creds))


async def get_credential(conn: AsyncConnection, box: SecretBox, cred_id: str) -> Credential | None:
    """Any credential by id, even a disabled one (its jobs still need it)."""
    row = (await conn.execute(
        select(channel_credentials).where(channel_credentials.c.id == cred_id)
    )).first()
    return Credential(row.id, box.decrypt(row.secret_encrypted)) if row else None


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
