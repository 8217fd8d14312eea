"""The claim walks one index in due order and stops after its batch, on both databases.

Through ``ix_jobs_due`` (state, next_poll_at) PostgreSQL read and sorted every due job
for each claim (320 ms per claim at 100,000 in flight); the claim's SELECT must be
answerable from ``ix_jobs_next_poll`` without a sort, with its parameters bound (on
PostgreSQL as a generic plan: one made without knowing their values).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, text

from reelgate.auth import repository as auth_repo
from reelgate.bootstrap import Gateway
from reelgate.ids import new_id, now
from reelgate.jobs import repository as repo
from reelgate.store.tables import jobs

#: enough rows, and statistics on them, for both planners to weigh a sort against a walk
ROWS = 3000


def _rows(tenant_id: str) -> list[dict[str, Any]]:
    t = now()
    rows = []
    for i in range(ROWS):
        live = i % 3 != 0  # a third finished: no next_poll_at, not in the index
        rows.append(dict(
            id=new_id("video"), tenant_id=tenant_id, key_id="k", model="sora-2", prompt="p",
            size="1280x720", seconds=4, quality="standard",
            state="in_progress" if live else "completed", progress=10, version=0,
            created_at=t, updated_at=t, poll_count=0, submit_attempts=1, price_micros=0,
            media={}, next_poll_at=t - i if live else None))
    return rows


async def test_the_claim_reads_the_due_index_in_order_without_sorting(gw: Gateway) -> None:
    async with gw.db.begin() as conn:
        tenant = await auth_repo.ensure_tenant(conn, "plan", unlimited=True)
        await conn.execute(insert(jobs), _rows(tenant.id))
        await conn.execute(text("ANALYZE"))
    async with gw.db.begin() as conn:
        postgres = conn.dialect.name == "postgresql"
        pick = repo.pick_statement(skip_locked=postgres).params(b_t=now(), b_limit=64)
        expanded = pick.compile(dialect=conn.dialect).construct_expanded_state()
        sql, values = expanded.statement, tuple(expanded.positional_parameters)
        if postgres:
            await conn.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
            await conn.exec_driver_sql(f"PREPARE claim_pick AS {sql}")
            args = ", ".join(f"'{v}'" for v in values)
            rows = await conn.exec_driver_sql(f"EXPLAIN EXECUTE claim_pick({args})")
            plan = "\n".join(row[0] for row in rows)
            await conn.exec_driver_sql("DEALLOCATE claim_pick")
        else:
            rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", values)
            plan = "\n".join(str(row[-1]) for row in rows)
    assert "ix_jobs_next_poll" in plan, plan
    assert "Sort" not in plan and "TEMP B-TREE" not in plan, plan
