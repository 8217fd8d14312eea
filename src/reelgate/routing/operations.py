"""Which channels can do an operation (edit, extend, characters, remix), asked before a job
exists, so a request no channel can carry out is a 400 at once, never a charge.

The catalog says what a *model* offers; the provider behind a channel says what that
upstream *can do* (:func:`reelgate.providers.registry.provider_operations`). A job
pinned to a channel (a remix, an edit or extension by id, a create naming a character)
needs that channel to be able to; one routed like a create needs some enabled channel
serving its model that can, and the worker then only routes it among those.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from reelgate.catalog.spec import ModelSpec, Operation
from reelgate.errors import InvalidRequest
from reelgate.providers.registry import provider_operations
from reelgate.routing.channels import Channel

__all__ = ["UNSUPPORTED_BY_CHANNEL", "OperationGate", "able", "channel_operations"]

#: the error code of an operation the channel that would run it cannot do
UNSUPPORTED_BY_CHANNEL = "unsupported_by_channel"

_WHAT = {Operation.REMIX: "remix", Operation.EDIT: "edit videos",
         Operation.EXTEND: "extend videos", Operation.CHARACTERS: "use characters",
         Operation.IMAGE_REFERENCE: "start from an image", Operation.CREATE: "create videos"}


def channel_operations(channel: Channel) -> frozenset[Operation]:
    return provider_operations(channel.provider, channel.options)


def able(needs: Iterable[Operation]) -> Callable[[Channel], bool]:
    """A channel filter: the channel's provider can do every one of ``needs``."""
    wanted = frozenset(needs)
    return lambda channel: wanted <= channel_operations(channel)


class Channels(Protocol):
    """``ChannelDirectory.channels``: cached channels, or freshly read ones."""

    async def __call__(self, *, fresh: bool = False) -> list[Channel]: ...


class OperationGate:
    """Answers from the channel cache, confirmed on fresh rows before refusing (a channel
    added a moment ago in another process is not missed)."""

    def __init__(self, channels: Channels) -> None:
        self.channels = channels

    async def _able(self, model: str | None, op: Operation) -> list[Channel]:
        for fresh in (False, True):
            found = [c for c in await self.channels(fresh=fresh)
                     if c.enabled and (model is None or c.upstream_model(model) is not None)
                     and op in channel_operations(c)]
            if found:
                return found
        return []

    async def served_operations(self, specs: Sequence[ModelSpec]) -> dict[str, list[str]]:
        """Per model: the catalog's operations some enabled channel serving it can do."""
        found = [c for c in await self.channels() if c.enabled]
        out: dict[str, list[str]] = {}
        for spec in specs:
            can: set[Operation] = set()
            for c in found:
                if c.upstream_model(spec.id) is not None:
                    can |= channel_operations(c)
            out[spec.id] = [op.value for op in Operation if op in spec.operations and op in can]
        return out

    async def admit(self, spec: ModelSpec | None, op: Operation, *, param: str) -> None:
        """Raise unless an enabled channel (serving ``spec``, if given) can do ``op``."""
        if await self._able(spec.id if spec else None, op):
            return
        served = f" that serves {spec.id}" if spec else ""
        raise InvalidRequest(f"No channel{served} can {_WHAT[op]} on this gateway.",
                             param=param, code=UNSUPPORTED_BY_CHANNEL)

    async def admit_pinned(self, channel_id: str | None, op: Operation, *, param: str,
                           what: str, model: str | None = None) -> Channel:
        """Raise unless the channel ``channel_id`` (a source's, a character's) can do
        ``op`` (and serves ``model``, when given); returns it."""
        channel = None
        for fresh in (False, True):
            channel = next((c for c in await self.channels(fresh=fresh)
                            if c.id == channel_id), None)
            if channel is not None:
                break
        if channel is None:
            raise InvalidRequest(f"The channel that made {what} no longer exists, so it "
                                 f"cannot {_WHAT[op]}.", param=param, code=UNSUPPORTED_BY_CHANNEL)
        if op not in channel_operations(channel):
            raise InvalidRequest(f"The channel that made {what} ({channel.provider}) cannot "
                                 f"{_WHAT[op]}.", param=param, code=UNSUPPORTED_BY_CHANNEL)
        if model is not None and channel.upstream_model(model) is None:
            raise InvalidRequest(f"The channel that made {what} does not serve {model}.",
                                 param=param, code=UNSUPPORTED_BY_CHANNEL)
        return channel
