"""The dashboard's numbers on a small known dataset, on this pass's database.

Every expected value is computed here from the rows the test wrote, by brute force
over plain Python lists (nearest-rank percentiles, queue depth by replaying each
job's arrival and departure), never through the service's own helpers.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import insert

from reelgate.errors import InvalidRequest
from reelgate.reporting.dashboard import DashboardService
from reelgate.store.db import Database
from reelgate.store.tables import channels, jobs, ledger, tenants

AT = 1_800_000_000 + 5_000  # "now": not on an hour, so the last bucket is partial
DAY = 86_400
MODELS = ("sora-2", "veo-3.1", "kling-v2")
CHANNELS = {"ch_a": "alpha", "ch_b": "beta", "ch_c": "gamma"}
TENANTS = {f"ten_{i}": f"tenant-{i:02d}" for i in range(11)}  # more than the chart draws


@dataclass
class Row:
    id: str
    tenant: str
    model: str
    channel: str | None
    state: str
    created: int
    started: int | None
    finished: int | None
    price: int


def _took(rng: random.Random) -> int:
    """A duration on the histogram's grid (1 s below 60, 5 below 600, ...), so the
    bucket's lower bound is the exact value and percentiles can be compared exactly."""
    kind = rng.random()
    if kind < 0.5:
        return rng.randrange(3, 60)
    if kind < 0.8:
        return rng.randrange(60, 600, 5)
    if kind < 0.95:
        return rng.randrange(600, 3600, 30)
    return rng.randrange(3600, 30_000, 300)


def dataset() -> list[Row]:
    rng = random.Random(18)
    rows = []
    for i in range(1500):
        created = AT - rng.randrange(0, 40 * DAY)
        state = rng.choices(["completed", "failed", "queued", "in_progress"], [6, 2, 1, 1])[0]
        started = finished = None
        channel: str | None = rng.choice(list(CHANNELS))
        wait = rng.randrange(0, 900)
        if state == "completed":
            took = _took(rng)
            started, finished = created + min(wait, took), created + took
        elif state == "failed":
            took = rng.randrange(1, 5000)
            if rng.random() < 0.4:  # failed while waiting: never taken upstream
                channel = None if rng.random() < 0.5 else channel
            else:
                started = created + min(wait, took)
            finished = created + took
        elif state == "in_progress":
            started = created + wait
        else:
            channel = None
        if max(finished or 0, started or 0) > AT:  # not yet, at AT
            state, started, finished, channel = "queued", None, None, None
        rows.append(Row(f"video_{i:05d}", rng.choice(list(TENANTS)), rng.choice(MODELS),
                        channel, state, created, started, finished,
                        rng.choice([0, 100_000, 250_000, 1_000_000])))
    return rows


