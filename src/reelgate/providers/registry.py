"""Which class speaks for a channel: ``channel.provider`` → provider factory.

The embedded ``local`` renderer lives in its own package and is imported only when a
local channel is created, so this module works (and the HTTP providers work) even
where that package is absent or still being written.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from reelgate.providers.base import BASIC_OPERATIONS, ChannelSpec, Operation, Provider
from reelgate.providers.comfyui import ComfyUIProvider
from reelgate.providers.dashscope import DashScopeProvider
from reelgate.providers.kling import KlingProvider
from reelgate.providers.luma import LumaProvider
from reelgate.providers.minimax import MiniMaxProvider
from reelgate.providers.openai import OpenAIProvider
from reelgate.providers.runway import RunwayProvider
from reelgate.providers.seedance import SeedanceProvider
from reelgate.providers.veo import VeoProvider
from reelgate.providers.vidu import ViduProvider

__all__ = ["PROVIDERS", "create_provider", "provider_names", "provider_operations"]

ProviderFactory = Callable[[ChannelSpec], Provider]


def _local(channel: ChannelSpec) -> Provider:
    """The embedded renderer registers here; imported lazily (see module docstring)."""
    module = importlib.import_module("reelgate.providers.local.provider")
    factory: ProviderFactory = module.LocalProvider
    return factory(channel)


PROVIDERS: Mapping[str, ProviderFactory] = {
    "openai": OpenAIProvider,
    "veo": VeoProvider,
    "seedance": SeedanceProvider,
    "kling": KlingProvider,
    "vidu": ViduProvider,
    "runway": RunwayProvider,
    "luma": LumaProvider,
    "minimax": MiniMaxProvider,
    "dashscope": DashScopeProvider,
    "local": _local,
    "comfyui": ComfyUIProvider,
}


def _provider_class(name: str) -> Any:
    if name == "local":
        return importlib.import_module("reelgate.providers.local.provider").LocalProvider
    return PROVIDERS.get(name)


def provider_operations(name: str, options: Mapping[str, Any]) -> frozenset[Operation]:
    """What a channel of provider ``name`` with ``options`` can do, without building
    it: the class's ``operations_for(options)`` or ``operations``; a provider that
    declares neither can do the basic operations, and remix if it says so."""
    cls = _provider_class(name)
    if cls is None:
        return frozenset()
    declared = getattr(cls, "operations_for", None)
    if callable(declared):
        found: frozenset[Operation] = declared(options)
        return found
    ops = getattr(cls, "operations", None)
    if isinstance(ops, frozenset):
        return ops
    return BASIC_OPERATIONS | ({Operation.REMIX} if getattr(cls, "supports_remix", False)
                               else frozenset())


def provider_names() -> list[str]:
    return sorted(PROVIDERS)


def create_provider(channel: ChannelSpec) -> Provider:
    """A new provider instance (with its own HTTP client) for ``channel``."""
    try:
        factory = PROVIDERS[channel.provider]
    except KeyError:
        known = ", ".join(provider_names())
        raise ValueError(
            f"channel {channel.name}: unknown provider {channel.provider!r} (known: {known})"
        ) from None
    return factory(channel)
