"""The job explorer, a job's page (player, media, timeline), and the playground.

The playground creates jobs through the same :class:`VideoService` as ``POST
/v1/videos``, on behalf of a key the operator picks, so limits and billing apply as
for that key; the key's secret is never needed, stored or shown.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from starlette.datastructures import UploadFile

from reelgate.api.admin.jobs import parse_time
from reelgate.api.admin_ui.session import Session, check_csrf, require_session
from reelgate.api.admin_ui.views import page
from reelgate.api.deps import gateway
from reelgate.api.events import job_events, sse_response
from reelgate.errors import APIError, InvalidRequest, NotFound, PayloadTooLarge
from reelgate.jobs.queries import PROMPT_SCAN, STATUS_FILTERS, JobFilter
from reelgate.jobs.requests import parse_create, sniff_image
from reelgate.media.images import ReferenceImage
from reelgate.media.responder import media_response
from reelgate.providers.base import Variant

__all__ = ["router"]

router = APIRouter(prefix="/admin")

_VARIANTS = {v.value: v.extension for v in Variant}
_PAGE_SIZES = (25, 50, 100, 200)


def _local_input(value: float | None) -> str:
    """A time for an ``<input type=datetime-local>`` (UTC)."""
    if value is None:
        return ""
    return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%dT%H:%M")


@router.get("/jobs")
async def explorer(
    request: Request,
    q: Annotated[str, Query(max_length=500)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    model: Annotated[str, Query(max_length=100)] = "",
    tenant: Annotated[str, Query(max_length=200)] = "",
    channel: Annotated[str, Query(max_length=200)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    after: Annotated[str, Query(max_length=40)] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    """Filters, and ``q``: a job id opens that job; other text searches prompts."""
    session = require_session(request)
    gw = gateway(request)
    q = q.strip()
    if q.startswith("video_") and " " not in q:
        try:
            found = await gw.job_queries.find(q)
        except NotFound:
            found = None
        if found is not None:
            return RedirectResponse(f"/admin/jobs/{found.job.id}", status_code=303)
    f = JobFilter(status or None, model or None, tenant or None, channel or None,
                  parse_time(since, "since"), parse_time(until, "until"))
    scanned = None
    if q:
        found_page = await gw.job_queries.search_prompt(f, q, after=after or None, limit=limit)
        rows, next_after, scanned = found_page.rows, found_page.next_after, found_page.scanned
    else:
        rows, has_more = await gw.job_queries.search(f, after=after or None, limit=limit)
        next_after = rows[-1].job.id if has_more and rows else None
    choices = await gw.job_queries.filter_choices()
    query = {k: v for k, v in dict(q=q, status=status, model=model, tenant=tenant,
                                   channel=channel, since=since, until=until,
                                   limit=str(limit)).items() if v}
    next_query = {**query, "after": next_after} if next_after else None
    return page(request, "jobs.html", session, section="jobs", rows=rows, filters=f,
                q=q, scanned=scanned, scan_bound=PROMPT_SCAN,
                has_more=next_after is not None, query=query, next_query=next_query,
                statuses=list(STATUS_FILTERS), models=[m.id for m in gw.catalog],
                since_input=_local_input(f.since), until_input=_local_input(f.until),
                limit=limit, page_sizes=_PAGE_SIZES, first_page=not after,
                tenants=choices.tenants, channels=choices.channels)


@router.get("/jobs/{job_id}")
async def job_page(job_id: str, request: Request) -> Response:
    session = require_session(request)
    gw = gateway(request)
    detail = await gw.job_queries.detail(job_id)
    row = detail.row
    deliveries = await gw.webhooks.deliveries(job_id=job_id, limit=100)
    endpoints = await gw.webhooks.endpoints(tenant=row.tenant_name)
    return page(request, "job.html", session, section="jobs", row=row, job=row.job,
                events=detail.timeline, deliveries=deliveries,
                endpoint_labels={e.id: e.url for e in endpoints})


@router.get("/jobs/{job_id}/events")
async def job_stream(job_id: str, request: Request) -> StreamingResponse:
    """The same live stream as ``/v1/videos/{id}/events``, for any tenant's job."""
    require_session(request)
    queries = gateway(request).job_queries
    await queries.find(job_id)
    return sse_response(job_events(queries, job_id, tenant_id=None))


