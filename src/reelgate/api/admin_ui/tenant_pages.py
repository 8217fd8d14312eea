"""Tenants in the console: create one, top up, adjust with a note, switch the billing
mode or multiplier, and a tenant's page with its ledger (paged) and its spend by model.

Money moves through :class:`~reelgate.billing.service.TenantService`, as ``reelgate
tenants`` does: amounts typed as decimal USD become integer micro-USD without a float,
and a top-up with a reference already posted credits nothing the second time.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from reelgate.api.admin_ui.forms import NO_REFUSAL, Fields, Refusal, done, read_fields
from reelgate.api.admin_ui.session import Session, require_session
from reelgate.api.admin_ui.views import page
from reelgate.api.billing import parse_after
from reelgate.api.deps import gateway
from reelgate.billing.ledger import Kind
from reelgate.billing.money import format_usd, parse_ppm, usd_str
from reelgate.billing.tenants import mode
from reelgate.errors import APIError, InvalidRequest
from reelgate.ids import now

__all__ = ["router"]

router = APIRouter(prefix="/admin")

LEDGER_PAGE = 25
#: the spend windows the tenant page offers, in days
WINDOWS = (1, 7, 30, 90)


def _ppm(fields: Fields) -> int | None:
    text = fields.get("multiplier")
    if not text:
        return None
    try:
        return parse_ppm(text)
    except ValueError as exc:
        raise InvalidRequest(f"Invalid value for 'price_multiplier': {exc}.",
                             param="price_multiplier", code="invalid_value") from exc


async def _list(request: Request, session: Session, refusal: Refusal = NO_REFUSAL,
                status: int = 200) -> Response:
    rows = await gateway(request).tenants.list_all()
    return page(request, "tenants.html", session, status, section="tenants", tenants=rows,
                mode=mode, refusal=refusal, done=request.query_params.get("done"))


@router.get("/tenants")
async def tenants_page(request: Request) -> Response:
    return await _list(request, require_session(request))


@router.post("/tenants")
async def create_tenant(request: Request) -> Response:
    session, fields = await read_fields(request)
    try:
        opening = fields.usd("balance") or 0
        made = await gateway(request).tenants.create(
            fields.get("name"), prepaid=fields.flag("prepaid"), opening_micros=opening,
            multiplier_ppm=_ppm(fields))
    except APIError as exc:
        return await _list(request, session, fields.refusal("create", exc), exc.status)
    return done(f"/admin/tenants/{made.id}",
                f"Created tenant {made.name}: {mode(made)}, balance "
                f"{format_usd(made.balance_micros)}.")


def _days(request: Request) -> int:
    raw = request.query_params.get("days", "30")
    return int(raw) if raw.isdigit() and int(raw) in WINDOWS else 30


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "")
    return min(int(raw), 100) if raw.isdigit() and int(raw) > 0 else LEDGER_PAGE


async def _detail(request: Request, session: Session, ref: str, *,
                  refusal: Refusal = NO_REFUSAL, status: int = 200) -> Response:
    gw = gateway(request)
    tenant, check = await gw.tenants.verify(ref)
    after = parse_after(request.query_params.get("after") or None)
    limit = _limit(request)
    ledger = await gw.tenants.ledger(tenant.id, after=after, limit=limit)
    days = _days(request)
    spend = await gw.job_queries.spend(tenant.id, since=now() - days * 86400)
    keys = [k for k in await gw.keys.list_all() if k.tenant_id == tenant.id]
    endpoints = await gw.webhooks.endpoints(tenant=tenant.name)
    older = ledger.entries[-1].id if ledger.has_more and ledger.entries else None
    return page(request, "tenant.html", session, status, section="tenants", tenant=tenant,
                mode=mode(tenant), check=check, entries=ledger.entries, older=older,
                first_page=after is None, limit=limit, spend=spend, days=days, windows=WINDOWS,
                total_charged=sum(r.charged_micros for r in spend),
                total_reserved=sum(r.reserved_micros for r in spend),
                keys=keys, endpoints=endpoints, multiplier=usd_str(tenant.price_multiplier_ppm),
                refusal=refusal, done=request.query_params.get("done"))


@router.get("/tenants/{ref}")
async def tenant_page(ref: str, request: Request) -> Response:
    return await _detail(request, require_session(request), ref)


async def _credit(request: Request, ref: str, kind: Kind, form: str) -> Response:
    session, fields = await read_fields(request)
    note = fields.get("note") or None
    try:
        amount = fields.usd("amount")
        if amount is None:
            raise InvalidRequest("Missing required parameter: 'amount'.", param="amount",
                                 code="missing_required_parameter")
        if kind == Kind.ADJUSTMENT and note is None:
            raise InvalidRequest("An adjustment needs a note saying why; it is kept in the "
                                 "ledger.", param="note", code="missing_required_parameter")
        credit, tenant = await gateway(request).tenants.credit(
            ref, amount, kind=kind, reference=fields.get("reference") or None, note=note)
    except APIError as exc:
        return await _detail(request, session, ref, refusal=fields.refusal(form, exc),
                             status=exc.status)
    verb = "Posted" if credit.created else "Already posted (same reference), unchanged:"
    return done(f"/admin/tenants/{tenant.id}",
                f"{verb} {kind.value} {format_usd(credit.entry.amount_micros)} to "
                f"{tenant.name}; balance now {format_usd(tenant.balance_micros)}.")


@router.post("/tenants/{ref}/topup")
async def topup(ref: str, request: Request) -> Response:
    return await _credit(request, ref, Kind.TOPUP, "topup")


@router.post("/tenants/{ref}/adjust")
async def adjust(ref: str, request: Request) -> Response:
    return await _credit(request, ref, Kind.ADJUSTMENT, "adjust")


@router.post("/tenants/{ref}/settings")
async def change(ref: str, request: Request) -> Response:
    session, fields = await read_fields(request)
    billing = fields.get("mode")
    try:
        if billing not in ("", "prepaid", "postpaid"):
            raise InvalidRequest(f"Invalid value for 'mode': {billing!r}; choose prepaid or "
                                 "postpaid.", param="mode", code="invalid_value")
        tenant = await gateway(request).tenants.update(
            ref, prepaid=None if not billing else billing == "prepaid",
            multiplier_ppm=_ppm(fields))
    except APIError as exc:
        return await _detail(request, session, ref, refusal=fields.refusal("settings", exc),
                             status=exc.status)
    return done(f"/admin/tenants/{tenant.id}",
                f"Updated {tenant.name}: {mode(tenant)}, price multiplier "
                f"{usd_str(tenant.price_multiplier_ppm)}.")
