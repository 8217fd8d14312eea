"""The named transitions: what each writes, that each is a compare-and-swap, and that
hooks share its transaction (real SQLite database, no gateway)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from reelgate.ids import now
from reelgate.jobs import repository as repo
from reelgate.jobs.lifecycle import Lifecycle
from reelgate.jobs.model import Job
from reelgate.jobs.states import State
from reelgate.media.objects import StoredObject
from reelgate.store.db import Database
from reelgate.store.tables import job_events, jobs
from tests.unit.jobs.support import RecordingHooks, insert_job, open_database

LEASED = {"lease_owner": "w1", "lease_until": 10**10}


@pytest.fixture()
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async for database in open_database(tmp_path):
        yield database


async def _transactions(db: Database, work: Any) -> tuple[Any, int]:
    """Run ``work`` and count the write transactions it opened."""
    begins: list[object] = []

    def count(*_: object) -> None:
        begins.append(object())

    event.listen(db.engine.sync_engine, "begin", count)
    try:
        result = await work
    finally:
        event.remove(db.engine.sync_engine, "begin", count)
    return result, len(begins)


async def _events(db: Database, job_id: str) -> list[tuple[str, Any]]:
    async with db.read() as conn:
        rows = (await conn.execute(select(job_events.c.kind, job_events.c.detail)
                                   .where(job_events.c.job_id == job_id)
                                   .order_by(job_events.c.id))).all()
    return [(r.kind, r.detail) for r in rows]


async def test_route_then_accept_is_two_transactions_and_ends_the_lease(db: Database) -> None:
    life = Lifecycle(db)
    job = await insert_job(db, **LEASED)
    routed, n1 = await _transactions(db, life.route(job, channel_id="ch_1", credential_id="c1",
                                                    upstream_model="sora-2-up"))
    assert routed is not None and routed.state == State.SUBMITTING
    assert routed.lease_owner == "w1" and routed.submit_attempts == 1  # the step goes on
    due = now() + 5
    running, n2 = await _transactions(db, life.accept(routed, "up_1", upstream_status="queued",
                                                      progress=3, due_at=due))
    assert n1 == n2 == 1
    assert running is not None and running.state == State.IN_PROGRESS
    assert (running.upstream_id, running.upstream_status, running.progress) == ("up_1",
                                                                                 "queued", 3)
    assert running.lease_owner is None and running.lease_until is None
    assert running.next_poll_at == due and running.poll_count == 1
    assert running.started_at is not None and running.last_polled_at is not None
    assert running.version == job.version + 2


async def test_route_renews_the_lease_it_is_given(db: Database) -> None:
    """The send starts on a whole lease: the work before it cannot have used it up."""
    life = Lifecycle(db)
    job = await insert_job(db, lease_owner="w1", lease_until=now() + 0.5)
    until = now() + 30
    routed = await life.route(job, channel_id="ch_1", credential_id="c1",
                              upstream_model="sora-2", lease_until=until)
    assert routed is not None and routed.lease_owner == "w1"
    assert routed.lease_until == pytest.approx(until)


async def test_a_stale_snapshot_changes_nothing_and_runs_no_hook(db: Database) -> None:
    hooks = RecordingHooks()
    life = Lifecycle(db, [hooks])
    job = await insert_job(db)
    assert await life.fail(job, "x", "first") is not None
    assert await life.fail(job, "y", "second") is None  # same version again: lost
    latest = await life.reload(job.id)
    assert latest is not None and latest.error_code == "x"
    assert hooks.seen == [(State.QUEUED, State.FAILED)]


async def test_a_hook_that_raises_rolls_the_transition_back(db: Database) -> None:
    life = Lifecycle(db, [RecordingHooks(explode=True)])
    job = await insert_job(db)
    with pytest.raises(RuntimeError):
        await life.fail(job, "x", "y")
    latest = await life.reload(job.id)
    assert latest is not None and latest.state == State.QUEUED and latest.version == job.version
    assert [k for k, _ in await _events(db, job.id)] == ["created"]


async def test_hooks_see_state_and_progress_changes_only(db: Database) -> None:
    hooks = RecordingHooks()
    life = Lifecycle(db, [hooks])
    job = await insert_job(db, State.IN_PROGRESS, progress=10)
    same = await life.progress(job, progress=10, upstream_status="in_progress", due_at=now())
    assert same is not None and hooks.seen == []
    more = await life.progress(same, progress=40, upstream_status="in_progress", due_at=now())
    assert more is not None and more.progress == 40 and len(hooks.seen) == 1
    less = await life.progress(more, progress=20, upstream_status="in_progress", due_at=now())
    assert less is not None and less.progress == 40  # progress never goes back


async def test_requeue_forgets_the_channel_unless_told_to_keep_it(db: Database) -> None:
    life = Lifecycle(db)
    plain = await insert_job(db, State.SUBMITTING, channel_id="ch_1", credential_id="c1")
    remix = await insert_job(db, State.SUBMITTING, channel_id="ch_1", credential_id="c1")
    why = {"channel": "relay-a", "channel_id": "ch_1", "reason": "HTTP 503: overloaded"}
    back = await life.requeue(plain, unroute=True, refusal=why)
    kept = await life.requeue(remix, unroute=False, refusal=why)
    assert back is not None and (back.state, back.channel_id, back.credential_id) == (
        State.QUEUED, None, None)
    assert kept is not None and (kept.channel_id, kept.credential_id) == ("ch_1", "c1")
    assert back.last_refusal == why  # kept on the job: why it still waits
    kind, detail = (await _events(db, plain.id))[-1]
    assert kind == "submit_rejected" and detail["channel"] == "relay-a"
    assert detail["channel_id"] == "ch_1" and detail["reason"] == "HTTP 503: overloaded"


async def test_release_hands_back_and_counts_a_poll_only_when_asked(db: Database) -> None:
    life = Lifecycle(db)
    job = await insert_job(db, State.IN_PROGRESS, **LEASED)
    untouched = await life.release(job, now() + 7)
    assert untouched is not None and untouched.state == State.IN_PROGRESS
    assert untouched.lease_owner is None and untouched.poll_count == 0
    counted = await life.release(untouched, now() + 7, count_poll=True)
    assert counted is not None and counted.poll_count == 1
    assert [k for k, _ in await _events(db, job.id)] == ["created"]  # no state change logged


async def test_downloading_then_complete_stores_media_and_ends_the_lease(db: Database) -> None:
    life = Lifecycle(db)
    job = await insert_job(db, State.IN_PROGRESS, upstream_id="up_1", **LEASED)
    copying = await life.downloading(job, upstream_status="succeeded", result_url="https://r",
                                     rendered_seconds=5.0, rendered_size="1280x720")
    assert copying is not None and copying.state == State.DOWNLOADING
    assert copying.progress == 99 and copying.lease_owner == "w1"  # the copy comes next
    media = {"video": StoredObject("videos/v/video.mp4", 10, "e1", "video/mp4")}
    done = await life.complete(copying, media, rendered_seconds=5.0, rendered_size="1280x720",
                               expires_at=now() + 60)
    assert done is not None and done.state == State.COMPLETED and done.progress == 100
    assert done.media == media and done.lease_owner is None and done.next_poll_at is None


async def test_an_upstream_that_finished_at_once_goes_straight_to_downloading(
    db: Database
) -> None:
    life = Lifecycle(db)
    job = await insert_job(db, State.SUBMITTING)
    copying = await life.downloading(job, upstream_status="completed", result_url=None,
                                     rendered_seconds=None, rendered_size=None,
                                     upstream_id="up_9")
    assert copying is not None and copying.upstream_id == "up_9"
    assert copying.started_at is not None


async def test_fail_records_the_error_and_an_upstream_id_it_learnt(db: Database) -> None:
    life = Lifecycle(db)
    job = await insert_job(db, State.SUBMITTING, **LEASED)
    failed = await life.fail(job, "moderation_blocked", "no", upstream_id="up_2")
    assert failed is not None and failed.state == State.FAILED
    assert (failed.error_code, failed.upstream_id, failed.lease_owner) == (
        "moderation_blocked", "up_2", None)
    kind, detail = (await _events(db, job.id))[-1]
    assert kind == "state:failed" and detail["error_code"] == "moderation_blocked"


async def test_delete_cancels_a_running_job_and_only_hides_a_finished_one(
    db: Database
) -> None:
    life = Lifecycle(db)
    running = await insert_job(db, State.IN_PROGRESS, **LEASED)
    finished = await insert_job(db, State.COMPLETED,
                                media={"video": {"key": "k", "size": 1, "etag": "e",
                                                 "content_type": "video/mp4"}})
    cancelled = await life.delete(running)
    hidden = await life.delete(finished)
    assert cancelled is not None and cancelled.state == State.FAILED
    assert cancelled.error_code == "cancelled" and cancelled.deleted_at is not None
    assert cancelled.lease_owner is None
    assert hidden is not None and hidden.state == State.COMPLETED
    assert hidden.media  # named until the storage is gone: a crash leaves no orphan
    hidden = await life.storage_deleted(hidden)
    assert hidden is not None and hidden.media == {} and hidden.deleted_at is not None
    async with db.read() as conn:  # SQL NULL, not a JSON null
        raw = (await conn.execute(select(jobs.c.media.is_(None))
                                  .where(jobs.c.id == finished.id))).scalar_one()
    assert raw


async def test_expire_media_keeps_the_row_and_logs_it(db: Database) -> None:
    life = Lifecycle(db)
    job = await insert_job(db, State.COMPLETED, media={"video": {
        "key": "k", "size": 1, "etag": "e", "content_type": "video/mp4"}})
    expired = await life.expire_media(job)
    assert expired is not None and expired.media == {} and expired.state == State.COMPLETED
    assert (await _events(db, job.id))[-1][0] == "expired"


async def test_a_transition_the_state_machine_forbids_raises(db: Database) -> None:
    life = Lifecycle(db)
    job: Job = await insert_job(db, State.COMPLETED)
    with pytest.raises(repo.InvalidTransition):
        await life.fail(job, "x", "y")


class _FailsFor:
    """A hook that raises for one job's transitions (to break a shared transaction)."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id

    async def on_created(self, conn: Any, job: Job, principal: object) -> None:
        pass

    async def on_transition(self, conn: Any, before: Job, after: Job) -> None:
        if after.id == self.job_id:
            raise RuntimeError("hook failed")


