"""What the CLI commands share: settings, logging, and a gateway for one command."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from reelgate.bootstrap import Gateway
from reelgate.config import Settings

__all__ = ["run_with_gateway", "setup_logging"]

T = TypeVar("T")


def setup_logging(settings: Settings) -> None:
    if settings.log_json:
        from reelgate.logs import JsonFormatter

        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=logging.INFO, handlers=[handler])
    else:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_with_gateway(fn: Callable[[Gateway], Awaitable[T]]) -> T:
    """Open the gateway (migrating the database), run ``fn``, close it."""

    async def go() -> T:
        gw = await Gateway.start(Settings.from_env(local_channel="off"))
        try:
            return await fn(gw)
        finally:
            await gw.close()

    return asyncio.run(go())
