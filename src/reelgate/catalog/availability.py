"""Whether any enabled channel serves a model: listed as unavailable, refused at once.

Channels keep their own model maps (public name → upstream name); the catalog only
asks them. A model nobody serves stays in ``GET /v1/models`` marked unavailable, and a
create for it is refused before a job exists that could only fail later.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from reelgate.catalog.spec import ModelSpec, Refusal

__all__ = ["Availability", "ChannelSource", "ServesModels", "is_served", "unavailable"]


class ServesModels(Protocol):
    """What the catalog needs of a channel (``reelgate.routing.channels.Channel``)."""

    @property
    def enabled(self) -> bool: ...

    def upstream_model(self, model: str) -> str | None: ...


def is_served(model_id: str, channels: Iterable[ServesModels]) -> bool:
    return any(c.enabled and c.upstream_model(model_id) is not None for c in channels)


def unavailable(spec: ModelSpec) -> Refusal:
    return Refusal("model", "model_unavailable",
                   f"The model '{spec.id}' is not available right now: no enabled channel "
                   "serves it. Choose another model or ask the operator to enable one.",
                   f"{spec.id}.channels")


class ChannelSource(Protocol):
    """``ChannelDirectory.channels``: cached channels, or freshly read ones."""

    async def __call__(self, *, fresh: bool = False) -> Sequence[ServesModels]: ...


class Availability:
    """Answers from the channel cache; a "no" is confirmed on fresh rows before a create is
    refused, so a channel added a moment ago in another process is never missed."""

    def __init__(self, channels: ChannelSource) -> None:
        self.channels = channels

    async def served(self, model_ids: Iterable[str]) -> set[str]:
        found = await self.channels()
        return {m for m in model_ids if is_served(m, found)}

    async def refusal(self, spec: ModelSpec) -> Refusal | None:
        if is_served(spec.id, await self.channels()):
            return None
        if is_served(spec.id, await self.channels(fresh=True)):
            return None
        return unavailable(spec)

    async def admit(self, spec: ModelSpec) -> None:
        """Raise the refusal of a create for a model nobody serves."""
        refused = await self.refusal(spec)
        if refused is not None:
            raise refused.error()
