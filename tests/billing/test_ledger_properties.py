"""Random interleavings of creates, completions, failures, deletes, replays and racing
workers against the real services on SQLite; the money must always add up.

Each example gets its own tenant on one shared database. Jobs run as concurrent
asyncio tasks; for the terminal step several "workers" race from the same snapshot
(only the compare-and-swap winner may move money), a DELETE may race a completion,
duplicate creates share an Idempotency-Key, and hooks are replayed afterwards.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reelgate.auth.principal import Principal
from reelgate.billing import ledger, tenants
from reelgate.billing.errors import InsufficientQuota, SpendCapExceeded
from reelgate.billing.ledger import Kind
from reelgate.billing.money import round_micros
from reelgate.billing.prices import exact_seconds
from reelgate.bootstrap import Gateway
from reelgate.catalog import CATALOG
from reelgate.errors import NotFound
from reelgate.jobs import repository as jobs_repo
from reelgate.jobs.model import Job
from reelgate.jobs.states import State
from tests.billing.support import drive_to, finish, make_principal, params

SHAPES = [("sora-2", "1280x720"), ("sora-2", "720x1280"), ("sora-2-pro", "1280x720"),
          ("sora-2-pro", "1024x1792"), ("sora-2-pro", "1920x1080")]
FATES = ["complete", "fail", "cancel", "cancel_vs_complete", "timeout"]


@dataclass(frozen=True)
class Plan:
    shape: tuple[str, str]
    seconds: int
    fate: str
    #: None: the upstream reports nothing (bill what was asked); else a delta in seconds
    rendered_delta: float | None
    #: the upstream rendered 1080p instead (only sora-2-pro)
    rendered_1080: bool
    workers: int
    duplicate_create: bool
    replay: bool
    yields: int


plans = st.builds(
    Plan,
    shape=st.sampled_from(SHAPES),
    seconds=st.sampled_from([4, 8, 12]),
    fate=st.sampled_from(FATES),
    rendered_delta=st.one_of(st.none(), st.sampled_from([0.0, -0.5, -1.25, 0.04, 1.0])),
    rendered_1080=st.booleans(),
    workers=st.integers(1, 3),
    duplicate_create=st.booleans(),
    replay=st.booleans(),
    yields=st.integers(0, 5),
)


@dataclass
class Outcome:
    plan: Plan
    job: Job | None = None
    refused: str | None = None


async def _spin(n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def _create(gw: Gateway, p: Principal, plan: Plan, key: str) -> Outcome:
    model, size = plan.shape
    out = Outcome(plan)
    req = params(model, size, plan.seconds)
    idem = key if plan.duplicate_create else None
    attempts = [gw.videos.create(p, req, idempotency_key=idem, request_hash="h")
                for _ in range(2 if plan.duplicate_create else 1)]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    jobs = [r for r in results if isinstance(r, Job)]
    for r in results:
        if isinstance(r, (InsufficientQuota, SpendCapExceeded)):
            out.refused = r.code
        elif isinstance(r, BaseException):
            raise r
    if jobs:  # a duplicate may be refused while its twin got through, never both paid
        assert len({j.id for j in jobs}) == 1, "a duplicate create made a second job"
        out.job = jobs[0]
    return out


async def _finish(gw: Gateway, p: Principal, out: Outcome) -> None:
    plan, job = out.plan, out.job
    assert job is not None
    await _spin(plan.yields)
    rendered_seconds = (None if plan.rendered_delta is None
                        else max(0.5, plan.seconds + plan.rendered_delta))
    rendered_size = "1920x1080" if plan.rendered_1080 and plan.shape[0] == "sora-2-pro" \
        else None
    if plan.fate in ("fail", "timeout"):
        running = await drive_to(gw, job) if plan.fate == "fail" else job
        code = "moderation_blocked" if plan.fate == "fail" else "timeout"
        await asyncio.gather(*(gw.lifecycle.fail(running, code, code)
                               for _ in range(plan.workers)))
        return
    downloading = await drive_to(gw, job, rendered_seconds=rendered_seconds,
                                 rendered_size=rendered_size)
    racers: list[Any] = []
    if plan.fate != "cancel":
        racers += [finish(gw, downloading)
                   for _ in range(plan.workers)]
    if plan.fate in ("cancel", "cancel_vs_complete"):
        racers.append(gw.videos.delete(p, job.id))
    results = await asyncio.gather(*racers, return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException) and not isinstance(r, NotFound):
            raise r


async def _replay(gw: Gateway, job_id: str) -> None:
    """Feed the terminal transition to every hook again, as a duplicate event would."""
    async with gw.db.read() as conn:
        after = await jobs_repo.get(conn, job_id, include_deleted=True)
    assert after is not None
    before = Job(**{**after.__dict__, "state": State.DOWNLOADING})
    async with gw.db.begin() as conn:
        for hook in gw.hooks:
            await hook.on_transition(conn, before, after)


def _expected_charge(job: Job, ppm: int) -> int:
    """Independent of the code under test: the requested size's list price x rendered
    seconds x multiplier (prices are locked at the reservation, whatever size rendered)."""
    seconds = job.rendered_seconds or job.seconds
    rate = CATALOG.list_price(job.model, job.size)
    return round_micros(rate * exact_seconds(seconds) * Fraction(ppm, 1_000_000))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(plan_list=st.lists(plans, min_size=1, max_size=7),
       topup=st.sampled_from([0, 1_000_000, 5_000_000, 40_000_000]),
       prepaid=st.booleans(),
       ppm=st.sampled_from([1_000_000, 500_000, 1_250_000]),
       spend_cap=st.sampled_from([None, 3_000_000]))
async def test_money_always_adds_up(gw: Gateway, plan_list: list[Plan], topup: int,
                                    prepaid: bool, ppm: int, spend_cap: int | None) -> None:
    p = await make_principal(gw, prepaid=prepaid, topup=topup, ppm=ppm,
                             spend_cap_micros=spend_cap)
    creates = await asyncio.gather(*(_create(gw, p, plan, f"idem-{i}")
                                     for i, plan in enumerate(plan_list)))
    made = [o for o in creates if o.job is not None]
    await asyncio.gather(*(_finish(gw, p, o) for o in made))
    for o in made:
        if o.plan.replay:
            assert o.job is not None
            await _replay(gw, o.job.id)

    async with gw.db.read() as conn:
        tenant = await tenants.get(conn, p.tenant_id)
        check = (await ledger.verify(conn, p.tenant_id))[0]
        spent, _ = await tenants.key_spend(conn, p.key_id)
        entries, _ = await ledger.page(conn, p.tenant_id, after=None, limit=1000)
        final = {o.job.id: await jobs_repo.get(conn, o.job.id, include_deleted=True)
                 for o in made if o.job is not None}

    assert check.ok, check  # cached balance = ledger sum
    charged_total = 0
    for job_id, job in final.items():
        assert job is not None and job.state in (State.COMPLETED, State.FAILED)
        mine = [e for e in entries if e.job_id == job_id]
        kinds = sorted(e.kind.value for e in mine)
        net = sum(e.amount_micros for e in mine)
        if job.state == State.COMPLETED:
            assert kinds == ["reserve", "settle"], (job_id, kinds)
            assert job.charged_micros == _expected_charge(job, ppm)
            assert net == -job.charged_micros
            charged_total += job.charged_micros
        else:
            assert kinds == ["refund", "reserve"], (job_id, kinds)  # refunded exactly once
            assert net == 0 and job.charged_micros == 0  # failed jobs cost nothing
    job_ids = {e.job_id for e in entries if e.job_id is not None}
    assert job_ids == set(final), "a refused create left money moving"
    assert tenant.balance_micros == topup - charged_total
    assert spent == charged_total
    if spend_cap is not None:
        reserved = sum(-e.amount_micros for e in entries if e.kind == Kind.RESERVE)
        assert reserved <= spend_cap  # every create ran before any job finished
    if prepaid and all(o.plan.rendered_delta in (None, 0.0, -0.5, -1.25) and
                       not o.plan.rendered_1080 for o in made):
        assert tenant.balance_micros >= 0
