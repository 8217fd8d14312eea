"""``/admin/api/jobs``: every tenant's jobs, filtered and paged, with their timelines.

The queries live here as plain functions over a connection so the admin web UI's
job explorer shows exactly what this API returns.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.api.deps import gateway
from reelgate.api.render import video_object
from reelgate.billing.money import usd_str
from reelgate.errors import InvalidRequest, NotFound
from reelgate.jobs.model import Job
from reelgate.jobs.states import State
from reelgate.store.tables import channels, job_events, jobs, tenants
from reelgate.webhooks import repository as wh_repo

__all__ = [
    "STATUS_FILTERS",
    "JobFilter",
    "JobRow",
    "TimelineEntry",
    "admin_job_object",
    "find_job",
    "parse_time",
    "router",
    "search_jobs",
    "timeline",
]

router = APIRouter(prefix="/jobs", tags=["admin: jobs"])

#: a public status selects the internal states behind it; internal states select themselves
STATUS_FILTERS: dict[str, tuple[str, ...]] = {
    "queued": (State.QUEUED.value, State.SUBMITTING.value),
    "in_progress": (State.IN_PROGRESS.value, State.DOWNLOADING.value),
    **{s.value: (s.value,) for s in State},
}


@dataclass(frozen=True)
class JobFilter:
    status: str | None = None
    model: str | None = None
    #: tenant name or id
    tenant: str | None = None
    #: channel name or id
    channel: str | None = None
    since: float | None = None
    until: float | None = None


@dataclass(frozen=True)
class JobRow:
    job: Job
    tenant_name: str
    channel_name: str | None


@dataclass(frozen=True)
class TimelineEntry:
    at: float
    kind: str
    state: str | None
    progress: int | None
    detail: dict[str, Any] | None


def parse_time(value: str | None, param: str) -> float | None:
    """Unix seconds, or an ISO 8601 date/time (UTC unless it carries an offset)."""
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRequest(f"Invalid value for '{param}': {value!r} is neither unix seconds "
                             "nor an ISO 8601 time.", param=param, code="invalid_value") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def _query(f: JobFilter) -> Any:
    query = (select(jobs, tenants.c.name.label("_tenant_name"),
                    channels.c.name.label("_channel_name"))
             .join(tenants, tenants.c.id == jobs.c.tenant_id)
             .outerjoin(channels, channels.c.id == jobs.c.channel_id))
    if f.status:
        states = STATUS_FILTERS.get(f.status)
        if states is None:
            raise InvalidRequest(f"Invalid value for 'status': {f.status!r}; choose from "
                                 f"{', '.join(STATUS_FILTERS)}.", param="status",
                                 code="invalid_value")
        query = query.where(jobs.c.state.in_(states))
    if f.model:
        query = query.where(jobs.c.model == f.model)
    if f.tenant:
        query = query.where(or_(tenants.c.name == f.tenant, tenants.c.id == f.tenant))
    if f.channel:
        query = query.where(or_(channels.c.name == f.channel, channels.c.id == f.channel))
    if f.since is not None:
        query = query.where(jobs.c.created_at >= f.since)
    if f.until is not None:
        query = query.where(jobs.c.created_at < f.until)
    return query


def _row(row: Any) -> JobRow:
    # Job.from_row reads ``_mapping``; hand it the job's own columns only
    data = {k: v for k, v in row._mapping.items() if not k.startswith("_")}
    return JobRow(Job.from_row(SimpleNamespace(_mapping=data)), row._tenant_name,
                  row._channel_name)


async def search_jobs(conn: AsyncConnection, f: JobFilter, *, after: str | None = None,
                      limit: int = 50) -> tuple[list[JobRow], bool]:
    """Newest first; ``after`` is the id of the last job of the previous page."""
    query = _query(f)
    if after:
        cursor = (await conn.execute(
            select(jobs.c.created_at, jobs.c.id).where(jobs.c.id == after))).first()
        if cursor is None:
            raise InvalidRequest(f"No job '{after}' for 'after'.", param="after",
                                 code="invalid_value")
        query = query.where(tuple_(jobs.c.created_at, jobs.c.id)
                            < tuple_(cursor.created_at, cursor.id))
    query = query.order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(limit + 1)
    rows = [_row(r) for r in await conn.execute(query)]
    return rows[:limit], len(rows) > limit


async def find_job(conn: AsyncConnection, job_id: str) -> JobRow:
    rows = (await conn.execute(_query(JobFilter()).where(jobs.c.id == job_id))).first()
    if rows is None:
        raise NotFound(f"No job '{job_id}'.", param="job_id")
    return _row(rows)


async def timeline(conn: AsyncConnection, job_id: str) -> list[TimelineEntry]:
    rows = await conn.execute(select(job_events).where(job_events.c.job_id == job_id)
                              .order_by(job_events.c.at, job_events.c.id))
    return [TimelineEntry(r.at, r.kind, r.state, r.progress, r.detail) for r in rows]


def admin_job_object(row: JobRow) -> dict[str, Any]:
    """The public video object plus what only an operator may see."""
    job = row.job
    return {
        **video_object(job),
        "object": "admin.job",
        "state": job.state.value,
        "tenant": row.tenant_name, "tenant_id": job.tenant_id, "key_id": job.key_id,
        "channel": row.channel_name, "channel_id": job.channel_id,
        "upstream_model": job.upstream_model, "upstream_id": job.upstream_id,
        "upstream_status": job.upstream_status,
        "poll_count": job.poll_count, "submit_attempts": job.submit_attempts,
        "price_micros": job.price_micros, "price_usd": usd_str(job.price_micros),
        "charged_micros": job.charged_micros,
        "updated_at": job.updated_at, "started_at": job.started_at,
        "deleted_at": job.deleted_at,
        "media": sorted(job.media),
    }


@router.get("")
async def list_jobs(
    request: Request,
    status: Annotated[str | None, Query(max_length=20)] = None,
    model: Annotated[str | None, Query(max_length=100)] = None,
    tenant: Annotated[str | None, Query(max_length=200)] = None,
    channel: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[str | None, Query(max_length=40)] = None,
    until: Annotated[str | None, Query(max_length=40)] = None,
    after: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> JSONResponse:
    f = JobFilter(status, model, tenant, channel, parse_time(since, "since"),
                  parse_time(until, "until"))
    async with gateway(request).db.read() as conn:
        rows, has_more = await search_jobs(conn, f, after=after, limit=limit)
    data = [admin_job_object(r) for r in rows]
    return JSONResponse({"object": "list", "data": data, "has_more": has_more,
                         "last_id": data[-1]["id"] if data else None})


@router.get("/{job_id}")
async def get_job(job_id: str, request: Request) -> JSONResponse:
    async with gateway(request).db.read() as conn:
        row = await find_job(conn, job_id)
        events = await timeline(conn, job_id)
        deliveries = await wh_repo.list_deliveries(conn, job_id=job_id, limit=100)
    return JSONResponse({
        **admin_job_object(row),
        "events": [{"at": e.at, "kind": e.kind, "state": e.state, "progress": e.progress,
                    "detail": e.detail} for e in events],
        "webhook_deliveries": [{"id": d.id, "event_type": d.event_type, "status": d.status,
                                "attempts": d.attempts, "last_status_code": d.last_status_code}
                               for d in deliveries],
    })
