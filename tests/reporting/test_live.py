"""Jobs moved the way the worker moves them, billed by the real hooks, show on the
dashboard: ``finished_at`` is written by the transition into a final state, and the
ledger entries billing posts are the spend and refunds the dashboard reads."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from reelgate.bootstrap import Gateway
from tests.billing.support import complete, fail, make_principal, params, settings_for
from tests.support.server import TEST_DATABASE, create_database


@pytest.fixture(scope="module")
async def gw(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    url = create_database() if TEST_DATABASE == "postgres" else None
    gateway = await Gateway.start(settings_for(tmp_path_factory.mktemp("db"), url))
    yield gateway
    await gateway.close()


async def test_real_transitions_and_billing_show_up(gw: Gateway) -> None:
    caller = await make_principal(gw, topup=50_000_000)
    done = await complete(gw, await gw.videos.create(caller, params()))
    routed = await gw.lifecycle.route(await gw.videos.create(caller, params()),
                                      channel_id="ch_billing", credential_id="",
                                      upstream_model="sora-2")
    assert routed is not None
    failed = await fail(gw, routed)
    deleted = await gw.videos.create(caller, params())
    await gw.videos.delete(caller, deleted.id)
    waiting = await gw.videos.create(caller, params())
    assert failed is not None and done.finished_at is not None
    assert done.finished_at >= done.created_at and failed.finished_at is not None
    later = await gw.job_queries.find(deleted.id)
    assert later.job.finished_at is not None

    board = await gw.dashboard.build("24h")
    jobs = {s.name: sum(s.values) for s in board.jobs}
    assert jobs == {"completed": 1, "failed": 2}
    assert [(d.model, d.jobs) for d in board.durations] == [("sora-2", 1)]
    rates = {c.channel: c for c in board.channels}
    assert rates["ch_billing"].finished == 2 and rates["ch_billing"].failed == 1
    assert rates["ch_billing"].refunds == 1
    assert rates["(no channel)"].refunds == 1  # deleted while queued: refunded too
    spent = {s.name: sum(s.values) for s in board.spend}
    charged = (await gw.job_queries.find(done.id)).job.charged_micros
    assert charged and waiting.price_micros
    assert spent == {caller.tenant_name: charged + waiting.price_micros}
    assert board.queue.waiting == 1 and board.queue.by_state["queued"] == 1
