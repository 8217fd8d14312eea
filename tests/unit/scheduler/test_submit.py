"""Submitting: one accepted submit is two transactions; failover only when the upstream
certainly did not take the job; never a second submit of an unclear one."""

from __future__ import annotations

from pathlib import Path

from reelgate.ids import now
from reelgate.jobs.states import State
from reelgate.providers.base import ErrorKind, UpstreamJob, UpstreamStatus, Variant
from reelgate.routing import channels as chrepo
from reelgate.routing.health import AUTH_COOLDOWN
from tests.unit.scheduler.support import Rig, mp4, refused, running


async def test_an_accepted_submit_is_two_transactions_and_releases_the_job(rig: Rig) -> None:
    cid, [key] = await rig.add_channel("a")
    rig.fake("a").submits = [running("up_1", progress=5, poll_after=4.0)]
    job = await rig.job()
    after, transactions = await rig.step_counting(job)
    assert transactions == 2  # SUBMITTING, then IN_PROGRESS + lease released + next poll
    assert after.state == State.IN_PROGRESS and after.upstream_id == "up_1"
    assert (after.channel_id, after.credential_id, after.progress) == (cid, key, 5)
    assert after.lease_owner is None and after.lease_until is None
    assert after.next_poll_at is not None and 3.0 < after.next_poll_at - now() < 5.0
    [(request, used)] = rig.fake("a").called("submit")
    assert (request.job_id, request.model, request.prompt, used) == (
        job.id, "sora-2", "a unit test", key)


async def test_a_rate_limited_key_cools_down_and_the_next_channel_takes_the_job(
    rig: Rig
) -> None:
    hot, [hot_key] = await rig.add_channel("hot", priority=10, models={"sora-2": "sora-hot"})
    ok, _ = await rig.add_channel("ok", priority=1)
    rig.fake("hot").submits = [refused(ErrorKind.RATE_LIMITED, 429, retry_after=30.0)]
    rig.fake("ok").submits = [running("up_ok")]
    after = await rig.step(await rig.job())
    assert after.state == State.IN_PROGRESS and after.channel_id == ok
    assert rig.fake("hot").called("submit")[0][0].model == "sora-hot"  # each channel's name
    async with rig.db.read() as conn:
        channel = await chrepo.get_channel(conn, hot)
    assert channel is not None
    assert 25 < channel.key_cooldowns[hot_key] - now() <= 30  # its only key: the channel too
    assert 25 < channel.cooldown_until - now() <= 30
    assert await rig.events(after.id) == ["created", "state:submitting", "submit_rejected",
                                          "state:submitting", "state:in_progress"]


async def test_a_refused_connection_skips_the_channels_other_keys(rig: Rig) -> None:
    await rig.add_channel("down", keys=2, priority=10)
    ok, _ = await rig.add_channel("ok")
    rig.fake("down").submits = [refused(ErrorKind.UNAVAILABLE)]
    rig.fake("ok").submits = [running()]
    after = await rig.step(await rig.job())
    assert after.channel_id == ok
    assert len(rig.fake("down").called("submit")) == 1


async def test_a_rejected_key_cools_down_for_long_and_the_next_key_is_tried(rig: Rig) -> None:
    cid, keys = await rig.add_channel("a", keys=2)
    rig.fake("a").submits = [refused(ErrorKind.AUTH, 401), running()]
    after = await rig.step(await rig.job())
    first, second = (used for _, used in rig.fake("a").called("submit"))
    assert {first, second} == set(keys) and after.credential_id == second
    async with rig.db.read() as conn:
        channel = await chrepo.get_channel(conn, cid)
    assert channel is not None and channel.cooldown_until == 0.0
    assert channel.key_cooldowns[first] - now() > AUTH_COOLDOWN - 5


async def test_when_every_candidate_refuses_the_job_waits_for_the_soonest_retry(
    rig: Rig
) -> None:
    await rig.add_channel("a")
    await rig.add_channel("b")
    rig.fake("a").submits = [refused(ErrorKind.RATE_LIMITED, 429, retry_after=12.0)]
    rig.fake("b").submits = [refused(ErrorKind.RATE_LIMITED, 429, retry_after=7.0)]
    after = await rig.step(await rig.job())
    assert after.state == State.QUEUED and after.channel_id is None
    assert after.lease_owner is None and after.submit_attempts == 2
    assert after.next_poll_at is not None and 6.0 < after.next_poll_at - now() <= 7.0


async def test_an_unclear_answer_fails_the_job_and_is_never_sent_again(rig: Rig) -> None:
    await rig.add_channel("a")
    await rig.add_channel("b")
    rig.fake("a").submits = [refused(ErrorKind.AMBIGUOUS)]
    rig.fake("b").submits = [refused(ErrorKind.AMBIGUOUS)]
    after = await rig.step(await rig.job())
    assert after.state == State.FAILED and after.error_code == "upstream_submit_ambiguous"
    assert len(rig.fake("a").called("submit")) + len(rig.fake("b").called("submit")) == 1
    assert await rig.events(after.id) == ["created", "state:submitting", "submit_ambiguous",
                                          "reconcile"]