def ledger_rows(rows: list[Row]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for r in rows:
        base = {"tenant_id": r.tenant, "job_id": r.id}
        if r.price:
            out.append({**base, "kind": "reserve", "amount_micros": -r.price,
                        "entry_key": f"reserve:{r.id}", "created_at": r.created})
        if r.state == "completed" and r.price and r.finished is not None:
            out.append({**base, "kind": "settle", "amount_micros": r.price // 4,
                        "entry_key": f"settle:{r.id}", "created_at": r.finished})
        if r.state == "failed" and r.price and r.finished is not None:
            out.append({**base, "kind": "refund", "amount_micros": r.price,
                        "entry_key": f"refund:{r.id}", "created_at": r.finished})
    for i, t in enumerate(TENANTS):  # top-ups are not spend
        out.append({"tenant_id": t, "job_id": None, "kind": "topup", "amount_micros": 10**9,
                    "entry_key": f"topup:{i}", "created_at": AT - 3600})
    return out


@pytest.fixture(scope="module")
async def seeded(db: Database) -> list[Row]:
    rows = dataset()
    async with db.begin() as conn:
        await conn.execute(insert(tenants), [
            {"id": i, "name": n, "balance_micros": 0, "price_multiplier_ppm": 1_000_000,
             "unlimited": True, "created_at": 0.0} for i, n in TENANTS.items()])
        await conn.execute(insert(channels), [
            {"id": i, "name": n, "provider": "openai", "base_url": "", "options": {},
             "models": {}, "priority": 0, "weight": 1, "max_concurrent": 0, "enabled": True,
             "cooldown_until": 0.0, "created_at": 0.0, "updated_at": 0.0}
            for i, n in CHANNELS.items()])
        await conn.execute(insert(jobs), [
            {"id": r.id, "tenant_id": r.tenant, "key_id": "k", "model": r.model, "prompt": "p",
             "size": "1280x720", "seconds": 4, "quality": "standard", "state": r.state,
             "progress": 0, "version": 0, "created_at": float(r.created),
             "updated_at": float(r.finished or r.started or r.created),
             "started_at": r.started, "finished_at": r.finished,
             "completed_at": r.finished if r.state == "completed" else None,
             "channel_id": r.channel, "poll_count": 0, "submit_attempts": 0,
             "price_micros": r.price} for r in rows])
        await conn.execute(insert(ledger), ledger_rows(rows))
    return rows


def _start(step: int, span: int) -> int:
    return (AT // step - span // step + 1) * step


def nearest_rank(values: list[int], p: float) -> int:
    ordered = sorted(values)
    return ordered[math.ceil(p / 100 * len(ordered)) - 1]


@pytest.mark.parametrize("name, span, step", [("24h", DAY, 3600), ("7d", 7 * DAY, 6 * 3600),
                                              ("30d", 30 * DAY, DAY)])
async def test_jobs_durations_and_channels(db: Database, seeded: list[Row], name: str,
                                           span: int, step: int) -> None:
    board = await DashboardService(db).build(name, at=AT)
    start = _start(step, span)
    count = span // step
    assert board.jobs_edges == [start + i * step for i in range(count)]
    ended = [r for r in seeded if r.finished is not None and start <= r.finished <= AT]
    for series in board.jobs:
        expected = [0] * count
        for r in ended:
            if r.state == series.name:
                expected[(r.finished - start) // step] += 1  # type: ignore[operator]
        assert series.values == expected, series.name
    assert [s.name for s in board.jobs] == ["completed", "failed"]
    assert sum(map(sum, (s.values for s in board.jobs))) == len(ended) > 0

    done = [r for r in ended if r.state == "completed"]
    assert [d.model for d in board.durations] == sorted({r.model for r in done})
    for d in board.durations:
        took = [r.finished - r.created for r in done if r.model == d.model]  # type: ignore[operator]
        assert d.jobs == len(took)
        assert (d.p50_seconds, d.p95_seconds) == (nearest_rank(took, 50), nearest_rank(took, 95))
        assert d.mean_seconds == pytest.approx(sum(took) / len(took))

    by_name = {c.channel: c for c in board.channels}
    for cid, cname in [*CHANNELS.items(), (None, "(no channel)")]:
        mine = [r for r in ended if r.channel == cid]
        refunded = [r for r in mine if r.state == "failed" and r.price]
        c = by_name[cname]
        assert (c.finished, c.failed) == (len(mine), sum(r.state == "failed" for r in mine))
        assert (c.refunds, c.refunded_micros) == (len(refunded), sum(r.price for r in refunded))
        assert c.failure_rate == pytest.approx(c.failed / c.finished)
    assert list(by_name) == ["alpha", "beta", "gamma", "(no channel)"]


@pytest.mark.parametrize("name, span, step", [("24h", DAY, 3600), ("7d", 7 * DAY, DAY),
                                              ("30d", 30 * DAY, DAY)])
async def test_spend_per_tenant(db: Database, seeded: list[Row], name: str, span: int,
                                step: int) -> None:
    board = await DashboardService(db).build(name, at=AT)
    start, count = _start(step, span), span // step
    assert board.spend_edges == [start + i * step for i in range(count)]
    expected: dict[str, list[int]] = {n: [0] * count for n in TENANTS.values()}
    for e in ledger_rows(seeded):
        if e["kind"] != "topup" and start <= e["created_at"] <= AT:
            expected[TENANTS[e["tenant_id"]]][(e["created_at"] - start) // step] -= \
                e["amount_micros"]
    ranked = sorted(expected, key=lambda t: (-sum(expected[t]), t))
    drawn = {s.name: s.values for s in board.spend}
    assert list(drawn)[:8] == ranked[:8]
    for tenant in ranked[:8]:
        assert drawn[tenant] == expected[tenant]
    others = [sum(expected[t][i] for t in ranked[8:]) for i in range(count)]
    assert drawn["3 others"] == others
    assert sum(map(sum, drawn.values())) == sum(map(sum, expected.values())) > 0


@pytest.mark.parametrize("name, span, step, sample", [("24h", DAY, 900, 60),
                                                      ("7d", 7 * DAY, 3600, 300),
                                                      ("30d", 30 * DAY, 6 * 3600, 900)])
async def test_queue_depth_now_and_over_time(db: Database, seeded: list[Row], name: str,
                                             span: int, step: int, sample: int) -> None:
    board = await DashboardService(db).build(name, at=AT)
    start, count = _start(step, span), span // step
    queue = board.queue
    assert queue.edges == [start + i * step for i in range(count)]
    assert queue.sample_seconds == sample

    def left(r: Row) -> int | None:
        return r.started if r.started is not None else r.finished

    def depth(t: float) -> int:  # waiting at t: arrived before t, not yet left
        return sum(1 for r in seeded if r.created < t and ((x := left(r)) is None or x >= t))

    waiting = sum(1 for r in seeded if left(r) is None)
    expected = [0] * count
    expected[-1] = waiting  # now is in the last bar
    instants = range(start, AT + 1, sample)
    assert len(instants) > count
    depths = [depth(t) for t in instants]  # one pass per instant: the slow, sure way
    for t, d in zip(instants, depths, strict=True):
        i = (t - start) // step
        expected[i] = max(expected[i], d)
    assert queue.peak == expected
    assert queue.waiting == waiting > 0
    assert queue.by_state == {
        s: sum(r.state == s for r in seeded)
        for s in ("downloading", "in_progress", "queued", "submitting")}
    assert max(queue.peak[:-1]) > 0


async def test_an_unknown_window_is_refused(db: Database) -> None:
    with pytest.raises(InvalidRequest) as bad:
        await DashboardService(db).build("1y")
    assert bad.value.param == "window"
