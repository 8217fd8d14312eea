"""Synthetic job history for the dashboard: many jobs and their ledger entries, fast.

Jobs arrive at a steady rate over ``days`` ending at ``end``, on six channels with
their own models, speeds and failure rates, for tenants whose volumes follow a Zipf
law. Two upstream outages hold every job in the queue until they end, so queue
depth has something to show. Jobs that would not have started or ended by ``end``
are still queued or rendering. Each job's money is what billing would write: a
reservation at create, then a settlement or a refund when it ends.

Rows are plain tuples in :data:`JOB_COLUMNS` / :data:`LEDGER_COLUMNS` order and are
loaded in bulk: ``executemany`` in one SQLite transaction, ``COPY`` on PostgreSQL.
Used by ``bench/dashboard.py`` (a million jobs) and the dashboard's browser test.
"""

from __future__ import annotations

import math
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["CHANNELS", "JOB_COLUMNS", "LEDGER_COLUMNS", "Synthetic", "load_postgres",
           "load_sqlite"]

JOB_COLUMNS = ("id", "tenant_id", "key_id", "model", "prompt", "size", "seconds", "quality",
               "state", "progress", "version", "created_at", "updated_at", "started_at",
               "completed_at", "finished_at", "channel_id", "error_code", "next_poll_at",
               "poll_count", "submit_attempts", "price_micros", "charged_micros")
LEDGER_COLUMNS = ("tenant_id", "key_id", "job_id", "kind", "amount_micros", "entry_key",
                  "created_at")


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    provider: str
    #: model -> (median seconds to complete, micro-USD per second of video)
    models: dict[str, tuple[float, int]]
    failure_rate: float


CHANNELS = (
    Channel("ch_openai", "openai", "openai", {"sora-2": (75, 100_000),
                                              "sora-2-pro": (220, 300_000)}, 0.04),
    Channel("ch_azure", "azure-sora", "openai", {"sora-2": (95, 100_000)}, 0.08),
    Channel("ch_veo", "veo", "veo", {"veo-3.1": (55, 400_000)}, 0.03),
    Channel("ch_kling", "kling", "kling", {"kling-v2.1": (160, 70_000)}, 0.12),
    Channel("ch_ark", "ark", "seedance", {"seedance-1.0-pro": (45, 50_000)}, 0.06),
    Channel("ch_gpu", "own-gpus", "comfyui", {"wan-2.5": (300, 20_000)}, 0.15),
)
_NAMES = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka",
          "tyrell", "cyberdyne", "soylent", "aperture", "oscorp", "vandelay", "gringotts",
          "monarch", "dunder", "pied-piper", "massive", "zorg")
#: (began this many seconds before the end, lasted): every job waits until it is over
_OUTAGES = ((5 * 3600, 50 * 60), (9 * 86400, 3 * 3600))


def _tenant_ids(n: int) -> list[tuple[str, str]]:
    return [(f"ten_{i:04d}", _NAMES[i] if i < len(_NAMES) else f"tenant-{i:03d}")
            for i in range(n)]


