"""JobQueries: every tenant's jobs for operators, filtered, paged, with timelines."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reelgate.auth.principal import Principal
from reelgate.bootstrap import Gateway
from reelgate.errors import InvalidRequest, NotFound
from reelgate.jobs.queries import JobFilter
from reelgate.jobs.states import State
from tests.billing.support import complete, make_principal, params


async def _jobs(gw: Gateway, caller: Principal, n: int, model: str = "sora-2") -> list[str]:
    return [(await gw.videos.create(caller, params(model))).id for _ in range(n)]


async def test_search_filters_and_pages_newest_first(gw: Gateway) -> None:
    alice = await make_principal(gw, prepaid=False)
    bob = await make_principal(gw, prepaid=False)
    mine = await _jobs(gw, alice, 5)
    pro = await _jobs(gw, bob, 2, model="sora-2-pro")

    rows, more = await gw.job_queries.search(JobFilter(tenant=alice.tenant_name), limit=3)
    assert [r.job.id for r in rows] == mine[::-1][:3] and more
    assert {r.tenant_name for r in rows} == {alice.tenant_name}
    rest, more = await gw.job_queries.search(JobFilter(tenant=alice.tenant_id),
                                             after=rows[-1].job.id, limit=3)
    assert [r.job.id for r in rest] == mine[::-1][3:] and not more

    by_model, _ = await gw.job_queries.search(JobFilter(model="sora-2-pro"))
    assert {r.job.id for r in by_model} == set(pro)
    queued, _ = await gw.job_queries.search(JobFilter(status="queued", tenant=bob.tenant_id))
    assert {r.job.id for r in queued} == set(pro)
    assert (await gw.job_queries.search(JobFilter(status="completed")))[0] == []
    first = (await gw.job_queries.find(mine[0])).job
    window, _ = await gw.job_queries.search(JobFilter(tenant=alice.tenant_id,
                                                      since=first.created_at,
                                                      until=first.created_at + 1e-6))
    assert [r.job.id for r in window] == [mine[0]]


async def test_bad_filters_are_refused(gw: Gateway) -> None:
    with pytest.raises(InvalidRequest) as bad:
        await gw.job_queries.search(JobFilter(status="done"))
    assert bad.value.param == "status"
    with pytest.raises(InvalidRequest) as cursor:
        await gw.job_queries.search(JobFilter(), after="video_nope")
    assert cursor.value.param == "after"
    with pytest.raises(NotFound):
        await gw.job_queries.find("video_nope")


async def test_detail_and_snapshot_see_a_deleted_job_and_its_timeline(gw: Gateway) -> None:
    caller = await make_principal(gw, prepaid=False)
    job_id = (await _jobs(gw, caller, 1))[0]
    await gw.videos.delete(caller, job_id)

    detail = await gw.job_queries.detail(job_id)
    assert detail.row.job.state == State.FAILED and detail.row.job.deleted_at is not None
    assert detail.row.channel_name is None  # never reached a channel
    kinds = [e.kind for e in detail.timeline]
    assert kinds[0] == "created" and "deleted" in kinds
    assert [e.at for e in detail.timeline] == sorted(e.at for e in detail.timeline)

    seen = await gw.job_queries.snapshot(job_id, tenant_id=caller.tenant_id)
    assert seen is not None and seen.deleted_at is not None
    assert await gw.job_queries.snapshot(job_id, tenant_id="ten_other") is None
    assert await gw.job_queries.snapshot(job_id, tenant_id=None) is not None


async def test_filter_choices_list_tenant_and_channel_names(gw: Gateway) -> None:
    caller = await make_principal(gw, prepaid=False)
    choices = await gw.job_queries.filter_choices()
    assert caller.tenant_name in choices.tenants
    assert choices.tenants == sorted(choices.tenants)
    assert choices.channels == sorted(choices.channels)


async def test_spend_sums_one_tenants_jobs_in_the_window_by_model(gw: Gateway) -> None:
    caller = await make_principal(gw, prepaid=False)
    other = await make_principal(gw, prepaid=False)
    done = [await complete(gw, await gw.videos.create(caller, params("sora-2")))
            for _ in range(2)]
    running = await gw.videos.create(caller, params("sora-2-pro"))
    await gw.videos.create(other, params("sora-2"))  # someone else's: never counted
    first = min(j.created_at for j in done)

    rows = {r.model: r for r in await gw.job_queries.spend(caller.tenant_id, since=first)}
    assert set(rows) == {"sora-2", "sora-2-pro"}
    sora = rows["sora-2"]
    assert (sora.jobs, sora.completed, sora.failed) == (2, 2, 0)
    charged = [(await gw.job_queries.find(j.id)).job.charged_micros or 0 for j in done]
    assert sora.charged_micros == sum(charged) > 0
    assert sora.reserved_micros == 0
    pro = rows["sora-2-pro"]
    assert (pro.jobs, pro.charged_micros, pro.reserved_micros) == (1, 0, running.price_micros)
    later = await gw.job_queries.spend(caller.tenant_id, since=running.created_at)
    assert [r.model for r in later] == ["sora-2-pro"]
    assert await gw.job_queries.spend(caller.tenant_id, since=first,
                                      until=first) == []


async def test_prompt_search_is_bounded_case_blind_literal_and_pages(gw: Gateway) -> None:
    caller = await make_principal(gw, prepaid=False)
    other = await make_principal(gw, prepaid=False)

    async def make(who: Principal, prompt: str) -> str:
        base = params()
        return (await gw.videos.create(who, replace(base, prompt=prompt))).id

    fox = [await make(caller, f"A red FOX number {i}") for i in range(5)]
    await make(caller, "a grey wolf")
    odd = await make(caller, "100%_literal")
    theirs = await make(other, "a red fox elsewhere")
    mine = JobFilter(tenant=caller.tenant_id)

    page = await gw.job_queries.search_prompt(mine, "red fox")
    assert [r.job.id for r in page.rows] == fox[::-1] and page.next_after is None
    assert page.scanned == 7  # every job of the tenant, none of the other's
    everyone = await gw.job_queries.search_prompt(JobFilter(), "RED fox")
    assert theirs in {r.job.id for r in everyone.rows}
    assert [r.job.id for r in (await gw.job_queries.search_prompt(mine, "0%_l")).rows] == [odd]
    assert (await gw.job_queries.search_prompt(mine, "0%x")).rows == []  # % is literal

    first = await gw.job_queries.search_prompt(mine, "fox", limit=2)
    assert [r.job.id for r in first.rows] == fox[::-1][:2] and first.next_after == fox[3]
    rest = await gw.job_queries.search_prompt(mine, "fox", after=first.next_after, limit=10)
    assert [r.job.id for r in rest.rows] == fox[::-1][2:] and rest.next_after is None

    # a window of 3 jobs: the newest 3 are searched, then the 3 before its oldest, ...
    small = await gw.job_queries.search_prompt(mine, "fox", scan=3)
    assert [r.job.id for r in small.rows] == [fox[4]]  # odd and wolf took two of the 3
    assert small.scanned == 3 and small.next_after == fox[4]
    more = await gw.job_queries.search_prompt(mine, "fox", after=small.next_after, scan=3)
    assert [r.job.id for r in more.rows] == [fox[3], fox[2], fox[1]]
    assert more.scanned == 3 and more.next_after == fox[1]
    last = await gw.job_queries.search_prompt(mine, "fox", after=more.next_after, scan=3)
    assert [r.job.id for r in last.rows] == [fox[0]] and last.scanned == 1
    assert last.next_after is None
