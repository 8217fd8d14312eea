"""The outbox and the dispatcher in process, on a real database (SQLite or PostgreSQL).

Deliveries commit with the job change or not at all; an event is enqueued once per
endpoint; the URL is checked again at delivery time; backoff doubles up to its cap.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import openai
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.auth import repository as auth_repo
from reelgate.bootstrap import Gateway
from reelgate.config import Settings
from reelgate.errors import InvalidRequest, NotFound
from reelgate.ids import now
from reelgate.jobs.lifecycle import Lifecycle
from reelgate.jobs.model import Job
from reelgate.jobs.requests import parse_create
from reelgate.jobs.states import State
from reelgate.store.tables import webhook_deliveries
from reelgate.webhooks import repository as repo
from reelgate.webhooks.dispatcher import Dispatcher, retry_delay
from reelgate.webhooks.hooks import WebhookHooks
from tests.support.server import database_env
from tests.webhooks.receiver import Receiver


class Boom(Exception):
    pass


class ExplodingHook:
    """A hook that fails after the webhook hook ran in the same transaction."""

    async def on_created(self, conn: AsyncConnection, job: Job, principal: object) -> None:
        pass

    async def on_transition(self, conn: AsyncConnection, before: Job, after: Job) -> None:
        raise Boom


@pytest.fixture()
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    url = database_env().get("REELGATE_DATABASE_URL",  # PostgreSQL on that test pass
                             f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    settings = Settings.from_env(data_dir=tmp_path, database_url=url,
                                 storage_url=str(tmp_path / "media"), run_worker=False)
    gateway = await Gateway.start(settings)
    try:
        await gateway.bootstrap_key()  # tenant "default"
        yield gateway
    finally:
        await gateway.close()


async def new_job(gw: Gateway, secret: str) -> Job:
    async with gw.db.read() as conn:
        principal = await auth_repo.find_principal(conn, secret)
    assert principal is not None
    params = parse_create({"prompt": "an outbox test"}, None, gw.catalog,
                          max_prompt_chars=1000)
    return await gw.videos.create(principal, params)


async def deliveries(gw: Gateway) -> list[repo.Delivery]:
    async with gw.db.read() as conn:
        rows = await conn.execute(select(webhook_deliveries))
        return [repo.Delivery.from_row(r) for r in rows]


async def test_deliveries_commit_with_the_transition_or_not_at_all(gw: Gateway) -> None:
    await gw.webhooks.register(tenant="default", url="http://127.0.0.1:9/x", allow_private=True)
    async with gw.db.begin() as conn:
        tenant = await auth_repo.get_tenant_by_name(conn, "default")
        assert tenant is not None
        _, secret = await auth_repo.create_key(conn, tenant, "outbox")
    job = await new_job(gw, secret)
    assert await deliveries(gw) == []  # video.created was not asked for
    failing = Lifecycle(gw.db, [WebhookHooks(), ExplodingHook()])
    with pytest.raises(Boom):
        await failing.fail(job, "x", "y")
    assert await deliveries(gw) == []  # rolled back with the job change
    unchanged = await failing.reload(job.id)
    assert unchanged is not None and unchanged.state == State.QUEUED
    working = Lifecycle(gw.db, [WebhookHooks()])
    moved = await working.fail(job, "x", "y")
    assert moved is not None
    assert [d.event_type for d in await deliveries(gw)] == ["video.failed"]
    assert await working.fail(job, "x", "y") is None  # stale version
    assert len(await deliveries(gw)) == 1


async def test_an_event_is_enqueued_once_per_endpoint(gw: Gateway) -> None:
    ep = await gw.webhooks.register(tenant="default", url="http://127.0.0.1:9/x",
                                    allow_private=True)
    async with gw.db.begin() as conn:
        for _ in range(3):
            await repo.enqueue(conn, endpoint_id=ep.id, job_id="video_1",
                               event_type="video.completed", event_key="k1", payload="{}")
    assert len(await deliveries(gw)) == 1


async def test_private_urls_are_refused_again_at_delivery_time(gw: Gateway) -> None:
    with Receiver() as rx:
        async with gw.db.begin() as conn:  # as if DNS changed after registration
            tenant = await auth_repo.get_tenant_by_name(conn, "default")
            assert tenant is not None
            ep = await repo.add_endpoint(conn, tenant_id=tenant.id, url=rx.url,
                                         secret="whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=",
                                         events=("video.completed",), allow_private=False)
            await repo.enqueue(conn, endpoint_id=ep.id, job_id="video_1",
                               event_type="video.completed", event_key="k2",
                               payload='{"id":"evt_1"}')
        dispatcher = Dispatcher(gw.db, replace(gw.settings, webhook_max_age_seconds=0.0))
        try:
            await dispatcher.run_until_idle()
        finally:
            await dispatcher.aclose()
        assert rx.snapshot() == []
    [dead] = await deliveries(gw)
    assert dead.status == "dead" and dead.attempts == 1
    assert dead.last_error is not None and dead.last_error.startswith("refused URL")


def test_retry_delay_doubles_with_jitter_up_to_the_cap() -> None:
    settings = Settings(webhook_backoff_base_seconds=5, webhook_backoff_max_seconds=3600)
    rng = random.Random(7)
    delays = [retry_delay(n, settings, rng) for n in range(1, 15)]
    for n, d in enumerate(delays, start=1):
        nominal = min(3600, 5 * 2 ** (n - 1))
        assert 0.75 * nominal <= d <= 1.25 * nominal
    assert max(delays) <= 3600 * 1.25


async def test_progress_events_are_told_in_ten_percent_steps(gw: Gateway) -> None:
    await gw.webhooks.register(tenant="default", url="http://127.0.0.1:9/p",
                               events=["video.progress"], allow_private=True)
    secret = await _second_key(gw)
    job = await new_job(gw, secret)
    moved = await gw.lifecycle.route(job, channel_id="ch_x", credential_id="",
                                     upstream_model=job.model)
    assert moved is not None
    job = await gw.lifecycle.accept(moved, "up_1", upstream_status="in_progress", progress=0,
                                    due_at=now() + 3600)
    assert job is not None
    for pct in (3, 7, 12, 15, 48, 49, 51):
        nxt = await gw.lifecycle.progress(job, progress=pct, upstream_status="in_progress",
                                          due_at=now() + 3600)
        assert nxt is not None
        job = nxt
    payloads = [d.payload for d in await deliveries(gw) if d.event_type == "video.progress"]
    told = sorted(int(p.split('"progress":')[1].split("}")[0].split(",")[0]) for p in payloads
                  if '"in_progress"' in p)
    assert told == [0, 12, 48, 51]


async def _second_key(gw: Gateway) -> str:
    async with gw.db.begin() as conn:
        tenant = await auth_repo.ensure_tenant(conn, "default")
        _, secret = await auth_repo.create_key(conn, tenant, "progress")
    return secret


async def test_a_rotated_secret_signs_every_delivery_from_then_on(gw: Gateway) -> None:
    """Pending deliveries too: a retry of an event from before the rotation is signed
    with the new secret, which the SDK verifies; the old one no longer does."""
    with Receiver() as rx:
        ep = await gw.webhooks.register(tenant="default", url=rx.url, allow_private=True)
        async with gw.db.begin() as conn:
            await repo.enqueue(conn, endpoint_id=ep.id, job_id="video_1",
                               event_type="video.completed", event_key="rot1",
                               payload='{"id":"evt_rot","object":"event","type":'
                                       '"video.completed","created_at":1,'
                                       '"data":{"id":"video_1"}}')
        rotated = await gw.webhooks.rotate_secret(ep.id)
        assert rotated.secret != ep.secret and rotated.secret.startswith("whsec_")
        dispatcher = Dispatcher(gw.db, gw.settings)
        try:
            await dispatcher.run_until_idle()
        finally:
            await dispatcher.aclose()
        [got] = rx.snapshot()
    fresh = openai.OpenAI(api_key="unused", webhook_secret=rotated.secret)
    assert fresh.webhooks.unwrap(got.body, got.headers).id == "evt_rot"
    stale = openai.OpenAI(api_key="unused", webhook_secret=ep.secret)
    with pytest.raises(openai.InvalidWebhookSignatureError):
        stale.webhooks.unwrap(got.body, got.headers)
    chosen = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQ="
    assert (await gw.webhooks.rotate_secret(ep.id, chosen)).secret == chosen
    with pytest.raises(InvalidRequest):
        await gw.webhooks.rotate_secret(ep.id, "not-a-secret")
    with pytest.raises(NotFound):
        await gw.webhooks.rotate_secret("we_nope")
