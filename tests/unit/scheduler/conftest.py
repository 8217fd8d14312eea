from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.unit.jobs.support import open_database
from tests.unit.scheduler.support import Rig


@pytest.fixture()
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async for db in open_database(tmp_path):
        rig = Rig(db, tmp_path)
        yield rig
        await rig.directory.aclose()
