"""``/admin/api/tenants``: every tenant's balance and ledger, top-ups and adjustments.

Amounts travel as decimal strings (``"10.00"``), never JSON numbers, so no float can
touch money on the way in; a number is refused with a 400.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from reelgate.api.billing import entry_object, ledger_page, parse_after, tenant_object
from reelgate.api.deps import gateway
from reelgate.billing import ledger, tenants
from reelgate.billing.ledger import Kind
from reelgate.billing.money import parse_ppm, parse_usd
from reelgate.errors import InvalidRequest
from reelgate.store.db import Database

__all__ = ["router"]

router = APIRouter(prefix="/tenants", tags=["admin: tenants"])


def _db(request: Request) -> Database:
    db: Database = gateway(request).db
    return db


def _amount(text: str, param: str = "amount") -> int:
    try:
        return parse_usd(text)
    except ValueError as exc:
        raise InvalidRequest(f"Invalid value for '{param}': {exc}.", param=param,
                             code="invalid_value") from exc


def _ppm(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return parse_ppm(text)
    except ValueError as exc:
        raise InvalidRequest(f"Invalid value for 'price_multiplier': {exc}.",
                             param="price_multiplier", code="invalid_value") from exc


class NewTenant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    prepaid: bool = False
    #: an opening top-up; implies prepaid
    balance: str | None = None
    price_multiplier: str | None = None


class TenantChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prepaid: bool | None = None
    price_multiplier: str | None = None


class Movement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: str = Field(min_length=1, max_length=40)
    #: idempotency: an external payment id; the same reference twice credits once
    reference: str | None = Field(default=None, min_length=1, max_length=200)
    note: str | None = Field(default=None, max_length=1000)


async def _with_verification(db: Database, ref: str) -> dict[str, Any]:
    async with db.read() as conn:
        tenant = await tenants.get(conn, ref)
        check = (await ledger.verify(conn, tenant.id))[0]
    return {**tenant_object(tenant), "ledger_micros": check.ledger_micros,
            "consistent": check.ok}


@router.get("")
async def list_tenants(request: Request) -> JSONResponse:
    async with _db(request).read() as conn:
        rows = await tenants.list_all(conn)
    return JSONResponse({"object": "list", "data": [tenant_object(t) for t in rows]})


@router.post("")
async def create_tenant(body: NewTenant, request: Request) -> JSONResponse:
    opening = _amount(body.balance, "balance") if body.balance is not None else 0
    ppm = _ppm(body.price_multiplier)
    async with _db(request).begin() as conn:
        tenant = await tenants.create(conn, body.name, prepaid=body.prepaid or opening > 0,
                                      multiplier_ppm=1_000_000 if ppm is None else ppm)
        if opening:
            await tenants.credit(conn, tenant, opening, note="opening balance")
    return JSONResponse(await _with_verification(_db(request), tenant.id), status_code=201)


@router.get("/{ref}")
async def show_tenant(ref: str, request: Request) -> JSONResponse:
    return JSONResponse(await _with_verification(_db(request), ref))


@router.patch("/{ref}")
async def change_tenant(ref: str, body: TenantChange, request: Request) -> JSONResponse:
    async with _db(request).begin() as conn:
        tenant = await tenants.get(conn, ref)
        await tenants.update_tenant(conn, tenant, prepaid=body.prepaid,
                                    multiplier_ppm=_ppm(body.price_multiplier))
    return JSONResponse(await _with_verification(_db(request), ref))


async def _move(request: Request, ref: str, body: Movement, kind: Kind) -> JSONResponse:
    amount = _amount(body.amount)
    async with _db(request).begin() as conn:
        tenant = await tenants.get(conn, ref)
        credit = await tenants.credit(conn, tenant, amount, kind=kind,
                                      reference=body.reference, note=body.note)
    return JSONResponse({**entry_object(credit.entry), "replayed": not credit.created},
                        status_code=201 if credit.created else 200)


@router.post("/{ref}/topups")
async def topup(ref: str, body: Movement, request: Request) -> JSONResponse:
    return await _move(request, ref, body, Kind.TOPUP)


@router.post("/{ref}/adjustments")
async def adjust(ref: str, body: Movement, request: Request) -> JSONResponse:
    return await _move(request, ref, body, Kind.ADJUSTMENT)


@router.get("/{ref}/ledger")
async def tenant_ledger(
    ref: str, request: Request,
    after: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    job_id: Annotated[str | None, Query()] = None,
) -> JSONResponse:
    async with _db(request).read() as conn:
        tenant = await tenants.get(conn, ref)
        entries, more = await ledger.page(conn, tenant.id, after=parse_after(after),
                                          limit=limit, job_id=job_id)
    return JSONResponse(ledger_page(entries, more))
