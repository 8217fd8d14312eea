"""Managing channels: the one service behind ``reelgate channels`` and the admin API.

Every change is validated first (:mod:`reelgate.routing.rules`), so the CLI and the
HTTP handlers stay thin and can never disagree. Secrets go in once and only ever come
back masked. A real channel that starts serving retires the embedded local one
(:mod:`reelgate.routing.local_channel`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.catalog import Catalog
from reelgate.errors import ConflictError, NotFound
from reelgate.jobs.states import ACTIVE
from reelgate.providers.base import Credential, Provider
from reelgate.routing import channels as repo
from reelgate.routing.channels import Channel, CredentialInfo
from reelgate.routing.crypto import SecretBox
from reelgate.routing.local_channel import KEEP, retire_local
from reelgate.routing.probe import KeyCheck, check_channel
from reelgate.routing.rules import (
    DEFAULT_MODELS,
    check_base_url,
    check_models,
    check_name,
    check_numbers,
    check_options,
    check_provider,
    check_secret,
    invalid,
)
from reelgate.store.db import Database

__all__ = [
    "ChannelChanges",
    "ChannelDraft",
    "ChannelService",
    "ChannelView",
    "add_key",
    "create_channel",
    "find_channel",
    "list_views",
    "remove_key",
    "set_enabled",
    "update_channel",
    "view",
]


@dataclass(frozen=True)
class ChannelDraft:
    """A new channel as an operator describes it."""

    name: str
    provider: str
    base_url: str = ""
    keys: Sequence[str] = ()
    models: Mapping[str, str] | None = None
    priority: int = 0
    weight: int = 1
    max_concurrent: int = 0
    options: Mapping[str, Any] = field(default_factory=dict)
    enabled: bool = True


@dataclass(frozen=True)
class ChannelChanges:
    """A partial edit; ``None`` leaves a field alone. Option values of None remove them."""

    name: str | None = None
    base_url: str | None = None
    models: Mapping[str, str] | None = None
    priority: int | None = None
    weight: int | None = None
    max_concurrent: int | None = None
    options: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ChannelView:
    """What an operator sees of a channel: everything but the secrets."""

    channel: Channel
    keys: list[CredentialInfo]
    active_jobs: int

    def as_dict(self) -> dict[str, Any]:
        ch = self.channel
        return {
            "id": ch.id, "name": ch.name, "provider": ch.provider, "base_url": ch.base_url,
            "options": ch.options, "models": ch.models, "priority": ch.priority,
            "weight": ch.weight, "max_concurrent": ch.max_concurrent, "enabled": ch.enabled,
            "cooldown_until": ch.cooldown_until or None, "active_jobs": self.active_jobs,
            "keys": [{"id": k.id, "label": k.label, "key": k.masked, "enabled": k.enabled,
                      "cooldown_until": k.cooldown_until or None} for k in self.keys],
        }


# --- operations ---------------------------------------------------------------------------


async def find_channel(conn: AsyncConnection, ref: str) -> Channel:
    channel = await repo.get_channel(conn, ref)
    if channel is None:
        raise NotFound(f"No channel named or numbered {ref!r}.", param="channel",
                       code="channel_not_found")
    return channel


async def create_channel(
    conn: AsyncConnection, box: SecretBox, catalog: Catalog, draft: ChannelDraft
) -> Channel:
    name = check_name(draft.name)
    provider = check_provider(draft.provider)
    base_url = check_base_url(provider, draft.base_url)
    options = check_options(provider, draft.options)
    # the catalog's upstream names (operator-added models too), else the built-in map
    defaults = catalog.upstream_models(provider) or DEFAULT_MODELS.get(provider, {})
    models = check_models(catalog, draft.models or defaults)
    check_numbers(draft.priority, draft.weight, draft.max_concurrent)
    keys = [check_secret(k) for k in draft.keys]
    if provider != "local" and not keys:
        raise invalid(f"A {provider} channel needs at least one key.", "key")
    if await repo.get_channel(conn, name) is not None:
        raise ConflictError(f"A channel named {name!r} already exists.", param="name",
                            code="channel_exists")
    cid = await repo.add_channel(
        conn, name=name, provider=provider, base_url=base_url, options=options,
        models=models, priority=draft.priority, weight=draft.weight,
        max_concurrent=draft.max_concurrent, enabled=draft.enabled)
    for index, secret in enumerate(keys, start=1):
        await repo.add_credential(conn, box, cid, secret, label=f"key{index}")
    if provider != "local" and draft.enabled:
        await retire_local(conn)
    return await find_channel(conn, cid)


async def update_channel(
    conn: AsyncConnection, catalog: Catalog, ref: str, changes: ChannelChanges
) -> Channel:
    """Edit a channel. Running jobs keep using it (and their key) whatever changes."""
    channel = await find_channel(conn, ref)
    values: dict[str, Any] = {}
    if changes.name is not None and changes.name != channel.name:
        values["name"] = check_name(changes.name)
        if await repo.get_channel(conn, values["name"]) is not None:
            raise ConflictError(f"A channel named {values['name']!r} already exists.",
                                param="name", code="channel_exists")
    if changes.base_url is not None:
        values["base_url"] = check_base_url(channel.provider, changes.base_url)
    if changes.models is not None:
        values["models"] = check_models(catalog, changes.models)
    if changes.options is not None:
        merged = {**channel.options, **changes.options}
        values["options"] = check_options(
            channel.provider, {k: v for k, v in merged.items() if v is not None})
    check_numbers(changes.priority, changes.weight, changes.max_concurrent)
    for attr in ("priority", "weight", "max_concurrent"):
        if getattr(changes, attr) is not None:
            values[attr] = getattr(changes, attr)
    if values:
        await repo.set_channel(conn, channel.id, **values)
    return await find_channel(conn, channel.id)


async def set_enabled(conn: AsyncConnection, ref: str, enabled: bool) -> Channel:
    """Enable or disable new jobs on a channel; its running jobs finish either way.

    Enabling the local channel by hand marks it as kept, so adding real channels later
    does not retire it again; enabling a real channel retires an unkept local one.
    """
    channel = await find_channel(conn, ref)
    values: dict[str, Any] = {"enabled": enabled}
    if channel.provider == "local":
        values["options"] = {**channel.options, KEEP: enabled}
    elif enabled:
        await retire_local(conn)
    await repo.set_channel(conn, channel.id, **values)
    return await find_channel(conn, channel.id)


async def add_key(
    conn: AsyncConnection, box: SecretBox, ref: str, secret: str, label: str = ""
) -> CredentialInfo:
    channel = await find_channel(conn, ref)
    if channel.provider == "local":
        raise invalid("The local channel takes no keys.", "channel")
    existing = await repo.list_credentials(conn, box, channel.id)
    label = label.strip() or f"key{len(existing) + 1}"
    if any(k.label == label for k in existing):
        raise ConflictError(f"Channel {channel.name} already has a key labelled {label!r}.",
                            param="label", code="key_exists")
    kid = await repo.add_credential(conn, box, channel.id, check_secret(secret), label)
    return next(k for k in await repo.list_credentials(conn, box, channel.id) if k.id == kid)


async def remove_key(
    conn: AsyncConnection, box: SecretBox, ref: str, key_ref: str, *, purge: bool = False
) -> str:
    """Take a key out of routing. Returns ``"disabled"`` or ``"deleted"``.

    A key is only disabled, never forgotten, while any job refers to it: polls,
    downloads and remixes of those jobs must keep using exactly that key. ``purge``
    deletes the row when no job refers to it any more.
    """
    channel = await find_channel(conn, ref)
    keys = await repo.list_credentials(conn, box, channel.id)
    match = [k for k in keys if key_ref in (k.id, k.label)]
    if len(match) != 1:
        raise NotFound(f"Channel {channel.name} has no key with id or label {key_ref!r}.",
                       param="key", code="key_not_found")
    key = match[0]
    if purge and not await repo.credential_in_use(conn, key.id):
        await repo.delete_credential(conn, key.id)
        return "deleted"
    await repo.set_credential(conn, key.id, enabled=False)
    return "disabled"


async def view(conn: AsyncConnection, box: SecretBox, channel: Channel) -> ChannelView:
    counts = await repo.active_counts(conn, [channel.id], [s.value for s in ACTIVE])
    keys = await repo.list_credentials(conn, box, channel.id)
    return ChannelView(channel, keys, sum(counts.values()))


async def list_views(conn: AsyncConnection, box: SecretBox) -> list[ChannelView]:
    return [await view(conn, box, ch) for ch in await repo.list_channels(conn)]


# --- one object for the CLI and the admin API ----------------------------------------


class Directory(Protocol):
    """What the service needs of the scheduler's channel directory."""

    async def provider(self, channel: Channel) -> Provider: ...

    async def credential(self, credential_id: str | None) -> Credential: ...

    def invalidate(self) -> None: ...


