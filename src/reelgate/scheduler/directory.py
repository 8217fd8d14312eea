"""Channels, credentials and provider instances, as the worker and API need them.

Provider instances (each with its HTTP connection pool) are cached per channel and
rebuilt when the channel's endpoint (provider, base URL, options) changes. Credentials
are decrypted on demand by id, so a job always talks with the exact key that created
it, whatever happened to the channel or the key since.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from reelgate.config import Settings
from reelgate.providers.base import Credential, Provider
from reelgate.routing import channels as chrepo
from reelgate.routing.channels import Channel
from reelgate.routing.crypto import SecretBox
from reelgate.store.db import Database

__all__ = ["CHANNEL_TTL", "ChannelDirectory", "Pinned", "ProviderFactory"]

ProviderFactory = Callable[[Channel], Provider]
#: seconds a directory trusts the channel rows it read (a change made by another
#: process is seen after at most this long; one made through this process at once)
CHANNEL_TTL = 5.0
_LOCAL = Credential("", "")


@dataclass(frozen=True)
class Pinned:
    """The exact channel, provider and key a job talks through, resolved once per step."""

    channel: Channel
    provider: Provider
    credential: Credential


def local_options(settings: Settings) -> dict[str, Any]:
    return {
        "work_dir": str(settings.data_dir / "local"),
        "preset": settings.render_preset,
        "concurrency": settings.render_concurrency,
        "moderation_words": list(settings.moderation_words),
    }


class ChannelDirectory:
    def __init__(self, db: Database, box: SecretBox, settings: Settings,
                 factory: ProviderFactory | None = None, ttl: float = CHANNEL_TTL) -> None:
        self.db = db
        self.box = box
        self.settings = settings
        self.ttl = ttl
        self._factory = factory or _default_factory
        self._channels: list[Channel] = []
        self._loaded_at = float("-inf")
        self._reload: asyncio.Task[None] | None = None
        self._providers: dict[str, tuple[Channel, Provider]] = {}
        self._creds: dict[str, Credential] = {}
        self._retired: list[Provider] = []

    async def channels(self, *, fresh: bool = False) -> list[Channel]:
        """The channels as read at most ``ttl`` ago; ``fresh``: read after this call."""
        asked = time.monotonic()
        if not fresh and asked - self._loaded_at <= self.ttl:
            return self._channels
        await self._loaded_since(asked if fresh else asked - self.ttl)
        return self._channels

    async def _loaded_since(self, t: float) -> None:
        """Until the rows in hand were read at or after ``t``. Single flight: the many
        jobs and requests that find the rows stale together all await one read, and
        all wake when it ends. (Queued on a lock instead, each woke in a loop turn of
        its own, behind the others' work: 1-2.6 s for a create at 32 connections.)"""
        loop = asyncio.get_running_loop()
        while self._loaded_at < t:
            reload = self._reload
            if reload is None or reload.done() or reload.get_loop() is not loop:
                reload = self._reload = loop.create_task(self._read(), name="channels")
                # a failure reaches every waiter; with none left, it is still collected
                reload.add_done_callback(lambda t: t.cancelled() or t.exception())
            await asyncio.shield(reload)

    async def _read(self) -> None:
        started = time.monotonic()
        async with self.db.read() as conn:
            self._channels = await chrepo.list_channels(conn)
        self._loaded_at = started

    async def channel(self, channel_id: str) -> Channel | None:
        found = next((c for c in await self.channels() if c.id == channel_id), None)
        if found is None:
            found = next((c for c in await self.channels(fresh=True) if c.id == channel_id), None)
        return found

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")

    async def provider(self, channel: Channel) -> Provider:
        """The channel's provider, rebuilt only when what it talks to changed.

        Priority, weight, cooldowns or the model map do not rebuild it. A replaced
        instance is not closed at once, since other jobs may be streaming through it;
        it is closed with the directory.
        """
        cached = self._providers.get(channel.id)
        if cached is not None and cached[0].spec == channel.spec:
            return cached[1]
        if cached is not None:
            self._retired.append(cached[1])
        built = channel
        if channel.provider == "local":
            built = replace(channel, options={**local_options(self.settings), **channel.options})
        provider = self._factory(built)
        self._providers[channel.id] = (channel, provider)
        return provider

    async def pin(self, channel: Channel, credential_id: str | None) -> Pinned:
        """``channel`` with its provider and the key ``credential_id`` (LookupError if
        that key was deleted)."""
        return Pinned(channel, await self.provider(channel), await self.credential(credential_id))

    async def credential(self, credential_id: str | None) -> Credential:
        if not credential_id:
            return _LOCAL
        cred = self._creds.get(credential_id)
        if cred is None:
            async with self.db.read() as conn:
                cred = await chrepo.get_credential(conn, self.box, credential_id)
            if cred is None:
                raise LookupError(f"credential {credential_id} no longer exists")
            self._creds[credential_id] = cred
        return cred

    async def aclose(self) -> None:
        for provider in [*(p for _, p in self._providers.values()), *self._retired]:
            await provider.aclose()
        self._providers.clear()
        self._retired.clear()


def _default_factory(channel: Channel) -> Provider:
    from reelgate.providers.registry import create_provider

    return create_provider(channel.spec)
