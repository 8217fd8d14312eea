"""Fixtures for billing tests: a real database with the real wiring, and a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from reelgate.bootstrap import Gateway
from tests.billing.support import redis_server, settings_for
from tests.support.server import TEST_DATABASE, create_database


@pytest.fixture(scope="module")
async def gw(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    """Gateway.start with the same hooks and pricer as `serve`, on a fresh database:
    SQLite in a temp dir, or a new PostgreSQL database on the PostgreSQL pass."""
    url = create_database() if TEST_DATABASE == "postgres" else None
    gateway = await Gateway.start(settings_for(tmp_path_factory.mktemp("billing-db"), url))
    yield gateway
    await gateway.close()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url
