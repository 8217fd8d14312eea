"""How many SQL statements a create costs, end to end, on a real database.

A create is the path every job starts with: the API's transaction (job row,
reservation, outbox), then the worker's claim, route, submit and accept. Each
statement costs CPU on the event loop, so the count is held down here: no
``webhook_endpoints`` lookup while no endpoint is configured, no re-read of the job
after its INSERT, and the idle webhook dispatcher takes no write lock. Counts, not
times: these fail when a statement comes back, whatever the machine.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from reelgate.auth import repository as auth_repo
from reelgate.auth.principal import Principal
from reelgate.bootstrap import Gateway
from reelgate.config import Settings
from reelgate.jobs.requests import parse_create
from reelgate.jobs.states import State
from reelgate.routing.manage import ChannelDraft
from reelgate.store.db import Database
from tests.fakes import FakeServer, OpenAIFake
from tests.support.server import database_env
from tests.support.statements import StatementLog

UPSTREAM_KEY = "sk-upstream-count"
#: what caches re-read on their own clock (the catalog's revision every 2 s, the
#: channel directory when its entries age out): not part of a create, and on a slow
#: machine it lands inside the window
BACKGROUND = ("catalog_revision", "catalog_models")
RELOADS = ("SELECT channels.", "SELECT channel_credentials.")


@dataclass
class Statements:
    """Every statement either engine sent, in order, and each COMMIT (a write
    transaction; reads end with a rollback, or in autocommit on SQLite), less what
    caches re-read on their own clock."""

    seen: list[str] = field(default_factory=list)

    def attach(self, db: Database) -> None:
        StatementLog(self._statement).attach(db)

    def _statement(self, flat: str) -> None:
        if (flat.upper() == "BEGIN IMMEDIATE" or any(b in flat for b in BACKGROUND)
                or flat.startswith(RELOADS)):
            return
        self.seen.append(flat)

    def take(self) -> list[str]:
        out, self.seen = self.seen, []
        return out


def _sql(statements: list[str]) -> list[str]:
    return [s for s in statements if s != "COMMIT"]


@pytest.fixture()
def upstream() -> Iterator[tuple[OpenAIFake, str]]:
    fake = OpenAIFake("openai", keys={UPSTREAM_KEY}, complete_after=10**9)
    with FakeServer(fake) as server:
        yield fake, fake.base_url(server.url)


@pytest.fixture()
async def gw(tmp_path: Path, upstream: tuple[OpenAIFake, str]) -> AsyncIterator[Gateway]:
    url = database_env().get("REELGATE_DATABASE_URL",
                             f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    settings = Settings.from_env(data_dir=tmp_path, database_url=url, local_channel="off",
                                 storage_url=str(tmp_path / "media"), run_worker=False)
    gateway = await Gateway.start(settings)
    try:
        await gateway.channels.create(ChannelDraft("up", "openai", base_url=upstream[1],
                                                   keys=[UPSTREAM_KEY]))
        yield gateway
    finally:
        await gateway.close()


async def _principal(gw: Gateway) -> Principal:
    secret = await gw.bootstrap_key()
    assert secret is not None
    async with gw.db.read() as conn:
        found = await auth_repo.find_principal(conn, secret)
    assert found is not None
    return found


async def test_a_create_and_its_submit_count_their_statements(
        gw: Gateway, upstream: tuple[OpenAIFake, str]) -> None:
    principal = await _principal(gw)
    params = parse_create({"prompt": "counted", "model": "sora-2"}, None, gw.catalog,
                          max_prompt_chars=1000)
    await gw.videos.create(principal, params)  # warm caches (channels, prices)
    await gw.worker.run_until_idle()
    counter = Statements()
    counter.attach(gw.db)

    job = await gw.videos.create(principal, params)
    created = counter.take()
    assert job.state == State.QUEUED and job.price_micros > 0
    assert created.count("COMMIT") == 1, created

    assert not [s for s in created if s.startswith("SELECT") and "webhook_endpoints" in s]
    assert len([s for s in created if "webhook_endpoints" in s]) <= 1, created
    inserts = [s for s in created if s.startswith("INSERT INTO jobs")]
    assert len(inserts) == 1 and "RETURNING" in inserts[0], created
    assert not [s for s in created if s.startswith("SELECT") and "FROM jobs" in s], created
    assert len([s for s in created if s.startswith("INSERT INTO job_events")]) == 1, created
    assert len(_sql(created)) <= 7, created

    assert await gw.worker.tick() == 1  # the claim; then route, submit, accept
    while gw.worker._inflight:
        await asyncio.wait(set(gw.worker._inflight), timeout=30)
    submitted = counter.take()
    assert upstream[0].jobs, "the upstream never got the job"
    async with gw.db.read() as conn:
        from reelgate.jobs import repository as repo
        after = await repo.get(conn, job.id)
    assert after is not None and after.state == State.IN_PROGRESS
    assert not [s for s in submitted if s.startswith("SELECT") and "webhook_endpoints" in s]
    # claim, route, accept: one write transaction each
    assert submitted.count("COMMIT") <= 3, submitted
    # claim; route + event + outbox; accept + event + outbox (one key and no cap: the
    # channel's load is not counted, it decides nothing)
    assert not [s for s in submitted if "count(" in s], submitted
    assert len(_sql(submitted)) <= 7, submitted


async def test_with_an_endpoint_the_outbox_still_fills_in_the_same_transaction(
        gw: Gateway) -> None:
    principal = await _principal(gw)
    await gw.webhooks.register(tenant="default", url="http://127.0.0.1:9/hook",
                               allow_private=True)
    params = parse_create({"prompt": "with a hook", "model": "sora-2"}, None, gw.catalog,
                          max_prompt_chars=1000)
    counter = Statements()
    counter.attach(gw.db)
    await gw.videos.create(principal, params)
    created = counter.take()
    assert created.count("COMMIT") == 1, created
    assert [s for s in created if s.startswith("INSERT INTO webhook_deliveries")], created


async def test_an_idle_dispatcher_takes_no_write_lock(gw: Gateway) -> None:
    counter = Statements()
    counter.attach(gw.db)
    for _ in range(5):
        assert await gw.dispatcher.tick() == 0
    idle = counter.take()
    assert "COMMIT" not in idle, idle
    assert not [s for s in idle if s.startswith(("UPDATE", "INSERT", "DELETE"))], idle


async def test_an_idle_worker_reads_before_it_claims(gw: Gateway) -> None:
    assert await gw.worker.tick() == 0  # nothing due (and the first housekeeping ran)
    counter = Statements()
    counter.attach(gw.db)
    for _ in range(5):
        assert await gw.worker.tick() == 0
    idle = counter.take()
    assert idle and "COMMIT" not in idle, idle
    assert not [s for s in idle if s.startswith(("UPDATE", "INSERT", "DELETE", "WITH"))], idle