class ChannelService:
    """Each operation in its own transaction; the directory forgets stale channels."""

    def __init__(self, db: Database, box: SecretBox, catalog: Catalog,
                 directory: Directory) -> None:
        self.db = db
        self.box = box
        self.catalog = catalog
        self.directory = directory

    async def views(self) -> list[ChannelView]:
        async with self.db.read() as conn:
            return await list_views(conn, self.box)

    async def view(self, ref: str) -> ChannelView:
        async with self.db.read() as conn:
            return await view(conn, self.box, await find_channel(conn, ref))

    async def create(self, draft: ChannelDraft) -> ChannelView:
        async with self.db.begin() as conn:
            channel = await create_channel(conn, self.box, self.catalog, draft)
            shown = await view(conn, self.box, channel)
        self.directory.invalidate()
        return shown

    async def update(self, ref: str, changes: ChannelChanges) -> ChannelView:
        async with self.db.begin() as conn:
            channel = await update_channel(conn, self.catalog, ref, changes)
            shown = await view(conn, self.box, channel)
        self.directory.invalidate()
        return shown

    async def set_enabled(self, ref: str, enabled: bool) -> ChannelView:
        async with self.db.begin() as conn:
            channel = await set_enabled(conn, ref, enabled)
            shown = await view(conn, self.box, channel)
        self.directory.invalidate()
        return shown

    async def add_key(self, ref: str, secret: str, label: str = "") -> CredentialInfo:
        async with self.db.begin() as conn:
            info = await add_key(conn, self.box, ref, secret, label)
        self.directory.invalidate()
        return info

    async def remove_key(self, ref: str, key_ref: str, *, purge: bool = False) -> str:
        async with self.db.begin() as conn:
            outcome = await remove_key(conn, self.box, ref, key_ref, purge=purge)
        self.directory.invalidate()
        return outcome

    async def test(self, ref: str) -> list[KeyCheck]:
        shown = await self.view(ref)
        provider = await self.directory.provider(shown.channel)
        return await check_channel(shown.channel, provider, shown.keys,
                                   self.directory.credential)
