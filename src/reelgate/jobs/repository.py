"""Jobs in the database. Every change is a compare-and-swap on ``version``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    exists,
    func,
    literal_column,
    null,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.ids import now
from reelgate.jobs.model import Job
from reelgate.jobs.states import ACTIVE, TERMINAL, State, can_move
from reelgate.media.objects import StoredObject
from reelgate.store.direct import Direct
from reelgate.store.tables import channels, job_events, jobs

__all__ = [
    "DuplicateJob",
    "InvalidTransition",
    "any_due",
    "claim_due",
    "claim_stale",
    "count_active",
    "expire_idempotency_key",
    "get",
    "get_by_idempotency_key",
    "insert",
    "list_page",
    "log_event",
    "media_expired",
    "release",
    "release_leases",
    "renew_leases",
    "transition",
    "unleased_active",
]


class InvalidTransition(Exception):
    pass


class DuplicateJob(Exception):
    """A unique key of the new job is taken (its Idempotency-Key, in practice)."""


#: what a transition writes to end the worker's lease on the job
_NO_LEASE: Mapping[str, object] = {"lease_owner": None, "lease_until": None}
#: values of a transition worth keeping in the job's event log
_LOGGED = frozenset({"error_code", "error_message", "channel_id", "upstream_id"})


def media_json(media: Mapping[str, StoredObject]) -> dict[str, dict[str, Any]]:
    return {k: v.to_json() for k, v in media.items()}


# Statements on the hot paths (create, claim, poll, retrieve) are built once, with
# bind parameters: SQLAlchemy then skips building the expression and its cache key on
# every call, which cost more CPU than SQLite spends running them.
_INSERT = Direct(jobs.insert().returning(*jobs.c))
_EVENT = Direct(job_events.insert())
_GET = {
    (tenant, deleted): Direct(select(jobs).where(
        jobs.c.id == bindparam("b_id"),
        *([jobs.c.tenant_id == bindparam("b_tenant")] if tenant else []),
        *([] if deleted else [jobs.c.deleted_at.is_(None)])))
    for tenant in (False, True) for deleted in (False, True)
}
_CAS = Direct(update(jobs).where(jobs.c.id == bindparam("b_id"),
                                  jobs.c.version == bindparam("b_version"))
               .returning(*jobs.c))


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> Job:
    """The new job as written (RETURNING: no second read), with its ``created`` event."""
    values = {"version": 0, "poll_count": 0, "submit_attempts": 0, "progress": 0, **values}
    try:
        row = (await _INSERT.execute(conn, values)).one()
    except IntegrityError as exc:
        raise DuplicateJob(str(exc.orig)) from exc
    await log_event(conn, values["id"], "created", state=values["state"], progress=0)
    return Job.from_row(row)


async def get(
    conn: AsyncConnection, job_id: str, *, tenant_id: str | None = None,
    include_deleted: bool = False,
) -> Job | None:
    params = {"b_id": job_id} if tenant_id is None else {"b_id": job_id, "b_tenant": tenant_id}
    row = (await _GET[tenant_id is not None, include_deleted].execute(conn, params)).first()
    return Job.from_row(row) if row else None


async def get_by_idempotency_key(
    conn: AsyncConnection, tenant_id: str, key: str
) -> Job | None:
    query = select(jobs).where(jobs.c.tenant_id == tenant_id, jobs.c.idempotency_key == key)
    row = (await conn.execute(query)).first()
    return Job.from_row(row) if row else None


async def expire_idempotency_key(
    conn: AsyncConnection, tenant_id: str, key: str, *, before: float
) -> None:
    """Free ``key`` if the job that used it was created before ``before`` (the reuse
    window is over); the job itself stays. The unique constraint then admits a new one."""
    await conn.execute(
        update(jobs).where(jobs.c.tenant_id == tenant_id, jobs.c.idempotency_key == key,
                           jobs.c.created_at < before).values(idempotency_key=None)
    )


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
    conn: AsyncConnection, job: Job, state: State | None = None,
    values: Mapping[str, object] | None = None, *, event: str | None = None,
    detail: Mapping[str, object] | None = None,
) -> Job | None:
    """Write ``values`` (and ``state``) if the row still has ``job.version``; None if
    someone else won. ``media`` is :func:`media_json` of the variants, or None;
    ``detail`` goes into the event's detail next to the logged values."""
    target = state or job.state
    if not can_move(job.state, target):
        raise InvalidTransition(f"{job.id}: {job.state} -> {target}")
    changes = dict(values or {})
    t = now()
    changes.update(state=target.value, version=job.version + 1, updated_at=t)
    if target in TERMINAL and job.state not in TERMINAL:
        changes["finished_at"] = t
    row: Any
    if "media" in changes and changes["media"] is None:  # SQL NULL, not JSON null
        stmt = update(jobs).where(jobs.c.id == job.id, jobs.c.version == job.version)
        row = (await conn.execute(stmt.values({**changes, "media": null()})
                                  .returning(*jobs.c))).first()
    else:  # RETURNING: the new row without a second round trip
        row = (await _CAS.execute(conn, {**changes, "b_id": job.id,
                                         "b_version": job.version})).first()
    if row is None:
        return None
    if target != job.state or event:
        logged = {k: v for k, v in changes.items() if k in _LOGGED} | dict(detail or {})
        progress = changes.get("progress")
        await log_event(conn, job.id, event or f"state:{target.value}", state=target.value,
                        progress=progress if isinstance(progress, int) else job.progress,
                        detail=logged or None)
    return Job.from_row(row)


