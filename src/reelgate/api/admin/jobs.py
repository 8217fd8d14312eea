"""``/admin/api/jobs``: every tenant's jobs, filtered and paged, with their timelines.

The queries live in :mod:`reelgate.jobs.queries`, shared with the admin web UI's job
explorer, so the page shows exactly what this API returns.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from reelgate.api.deps import GatewayDep
from reelgate.api.openapi import answers
from reelgate.api.render import video_object
from reelgate.api.schemas import ObjectList, SomeObject
from reelgate.billing.money import usd_str
from reelgate.errors import InvalidRequest
from reelgate.jobs.queries import JobFilter, JobRow

__all__ = ["admin_job_object", "parse_time", "router"]

router = APIRouter(prefix="/jobs", tags=["admin: jobs"])


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
        # why a queued job waits: {channel, channel_id, reason, error_kind, status_code, at}
        "last_submit_refusal": job.last_refusal,
        "price_micros": job.price_micros, "price_usd": usd_str(job.price_micros),
        "charged_micros": job.charged_micros,
        "updated_at": job.updated_at, "started_at": job.started_at,
        "deleted_at": job.deleted_at,
        "media": sorted(job.media),
        # lineage: what the job was made from (the source may be deleted since)
        "operation": job.operation or ("remix" if job.remixed_from else "create"),
        "source_video_id": job.lineage,
        "source_uploaded": bool(job.source_key) and job.source_id is None,
        "segment_seconds": job.segment_seconds, "extensions": job.extensions,
        "characters": [c["id"] for c in job.characters or ()],
        "model_alias": job.model_alias,
    }


@router.get("", responses=answers(ObjectList, 400, 401))
async def list_jobs(
    gw: GatewayDep,
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
    rows, has_more = await gw.job_queries.search(f, after=after, limit=limit)
    data = [admin_job_object(r) for r in rows]
    return JSONResponse({"object": "list", "data": data, "has_more": has_more,
                         "last_id": data[-1]["id"] if data else None})


@router.get("/{job_id}", responses=answers(SomeObject, 401, 404))
async def get_job(job_id: str, gw: GatewayDep) -> JSONResponse:
    detail = await gw.job_queries.detail(job_id)
    deliveries = await gw.webhooks.deliveries(job_id=job_id, limit=100)
    return JSONResponse({
        **admin_job_object(detail.row),
        "events": [{"at": e.at, "kind": e.kind, "state": e.state, "progress": e.progress,
                    "detail": e.detail} for e in detail.timeline],
        "webhook_deliveries": [{"id": d.id, "event_type": d.event_type, "status": d.status,
                                "attempts": d.attempts, "last_status_code": d.last_status_code}
                               for d in deliveries],
    })
