"""Jobs in the database. Every change is a compare-and-swap on ``version``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import and_, func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.ids import now
from reelgate.jobs.model import Job, MediaRef
from reelgate.jobs.states import ACTIVE, State, can_move
from reelgate.store.tables import job_events, jobs

__all__ = [
    "InvalidTransition",
    "claim_due",
    "count_active",
    "get",
    "get_by_idempotency_key",
    "insert",
    "list_page",
    "log_event",
    "release",
    "transition",
]


class InvalidTransition(Exception):
    pass


def media_json(media: dict[str, MediaRef]) -> dict[str, dict[str, Any]]:
    return {k: asdict(v) for k, v in media.items()}


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> Job:
    values = {"version": 0, "poll_count": 0, "submit_attempts": 0, "progress": 0, **values}
    await conn.execute(jobs.insert().values(**values))
    await log_event(conn, values["id"], "created", state=values["state"], progress=0)
    job = await get(conn, values["id"])
    assert job is not None
    return job


async def get(
    conn: AsyncConnection, job_id: str, *, tenant_id: str | None = None,
    include_deleted: bool = False,
) -> Job | None:
    query = select(jobs).where(jobs.c.id == job_id)
    if tenant_id is not None:
        query = query.where(jobs.c.tenant_id == tenant_id)
    if not include_deleted:
        query = query.where(jobs.c.deleted_at.is_(None))
    row = (await conn.execute(query)).first()
    return Job.from_row(row) if row else None


async def get_by_idempotency_key(
    conn: AsyncConnection, tenant_id: str, key: str
) -> Job | None:
    query = select(jobs).where(jobs.c.tenant_id == tenant_id, jobs.c.idempotency_key == key)
    row = (await conn.execute(query)).first()
    return Job.from_row(row) if row else None


async def list_page(
    conn: AsyncConnection, tenant_id: str, *, after: Job | None, limit: int, order: str
) -> tuple[list[Job], bool]:
    """One page ordered by (created_at, id); fetches one extra row to know has_more."""
    key = tuple_(jobs.c.created_at, jobs.c.id)
    query = select(jobs).where(jobs.c.tenant_id == tenant_id, jobs.c.deleted_at.is_(None))
    if order == "asc":
        if after is not None:
            query = query.where(key > tuple_(after.created_at, after.id))
        query = query.order_by(jobs.c.created_at.asc(), jobs.c.id.asc())
    else:
        if after is not None:
            query = query.where(key < tuple_(after.created_at, after.id))
        query = query.order_by(jobs.c.created_at.desc(), jobs.c.id.desc())
    rows = (await conn.execute(query.limit(limit + 1))).all()
    return [Job.from_row(r) for r in rows[:limit]], len(rows) > limit


async def count_active(conn: AsyncConnection, *, key_id: str | None = None,
                       channel_id: str | None = None,
                       states: frozenset[State] = ACTIVE) -> int:
    query = select(func.count()).select_from(jobs).where(
        jobs.c.state.in_([s.value for s in states])
    )
    if key_id is not None:
        query = query.where(jobs.c.key_id == key_id)
    if channel_id is not None:
        query = query.where(jobs.c.channel_id == channel_id)
    return int((await conn.execute(query)).scalar_one())


async def transition(
    conn: AsyncConnection, job: Job, state: State | None = None, *, event: str | None = None,
    **changes: Any,
) -> Job | None:
    """Apply ``changes`` if the row still has ``job.version``; None if someone else won."""
    target = state or job.state
    if not can_move(job.state, target):
        raise InvalidTransition(f"{job.id}: {job.state} -> {target}")
    if "media" in changes and isinstance(changes["media"], dict):
        changes["media"] = media_json(changes["media"])
    values = {**changes, "state": target.value, "version": job.version + 1, "updated_at": now()}
    res = await conn.execute(
        update(jobs).where(jobs.c.id == job.id, jobs.c.version == job.version).values(**values)
    )
    if res.rowcount != 1:
        return None
    if target != job.state or event:
        detail = {k: v for k, v in changes.items() if k in ("error_code", "error_message",
                                                           "channel_id", "upstream_id")}
        await log_event(conn, job.id, event or f"state:{target.value}", state=target.value,
                        progress=changes.get("progress", job.progress), detail=detail or None)
    return await get(conn, job.id, include_deleted=True)


async def release(conn: AsyncConnection, job: Job, *, next_poll_at: float | None,
                  **changes: Any) -> Job | None:
    """End this worker's lease on the job and say when it is due again."""
    return await transition(conn, job, None, lease_owner=None, lease_until=None,
                            next_poll_at=next_poll_at, **changes)


async def claim_due(
    conn: AsyncConnection, *, worker_id: str, limit: int, lease_seconds: float,
    skip_locked: bool,
) -> list[Job]:
    """Lease up to ``limit`` due jobs. PostgreSQL: SKIP LOCKED lets many workers share."""
    t = now()
    due = and_(
        jobs.c.state.in_([s.value for s in ACTIVE]),
        jobs.c.next_poll_at <= t,
        or_(jobs.c.lease_until.is_(None), jobs.c.lease_until < t),
    )
    query = select(jobs.c.id, jobs.c.version).where(due).order_by(jobs.c.next_poll_at).limit(limit)
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    claimed: list[Job] = []
    for row in (await conn.execute(query)).all():
        res = await conn.execute(
            update(jobs)
            .where(jobs.c.id == row.id, jobs.c.version == row.version)
            .values(lease_owner=worker_id, lease_until=t + lease_seconds,
                    version=row.version + 1)
        )
        if res.rowcount == 1:
            job = await get(conn, row.id, include_deleted=True)
            if job is not None:
                claimed.append(job)
    return claimed


async def log_event(
    conn: AsyncConnection, job_id: str, kind: str, *, state: str | None = None,
    progress: int | None = None, detail: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        job_events.insert().values(job_id=job_id, at=now(), kind=kind, state=state,
                                   progress=progress, detail=detail)
    )
