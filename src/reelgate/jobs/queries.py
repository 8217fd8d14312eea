"""Read-side job queries for operators: the admin API, the admin UI, live streams.

Every tenant's jobs, filtered and paged, joined with their tenant's and channel's
names, and a job's timeline. The admin API and the UI's job explorer call the same
methods, so the page shows exactly what the API returns. Nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Select, case, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.errors import InvalidRequest, NotFound
from reelgate.jobs import repository as repo
from reelgate.jobs.model import Job
from reelgate.jobs.states import State
from reelgate.store.db import Database
from reelgate.store.tables import channels, job_events, jobs, tenants

__all__ = [
    "PROMPT_SCAN",
    "STATUS_FILTERS",
    "FilterChoices",
    "JobDetail",
    "JobFilter",
    "JobQueries",
    "JobRow",
    "PromptPage",
    "SpendRow",
    "TimelineEntry",
]

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


@dataclass(frozen=True)
class JobDetail:
    row: JobRow
    timeline: list[TimelineEntry]


@dataclass(frozen=True)
class FilterChoices:
    """What the explorer's tenant and channel pickers offer."""

    tenants: list[str]
    channels: list[str]


#: jobs a prompt search reads per page, newest first: a substring match uses no index,
#: so it is bounded rather than a scan of the whole table
PROMPT_SCAN = 20_000


@dataclass(frozen=True)
class PromptPage:
    """One page of a prompt search. ``next_after`` continues it (None: the end);
    ``scanned``: how many jobs the window read, when the page was not full (else None)."""

    rows: list[JobRow]
    next_after: str | None
    scanned: int | None


@dataclass(frozen=True)
class SpendRow:
    """One model's share of a tenant's jobs created in a window."""

    model: str
    jobs: int
    completed: int
    failed: int
    #: what completed jobs were charged (settled), micro-USD
    charged_micros: int
    #: what jobs still running have reserved, micro-USD
    reserved_micros: int


def _query(f: JobFilter) -> Select[Any]:
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


_NEWEST = (jobs.c.created_at.desc(), jobs.c.id.desc())
#: jobs a prompt search reads per query while it fills a page
_CHUNK = 2_000


async def _filtered(conn: AsyncConnection, f: JobFilter) -> Select[Any]:
    """``_query(f)`` with the tenant and channel named by name or id resolved to ids
    first, so the database walks ``ix_jobs_tenant_created`` already in order instead of
    sorting every job of the tenant (an OR over two tenant columns could be two)."""
    query = _query(replace(f, tenant=None, channel=None))
    for ref, table, column in ((f.tenant, tenants, jobs.c.tenant_id),
                               (f.channel, channels, jobs.c.channel_id)):
        if ref:
            found = (await conn.execute(select(table.c.id).where(
                or_(table.c.name == ref, table.c.id == ref)).limit(1))).scalar()
            query = query.where(column == (found or ref))
    return query


async def _after(conn: AsyncConnection, query: Select[Any], after: str | None) -> Select[Any]:
    """``query`` limited to the jobs older than the job ``after`` (a page's cursor)."""
    if not after:
        return query
    cursor = (await conn.execute(
        select(jobs.c.created_at, jobs.c.id).where(jobs.c.id == after))).first()
    if cursor is None:
        raise InvalidRequest(f"No job '{after}' for 'after'.", param="after",
                             code="invalid_value")
    return query.where(tuple_(jobs.c.created_at, jobs.c.id)
                       < tuple_(cursor.created_at, cursor.id))


async def _find(conn: AsyncConnection, job_id: str) -> JobRow:
    found = (await conn.execute(_query(JobFilter()).where(jobs.c.id == job_id))).first()
    if found is None:
        raise NotFound(f"No job '{job_id}'.", param="job_id")
    return _row(found)


