"""Run one fake upstream until Ctrl-C: ``python -m tests.fakes relay --port 8801``.

Prints the ``base_url`` to configure on a channel; faults and logs are then reachable
over HTTP on the same port (``/_faults``, ``/_requests``, ``/_violations``, ...).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from .core import FakeUpstream
from .dashscope_fake import DashScopeFake
from .kling_fake import KlingFake
from .luma_fake import LumaFake
from .minimax_fake import MiniMaxFake
from .openai_fake import OpenAIFake
from .runway_fake import RunwayFake
from .seedance_fake import SeedanceFake
from .server import FakeServer
from .veo_fake import VeoFake
from .vidu_fake import ViduFake


def _make_fake(kind: str, keys: list[str], complete_after: float) -> FakeUpstream:
    options: dict[str, Any] = {"keys": keys, "complete_after": complete_after}
    if kind in ("openai", "azure", "relay"):
        return OpenAIFake(kind, **options)
    factory: type[FakeUpstream] = {"veo": VeoFake, "seedance": SeedanceFake,
                                   "kling": KlingFake, "vidu": ViduFake,
                                   "runway": RunwayFake, "luma": LumaFake,
                                   "minimax": MiniMaxFake, "dashscope": DashScopeFake}[kind]
    return factory(**options)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a fake video upstream on loopback.")
    parser.add_argument("kind", choices=["openai", "azure", "relay", "veo", "seedance", "kling",
                                         "vidu", "runway", "luma", "minimax",
                                         "dashscope"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--key", action="append", default=None, help="accepted key (repeat)")
    parser.add_argument("--complete-after", type=float, default=5.0)
    args = parser.parse_args(argv)
    fake = _make_fake(args.kind, args.key or ["sk-test-1"], args.complete_after)
    with FakeServer(fake, port=args.port) as server:
        print(f"{args.kind} fake; channel base_url = {fake.base_url(server.url)}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