async def _running(db: Database, n: int) -> list[Job]:
    return [await insert_job(db, State.IN_PROGRESS, upstream_id=f"up_{i}", **LEASED)
            for i in range(n)]


async def test_concurrent_polls_share_one_transaction_each_its_own_swap(db: Database) -> None:
    life = Lifecycle(db, [RecordingHooks()])
    running = await _running(db, 6)
    stale = running[2]
    moved_first = await life.release(stale, now() + 60)  # bumps the version
    assert moved_first is not None

    async def polls() -> list[Job | None]:
        return list(await asyncio.gather(*(
            life.progress(job, progress=40 + i, upstream_status="in_progress",
                          due_at=now() + 60) for i, job in enumerate(running))))

    results, transactions = await _transactions(db, polls())
    assert transactions == 1  # six records, one write transaction
    assert results[2] is None  # the stale snapshot lost its swap, alone
    for i, (job, after) in enumerate(zip(running, results, strict=True)):
        if i == 2:
            continue
        assert after is not None and after.progress == 40 + i
        assert after.version == job.version + 1 and after.lease_owner is None
    async with db.read() as conn:
        row = (await conn.execute(select(jobs.c.progress).where(jobs.c.id == stale.id))).one()
    assert row.progress == stale.progress


async def test_a_change_that_breaks_the_shared_transaction_fails_alone(db: Database) -> None:
    running = await _running(db, 4)
    life = Lifecycle(db, [_FailsFor(running[1].id)])
    outcomes = await asyncio.gather(*(
        life.progress(job, progress=50, upstream_status="in_progress", due_at=now() + 60)
        for job in running), return_exceptions=True)
    assert isinstance(outcomes[1], RuntimeError)
    assert all(isinstance(o, Job) and o.progress == 50
               for i, o in enumerate(outcomes) if i != 1)
    async with db.read() as conn:
        kept = (await conn.execute(select(jobs.c.progress)
                                   .where(jobs.c.id == running[1].id))).scalar_one()
    assert kept == running[1].progress  # rolled back with its hook
