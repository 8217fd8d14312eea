"""The scheduler against a real upstream server: timeouts, 429 cooldown, inline refresh.

One API process (``--no-worker``) and one worker process share a database; the
upstream is the fake OpenAI server, steered per test (job duration, injected 429s
and slow answers).
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import openai

from reelgate.scheduler.directory import CHANNEL_TTL
from tests.fakes import OpenAIFake
from tests.integration.helpers import decode_info, wait_done
from tests.scale.support import Deployment, WorkerProcess

POLL = re.compile(r"^/v1/videos/(video_[0-9a-f]+)$")


def _create(live: Deployment, live_client: openai.OpenAI, fake: OpenAIFake, prompt: str, *,
            upstream_seconds: float) -> tuple[str, str]:
    """A job the upstream takes ``upstream_seconds`` to finish: (our id, upstream id)."""
    before, fake.complete_after = fake.complete_after, upstream_seconds
    try:
        vid = live_client.videos.create(model="sora-2", prompt=prompt, seconds="4",
                                        size="1280x720").id
        rows = live.wait_for("SELECT state, upstream_id FROM jobs WHERE id = :id",
                             "in_progress", timeout=30, id=vid)
        return vid, str(rows[0][1])
    finally:
        fake.complete_after = before


def _polls(fake: OpenAIFake, upstream_id: str, since: float = 0.0) -> list[float]:
    return [r.time for r in fake.requests
            if r.method == "GET" and r.time >= since and (m := POLL.match(r.path))
            and m.group(1) == upstream_id]


def test_a_job_stuck_past_the_limit_fails_with_timeout_and_is_refunded(
    live: Deployment, live_client: openai.OpenAI, upstream: tuple[OpenAIFake, str]
) -> None:
    fake, _ = upstream
    vid, _ = _create(live, live_client, fake, "never ends", upstream_seconds=3600.0)
    assert live_client.videos.retrieve(vid).status in ("queued", "in_progress")
    # let time pass: the job is now older than the deployment's limit (30 s)
    live.execute("UPDATE jobs SET created_at = created_at - 31 WHERE id = :id", id=vid)
    done = wait_done(live_client, vid, timeout=30)
    assert done.status == "failed"
    assert done.error is not None and done.error.code == "timeout"
    assert "30 seconds" in done.error.message
    kinds = sorted(k for (k,) in live.query("SELECT kind FROM ledger WHERE job_id = :id", id=vid))
    assert kinds == ["refund", "reserve"]
    amounts = live.query("SELECT sum(amount_micros) FROM ledger WHERE job_id = :id", id=vid)
    assert amounts == [(0,)]


def test_upstream_429_cools_the_channel_down_instead_of_failing_jobs(
    live: Deployment, live_client: openai.OpenAI, upstream: tuple[OpenAIFake, str]
) -> None:
    """Causal, not timed: the channel takes one request at a time and the jobs are
    watched in the database (a client's GET would refresh them from the API process),
    so every poll after a 429 was sent after the worker had read that 429, and the jobs
    that waited for the channel meanwhile must see its cooldown too."""
    fake, _ = upstream
    fake.clear_faults()
    live.execute("UPDATE channels SET max_concurrent = 1 WHERE name = 'fake'")
    try:
        time.sleep(CHANNEL_TTL + 0.5)  # the worker's channel cache has expired
        start = time.time()
        # each 429 takes a second to come back: the other jobs queue for the channel
        fake.rate_limit_next(2, retry_after=2, method="GET", path=POLL.pattern, delay=1.0)
        ids = [live_client.videos.create(model="sora-2", prompt=f"throttled {i}", seconds="4",
                                         size="1280x720").id for i in range(3)]
        for vid in ids:
            live.wait_for("SELECT state FROM jobs WHERE id = :id", "completed", timeout=60,
                          id=vid)
            assert live_client.videos.retrieve(vid).status == "completed"
    finally:
        live.execute("UPDATE channels SET max_concurrent = 0 WHERE name = 'fake'")
    limited = [r.time for r in fake.requests if r.time >= start and r.status == 429]
    assert len(limited) == 2
    # after each 429, no job on that channel was polled until Retry-After had passed
    for t in limited:
        polls = [r.time for r in fake.requests
                 if r.time > t and r.status == 200 and POLL.match(r.path)]
        assert polls and min(polls) >= t + 1.9, (t, polls[:3])


def test_a_stale_job_is_refreshed_by_get_once_for_many_callers_without_any_worker(
    live: Deployment, live_client: openai.OpenAI, upstream: tuple[OpenAIFake, str]
) -> None:
    fake, _ = upstream
    fake.clear_faults()
    vid, upstream_id = _create(live, live_client, fake, "refresh me", upstream_seconds=3600.0)
    worker = live.workers[0]
    worker.kill9()  # from now on only live_client GETs can advance the job
    try:
        time.sleep(2.5)  # past the stale bound (1 s) and any lease the worker held (2 s)
        burst_start = time.time()
        with ThreadPoolExecutor(20) as pool:
            seen = list(pool.map(lambda _: live_client.videos.retrieve(vid).status, range(20)))
        assert set(seen) <= {"queued", "in_progress"}
        assert len(_polls(fake, upstream_id, burst_start)) == 1  # twenty GETs, one poll

        # a slow upstream does not hold a live_client's GET: it answers from the database
        # after the refresh bound (1 s), long before the upstream does (the 15 s are a
        # margin for a loaded machine, not a measurement of the 1 s)
        fake.jobs[upstream_id].complete_after = 0.0
        fake.slow_next(15.0, method="GET", path=POLL.pattern)
        time.sleep(1.2)
        t0 = time.monotonic()
        assert live_client.videos.retrieve(vid).status in ("queued", "in_progress")
        assert time.monotonic() - t0 < 15.0, "the GET waited for the slow upstream"
        # the slow poll carries on in the API process and completes the job
        done = wait_done(live_client, vid, timeout=120)
        assert done.status == "completed", done
        assert decode_info(live_client.videos.download_content(vid).read())[:2] == (1280, 720)
        assert len(_polls(fake, upstream_id, burst_start)) == 2
    finally:
        replacement = WorkerProcess(worker.data_dir, worker.env)
        replacement.start()
        live.workers[0] = replacement


def test_a_fresh_or_finished_job_is_never_polled_by_get(
    live: Deployment, live_client: openai.OpenAI, upstream: tuple[OpenAIFake, str]
) -> None:
    fake, _ = upstream
    vid = live_client.videos.create(model="sora-2", prompt="plain", seconds="4",
                                    size="1280x720").id
    done = wait_done(live_client, vid, timeout=60)
    assert done.status == "completed", done
    upstream_id = live.query("SELECT upstream_id FROM jobs WHERE id = :id", id=vid)[0][0]
    since = time.time()
    for _ in range(5):
        live_client.videos.retrieve(vid)
    assert _polls(fake, upstream_id, since) == []
