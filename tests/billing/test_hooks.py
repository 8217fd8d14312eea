"""Reserve → settle → refund through the real services and hooks on SQLite."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, update

from reelgate.billing import ledger, tenants
from reelgate.billing.errors import (
    InFlightLimit,
    InsufficientQuota,
    ModelNotAllowed,
    SpendCapExceeded,
)
from reelgate.billing.ledger import Kind
from reelgate.bootstrap import Gateway
from reelgate.jobs import repository as jobs_repo
from reelgate.jobs.states import State
from reelgate.store.tables import api_keys, jobs
from reelgate.store.tables import tenants as tenants_table
from tests.billing.support import (
    balance,
    complete,
    drive_to,
    fail,
    finish,
    job_entries,
    make_principal,
    params,
    verified,
)

USD = 1_000_000


async def test_reserve_then_settle_at_requested_seconds(gw: Gateway) -> None:
    p = await make_principal(gw, topup=10 * USD)
    job = await gw.videos.create(p, params("sora-2", "1280x720", 8))
    assert job.price_micros == 800_000
    assert await balance(gw, p.tenant_id) == 10 * USD - 800_000
    done = await complete(gw, job)
    assert done.charged_micros is None  # the snapshot predates the hook's UPDATE
    async with gw.db.read() as conn:
        row = await jobs_repo.get(conn, job.id)
    assert row is not None and row.charged_micros == 800_000
    kinds = [(e.kind, e.amount_micros) for e in await job_entries(gw, job.id)]
    assert kinds == [(Kind.RESERVE, -800_000), (Kind.SETTLE, 0)]
    assert await balance(gw, p.tenant_id) == 10 * USD - 800_000
    assert await verified(gw, p.tenant_id)


async def test_settles_on_rendered_seconds_both_ways(gw: Gateway) -> None:
    p = await make_principal(gw, topup=10 * USD)
    shorter = await gw.videos.create(p, params("sora-2", "1280x720", 8))
    longer = await gw.videos.create(p, params("sora-2", "1280x720", 4))
    await complete(gw, shorter, rendered_seconds=5.5)
    await complete(gw, longer, rendered_seconds=10.0)  # the upstream rendered more
    charged = {e.job_id: e.amount_micros for e in
               [*await job_entries(gw, shorter.id), *await job_entries(gw, longer.id)]
               if e.kind == Kind.SETTLE}
    assert charged == {shorter.id: 800_000 - 550_000, longer.id: 400_000 - 1_000_000}
    assert await balance(gw, p.tenant_id) == 10 * USD - 550_000 - 1_000_000
    assert await verified(gw, p.tenant_id)


async def test_another_rendered_size_keeps_the_reserved_rate(gw: Gateway) -> None:
    p = await make_principal(gw, topup=20 * USD)
    job = await gw.videos.create(p, params("sora-2-pro", "1280x720", 12))
    assert job.price_micros == 3_600_000
    await complete(gw, job, rendered_size="1920x1080", rendered_seconds=12.0)
    assert await balance(gw, p.tenant_id) == 20 * USD - 3_600_000


async def test_unpriced_rendered_size_falls_back_to_requested(gw: Gateway) -> None:
    p = await make_principal(gw, topup=20 * USD)
    job = await gw.videos.create(p, params("sora-2", "1280x720", 4))
    await complete(gw, job, rendered_size="1280x704")
    assert await balance(gw, p.tenant_id) == 20 * USD - 400_000


async def test_price_change_after_create_does_not_reprice_the_job(gw: Gateway) -> None:
    p = await make_principal(gw, topup=10 * USD)
    job = await gw.videos.create(p, params("sora-2", "720x1280", 4))
    async with gw.db.begin() as conn:
        await gw.pricer.set_price(conn, "sora-2", "720x1280", 5 * USD, p.tenant_id)
    await complete(gw, job)
    assert await balance(gw, p.tenant_id) == 10 * USD - 400_000


async def test_tenant_and_global_prices_and_multiplier(gw: Gateway) -> None:
    p = await make_principal(gw, topup=10 * USD, ppm=1_250_000)
    async with gw.db.begin() as conn:
        await gw.pricer.set_price(conn, "sora-2-pro", "1024x1792", 400_000)  # global
        assert await gw.pricer.quote(conn, p.tenant_id, "sora-2-pro", "1024x1792", 4) == \
            2_000_000
        await gw.pricer.set_price(conn, "sora-2-pro", "1024x1792", 200_000, p.tenant_id)
        assert await gw.pricer.quote(conn, p.tenant_id, "sora-2-pro", "1024x1792", 4) == \
            1_000_000
        assert await gw.pricer.quote(conn, "", "sora-2-pro", "1024x1792", 4) == 1_600_000
        # 0.10 $/s x 4.1 s x 1.25 = 0.5125 exactly, no float drift
        assert await gw.pricer.quote(conn, p.tenant_id, "sora-2", "720x1280", 4.1) == 512_500
        per_second = await gw.pricer.per_second(conn, p.tenant_id)
        assert per_second["sora-2-pro"]["1024x1792"] == 250_000
        assert per_second["sora-2"]["1280x720"] == 125_000
        await gw.pricer.unset_price(conn, "sora-2-pro", "1024x1792")
        await gw.pricer.unset_price(conn, "sora-2-pro", "1024x1792", p.tenant_id)
        assert await gw.pricer.quote(conn, "", "sora-2-pro", "1024x1792", 4) == 2_000_000


@pytest.mark.parametrize("code", ["moderation_blocked", "timeout", "upstream_lost"])
async def test_failed_jobs_are_refunded_in_full(gw: Gateway, code: str) -> None:
    p = await make_principal(gw, topup=5 * USD)
    job = await gw.videos.create(p, params("sora-2-pro", "1792x1024", 8))
    running = await drive_to(gw, job)
    assert await balance(gw, p.tenant_id) == 5 * USD - 4_000_000
    assert await fail(gw, running, code) is not None
    assert await balance(gw, p.tenant_id) == 5 * USD
    assert sum(e.amount_micros for e in await job_entries(gw, job.id)) == 0
    async with gw.db.read() as conn:
        spent, _ = await tenants.key_spend(conn, p.key_id)
        row = (await conn.execute(select(jobs.c.charged_micros)
                                  .where(jobs.c.id == job.id))).scalar()
    assert spent == 0 and row == 0


async def test_delete_before_completion_refunds(gw: Gateway) -> None:
    p = await make_principal(gw, topup=5 * USD)
    job = await gw.videos.create(p, params())
    await gw.videos.delete(p, job.id)
    assert await balance(gw, p.tenant_id) == 5 * USD
    kinds = [e.kind for e in await job_entries(gw, job.id)]
    assert kinds == [Kind.RESERVE, Kind.REFUND]


async def test_delete_after_completion_keeps_the_charge(gw: Gateway) -> None:
    p = await make_principal(gw, topup=5 * USD)
    job = await complete(gw, await gw.videos.create(p, params()))
    await gw.videos.delete(p, job.id)
    assert await balance(gw, p.tenant_id) == 5 * USD - 800_000


async def test_two_workers_failing_at_once_refund_once(gw: Gateway) -> None:
    p = await make_principal(gw, topup=5 * USD)
    job = await drive_to(gw, await gw.videos.create(p, params()))
    results = await asyncio.gather(*(fail(gw, job, f"w{i}") for i in range(4)))
    assert sum(r is not None for r in results) == 1
    assert await balance(gw, p.tenant_id) == 5 * USD
    assert [e.kind for e in await job_entries(gw, job.id)] == [Kind.RESERVE, Kind.REFUND]


async def test_replayed_hooks_are_no_ops(gw: Gateway) -> None:
    p = await make_principal(gw, topup=5 * USD)
    job = await gw.videos.create(p, params())
    before = await drive_to(gw, job)
    after = await finish(gw, before)
    assert after is not None
    failed_job = await drive_to(gw, await gw.videos.create(p, params()))
    failed = await fail(gw, failed_job)
    assert failed is not None
    snapshot = await balance(gw, p.tenant_id)
    for _ in range(3):
        async with gw.db.begin() as conn:
            for hook in gw.hooks:
                await hook.on_transition(conn, before, after)
                await hook.on_transition(conn, failed_job, failed)
    assert await balance(gw, p.tenant_id) == snapshot
    assert len(await job_entries(gw, job.id)) == 2
    assert len(await job_entries(gw, failed_job.id)) == 2


async def test_a_settled_job_is_never_refunded_nor_the_reverse(gw: Gateway) -> None:
    p = await make_principal(gw, topup=5 * USD)
    job = await gw.videos.create(p, params())
    before = await drive_to(gw, job)
    done = await finish(gw, before)
    assert done is not None
    snapshot = await balance(gw, p.tenant_id)
    fake_failed = done.__class__(**{**done.__dict__, "state": State.FAILED})
    async with gw.db.begin() as conn:
        for hook in gw.hooks:
            await hook.on_transition(conn, before, fake_failed)
    assert await balance(gw, p.tenant_id) == snapshot
    assert [e.kind for e in await job_entries(gw, job.id)] == [Kind.RESERVE, Kind.SETTLE]


async def test_insufficient_balance_leaves_no_job_and_no_entry(gw: Gateway) -> None:
    p = await make_principal(gw, topup=1 * USD)
    await gw.videos.create(p, params(seconds=8))  # 0.80 reserved, 0.20 left
    with pytest.raises(InsufficientQuota) as err:
        await gw.videos.create(p, params(seconds=4))
    assert err.value.status == 429 and err.value.code == "insufficient_quota"
    async with gw.db.read() as conn:
        page, _ = await ledger.page(conn, p.tenant_id, after=None, limit=10)
        count = len((await jobs_repo.list_page(conn, p.tenant_id, after=None, limit=10,
                                               order="desc"))[0])
    assert [e.kind for e in page] == [Kind.RESERVE, Kind.TOPUP]
    assert count == 1
    assert await balance(gw, p.tenant_id) == 200_000


async def test_postpaid_tenants_go_negative_but_are_recorded(gw: Gateway) -> None:
    p = await make_principal(gw, prepaid=False)
    job = await complete(gw, await gw.videos.create(p, params("sora-2-pro", "1920x1080", 12)))
    assert await balance(gw, p.tenant_id) == -8_400_000
    assert [e.kind for e in await job_entries(gw, job.id)] == [Kind.RESERVE, Kind.SETTLE]


async def test_spend_cap_counts_reservations_and_frees_refunds(gw: Gateway) -> None:
    p = await make_principal(gw, prepaid=False, spend_cap_micros=1_000_000)
    first = await gw.videos.create(p, params(seconds=8))
    with pytest.raises(SpendCapExceeded) as err:
        await gw.videos.create(p, params(seconds=4))
    assert err.value.status == 429 and err.value.code == "spend_cap_exceeded"
    await fail(gw, first)
    await gw.videos.create(p, params(seconds=8))  # the refund made room again


async def test_model_allow_list_and_in_flight_cap(gw: Gateway) -> None:
    p = await make_principal(gw, prepaid=False, allowed_models=["sora-2"], max_in_flight=2)
    with pytest.raises(ModelNotAllowed) as denied:
        await gw.videos.create(p, params("sora-2-pro"))
    assert denied.value.status == 403 and denied.value.code == "model_not_allowed"
    a = await gw.videos.create(p, params())
    await gw.videos.create(p, params())
    with pytest.raises(InFlightLimit) as busy:
        await gw.videos.create(p, params())
    assert busy.value.status == 429 and busy.value.code == "too_many_inflight_jobs"
    await complete(gw, a)
    await gw.videos.create(p, params())
    async with gw.db.read() as conn:
        spent, _ = await tenants.key_spend(conn, p.key_id)
    assert spent == 3 * 800_000  # the refused creates reserved nothing


async def test_concurrent_creates_never_overspend(gw: Gateway) -> None:
    p = await make_principal(gw, topup=4 * USD)
    results = await asyncio.gather(*(gw.videos.create(p, params(seconds=8))
                                     for _ in range(12)), return_exceptions=True)
    made = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, InsufficientQuota)]
    assert len(made) == 5 and len(refused) == 7
    assert await balance(gw, p.tenant_id) == 0
    assert await verified(gw, p.tenant_id)


async def test_verify_detects_a_tampered_cache(gw: Gateway) -> None:
    p = await make_principal(gw, topup=3 * USD)
    assert await verified(gw, p.tenant_id)
    async with gw.db.begin() as conn:
        await conn.execute(update(tenants_table).where(tenants_table.c.id == p.tenant_id)
                           .values(balance_micros=tenants_table.c.balance_micros + 1))
    assert not await verified(gw, p.tenant_id)
    async with gw.db.read() as conn:
        check = (await ledger.verify(conn, p.tenant_id))[0]
    assert (check.cached_micros, check.ledger_micros) == (3 * USD + 1, 3 * USD)


async def test_topup_reference_is_idempotent(gw: Gateway) -> None:
    p = await make_principal(gw)
    async with gw.db.begin() as conn:
        ten = await tenants.get(conn, p.tenant_id)
        first = await tenants.credit(conn, ten, 2 * USD, reference="pay_42")
        again = await tenants.credit(conn, ten, 2 * USD, reference="pay_42")
    assert first.created and not again.created and first.entry.id == again.entry.id
    assert await balance(gw, p.tenant_id) == 2 * USD
    async with gw.db.read() as conn:
        cap = (await conn.execute(select(api_keys.c.spent_micros)
                                  .where(api_keys.c.id == p.key_id))).scalar()
    assert cap == 0


async def test_concurrent_creates_respect_in_flight_and_spend_caps(gw: Gateway) -> None:
    p = await make_principal(gw, prepaid=False, max_in_flight=3)
    results = await asyncio.gather(*(gw.videos.create(p, params(seconds=4))
                                     for _ in range(10)), return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in results) == 3
    assert all(isinstance(r, InFlightLimit) for r in results if isinstance(r, BaseException))
    q = await make_principal(gw, prepaid=False, spend_cap_micros=2_000_000)
    results = await asyncio.gather(*(gw.videos.create(q, params(seconds=4))
                                     for _ in range(10)), return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in results) == 5


async def test_creates_and_settlements_interleave_without_deadlock(gw: Gateway) -> None:
    """Creates lock tenant then key; so do settlements and refunds (PostgreSQL pass)."""
    p = await make_principal(gw, topup=100 * USD, max_in_flight=50,
                             spend_cap_micros=100 * USD)
    running = [await drive_to(gw, await gw.videos.create(p, params(seconds=4)))
               for _ in range(8)]
    work = [finish(gw, j) if i % 2 else fail(gw, j)
            for i, j in enumerate(running)]
    work += [gw.videos.create(p, params(seconds=4)) for _ in range(8)]
    results = await asyncio.gather(*work)
    assert all(r is not None for r in results)
    assert await balance(gw, p.tenant_id) == 100 * USD - 4 * 400_000 - 8 * 400_000
    assert await verified(gw, p.tenant_id)