async def test_a_rejected_job_fails_with_the_upstreams_code(rig: Rig) -> None:
    await rig.add_channel("a")
    rig.fake("a").submits = [refused(ErrorKind.REJECTED, 400, code="moderation_blocked")]
    after = await rig.step(await rig.job())
    assert (after.state, after.error_code) == (State.FAILED, "moderation_blocked")


async def test_no_channel_for_the_model_fails_the_job(rig: Rig) -> None:
    await rig.add_channel("veo-only", models={"veo-3.1": "veo-up"})
    after = await rig.step(await rig.job())
    assert (after.state, after.error_code) == (State.FAILED, "no_channel")


async def test_a_channel_at_capacity_is_skipped_and_the_job_comes_back_soon(rig: Rig) -> None:
    cid, [key] = await rig.add_channel("a", max_concurrent=1)
    await rig.job(State.IN_PROGRESS, channel_id=cid, credential_id=key, upstream_id="up_0")
    after = await rig.step(await rig.job())
    assert after.state == State.QUEUED and rig.fake("a").called("submit") == []
    assert after.next_poll_at is not None and after.next_poll_at - now() <= 2.0


async def test_a_job_deleted_while_submitting_is_cancelled_upstream(rig: Rig) -> None:
    await rig.add_channel("a")
    job = await rig.job()

    async def delete_meanwhile() -> None:
        latest = await rig.lifecycle.reload(job.id)
        assert latest is not None and await rig.lifecycle.delete(latest) is not None

    rig.fake("a").during_submit = delete_meanwhile
    rig.fake("a").submits = [running("up_orphan")]
    after = await rig.step(job)
    assert after.state == State.FAILED and after.error_code == "cancelled"
    assert rig.fake("a").called("delete") == ["up_orphan"]


async def test_a_job_that_finished_at_once_is_copied_in_the_same_step(rig: Rig) -> None:
    await rig.add_channel("a")
    done = UpstreamJob("up_fast", UpstreamStatus.COMPLETED, raw_status="completed")
    rig.fake("a").submits = [done]
    rig.fake("a").files = {Variant.VIDEO: mp4()}
    after = await rig.step(await rig.job(size="160x96"))
    assert after.state == State.COMPLETED and after.upstream_id == "up_fast"
    assert set(after.media) == {"video", "thumbnail", "spritesheet"}


async def test_a_remix_goes_to_its_sources_channel_and_key_with_the_upstream_id(
    rig: Rig
) -> None:
    cid, keys = await rig.add_channel("a", keys=2)
    await rig.add_channel("b", priority=99)
    source = await rig.job(State.COMPLETED, channel_id=cid, credential_id=keys[1],
                           upstream_id="up_src")
    rig.fake("a").submits = [running("up_remix")]
    remix = await rig.job(remixed_from=source.id, channel_id=cid, credential_id=keys[1])
    after = await rig.step(remix)
    [(request, used)] = rig.fake("a").called("submit")
    assert request.remix_of == "up_src" and used == keys[1]
    assert after.state == State.IN_PROGRESS and rig.fake("b").called("submit") == []


async def test_recovery_finds_the_job_upstream_or_fails_it_without_resubmitting(
    rig: Rig
) -> None:
    cid, [key] = await rig.add_channel("a")
    rig.fake("a").recovers = [running("up_found"), None]
    found = await rig.step(await rig.job(State.SUBMITTING, channel_id=cid, credential_id=key))
    lost = await rig.step(await rig.job(State.SUBMITTING, channel_id=cid, credential_id=key))
    assert found.state == State.IN_PROGRESS and found.upstream_id == "up_found"
    assert (await rig.events(found.id))[-1] == "recovered"
    assert (lost.state, lost.error_code) == (State.FAILED, "upstream_submit_ambiguous")
    assert rig.fake("a").called("submit") == []


async def test_the_reference_goes_upstream_as_measured_when_it_arrived(rig: Rig) -> None:
    await rig.add_channel("a")
    rig.fake("a").submits = [running()]
    data = b"\x89PNG\r\n\x1a\n" + b"\x01" * 40
    await rig.storage.put_file("references/r.png", _write(rig, data), "image/png")
    job = await rig.job(reference_key="references/r.png", reference_mime="image/png",
                        reference_width=64, reference_height=48)  # not the job's size:
    await rig.step(job)  # so these can only come from the row, not a re-measure
    [(request, _)] = rig.fake("a").called("submit")
    assert request.reference is not None
    assert (request.reference.data, request.reference.mime, request.reference.width,
            request.reference.height) == (data, "image/png", 64, 48)


def _write(rig: Rig, data: bytes) -> Path:
    path = rig.settings.data_dir / "upload.bin"
    path.write_bytes(data)
    return path