async def release(
    conn: AsyncConnection, job: Job, state: State | None = None,
    values: Mapping[str, object] | None = None, *, event: str | None = None,
    detail: Mapping[str, object] | None = None,
) -> Job | None:
    """:func:`transition`, and this worker's lease on the job ends with it."""
    return await transition(conn, job, state, {**(values or {}), **_NO_LEASE}, event=event,
                            detail=detail)


def _not_cooling(t: Any) -> ColumnElement[bool]:
    """Not on a channel that is cooling down after a 429 (unrouted jobs never are)."""
    cooling = exists().where(channels.c.id == jobs.c.channel_id, channels.c.cooldown_until > t)
    return or_(jobs.c.channel_id.is_(None), ~cooling)


def _due(t: Any) -> ColumnElement[bool]:
    """Active, due, not leased, and its channel may be asked now. The states are
    written into the SQL (fixed names, no parameter that expands at execution), so the
    claim runs directly (``store/direct.py``)."""
    return and_(
        jobs.c.state.in_([literal_column(f"'{v}'") for v in sorted(s.value for s in ACTIVE)]),
        jobs.c.next_poll_at <= t,
        or_(jobs.c.lease_until.is_(None), jobs.c.lease_until < t),
        _not_cooling(t),
    )


def pick_statement(skip_locked: bool) -> Any:
    """The ids a claim takes: the first ``b_limit`` due at ``b_t``, in due order.

    ``ix_jobs_next_poll`` answers it in that order (``next_poll_at <= t`` implies the
    index's ``next_poll_at IS NOT NULL``, whatever ``t`` is bound to), so the scan
    stops after the batch however many jobs are due.
    """
    t: Any = bindparam("b_t")
    pick = (select(jobs.c.id).where(_due(t)).order_by(jobs.c.next_poll_at)
            .limit(bindparam("b_limit")))
    return pick.with_for_update(skip_locked=True) if skip_locked else pick


def _claim_statement(skip_locked: bool) -> Any:
    picked = pick_statement(skip_locked).cte("picked").prefix_with("MATERIALIZED",
                                                                   dialect="postgresql")
    return (update(jobs).where(jobs.c.id == picked.c.id)
            .values(lease_owner=bindparam("b_worker"), lease_until=bindparam("b_until"),
                    version=jobs.c.version + 1)
            .returning(*jobs.c))


_CLAIM = {skip: Direct(_claim_statement(skip)) for skip in (False, True)}
_ANY_DUE = Direct(select(jobs.c.id).where(_due(bindparam("b_t"))).limit(1))


async def any_due(conn: AsyncConnection) -> bool:
    """Whether :func:`claim_due` would claim anything now (a read: no lock taken)."""
    return (await _ANY_DUE.execute(conn, {"b_t": now()})).first() is not None


async def claim_due(
    conn: AsyncConnection, *, worker_id: str, limit: int, lease_seconds: float,
    skip_locked: bool,
) -> list[Job]:
    """Lease up to ``limit`` due jobs in one statement, oldest due first.

    ``WITH picked AS MATERIALIZED (SELECT id ... LIMIT n) UPDATE jobs ... FROM picked
    RETURNING *``, whatever the batch size. PostgreSQL: the SELECT takes ``FOR UPDATE
    SKIP LOCKED``, so workers on many machines claim disjoint batches without waiting
    on each other; it is a materialized CTE rather than ``id IN (subquery)``, which
    PostgreSQL may re-run and so lease more than ``n`` rows. SQLite: the write
    transaction (``BEGIN IMMEDIATE``) already serialises claimers. The version bump
    makes every snapshot taken before the claim stale, so a previous holder whose
    lease ran out cannot move the job any more.
    """
    t = now()
    res = await _CLAIM[skip_locked].execute(conn, {
        "b_t": t, "b_limit": limit, "b_worker": worker_id, "b_until": t + lease_seconds})
    return _sorted([Job.from_row(r) for r in res.rows])


