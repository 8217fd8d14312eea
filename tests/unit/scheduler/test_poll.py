"""Polling: progress and the next poll in one write; 429 cools the channel without
failing anything; a finished job is copied with the answer that said so."""

from __future__ import annotations

from reelgate.ids import now
from reelgate.jobs.model import Job
from reelgate.jobs.states import State
from reelgate.providers.base import ErrorKind, UpstreamJob, UpstreamStatus, Variant
from reelgate.routing import channels as chrepo
from reelgate.scheduler.poll import NOT_FOUND_LIMIT
from tests.unit.scheduler.support import Rig, mp4, refused, running


async def _running_job(rig: Rig, **values: object) -> tuple[str, Job]:
    cid, [key] = await rig.add_channel("a")
    job = await rig.job(State.IN_PROGRESS, channel_id=cid, credential_id=key,
                        upstream_id="up_1", started_at=now(), progress=10, **values)
    return cid, job


async def test_a_running_job_gets_its_progress_and_next_poll_in_one_write(rig: Rig) -> None:
    _, job = await _running_job(rig)
    rig.fake("a").fetches = [running("up_1", progress=40, poll_after=6.0)]
    after, transactions = await rig.step_counting(job)
    assert transactions == 1
    assert after.state == State.IN_PROGRESS and after.progress == 40
    assert after.poll_count == 1 and after.last_polled_at is not None
    assert after.lease_owner is None
    assert after.next_poll_at is not None and 4.0 < after.next_poll_at - now() <= 7.2
    assert rig.fake("a").called("fetch") == [("up_1", job.credential_id)]


async def test_a_429_cools_the_channel_and_fails_nothing(rig: Rig) -> None:
    cid, job = await _running_job(rig)
    rig.fake("a").fetches = [refused(ErrorKind.RATE_LIMITED, 429, retry_after=20.0)]
    after = await rig.step(job)
    assert after.state == State.IN_PROGRESS and after.poll_count == 1
    assert after.next_poll_at is not None and 19 < after.next_poll_at - now() <= 20
    async with rig.db.read() as conn:
        channel = await chrepo.get_channel(conn, cid)
    assert channel is not None and 19 < channel.cooldown_until - now() <= 20


async def test_a_job_the_upstream_forgot_is_lost_only_after_repeated_not_found(
    rig: Rig
) -> None:
    _, young = await _running_job(rig)
    rig.fake("a").fetches = [refused(ErrorKind.NOT_FOUND, 404),
                             refused(ErrorKind.NOT_FOUND, 404)]
    again = await rig.step(young)
    assert again.state == State.IN_PROGRESS and again.poll_count == 1
    old = await rig.job(State.IN_PROGRESS, channel_id=young.channel_id,
                        credential_id=young.credential_id, upstream_id="up_2",
                        poll_count=NOT_FOUND_LIMIT)
    lost = await rig.step(old)
    assert (lost.state, lost.error_code) == (State.FAILED, "upstream_lost")


async def test_a_job_lost_before_it_started_goes_back_to_the_queue(rig: Rig) -> None:
    """A restarted server forgot a prompt it had never started: the job is queued again
    for any channel (nothing rendered it), its reservation untouched."""
    _, job = await _running_job(rig, upstream_status="queued", price_micros=500_000)
    rig.fake("a").fetches = [refused(ErrorKind.NOT_FOUND, never_started=True)]
    after = await rig.step(job)
    assert after.state == State.QUEUED
    assert (after.channel_id, after.credential_id, after.upstream_id) == (None, None, None)
    assert after.lease_owner is None and after.next_poll_at is not None
    assert after.next_poll_at <= now() and after.error_code is None


async def test_a_job_that_may_have_started_is_never_resent(rig: Rig) -> None:
    _, job = await _running_job(rig, poll_count=NOT_FOUND_LIMIT)
    rig.fake("a").fetches = [refused(ErrorKind.NOT_FOUND)]
    after = await rig.step(job)
    assert (after.state, after.error_code) == (State.FAILED, "upstream_lost")


async def test_nobody_answering_a_poll_cools_the_channel_a_5xx_does_not(rig: Rig) -> None:
    cid, job = await _running_job(rig)
    rig.fake("a").fetches = [refused(ErrorKind.UNAVAILABLE)]
    after = await rig.step(job)
    assert after.state == State.IN_PROGRESS and after.poll_count == 1
    other_cid, [key] = await rig.add_channel("b")
    other = await rig.job(State.IN_PROGRESS, channel_id=other_cid, credential_id=key,
                          upstream_id="up_b", started_at=now(), progress=10)
    rig.fake("b").fetches = [refused(ErrorKind.UNAVAILABLE, 503)]
    assert (await rig.step(other)).state == State.IN_PROGRESS
    async with rig.db.read() as conn:
        silent = await chrepo.get_channel(conn, cid)
        answered = await chrepo.get_channel(conn, other_cid)
    assert silent is not None and silent.cooldown_until > now()  # no answer at all
    assert answered is not None and answered.cooldown_until <= now()  # it did answer


async def test_an_upstream_failure_is_the_jobs_failure(rig: Rig) -> None:
    _, job = await _running_job(rig)
    rig.fake("a").fetches = [UpstreamJob("up_1", UpstreamStatus.FAILED,
                                         error_code="moderation_blocked", error_message="no")]
    after = await rig.step(job)
    assert (after.state, after.error_code, after.error_message) == (
        State.FAILED, "moderation_blocked", "no")


async def test_a_finished_job_is_copied_with_the_answer_that_said_so(rig: Rig) -> None:
    _, job = await _running_job(rig, size="160x96")
    done = UpstreamJob("up_1", UpstreamStatus.COMPLETED, raw_status="succeeded",
                       result_url="https://cdn.invalid/v.mp4", seconds=1.0, size="160x96",
                       extra={"signed": "only in this answer"})
    rig.fake("a").fetches = [done]
    rig.fake("a").files = {Variant.VIDEO: mp4()}
    after = await rig.step(job)
    assert after.state == State.COMPLETED and after.upstream_status == "succeeded"
    assert after.rendered_seconds == 1.0 and after.result_url == "https://cdn.invalid/v.mp4"
    downloaded = [up for up, variant in rig.fake("a").called("download")
                  if variant == Variant.VIDEO]
    assert downloaded == [done] and downloaded[0] is done  # not rebuilt from the row
    assert len(rig.fake("a").called("fetch")) == 1


async def test_a_job_whose_channel_or_key_is_gone_fails_saying_which(rig: Rig) -> None:
    cid, [key] = await rig.add_channel("a")
    no_channel = await rig.job(State.IN_PROGRESS, channel_id="ch_gone", upstream_id="u")
    no_key = await rig.job(State.IN_PROGRESS, channel_id=cid, credential_id="cred_gone",
                           upstream_id="u")
    assert (await rig.step(no_channel)).error_code == "channel_missing"
    assert (await rig.step(no_key)).error_code == "credential_missing"
    assert rig.fake("a").called("fetch") == [] and key


async def test_a_deleted_running_job_is_cancelled_without_calling_the_upstream(
    rig: Rig
) -> None:
    _, job = await _running_job(rig, deleted_at=now())
    after = await rig.step(job)
    assert (after.state, after.error_code) == (State.FAILED, "cancelled")
    assert rig.fake("a").calls == []