class JobQueries:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def search(self, f: JobFilter, *, after: str | None = None,
                     limit: int = 50) -> tuple[list[JobRow], bool]:
        """Newest first; ``after`` is the id of the last job of the previous page."""
        async with self.db.read() as conn:
            query = await _after(conn, await _filtered(conn, f), after)
            query = query.order_by(*_NEWEST).limit(limit + 1)
            rows = [_row(r) for r in await conn.execute(query)]
        return rows[:limit], len(rows) > limit

    async def search_prompt(self, f: JobFilter, text: str, *, after: str | None = None,
                            limit: int = 50, scan: int = PROMPT_SCAN) -> PromptPage:
        """Jobs whose prompt holds ``text`` (any case; ``%`` and ``_`` are literal),
        among the ``scan`` newest jobs that match ``f`` after ``after``.

        The window is read newest first through ``ix_jobs_created`` (or the tenant's
        index) in chunks, and reading stops once the page is full, so a common word
        costs one chunk and a page never reads more than ``scan`` jobs, at a million
        jobs as at a thousand. When the window ends before the page is full,
        ``next_after`` is its oldest job: the next page searches the jobs before it.
        """
        rows: list[JobRow] = []
        scanned = 0
        async with self.db.read() as conn:
            cursor = after
            while scanned < scan:
                window = (await _after(conn, await _filtered(conn, f), cursor)
                          ).with_only_columns(jobs.c.id)
                ids = list((await conn.execute(window.order_by(*_NEWEST).limit(
                    min(_CHUNK, scan - scanned)))).scalars())
                if not ids:
                    return PromptPage(rows, None, scanned)
                scanned += len(ids)
                found = (_query(JobFilter()).where(jobs.c.id.in_(ids),
                                         jobs.c.prompt.icontains(text, autoescape=True))
                         .order_by(*_NEWEST).limit(limit + 1 - len(rows)))
                rows += [_row(r) for r in await conn.execute(found)]
                if len(rows) > limit:
                    return PromptPage(rows[:limit], rows[limit - 1].job.id, None)
                cursor = ids[-1]
                if len(ids) < _CHUNK and scanned < scan:  # the table ended
                    return PromptPage(rows, None, scanned)
        return PromptPage(rows, cursor, scanned)

    async def find(self, job_id: str) -> JobRow:
        """Any tenant's job, deleted ones included; NotFound if there is none."""
        async with self.db.read() as conn:
            return await _find(conn, job_id)

    async def detail(self, job_id: str) -> JobDetail:
        """The job and every event of its timeline, oldest first."""
        async with self.db.read() as conn:
            row = await _find(conn, job_id)
            events = await conn.execute(select(job_events).where(job_events.c.job_id == job_id)
                                        .order_by(job_events.c.at, job_events.c.id))
            timeline = [TimelineEntry(e.at, e.kind, e.state, e.progress, e.detail)
                        for e in events]
        return JobDetail(row, timeline)

    async def filter_choices(self) -> FilterChoices:
        async with self.db.read() as conn:
            tenant_names = [r[0] for r in await conn.execute(
                select(tenants.c.name).order_by(tenants.c.name))]
            channel_names = [r[0] for r in await conn.execute(
                select(channels.c.name).order_by(channels.c.name))]
        return FilterChoices(tenant_names, channel_names)

    async def snapshot(self, job_id: str, *, tenant_id: str | None) -> Job | None:
        """The job as it is now, deleted or not; ``tenant_id`` None sees every tenant's."""
        async with self.db.read() as conn:
            return await repo.get(conn, job_id, tenant_id=tenant_id, include_deleted=True)

    async def spend(self, tenant_id: str, *, since: float,
                    until: float | None = None) -> list[SpendRow]:
        """The tenant's jobs created in [since, until) by model, most charged first.

        One range scan of ``ix_jobs_tenant_created``: the tenant's jobs in the window,
        never anyone else's.
        """
        done = State.COMPLETED.value
        failed = State.FAILED.value
        running = jobs.c.state.notin_((done, failed))
        charged = func.coalesce(func.sum(jobs.c.charged_micros), 0)
        query = (select(jobs.c.model, func.count().label("n"),
                        func.sum(case((jobs.c.state == done, 1), else_=0)).label("ok"),
                        func.sum(case((jobs.c.state == failed, 1), else_=0)).label("bad"),
                        charged.label("charged"),
                        func.coalesce(func.sum(case((running, jobs.c.price_micros),
                                                    else_=0)), 0).label("reserved"))
                 .where(jobs.c.tenant_id == tenant_id, jobs.c.created_at >= since)
                 .group_by(jobs.c.model).order_by(charged.desc(), jobs.c.model))
        if until is not None:
            query = query.where(jobs.c.created_at < until)
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [SpendRow(r.model, int(r.n), int(r.ok or 0), int(r.bad or 0),
                         int(r.charged), int(r.reserved)) for r in rows]