def _sorted(claimed: list[Job]) -> list[Job]:
    claimed.sort(key=lambda j: (j.next_poll_at or 0.0, j.created_at))
    return claimed


async def claim_stale(
    conn: AsyncConnection, job_id: str, *, worker_id: str, lease_seconds: float,
    polled_before: float,
) -> Job | None:
    """Lease one in-progress job nobody holds whose last poll is older than
    ``polled_before`` and whose channel is not cooling down (for a client's inline
    refresh); None if it is not (any more)."""
    t = now()
    last = func.coalesce(jobs.c.last_polled_at, jobs.c.started_at, jobs.c.created_at)
    claimed = await _lease(
        conn, jobs.c.id == job_id,
        and_(jobs.c.state == State.IN_PROGRESS.value, jobs.c.deleted_at.is_(None),
             last < polled_before, _not_cooling(t),
             or_(jobs.c.lease_until.is_(None), jobs.c.lease_until < t)),
        worker_id=worker_id, until=t + lease_seconds)
    return claimed[0] if claimed else None


async def _lease(conn: AsyncConnection, *where: ColumnElement[bool], worker_id: str,
                 until: float) -> list[Job]:
    res = await conn.execute(
        update(jobs).where(*where)
        .values(lease_owner=worker_id, lease_until=until, version=jobs.c.version + 1)
        .returning(*jobs.c)
    )
    return _sorted([Job.from_row(r) for r in res.all()])


async def unleased_active(conn: AsyncConnection, *, created_before: float, at: float,
                          limit: int) -> list[Job]:
    """Active jobs created before ``created_before`` that nobody holds at ``at``,
    oldest first (candidates for a time-out)."""
    rows = (await conn.execute(
        select(jobs).where(
            jobs.c.state.in_([s.value for s in ACTIVE]), jobs.c.created_at < created_before,
            or_(jobs.c.lease_until.is_(None), jobs.c.lease_until < at),
        ).order_by(jobs.c.created_at).limit(limit)
    )).all()
    return [Job.from_row(r) for r in rows]


async def media_expired(conn: AsyncConnection, *, at: float, limit: int,
                        failed_before: float | None = None,
                        deleted_before: float | None = None) -> list[Job]:
    """Jobs holding storage they should no longer: completed ones past ``expires_at``;
    failed ones (``failed_before``) still keeping a reference image; deleted ones
    (``deleted_before``) whose delete stopped before their storage was gone."""
    inputs = or_(jobs.c.reference_key.is_not(None), jobs.c.source_key.is_not(None))
    stored = or_(jobs.c.media.is_not(None), inputs)
    due = [and_(jobs.c.state == State.COMPLETED.value, jobs.c.expires_at < at, stored)]
    if failed_before is not None:
        due.append(and_(jobs.c.state == State.FAILED.value, jobs.c.updated_at < failed_before,
                        inputs))
    if deleted_before is not None:
        due.append(and_(jobs.c.deleted_at.is_not(None), jobs.c.deleted_at < deleted_before,
                        stored))
    rows = (await conn.execute(select(jobs).where(or_(*due)).limit(limit))).all()
    return [job for job in map(Job.from_row, rows)
            if job.media or job.reference_key or job.source_key]


async def release_leases(conn: AsyncConnection, *, worker_id: str) -> int:
    """Give up every lease this worker still holds, at once (a worker shutting down:
    others take the jobs now rather than when the leases would have run out)."""
    res = await conn.execute(
        update(jobs).where(jobs.c.lease_owner == worker_id, jobs.c.lease_until.is_not(None))
        .values(lease_until=now() - 1.0)
    )
    return int(res.rowcount)


async def renew_leases(conn: AsyncConnection, *, worker_id: str, job_ids: Sequence[str],
                       lease_seconds: float) -> int:
    """Extend this worker's leases on jobs it is still driving (no version bump, so the
    worker's snapshots stay valid); returns how many were still ours."""
    if not job_ids:
        return 0
    res = await conn.execute(
        update(jobs).where(jobs.c.id.in_(list(job_ids)), jobs.c.lease_owner == worker_id)
        .values(lease_until=now() + lease_seconds)
    )
    return int(res.rowcount)


async def log_event(
    conn: AsyncConnection, job_id: str, kind: str, *, state: str | None = None,
    progress: int | None = None, detail: dict[str, Any] | None = None,
) -> None:
    await _EVENT.execute(conn, {"job_id": job_id, "at": now(), "kind": kind, "state": state,
                                "progress": progress, "detail": detail})
