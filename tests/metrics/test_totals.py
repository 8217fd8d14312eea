"""The running totals /metrics reads are exactly what a scan of every row says, through
real transitions, deletes, replays, lost races and concurrent settles, on this run's
database (SQLite, or PostgreSQL on its pass).

Each test compares the whole database's snapshot against tests/metrics/reference.py
(the queries a scrape ran before the totals), so every job any test made counts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from reelgate.billing.hooks import BillingHooks
from reelgate.bootstrap import Gateway
from reelgate.jobs import repository as jobs_repo
from reelgate.jobs.lifecycle import Lifecycle
from reelgate.jobs.model import Job
from reelgate.metrics.snapshot import Snapshot, snapshot
from reelgate.routing.manage import ChannelDraft
from reelgate.store.tables import metric_totals
from reelgate.webhooks import repository as hooks_repo
from tests.billing.support import make_principal, params, settings_for
from tests.metrics.reference import scanned, totals_match
from tests.support.server import TEST_DATABASE, create_database

USD = 1_000_000


@pytest.fixture(scope="module")
async def gw(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    url = create_database() if TEST_DATABASE == "postgres" else None
    gateway = await Gateway.start(settings_for(tmp_path_factory.mktemp("totals"), url))
    for name in ("east", "west"):
        await gateway.channels.create(ChannelDraft(name, "openai",
                                                   base_url=f"https://{name}.invalid/v1",
                                                   keys=["sk-totals"]))
    yield gateway
    await gateway.close()


@pytest.fixture(scope="module")
def kept() -> dict[str, int]:
    """Polls the totals keep that the scan cannot see (jobs the upstream forgot), by
    channel name."""
    return {}


async def channel_id(gw: Gateway, name: str) -> str:
    return (await gw.channels.view(name)).channel.id


async def matches(gw: Gateway, kept: dict[str, int]) -> Snapshot:
    return await totals_match(gw.db, kept)


async def running(gw: Gateway, job: Job, channel: str, life: Lifecycle | None = None) -> Job:
    life = life or gw.lifecycle
    routed = await life.route(job, channel_id=await channel_id(gw, channel), credential_id="",
                              upstream_model=job.model)
    assert routed is not None
    accepted = await life.accept(routed, f"up_{job.id}", upstream_status="in_progress",
                                 progress=0, due_at=time.time())
    assert accepted is not None
    return accepted


async def polled(gw: Gateway, job: Job, times: int) -> Job:
    for _ in range(times):
        again = await gw.lifecycle.release(job, time.time(), count_poll=True)
        assert again is not None
        job = again
    return job


async def completed(gw: Gateway, job: Job, life: Lifecycle | None = None,
                    seconds: float | None = None) -> Job | None:
    """DOWNLOADING → COMPLETED (None if another change won)."""
    life = life or gw.lifecycle
    return await life.complete(job, {}, rendered_seconds=seconds or float(job.seconds),
                               rendered_size=job.size, expires_at=time.time() + 3600)


async def finished(gw: Gateway, job: Job, channel: str, polls: int = 0) -> Job:
    job = await polled(gw, await running(gw, job, channel), polls)
    down = await gw.lifecycle.downloading(job, upstream_status="completed", result_url=None,
                                          rendered_seconds=None, rendered_size=None)
    assert down is not None
    done = await completed(gw, down)
    assert done is not None
    return done


async def test_totals_follow_every_kind_of_change(gw: Gateway, kept: dict[str, int]) -> None:
    p = await make_principal(gw, topup=100 * USD)
    new = [await gw.videos.create(p, params(m, seconds=s)) for m, s in (
        ("sora-2", 4), ("sora-2-pro", 8), ("sora-2", 8), ("sora-2", 4), ("sora-2", 4),
        ("sora-2-pro", 4), ("sora-2", 12), ("sora-2", 4))]
    await finished(gw, new[0], "east", polls=2)
    await finished(gw, new[1], "west", polls=1)
    bad = await polled(gw, await running(gw, new[2], "east"), 3)
    assert await gw.lifecycle.fail(bad, "moderation_blocked", "no") is not None
    assert await gw.lifecycle.fail(new[3], "no_channel", "none took it") is not None
    gone = await finished(gw, new[4], "east")
    before = await matches(gw, kept)
    await gw.videos.delete(p, gone.id)  # a finished job leaves the gauge, nothing else
    after = await matches(gw, kept)
    assert after.jobs[("completed", "sora-2", "east")] == \
        before.jobs[("completed", "sora-2", "east")] - 1
    assert after.durations == before.durations and after.money == before.money
    cancelled = await running(gw, new[5], "west")
    await gw.videos.delete(p, cancelled.id)  # a running one is failed (refunded) and hidden
    after = await matches(gw, kept)
    assert after.failures[("west", "cancelled")] == 1
    await polled(gw, await running(gw, new[6], "west"), 4)  # still running: read live
    got = await matches(gw, kept)
    assert got.jobs[("in_progress", "sora-2", "west")] >= 1
    assert got.jobs[("queued", "sora-2", "")] >= 1  # new[7] was never routed
    assert got.money[("settle", "sora-2", "")].entries >= 1
    assert got.money[("refund", "sora-2-pro", "")].entries >= 1


async def test_a_job_the_upstream_forgot_keeps_its_polls(gw: Gateway,
                                                         kept: dict[str, int]) -> None:
    p = await make_principal(gw, topup=10 * USD)
    job = await polled(gw, await running(gw, await gw.videos.create(p, params()), "west"), 2)
    assert job.poll_count == 3
    before = await snapshot(gw.db)
    again = await gw.lifecycle.unstarted(job, unroute=True)
    assert again is not None and again.poll_count == 0
    kept["west"] = kept.get("west", 0) + 3  # the scan forgets them with the reset
    assert (await matches(gw, kept)).polls["west"] == before.polls["west"]
    await finished(gw, again, "east", polls=1)
    got = await matches(gw, kept)
    assert got.polls["east"] == before.polls["east"] + 3  # accept, a poll, the last poll


async def test_replayed_hooks_and_lost_races_add_nothing(gw: Gateway,
                                                         kept: dict[str, int]) -> None:
    p = await make_principal(gw, topup=10 * USD)
    ok = await finished(gw, await gw.videos.create(p, params()), "east")
    bad = await running(gw, await gw.videos.create(p, params(seconds=8)), "west")
    failed = await gw.lifecycle.fail(bad, "upstream_error", "boom")
    assert failed is not None
    before = await matches(gw, kept)
    hooks = BillingHooks(gw.pricer)
    for job in (ok, failed):  # the hooks again, as a retried transition would run them
        async with gw.db.begin() as conn:
            latest = await jobs_repo.get(conn, job.id)
            assert latest is not None
            await hooks.settle(conn, latest)
            await hooks.refund(conn, latest)
    assert await gw.lifecycle.fail(bad, "other", "late") is None  # a stale snapshot loses
    assert await matches(gw, kept) == before


async def test_concurrent_ends_of_one_job_count_once(gw: Gateway, kept: dict[str, int]) -> None:
    p = await make_principal(gw, topup=10 * USD)
    job = await running(gw, await gw.videos.create(p, params()), "east")
    down = await gw.lifecycle.downloading(job, upstream_status="completed", result_url=None,
                                          rendered_seconds=None, rendered_size=None)
    assert down is not None
    before = await snapshot(gw.db)
    # two workers holding the same snapshot: the compare-and-swap lets one finish it
    results = await asyncio.gather(completed(gw, down), completed(gw, down),
                                   gw.lifecycle.fail(down, "timeout", "late"))
    assert sum(r is not None for r in results) == 1
    got = await matches(gw, kept)
    ended = sum(got.jobs.get((s, "sora-2", "east"), 0) - before.jobs.get((s, "sora-2", "east"), 0)
                for s in ("completed", "failed"))
    assert ended == 1


async def test_two_settles_of_one_job_at_once_count_once(gw: Gateway,
                                                         kept: dict[str, int]) -> None:
    """The hook itself twice, in two open transactions: on PostgreSQL both read that no
    settlement exists before either writes one (the second INSERT waits for the first
    to commit, then inserts nothing); SQLite runs one writer at a time."""
    p = await make_principal(gw, topup=10 * USD)
    bare = Lifecycle(gw.db, [], gw.lifecycle.counters)  # ends the job without billing
    job = await running(gw, await gw.videos.create(p, params(seconds=8)), "west", bare)
    down = await bare.downloading(job, upstream_status="completed", result_url=None,
                                  rendered_seconds=6.0, rendered_size=None)
    assert down is not None
    done = await completed(gw, down, bare, seconds=6.0)
    assert done is not None
    before = await snapshot(gw.db)
    hooks = BillingHooks(gw.pricer)
    opened: list[object] = []
    both = asyncio.Event()

    async def settle() -> None:
        async with gw.db.begin() as conn:
            if gw.db.is_postgres:
                await conn.execute(select(1))
                opened.append(conn)
                if len(opened) == 2:
                    both.set()
                await both.wait()
            await hooks.settle(conn, done)

    await asyncio.gather(settle(), settle())
    got = await matches(gw, kept)
    settled = got.money[("settle", "sora-2", "")]
    was = before.money[("settle", "sora-2", "")]
    assert (settled.entries - was.entries, settled.micros - was.micros) == (1, 600_000)


async def test_many_jobs_ending_at_once_lose_no_update(gw: Gateway,
                                                       kept: dict[str, int]) -> None:
    p = await make_principal(gw, topup=100 * USD)
    jobs = [await gw.videos.create(p, params()) for _ in range(16)]
    running_jobs = [await running(gw, j, ("east", "west")[i % 2]) for i, j in enumerate(jobs)]

    async def end(i: int, job: Job) -> None:
        if i % 3 == 0:
            assert await gw.lifecycle.fail(job, "upstream_error", "x") is not None
            return
        down = await gw.lifecycle.downloading(job, upstream_status="completed",
                                              result_url=None, rendered_seconds=None,
                                              rendered_size=None)
        assert down is not None and await completed(gw, down) is not None

    await asyncio.gather(*(end(i, j) for i, j in enumerate(running_jobs)))
    await matches(gw, kept)


async def test_webhook_deliveries_and_attempts(gw: Gateway, kept: dict[str, int]) -> None:
    p = await make_principal(gw)
    async with gw.db.begin() as conn:
        ep = await hooks_repo.add_endpoint(conn, tenant_id=p.tenant_id,
                                           url="https://hooks.invalid/x", secret="s",
                                           events=("video.completed",), allow_private=False)
        for i in range(3):
            await hooks_repo.enqueue(conn, endpoint_id=ep.id, job_id=None,
                                     event_type="video.completed", event_key=f"{ep.id}:{i}",
                                     payload="{}")
    async with gw.db.begin() as conn:
        claimed = await hooks_repo.claim_due(conn, limit=10, lease_seconds=60,
                                             skip_locked=gw.db.is_postgres)
    mine = sorted((d for d in claimed if d.endpoint_id == ep.id), key=lambda d: d.event_key)
    assert len(mine) == 3
    outcomes = [{"status": hooks_repo.DELIVERED}, {"status": hooks_repo.DEAD},
                {"next_attempt_at": time.time()}]  # retried later
    for delivery, values in zip(mine, outcomes, strict=True):
        async with gw.db.begin() as conn:
            assert await hooks_repo.finish(conn, delivery, attempts=1, **values)
            assert not await hooks_repo.finish(conn, delivery, attempts=1, **values)  # lost
    got = await matches(gw, kept)
    async with gw.db.begin() as conn:
        dead = await hooks_repo.get_delivery(conn, mine[1].id)
        assert dead is not None
        await hooks_repo.replay(conn, dead)
    replayed = await matches(gw, kept)
    assert replayed.deliveries["replayed"] == got.deliveries.get("replayed", 0) + 1
    assert replayed.deliveries["dead"] == got.deliveries["dead"] - 1
    async with gw.db.begin() as conn:
        assert await hooks_repo.remove_endpoint(conn, ep.id)
    gone = await snapshot(gw.db)
    scan = await scanned(gw.db)
    assert {k: n for k, n in gone.deliveries.items() if n} == {
        k: n for k, n in scan.deliveries.items() if n}
    # a counter never goes back: the removed endpoint's attempts stay counted
    assert gone.delivery_attempts == replayed.delivery_attempts == scan.delivery_attempts + 3


async def test_a_scrape_reads_the_totals_not_the_history(gw: Gateway) -> None:
    async with gw.db.read() as conn:
        rows = (await conn.execute(select(metric_totals))).all()
    assert rows and len(rows) < 60  # a handful per model, channel and code, not per job
