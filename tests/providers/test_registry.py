"""The registry maps channel.provider to classes and keeps the local provider lazy."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelgate.providers import registry
from reelgate.providers.base import ChannelSpec, Provider
from reelgate.providers.dashscope import DashScopeProvider
from reelgate.providers.kling import KlingProvider
from reelgate.providers.luma import LumaProvider
from reelgate.providers.minimax import MiniMaxProvider
from reelgate.providers.openai import OpenAIProvider
from reelgate.providers.runway import RunwayProvider
from reelgate.providers.seedance import SeedanceProvider
from reelgate.providers.veo import VeoProvider
from reelgate.providers.vidu import ViduProvider


@pytest.mark.parametrize(
    ("name", "cls"),
    [("openai", OpenAIProvider), ("veo", VeoProvider), ("seedance", SeedanceProvider),
     ("kling", KlingProvider), ("vidu", ViduProvider), ("runway", RunwayProvider),
     ("luma", LumaProvider),
     ("minimax", MiniMaxProvider), ("dashscope", DashScopeProvider)],
)
async def test_http_providers(name: str, cls: type) -> None:
    provider = registry.create_provider(ChannelSpec("c", "c", name, "http://127.0.0.1:9/v1"))
    try:
        assert isinstance(provider, cls) and isinstance(provider, Provider)
        assert provider.name == name
    finally:
        await provider.aclose()


def test_unknown_provider() -> None:
    with pytest.raises(ValueError, match="unknown provider 'sora-cloud'"):
        registry.create_provider(ChannelSpec("c", "c", "sora-cloud", "http://x"))


def test_local_is_registered_lazily() -> None:
    assert "local" in registry.provider_names()
    assert registry.PROVIDERS["local"].__module__ == registry.__name__


async def test_local_provider_through_the_registry(tmp_path: Path) -> None:
    pytest.importorskip("reelgate.providers.local.provider")
    channel = ChannelSpec("c", "local", "local", "", {"work_dir": str(tmp_path)})
    provider = registry.create_provider(channel)
    try:
        assert isinstance(provider, Provider) and provider.name == "local"
    finally:
        await provider.aclose()
