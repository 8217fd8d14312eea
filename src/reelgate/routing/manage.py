"""Managing channels: the one set of rules behind ``reelgate channels`` and the admin API.

Everything an operator can change is validated here (provider, base URL, options,
model map against the catalog), so the CLI and the HTTP handlers stay thin and can
never disagree. Secrets go in once and only ever come back masked.

The embedded ``local`` channel is a demo renderer, never a fallback for paying jobs:
adding or enabling a real channel retires it (disables it) unless an operator kept
it on purpose (``channels enable local``, or ``REELGATE_LOCAL_CHANNEL=on``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.catalog import Catalog
from reelgate.errors import ConflictError, InvalidRequest, NotFound
from reelgate.jobs.states import ACTIVE
from reelgate.net.policy import ALLOW_PRIVATE_OPTION
from reelgate.providers.base import Credential, Provider
from reelgate.providers.kling import KLING_MODELS
from reelgate.providers.openai import MODES
from reelgate.providers.registry import provider_names
from reelgate.routing import channels as repo
from reelgate.routing.channels import WILDCARD, Channel, CredentialInfo
from reelgate.routing.crypto import SecretBox
from reelgate.routing.probe import KeyCheck, check_channel
from reelgate.store.db import Database

__all__ = [
    "DEFAULT_MODELS",
    "LOCAL_CHANNEL",
    "ChannelChanges",
    "ChannelDraft",
    "ChannelService",
    "ChannelView",
    "add_key",
    "create_channel",
    "ensure_local_channel",
    "find_channel",
    "list_views",
    "remove_key",
    "set_enabled",
    "update_channel",
    "view",
]

log = logging.getLogger(__name__)

LOCAL_CHANNEL = "local"
KEEP = "keep"  # option on the local channel: an operator wants it next to real ones

#: public model -> upstream model, when ``channels add`` is given no ``--model``
DEFAULT_MODELS: Mapping[str, Mapping[str, str]] = {
    "openai": {"sora-2": "sora-2", "sora-2-pro": "sora-2-pro"},
    "veo": {"veo-3.1": "veo-3.1-generate-preview"},
    "seedance": {"seedance-1.0-pro": "seedance-1-0-pro-250528"},
    "kling": KLING_MODELS,
    "vidu": {m: m for m in ("viduq3-pro", "viduq3-turbo", "viduq2", "viduq1")},
    "runway": {"gen4.5": "gen4.5", "gen4_turbo": "gen4_turbo"},
    "luma": {"ray-2": "ray-2", "ray-flash-2": "ray-flash-2"},
    "minimax": {"minimax-hailuo-02": "MiniMax-Hailuo-02",
                "minimax-hailuo-2.3": "MiniMax-Hailuo-2.3", "minimax-h3": "MiniMax-H3"},
    "local": {WILDCARD: WILDCARD},
    "comfyui": {"wan-2.2-local": "wan-2.2-local"},
}

#: options each provider understands, with the type each must have
_OPTIONS: Mapping[str, Mapping[str, tuple[type, ...]]] = {
    "openai": {"mode": (str,), "api_version": (str,), "read_timeout": (int, float),
               "fps": (int,), "num_inference_steps": (int,)},  # fps, steps: mode omni
    "veo": {"read_timeout": (int, float)},
    "seedance": {"read_timeout": (int, float)},
    "kling": {"read_timeout": (int, float)},
    "vidu": {"read_timeout": (int, float)},
    "runway": {"api_version": (str,), "read_timeout": (int, float)},
    "luma": {"read_timeout": (int, float)},
    "minimax": {"read_timeout": (int, float)},
    "local": {KEEP: (bool,), "preset": (str,), "concurrency": (int,)},
    "comfyui": {"workflows": (dict,), "queue_limit": (int,), "websocket": (bool,),
                "read_timeout": (int, float)},
}


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


# --- validation ------------------------------------------------------------------------


def _bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="invalid_value")


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100 or not all(c.isalnum() or c in "-_." for c in name):
        raise _bad("A channel name is 1-100 letters, digits, '-', '_' or '.'.", "name")
    return name


def _check_provider(provider: str) -> str:
    if provider not in provider_names():
        raise _bad(f"Unknown provider {provider!r}; known: {', '.join(provider_names())}.",
                   "provider")
    return provider


def _check_base_url(provider: str, url: str) -> str:
    url = url.strip().rstrip("/")
    if provider == "local":
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad(f"base_url must be an http(s) URL, got {url!r}.", "base_url")
    if parts.query or parts.fragment:
        raise _bad("base_url must not carry a query or fragment.", "base_url")
    return url


def _check_options(provider: str, options: Mapping[str, Any]) -> dict[str, Any]:
    allowed = {**_OPTIONS.get(provider, {}), ALLOW_PRIVATE_OPTION: (bool,)}
    out: dict[str, Any] = {}
    for key, value in options.items():
        types = allowed.get(key)
        if types is None:
            known = ", ".join(sorted(allowed)) or "none"
            raise _bad(f"Unknown option {key!r} for provider {provider} (known: {known}).",
                       f"options.{key}")
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise _bad(f"Option {key!r} must be a {types[0].__name__}.", f"options.{key}")
        out[key] = value
    if provider == "openai" and out.get("mode", "openai") not in MODES:
        raise _bad(f"Option 'mode' must be one of {', '.join(sorted(MODES))}.", "options.mode")
    timeout = out.get("read_timeout")
    if timeout is not None and not 0 < float(timeout) <= 3600:
        raise _bad("Option 'read_timeout' must be between 0 and 3600 seconds.",
                   "options.read_timeout")
    return out


def _check_models(catalog: Catalog, models: Mapping[str, str]) -> dict[str, str]:
    if not models:
        raise _bad("A channel must serve at least one model.", "models")
    out: dict[str, str] = {}
    for public, upstream in models.items():
        if public != WILDCARD and catalog.get(public) is None:
            raise _bad(f"Unknown model {public!r}; the catalog has {', '.join(catalog.ids())}.",
                       "models")
        if not isinstance(upstream, str) or not upstream.strip():
            raise _bad(f"The upstream name for {public!r} must be a non-empty string.",
                       "models")
        out[public] = upstream.strip()
    return out


def _check_numbers(priority: int | None, weight: int | None, max_concurrent: int | None) -> None:
    if priority is not None and not -1000 <= priority <= 1000:
        raise _bad("priority must be between -1000 and 1000.", "priority")
    if weight is not None and not 1 <= weight <= 1000:
        raise _bad("weight must be between 1 and 1000.", "weight")
    if max_concurrent is not None and not 0 <= max_concurrent <= 100_000:
        raise _bad("max_concurrent must be between 0 (no cap) and 100000.", "max_concurrent")


def _check_secret(secret: str) -> str:
    secret = secret.strip()
    if not secret or len(secret) > 4096 or any(c.isspace() for c in secret):
        raise _bad("A key must be non-empty, without spaces or newlines.", "key")
    return secret


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
    name = _check_name(draft.name)
    provider = _check_provider(draft.provider)
    base_url = _check_base_url(provider, draft.base_url)
    options = _check_options(provider, draft.options)
    models = _check_models(catalog, draft.models or DEFAULT_MODELS.get(provider, {}))
    _check_numbers(draft.priority, draft.weight, draft.max_concurrent)
    keys = [_check_secret(k) for k in draft.keys]
    if provider != "local" and not keys:
        raise _bad(f"A {provider} channel needs at least one key.", "key")
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
        values["name"] = _check_name(changes.name)
        if await repo.get_channel(conn, values["name"]) is not None:
            raise ConflictError(f"A channel named {values['name']!r} already exists.",
                                param="name", code="channel_exists")
    if changes.base_url is not None:
        values["base_url"] = _check_base_url(channel.provider, changes.base_url)
    if changes.models is not None:
        values["models"] = _check_models(catalog, changes.models)
    if changes.options is not None:
        merged = {**channel.options, **changes.options}
        values["options"] = _check_options(
            channel.provider, {k: v for k, v in merged.items() if v is not None})
    _check_numbers(changes.priority, changes.weight, changes.max_concurrent)
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
        raise _bad("The local channel takes no keys.", "channel")
    existing = await repo.list_credentials(conn, box, channel.id)
    label = label.strip() or f"key{len(existing) + 1}"
    if any(k.label == label for k in existing):
        raise ConflictError(f"Channel {channel.name} already has a key labelled {label!r}.",
                            param="label", code="key_exists")
    kid = await repo.add_credential(conn, box, channel.id, _check_secret(secret), label)
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


# --- the embedded local channel -------------------------------------------------------


async def retire_local(conn: AsyncConnection) -> list[str]:
    """Disable local channels nobody kept on purpose, once a real channel is serving."""
    retired = []
    for ch in await repo.list_channels(conn):
        if ch.provider == "local" and ch.enabled and not ch.options.get(KEEP):
            await repo.set_channel(conn, ch.id, enabled=False)
            log.warning("channel %s (the embedded local renderer) no longer takes new jobs "
                        "now that a real channel exists; `reelgate channels enable %s` keeps "
                        "it on", ch.name, ch.name)
            retired.append(ch.name)
    return retired


async def ensure_local_channel(conn: AsyncConnection, mode: str) -> None:
    """Apply ``REELGATE_LOCAL_CHANNEL`` at start-up.

    ``auto``: create the local channel when no channel exists; retire it once a real
    one is enabled. ``on``: create or re-enable it and keep it next to real channels.
    ``off``: leave the table alone.
    """
    if mode == "off":
        return
    existing = await repo.list_channels(conn)
    local = next((c for c in existing if c.name == LOCAL_CHANNEL), None)
    if mode == "on":
        if local is None:
            await repo.add_channel(conn, name=LOCAL_CHANNEL, provider="local", priority=-100,
                                   options={KEEP: True})
        elif not local.enabled or not local.options.get(KEEP):
            await repo.set_channel(conn, local.id, enabled=True,
                                   options={**local.options, KEEP: True})
        return
    if not existing:
        await repo.add_channel(conn, name=LOCAL_CHANNEL, provider="local", priority=-100)
        log.info("created the embedded local channel")
    elif any(c.provider != "local" and c.enabled for c in existing):
        await retire_local(conn)


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