class Synthetic:
    def __init__(self, jobs: int, *, end: float, days: float = 30, tenants: int = 40,
                 seed: int = 18) -> None:
        self.jobs, self.end, self.days = jobs, end, days
        self.tenants = _tenant_ids(tenants)
        self.rng = random.Random(seed)
        self.outages = [(end - ago, length) for ago, length in _OUTAGES]

    def _wait(self, created: float) -> float:
        wait = self.rng.expovariate(1 / 4)
        for start, length in self.outages:
            if start <= created < start + length:
                wait += start + length - created + self.rng.uniform(0, 120)
        return wait

    def rows(self) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]:
        """Each job with its ledger entries, oldest first."""
        rng, span = self.rng, self.days * 86400
        weights = [1 / (i + 1) for i in range(len(self.tenants))]
        routes = [(c, m) for c in CHANNELS for m in c.models]
        route_weights = [5, 2, 3, 3, 2, 2, 1][:len(routes)]
        tenants = rng.choices(range(len(self.tenants)), weights, k=self.jobs)
        picks = rng.choices(range(len(routes)), route_weights, k=self.jobs)
        for i in range(self.jobs):
            created = self.end - span + span * (i + rng.random()) / self.jobs
            channel, model = routes[picks[i]]
            median, per_second = channel.models[model]
            seconds = rng.choice((4, 8, 12))
            price = per_second * seconds
            tenant = self.tenants[tenants[i]][0]
            job_id = f"video_{i:012x}"
            wait = self._wait(created)
            took = wait + math.exp(rng.gauss(math.log(median), 0.45))
            roll = rng.random()
            state, error, routed = "completed", None, channel.id
            if roll < 0.01:
                state, error, routed, took = "failed", "no_channel", None, wait + 1
            elif roll < 0.02:
                state, error = "failed", "cancelled"
            elif roll < 0.02 + channel.failure_rate:
                state, error, took = "failed", "upstream_error", wait + rng.uniform(1, took - wait)
            started: float | None = created + wait if routed else None
            finished: float | None = created + took
            if finished is not None and finished > self.end:
                state, error, finished = ("in_progress" if started and started <= self.end
                                          else "queued"), None, None
                if state == "queued":
                    started, routed = None, None
            charged = price if state == "completed" else (0 if state == "failed" else None)
            job = (job_id, tenant, "key_bench", model, "a synthetic prompt", "1280x720",
                   seconds, "standard", state, 100 if state == "completed" else 0, 3,
                   created, finished or started or created, started,
                   finished if state == "completed" else None, finished, routed, error,
                   None if finished else self.end + 5, 3, 1, price, charged)
            money = [(tenant, "key_bench", job_id, "reserve", -price, f"reserve:{job_id}",
                      created)]
            if state == "completed":
                money.append((tenant, "key_bench", job_id, "settle", 0, f"settle:{job_id}",
                              finished))
            elif state == "failed":
                money.append((tenant, "key_bench", job_id, "refund", price,
                               f"refund:{job_id}", finished))
            yield job, money

    def tenant_rows(self) -> list[tuple[Any, ...]]:
        return [(tid, name, 0, 1_000_000, True, self.end - self.days * 86400)
                for tid, name in self.tenants]

    def channel_rows(self) -> list[tuple[Any, ...]]:
        t = self.end - self.days * 86400
        return [(c.id, c.name, c.provider, "https://upstream.invalid", "{}",
                 "{" + ", ".join(f'"{m}": "{m}"' for m in c.models) + "}", 0, 1, 0, True,
                 0.0, t, t) for c in CHANNELS]


_TENANT_COLUMNS = ("id", "name", "balance_micros", "price_multiplier_ppm", "unlimited",
                   "created_at")
_CHANNEL_COLUMNS = ("id", "name", "provider", "base_url", "options", "models", "priority",
                    "weight", "max_concurrent", "enabled", "cooldown_until", "created_at",
                    "updated_at")


def _batches(data: Synthetic, size: int = 50_000) -> Iterator[tuple[list[Any], list[Any]]]:
    jobs: list[Any] = []
    money: list[Any] = []
    for job, entries in data.rows():
        jobs.append(job)
        money.extend(entries)
        if len(jobs) >= size:
            yield jobs, money
            jobs, money = [], []
    if jobs:
        yield jobs, money


def _insert(table: str, columns: tuple[str, ...]) -> str:
    return (f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})")


def load_sqlite(path: str, data: Synthetic) -> None:
    """Into a migrated SQLite database, in one transaction."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        conn.executemany(_insert("tenants", _TENANT_COLUMNS), data.tenant_rows())
        conn.executemany(_insert("channels", _CHANNEL_COLUMNS), data.channel_rows())
        for jobs, money in _batches(data):
            conn.executemany(_insert("jobs", JOB_COLUMNS), jobs)
            conn.executemany(_insert("ledger", LEDGER_COLUMNS), money)
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    finally:
        conn.close()


async def load_postgres(dsn: str, data: Synthetic) -> None:
    """Into a migrated PostgreSQL database with COPY, then VACUUM ANALYZE (as autovacuum
    would soon), so the planner has statistics and index-only scans are possible."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table("tenants", records=data.tenant_rows(),
                                         columns=list(_TENANT_COLUMNS))
        await conn.copy_records_to_table("channels", records=data.channel_rows(),
                                         columns=list(_CHANNEL_COLUMNS))
        for jobs, money in _batches(data):
            await conn.copy_records_to_table("jobs", records=jobs, columns=list(JOB_COLUMNS))
            await conn.copy_records_to_table("ledger", records=money,
                                             columns=list(LEDGER_COLUMNS))
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