@router.api_route("/media/{job_id}/{variant}", methods=["GET", "HEAD"])
async def media(job_id: str, variant: str, request: Request) -> Response:
    """A job's video, thumbnail or spritesheet, with Range so the player can seek."""
    require_session(request)
    if variant not in _VARIANTS:
        raise NotFound(f"No variant '{variant}'.", param="variant")
    gw = gateway(request)
    row = await gw.job_queries.find(job_id)
    ref = row.job.media.get(variant)
    if ref is None:
        raise NotFound(f"Job '{job_id}' has no '{variant}' content (status "
                       f"'{row.job.status}').", param="variant", code="video_not_ready")
    try:
        return await media_response(gw.storage, ref, request, max_age=0,
                                    filename=f"{job_id}.{_VARIANTS[variant]}")
    except FileNotFoundError as exc:
        raise NotFound(f"The content of job '{job_id}' is missing from storage.",
                       param="job_id", code="content_missing") from exc


# --- playground ----------------------------------------------------------------------


async def _playground(request: Request, session: Session, *, job_id: str | None = None,
                      error: str | None = None, form: dict[str, str] | None = None,
                      status: int = 200) -> Response:
    gw = gateway(request)
    keys = await gw.keys.live()
    models = [{"id": m.id, "sizes": list(m.sizes), "seconds": list(m.seconds),
               "default_size": m.default_size, "default_seconds": m.default_seconds}
              for m in gw.catalog]
    return page(request, "playground.html", session, status, section="playground", keys=keys,
                models=models, job_id=job_id, error=error, form=form or {})


@router.get("/playground")
async def playground(request: Request,
                     job: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    session = require_session(request)
    form: dict[str, str] = {}
    if job is not None:  # keep the choices that made this job, to tweak and run again
        made = (await gateway(request).job_queries.find(job)).job
        form = {"key_id": made.key_id, "prompt": made.prompt, "model": made.model,
                "size": made.size, "seconds": str(made.seconds)}
    return await _playground(request, session, job_id=job, form=form)


async def _reference(upload: object, max_bytes: int) -> ReferenceImage | None:
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    data = await upload.read(max_bytes + 1)
    if not data:
        return None
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"The reference image is larger than {max_bytes} bytes.",
                              param="input_reference")
    return sniff_image(data)


@router.post("/playground")
async def run_playground(request: Request) -> Response:
    session = require_session(request)
    gw = gateway(request)
    try:
        form = await request.form(max_files=1, max_fields=16)
    except Exception as exc:  # python-multipart raises several types for broken bodies
        raise InvalidRequest(f"Malformed form body: {exc}.", code="invalid_form") from exc
    check_csrf(session.csrf, form.get("csrf"))
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        caller = await gw.keys.act_as(fields.get("key_id", ""))
        if caller is None:
            raise InvalidRequest("Choose an active API key to run the job as.", param="key_id")
        reference = await _reference(form.get("input_reference"),
                                     gw.settings.max_upload_bytes)
        params = parse_create(
            {k: fields[k] for k in ("prompt", "model", "size", "seconds") if fields.get(k)},
            reference, gw.catalog, max_prompt_chars=gw.settings.max_prompt_chars)
        await gw.availability.admit(params.model)
        job = await gw.videos.create(caller, params)
    except APIError as exc:
        return await _playground(request, session, error=exc.message, form=fields,
                                 status=exc.status)
    finally:
        await form.close()
    return RedirectResponse(f"/admin/playground?job={job.id}", status_code=303)
