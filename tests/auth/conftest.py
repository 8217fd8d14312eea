"""A gateway with the real wiring on a fresh database (SQLite, or PostgreSQL on that pass)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from reelgate.bootstrap import Gateway
from tests.billing.support import settings_for
from tests.support.server import TEST_DATABASE, create_database


@pytest.fixture(scope="module")
async def gw(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    url = create_database() if TEST_DATABASE == "postgres" else None
    gateway = await Gateway.start(settings_for(tmp_path_factory.mktemp("db"), url))
    yield gateway
    await gateway.close()
