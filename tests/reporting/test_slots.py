"""Closed buckets are computed once: a second load queries only the open ones, and the
numbers are the same as a fresh computation (the database has not changed)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert

from reelgate.reporting.dashboard import DashboardService
from reelgate.reporting.slots import GRACE
from reelgate.reporting.windows import WINDOWS
from reelgate.store.db import Database
from reelgate.store.tables import jobs, tenants

AT = 1_900_000_000 + 1_234


def _job(i: int, finished: float, took: float = 30) -> dict[str, Any]:
    return {"id": f"video_s{i:05d}", "tenant_id": "ten_s", "key_id": "k", "model": "sora-2",
            "prompt": "p", "size": "1280x720", "seconds": 4, "quality": "standard",
            "state": "completed", "progress": 100, "version": 0,
            "created_at": finished - took, "updated_at": finished,
            "started_at": finished - took + 1, "finished_at": finished,
            "completed_at": finished, "poll_count": 0, "submit_attempts": 0,
            "price_micros": 0}


async def _add(db: Database, rows: list[dict[str, Any]]) -> None:
    async with db.begin() as conn:
        await conn.execute(insert(jobs), rows)


def _completed(board: Any) -> int:
    return sum(board.jobs[0].values)


async def test_closed_buckets_are_computed_once_for_every_process(db: Database) -> None:
    async with db.begin() as conn:
        await conn.execute(insert(tenants), [{"id": "ten_s", "name": "slots", "created_at": 0.0,
                                              "balance_micros": 0, "unlimited": True,
                                              "price_multiplier_ppm": 1_000_000}])
    await _add(db, [_job(i, AT - 600 - 800 * i) for i in range(100)])  # all within 23 h
    service = DashboardService(db)
    first = await service.build("24h", at=AT)
    assert _completed(first) == 100
    # 24 hourly buckets (jobs, refunds, spend) and a one-minute queue sample (arrived,
    # left) from the queue chart's first 15 minutes on, all computed
    samples = WINDOWS["24h"].queue_samples(AT).count
    assert 1420 < samples <= 1440
    everything = 3 * 24 + 2 * samples
    assert service.cache.computed == everything and service.cache.loaded == 0
    # again, here or in another process: only buckets ending within GRACE of AT (the
    # last hour, the last GRACE of queue samples) are computed; the rest are known
    open_buckets = 3 + 2 * (int(GRACE // 60) + 1)
    again = await service.build("24h", at=AT)
    assert service.cache.computed == everything + open_buckets
    other = DashboardService(db)
    assert await other.build("24h", at=AT) == again == first
    assert other.cache.computed == open_buckets
    assert other.cache.loaded == everything - open_buckets

    # a row stamped into a closed bucket after it was stored is not counted (the
    # assumption reelgate.reporting.slots states); one in an open bucket is, at once
    await _add(db, [_job(1000, AT - 10 * 3600)])
    assert _completed(await DashboardService(db).build("24h", at=AT)) == 100
    await _add(db, [_job(1001, AT - 5)])
    assert _completed(await service.build("24h", at=AT)) == 101
    # the 7-day window has buckets of its own, computed from the rows
    assert _completed(await service.build("7d", at=AT)) == 102
