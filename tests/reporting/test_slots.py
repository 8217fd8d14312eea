"""Closed buckets are computed once: a second load queries only the open ones, and the
numbers are the same as a fresh computation (the database has not changed)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert

from reelgate.reporting.dashboard import DashboardService
from reelgate.reporting.slots import GRACE
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


async def test_second_load_scans_only_open_buckets(db: Database) -> None:
    async with db.begin() as conn:
        await conn.execute(insert(tenants), [{"id": "ten_s", "name": "slots", "created_at": 0.0,
                                              "balance_micros": 0, "unlimited": True,
                                              "price_multiplier_ppm": 1_000_000}])
    await _add(db, [_job(i, AT - 600 - 800 * i) for i in range(100)])  # all within 23 h
    service = DashboardService(db)
    first = await service.build("24h", at=AT)
    assert _completed(first) == 100
    asked = service.cache.misses
    again = await service.build("24h", at=AT)
    assert again == first == await DashboardService(db).build("24h", at=AT)
    # only buckets ending within GRACE of AT were asked again: the last hour (jobs,
    # refunds, spend) and the last GRACE of one-minute queue samples (arrived, left)
    open_samples = int(GRACE // 60) + 1
    assert service.cache.misses - asked <= 3 + 2 * open_samples

    # a row stamped into a closed bucket after it was cached: this service keeps the
    # bucket as it computed it (see reelgate.reporting.slots), a fresh one counts it
    await _add(db, [_job(1000, AT - 10 * 3600)])
    assert _completed(await service.build("24h", at=AT)) == 100
    assert _completed(await DashboardService(db).build("24h", at=AT)) == 101
    # a row in the open bucket counts at once
    await _add(db, [_job(1001, AT - 5)])
    assert _completed(await service.build("24h", at=AT)) == 101
    # and the 7-day window has its own buckets, all computed fresh
    assert _completed(await service.build("7d", at=AT)) == 102
