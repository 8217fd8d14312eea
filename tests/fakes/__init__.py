"""Fake video upstreams (real HTTP servers on loopback) for tests and demos.

Typical use::

    from tests.fakes import FakeServer, OpenAIFake

    fake = OpenAIFake("relay", keys={"sk-a", "sk-b"}, complete_after=0.5)
    with FakeServer(fake) as server:
        channel = ChannelSpec(..., base_url=fake.base_url(server.url))
        fake.rate_limit_next(retry_after=3, method="POST")
        ...
        assert fake.wrong_key == []
"""

from __future__ import annotations

from .core import DroppedConnection, FakeJob, FakeUpstream, Fault, RecordedRequest, Violation
from .dashscope_fake import DashScopeFake
from .kling_fake import KlingFake
from .luma_fake import LumaFake
from .minimax_fake import MiniMaxFake
from .openai_fake import OpenAIFake
from .runway_fake import RunwayFake
from .seedance_fake import SeedanceFake
from .server import FakeServer, serve
from .veo_fake import VeoFake
from .vidu_fake import ViduFake

__all__ = [
    "DashScopeFake",
    "DroppedConnection",
    "FakeJob",
    "FakeServer",
    "FakeUpstream",
    "Fault",
    "KlingFake",
    "LumaFake",
    "MiniMaxFake",
    "OpenAIFake",
    "RecordedRequest",
    "RunwayFake",
    "SeedanceFake",
    "VeoFake",
    "ViduFake",
    "Violation",
    "serve",
]
