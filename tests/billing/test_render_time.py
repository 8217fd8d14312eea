"""Pricing by GPU time: a model billed per second of render time the upstream measured.

A create reserves the price times the model's ``max_render_seconds`` (an upper bound,
so a prepaid balance must cover the worst case); completion charges the measured render
time, at most that, and gives the rest back in one idempotent settlement; failures are
refunded in full. Integer micro-USD throughout; the billing basis is locked on the job
at create like the price is. Runs on SQLite and, on the PostgreSQL pass, PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from reelgate.billing.errors import InsufficientQuota
from reelgate.bootstrap import Gateway
from reelgate.catalog.document import CatalogError
from reelgate.catalog.service import ModelChange
from reelgate.jobs.requests import CreateParams
from tests.billing.support import (
    balance,
    complete,
    drive_to,
    fail,
    finish,
    job_entries,
    make_principal,
    settings_for,
    verified,
)
from tests.support.server import TEST_DATABASE, create_database

USD = 1_000_000
MODEL, SIZE = "wan-2.2-local", "1280x704"
CAP = 600  # GPU seconds reserved per job
RATE = 2_000  # micro-USD per GPU second ($0.002)


@pytest.fixture()
async def gw(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    url = create_database() if TEST_DATABASE == "postgres" else None
    gateway = await Gateway.start(settings_for(tmp_path_factory.mktemp("render-time"), url))
    await gateway.models.update(MODEL, ModelChange(
        fields={"billing": "render_seconds", "max_render_seconds": CAP},
        set_prices={SIZE: "0.002"}))
    yield gateway
    await gateway.close()


async def charged(gw: Gateway, job_id: str) -> int | None:
    """What the settlement recorded on the row (written by the hook, after the CAS)."""
    row = await gw.lifecycle.reload(job_id)
    assert row is not None
    return row.charged_micros


def params(gw: Gateway, seconds: int = 5) -> CreateParams:
    spec = gw.catalog.get(MODEL)
    assert spec is not None
    return CreateParams(spec, "a render-time billing test", SIZE, seconds, None)


async def test_reserve_the_ceiling_charge_the_measured_time(gw: Gateway) -> None:
    p = await make_principal(gw, topup=10 * USD)
    quote = await gw.quotes.quote(p, params(gw))
    assert (quote.billing, quote.reserved_seconds, quote.amount_micros) == (
        "render_seconds", CAP, RATE * CAP)
    job = await gw.videos.create(p, params(gw))
    assert (job.price_micros, job.render_cap_seconds) == (RATE * CAP, CAP)  # $1.20 reserved
    assert await balance(gw, p.tenant_id) == 10 * USD - RATE * CAP

    done = await complete(gw, job, render_seconds=123.4)
    assert done.render_seconds == 123.4
    assert await charged(gw, done.id) == 246_800  # 123.4 GPU-s x $0.002, not 5 s of video
    assert await balance(gw, p.tenant_id) == 10 * USD - 246_800
    kinds = [(e.kind, e.amount_micros) for e in await job_entries(gw, job.id)]
    assert kinds == [("reserve", -RATE * CAP), ("settle", RATE * CAP - 246_800)]
    assert "123.4 of 600 GPU seconds" in (await job_entries(gw, job.id))[1].note
    assert await verified(gw, p.tenant_id)


async def test_the_charge_never_exceeds_the_reservation(gw: Gateway) -> None:
    p = await make_principal(gw, topup=10 * USD)
    job = await gw.videos.create(p, params(gw))
    done = await complete(gw, job, render_seconds=CAP * 3.5)  # ran far past the ceiling
    assert await charged(gw, done.id) == RATE * CAP
    assert await balance(gw, p.tenant_id) == 10 * USD - RATE * CAP


async def test_a_prepaid_balance_must_cover_the_ceiling(gw: Gateway) -> None:
    # enough for 5 s of video at any video price, not for 600 GPU seconds
    p = await make_principal(gw, topup=RATE * CAP - 1)
    with pytest.raises(InsufficientQuota):
        await gw.videos.create(p, params(gw))
    assert (await gw.quotes.quote(p, params(gw))).balance_covers is False


async def test_failures_are_refunded_in_full_and_settlement_is_idempotent(gw: Gateway) -> None:
    p = await make_principal(gw, topup=10 * USD)
    failed = await gw.videos.create(p, params(gw))
    assert await fail(gw, failed, "generation_failed") is not None
    job = await gw.videos.create(p, params(gw, seconds=2))
    downloading = await drive_to(gw, job, render_seconds=30.0)
    done = await finish(gw, downloading)
    assert done is not None and await charged(gw, done.id) == 60_000
    assert await finish(gw, downloading) is None  # a replayed completion changes nothing
    async with gw.db.begin() as conn:  # nor does the hook itself, run again
        for hook in gw.lifecycle.hooks:
            await hook.on_transition(conn, downloading, done)
    assert await balance(gw, p.tenant_id) == 10 * USD - 60_000
    refunds = [e for e in await job_entries(gw, failed.id) if e.kind == "refund"]
    assert [e.amount_micros for e in refunds] == [RATE * CAP]
    assert len(await job_entries(gw, job.id)) == 2 and await verified(gw, p.tenant_id)


async def test_no_measurement_charges_the_time_seen_running(gw: Gateway) -> None:
    p = await make_principal(gw, topup=10 * USD)
    job = await gw.videos.create(p, params(gw))
    downloading = await drive_to(gw, job, render_seconds=None)
    assert downloading.started_at is not None and downloading.last_polled_at is not None
    seen = downloading.last_polled_at - downloading.started_at
    done = await finish(gw, downloading)
    assert done is not None and done.render_seconds is None
    amount = await charged(gw, done.id)
    assert amount is not None and abs(amount - RATE * seen) <= 1 and amount < RATE * CAP


async def test_the_basis_is_locked_at_create(gw: Gateway) -> None:
    """Switching the model back to video billing (and repricing it) after a create does
    not re-bill that job; a tenant multiplier scales reservation and charge alike."""
    p = await make_principal(gw, topup=10 * USD, ppm=500_000)
    job = await gw.videos.create(p, params(gw))
    assert job.price_micros == RATE * CAP // 2
    await gw.models.update(MODEL, ModelChange(fields={"billing": "video_seconds"},
                                              set_prices={SIZE: "0.50"}))
    later = await gw.videos.create(p, params(gw))
    assert (later.render_cap_seconds, later.price_micros) == (None, 5 * 250_000)
    done = await complete(gw, job, render_seconds=100.0)
    assert await charged(gw, done.id) == 100_000  # 100 GPU-s x $0.002 x 0.5
    by_video = await complete(gw, later, render_seconds=100.0, rendered_seconds=5.0)
    assert await charged(gw, by_video.id) == 5 * 250_000
    assert await verified(gw, p.tenant_id)


async def test_render_billing_needs_a_ceiling(gw: Gateway) -> None:
    with pytest.raises(CatalogError, match="max_render_seconds"):
        await gw.models.update("sora-2", ModelChange(fields={"billing": "render_seconds"}))
    with pytest.raises(CatalogError, match="max_render_seconds"):
        await gw.models.update(MODEL, ModelChange(fields={"max_render_seconds": 0}))
    with pytest.raises(CatalogError, match="billing"):
        await gw.models.update(MODEL, ModelChange(fields={"billing": "gpu"}))
