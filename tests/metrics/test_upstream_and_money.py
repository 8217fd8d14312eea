"""Submit and poll errors per channel and kind, and the money per model, counted from
what really happened: a dead upstream, a flaky one, a completed and a refunded job."""

from __future__ import annotations

import httpx

from reelgate.billing.hooks import BillingHooks
from reelgate.jobs import repository as repo
from reelgate.metrics import render, snapshot
from reelgate.store.db import Database
from tests.metrics.conftest import Workload, scrape_until
from tests.metrics.scrape import Samples, samples, scrape, total, value
from tests.scale.support import in_thread
from tests.support.server import GatewayProcess

ERRORS = "reelgate_upstream_errors_total"


def _grew(w: Workload, name: str, **labels: str) -> float:
    return value(w.after, name, **labels) - value(w.before, name, **labels)


def test_each_failed_upstream_call_is_counted_by_channel_op_and_kind(
    workload: Workload,
) -> None:
    assert _grew(workload, ERRORS, channel="down", op="submit", kind="connection") >= 1
    # exactly the faults the fake was told to inject, each once
    assert _grew(workload, ERRORS, channel="flaky", op="submit", kind="http_5xx") == 1
    assert _grew(workload, ERRORS, channel="flaky", op="poll", kind="http_5xx") == 1
    assert _grew(workload, ERRORS, channel="flaky", op="poll", kind="rate_limited") == 1
    assert _grew(workload, ERRORS, channel="flaky", op="poll", kind="timeout") == 1
    for op, n in (("submit", 1), ("poll", 3)):  # and nothing else
        grew = total(workload.after, ERRORS, channel="flaky", op=op) - total(
            workload.before, ERRORS, channel="flaky", op=op)
        assert grew == n, op
    assert not workload.fake.violations


def _database_url(gw: GatewayProcess) -> str:
    return gw.env.get("REELGATE_DATABASE_URL") or \
        f"sqlite+aiosqlite:///{gw.data_dir.resolve() / 'reelgate.db'}"


async def _replay_billing(url: str, job_ids: list[str]) -> None:
    """Run the settle and refund hooks again on finished jobs, as a retried
    transition would: the ledger keeps one entry per job and kind."""
    db = Database(url)
    try:
        hooks = BillingHooks(pricer=None)  # type: ignore[arg-type]  # settle/refund price nothing
        for job_id in job_ids:
            async with db.begin() as conn:
                job = await repo.get(conn, job_id)
                assert job is not None
                await hooks.settle(conn, job)
                await hooks.refund(conn, job)
    finally:
        await db.dispose()


def test_charged_and_refunded_micros_by_model_once_per_ledger_entry(
    workload: Workload,
) -> None:
    assert _grew(workload, "reelgate_settlements_total", model="sora-2") == 1
    assert _grew(workload, "reelgate_charged_micros_total", model="sora-2") == \
        workload.quoted_micros > 0
    assert _grew(workload, "reelgate_refunds_total", model="sora-2") == 1
    assert _grew(workload, "reelgate_refunded_micros_total", model="sora-2") == \
        workload.refund_micros > 0
    assert not any("tenant" in dict(lbl) for (n, lbl) in workload.after
                   if n.startswith(("reelgate_charged", "reelgate_refunded")))  # opt-in
    in_thread(_replay_billing(_database_url(workload.gw),
                              [workload.completed_id, workload.failed_id]))
    after = fresh_scrape(workload.gw)
    for name in ("reelgate_settlements_total", "reelgate_charged_micros_total",
                 "reelgate_refunds_total", "reelgate_refunded_micros_total"):
        assert value(after, name, model="sora-2") == value(workload.after, name,
                                                            model="sora-2"), name


def fresh_scrape(gw: GatewayProcess) -> Samples:
    """A scrape computed after this call (not the text cached for a second or two):
    one that counts a request sent after it was asked for."""
    labels = {"route": "/healthz", "method": "GET", "status": "200"}
    seen = value(scrape(gw.root_url), "reelgate_http_requests_total", **labels)
    assert httpx.get(f"{gw.root_url}/healthz", timeout=30).status_code == 200
    return scrape_until(gw.root_url, lambda got: value(
        got, "reelgate_http_requests_total", **labels) > seen)


def test_the_tenant_label_is_opt_in(workload: Workload) -> None:
    async def read() -> bytes:
        db = Database(_database_url(workload.gw))
        try:
            return render(await snapshot(db, by_tenant=True))
        finally:
            await db.dispose()

    got = samples(in_thread(read()).decode())
    plain = scrape(workload.gw.root_url)
    for name in ("reelgate_charged_micros_total", "reelgate_refunded_micros_total"):
        split = value(got, name, model="sora-2", tenant="default")
        assert split > 0 and split == value(plain, name, model="sora-2"), name
