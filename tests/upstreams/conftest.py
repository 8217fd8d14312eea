"""One live gateway with no local channel, and every fake upstream, for this package.

Each test starts from a clean slate: every channel disabled, every fake reset; and
ends by cancelling the jobs it left running and checking that no fake saw a job
touched with a key other than the one that created it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.support.server import TEST_DATABASE, GatewayProcess
from tests.upstreams.support import (
    ADMIN_TOKEN,
    KINDS,
    Admin,
    Upstream,
    create_key,
    start_upstream,
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the PostgreSQL pass, run the provider x failure matrix for OpenAI only.

    The matrix tests wire protocols, which do not depend on the database; the
    database-facing paths (routing, channels, keys, cooldowns, pinning) are the same
    for every provider and all run on both databases. This halves the second pass.
    """
    if TEST_DATABASE != "postgres":
        return
    here = Path(__file__).parent
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        kind = callspec.params.get("kind") if callspec is not None else None
        mine = here in item.path.parents
        (dropped if mine and kind not in (None, "openai") else keep).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(scope="package")
def upstreams() -> Iterator[dict[str, Upstream]]:
    running = {kind: start_upstream(kind) for kind in KINDS}
    yield running
    for up in running.values():
        up.server.stop()


@pytest.fixture(scope="package")
def upstream_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    gw = GatewayProcess(tmp_path_factory.mktemp("upstream-gateway"), env={
        "REELGATE_LOCAL_CHANNEL": "off",
        "REELGATE_ADMIN_TOKEN": ADMIN_TOKEN,
        "REELGATE_POLL_MIN_SECONDS": "0.2",
        "REELGATE_POLL_MAX_SECONDS": "0.5",
    })
    gw.start()
    yield gw
    gw.stop()


@pytest.fixture(scope="package")
def admin(upstream_gateway: GatewayProcess) -> Iterator[Admin]:
    api = Admin(upstream_gateway.root_url)
    yield api
    api.close()


@pytest.fixture(scope="package")
def sdk(upstream_gateway: GatewayProcess) -> openai.OpenAI:
    key = create_key(upstream_gateway, "upstream-tests", tenant="upstream-tests")
    return openai.OpenAI(api_key=key, base_url=upstream_gateway.base_url, max_retries=0)


@pytest.fixture(autouse=True)
def clean_slate(upstreams: dict[str, Upstream], admin: Admin,
                sdk: openai.OpenAI) -> Iterator[None]:
    admin.disable_all()
    for up in upstreams.values():
        up.restore()
    yield
    for video in sdk.videos.list(limit=100).data:
        if video.status in ("queued", "in_progress"):
            sdk.videos.delete(video.id)
    for up in upstreams.values():
        assert up.fake.wrong_key == [], (up.kind, up.fake.wrong_key)
