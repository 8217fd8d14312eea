"""Lease claims and renewals on a real database (SQLite, or PostgreSQL when the run
uses it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import update

from reelgate.auth import repository as auth_repo
from reelgate.config import Settings
from reelgate.ids import new_id, now
from reelgate.jobs import repository as repo
from reelgate.jobs.lifecycle import Lifecycle
from reelgate.jobs.model import Job
from reelgate.jobs.states import State
from reelgate.media.local import LocalStorage
from reelgate.routing import channels as chrepo
from reelgate.routing.channels import Channel
from reelgate.routing.crypto import SecretBox
from reelgate.scheduler.directory import ChannelDirectory
from reelgate.scheduler.driver import Driver
from reelgate.scheduler.worker import Worker
from reelgate.store.db import Database
from reelgate.store.migrate import upgrade
from reelgate.store.tables import channels, jobs
from tests.scale.support import new_database_url
from tests.support.statements import StatementLog


@pytest.fixture()
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(new_database_url(tmp_path))
    await upgrade(database)
    yield database
    await database.dispose()


async def _jobs(db: Database, n: int, *, state: State = State.IN_PROGRESS,
                due_in: float = -1.0, channel_id: str | None = None,
                **extra: Any) -> list[Job]:
    t = now()
    made = []
    async with db.begin() as conn:
        tenant = await auth_repo.ensure_tenant(conn, "claims", unlimited=True)
        for i in range(n):
            values = dict(
                id=new_id("video"), tenant_id=tenant.id, key_id="k", model="sora-2",
                prompt=f"p{i}", size="1280x720", seconds=4, quality="standard",
                state=state.value, created_at=t, updated_at=t, next_poll_at=t + due_in + i * 1e-3,
                channel_id=channel_id, started_at=t)
            made.append(await repo.insert(conn, {**values, **extra}))
    return made


async def _claim(db: Database, worker: str, limit: int = 100, lease: float = 30.0) -> list[Job]:
    async with db.begin() as conn:
        return await repo.claim_due(conn, worker_id=worker, limit=limit, lease_seconds=lease,
                                    skip_locked=db.is_postgres)


async def test_a_batch_is_claimed_with_one_statement_oldest_due_first(db: Database) -> None:
    made = await _jobs(db, 50)
    log = StatementLog().attach(db)
    try:
        claimed = await _claim(db, "w1", limit=40)
    finally:
        log.detach()
    work = [s for s in log.seen if not s.lstrip().upper().startswith(("BEGIN", "COMMIT"))]
    assert len(work) == 1 and "UPDATE jobs" in work[0]
    assert [j.id for j in claimed] == [j.id for j in made[:40]]
    assert all(j.lease_owner == "w1" and j.lease_until and j.lease_until > now() + 25
               for j in claimed)
    assert all(j.version == 1 for j in claimed)  # every older snapshot is now stale


async def test_only_due_unleased_active_jobs_on_usable_channels_are_claimed(
    db: Database
) -> None:
    due = await _jobs(db, 2)
    await _jobs(db, 2, due_in=60)  # not due yet
    await _jobs(db, 2, state=State.COMPLETED)
    leased = await _jobs(db, 1, lease_owner="w0", lease_until=now() + 60)
    expired = await _jobs(db, 1, lease_owner="dead", lease_until=now() - 1)
    async with db.begin() as conn:
        hot = await chrepo.add_channel(conn, name="hot", provider="openai")
        ok = await chrepo.add_channel(conn, name="ok", provider="openai")
        await conn.execute(update(channels).where(channels.c.id == hot)
                           .values(cooldown_until=now() + 60))
    await _jobs(db, 2, channel_id=hot)  # cooling down after a 429
    on_ok = await _jobs(db, 1, channel_id=ok)
    queued = await _jobs(db, 1, state=State.QUEUED)
    claimed = await _claim(db, "w1")
    want = {j.id for j in due + expired + on_ok + queued}
    assert {j.id for j in claimed} == want
    assert leased[0].id not in want


async def test_concurrent_claimers_get_disjoint_batches(db: Database) -> None:
    made = await _jobs(db, 60)
    batches = await asyncio.gather(*(_claim(db, f"w{n}", limit=20) for n in range(5)))
    ids = [j.id for batch in batches for j in batch]
    assert len(ids) == len(set(ids)) == 60
    assert set(ids) == {j.id for j in made}
    owners = {j.id: j.lease_owner for batch in batches for j in batch}
    async with db.read() as conn:
        for job_id, owner in owners.items():
            row = await repo.get(conn, job_id)
            assert row is not None and row.lease_owner == owner


async def test_after_a_takeover_the_old_holder_can_change_nothing(db: Database) -> None:
    await _jobs(db, 1)
    [first] = await _claim(db, "w1", lease=0.01)
    await asyncio.sleep(0.05)  # w1 "died": its lease ran out
    [second] = await _claim(db, "w2")
    assert second.id == first.id and second.version == first.version + 1
    async with db.begin() as conn:
        assert await repo.transition(conn, first, State.DOWNLOADING) is None
        assert await repo.renew_leases(conn, worker_id="w1", job_ids=[first.id],
                                       lease_seconds=30) == 0
        assert await repo.renew_leases(conn, worker_id="w2", job_ids=[first.id],
                                       lease_seconds=60) == 1
        moved = await repo.transition(conn, second, State.DOWNLOADING)
    assert moved is not None and moved.state == State.DOWNLOADING
    assert moved.lease_until is not None and moved.lease_until > now() + 50


async def test_claim_stale_takes_a_stale_job_once(db: Database) -> None:
    [stale] = await _jobs(db, 1, due_in=60, last_polled_at=now() - 30)
    [fresh] = await _jobs(db, 1, due_in=60, last_polled_at=now() - 1)
    async with db.begin() as conn:
        got = await repo.claim_stale(conn, stale.id, worker_id="api1", lease_seconds=5,
                                     polled_before=now() - 10)
        again = await repo.claim_stale(conn, stale.id, worker_id="api2", lease_seconds=5,
                                       polled_before=now() - 10)
        not_stale = await repo.claim_stale(conn, fresh.id, worker_id="api1",
                                           lease_seconds=5, polled_before=now() - 10)
    assert got is not None and got.lease_owner == "api1"
    assert again is None and not_stale is None


async def test_an_old_idempotency_key_is_freed_but_a_recent_one_is_kept(db: Database) -> None:
    [old] = await _jobs(db, 1, idempotency_key="k-old", created_at=now() - 90_000)
    [new] = await _jobs(db, 1, idempotency_key="k-new")
    async with db.begin() as conn:
        for key in ("k-old", "k-new"):
            await repo.expire_idempotency_key(conn, old.tenant_id, key,
                                              before=now() - 86_400)
    async with db.read() as conn:
        freed = await repo.get(conn, old.id)
        kept = await repo.get_by_idempotency_key(conn, new.tenant_id, "k-new")
    assert freed is not None and freed.idempotency_key is None
    assert kept is not None and kept.id == new.id


class _SlowDriver(Driver):
    """The real driver, except that a step holds its job until the test says ``go``."""

    seen: list[str]
    go: asyncio.Event

    async def step(self, job: Job, channel: Channel | None) -> None:
        self.seen.append(job.id)
        await self.go.wait()
        await self.lifecycle.release(job, now() + 3600)


def _worker(db: Database, tmp_path: Path, name: str, lease: float) -> tuple[Worker, _SlowDriver]:
    settings = Settings(data_dir=tmp_path / name, database_url=db.url, worker_id=name,
                        lease_seconds=lease, local_channel="off")
    lifecycle = Lifecycle(db)
    directory = ChannelDirectory(db, SecretBox(Fernet.generate_key()), settings)
    storage = LocalStorage(tmp_path / "media")
    worker = Worker(lifecycle, directory, storage, settings)
    slow = _SlowDriver(lifecycle, directory, storage, settings)
    slow.seen, slow.go = [], asyncio.Event()
    worker.driver = slow
    return worker, slow


async def _lease_until(db: Database, job_id: str) -> float:
    async with db.read() as conn:
        job = await repo.get(conn, job_id)
    assert job is not None and job.lease_until is not None
    return job.lease_until


async def test_a_busy_worker_keeps_its_leases_and_a_dead_one_loses_them(
    db: Database, tmp_path: Path
) -> None:
    [job] = await _jobs(db, 1)
    # renewed every 3 s: a loaded machine may stall a renewal by seconds, not by a lease
    busy, busy_steps = _worker(db, tmp_path, "busy", lease=9.0)
    other, other_steps = _worker(db, tmp_path, "other", lease=9.0)
    assert await busy.tick() == 1
    stepping = set(busy._inflight)
    claimed_until = last = await _lease_until(db, job.id)
    renewals = 0
    async with asyncio.timeout(120):  # outlive the claim's own lease, renewed meanwhile
        while renewals < 2 or now() <= claimed_until:
            assert await other.tick() == 0  # never taken over
            await asyncio.sleep(0.1)
            current = await _lease_until(db, job.id)
            renewals, last = (renewals + 1, current) if current > last else (renewals, last)
    busy_steps.go.set()
    await asyncio.wait(stepping, timeout=60)
    assert busy_steps.seen == [job.id] and other_steps.seen == []
    async with db.read() as conn:
        done = await repo.get(conn, job.id)
    assert done is not None and done.lease_owner is None and done.version == 2

    async with db.begin() as conn:  # due again; claimed by a worker that then "dies"
        await conn.execute(update(jobs).where(jobs.c.id == job.id).values(next_poll_at=now()))
        [held] = await repo.claim_due(conn, worker_id="dead", limit=1, lease_seconds=5.0,
                                      skip_locked=db.is_postgres)
    assert held.id == job.id and held.lease_until is not None
    assert await other.tick() == 0  # its lease is still running
    async with asyncio.timeout(120):
        while await other.tick() == 0:
            await asyncio.sleep(0.1)
    assert now() >= held.lease_until  # taken over only once the lease had run out
    taking_over = set(other._inflight)  # its step waits for ``go``, so it is still there
    other_steps.go.set()
    await asyncio.wait(taking_over, timeout=60)
    assert other_steps.seen == [job.id]


async def test_a_worker_that_stops_hands_its_jobs_over_at_once(
    db: Database, tmp_path: Path
) -> None:
    [job] = await _jobs(db, 1)
    leaving, steps = _worker(db, tmp_path, "leaving", lease=30.0)  # steps never end
    leaving.drain_seconds = 0.2
    other, _ = _worker(db, tmp_path, "other", lease=30.0)
    running = asyncio.create_task(leaving.run())
    while not steps.seen:
        await asyncio.sleep(0.05)
    assert steps.seen == [job.id]
    leaving.stop()
    await asyncio.wait_for(running, timeout=10)
    assert await other.tick() == 1  # not 30 s later, when the lease would have run out
    for task in [*leaving._inflight, *other._inflight]:
        task.cancel()
