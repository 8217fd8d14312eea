"""``/admin/api/tenants``: every tenant's balance and ledger, top-ups and adjustments.

Amounts travel as decimal strings (``"10.00"``), never JSON numbers, so no float can
touch money on the way in; a number is refused with a 400.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from reelgate.api.billing import entry_object, ledger_page, parse_after, tenant_object
from reelgate.api.deps import GatewayDep
from reelgate.api.openapi import answers
from reelgate.api.schemas import ObjectList, SomeObject
from reelgate.billing.ledger import Kind
from reelgate.billing.money import parse_ppm, parse_usd
from reelgate.billing.service import TenantService
from reelgate.errors import InvalidRequest

__all__ = ["router"]

router = APIRouter(prefix="/tenants", tags=["admin: tenants"])


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


#: a credit answers 201, or 200 when its reference was already used for the same amount
MOVEMENT = answers(SomeObject, 400, 401, 404, 409, 413, status=201, more={
    200: {"description": "A replay: the reference was already credited.", "model": SomeObject}})


async def _verified(service: TenantService, ref: str) -> dict[str, Any]:
    tenant, check = await service.verify(ref)
    return {**tenant_object(tenant), "ledger_micros": check.ledger_micros,
            "consistent": check.ok}


@router.get("", responses=answers(ObjectList, 401))
async def list_tenants(gw: GatewayDep) -> JSONResponse:
    rows = await gw.tenants.list_all()
    return JSONResponse({"object": "list", "data": [tenant_object(t) for t in rows]})


@router.post("", status_code=201, responses=answers(SomeObject, 400, 401, 409, 413, status=201))
async def create_tenant(body: NewTenant, gw: GatewayDep) -> JSONResponse:
    opening = _amount(body.balance, "balance") if body.balance is not None else 0
    tenant = await gw.tenants.create(body.name, prepaid=body.prepaid, opening_micros=opening,
                                     multiplier_ppm=_ppm(body.price_multiplier))
    return JSONResponse(await _verified(gw.tenants, tenant.id), status_code=201)


@router.get("/{ref}", responses=answers(SomeObject, 401, 404))
async def show_tenant(ref: str, gw: GatewayDep) -> JSONResponse:
    return JSONResponse(await _verified(gw.tenants, ref))


@router.patch("/{ref}", responses=answers(SomeObject, 400, 401, 404, 413))
async def change_tenant(ref: str, body: TenantChange, gw: GatewayDep) -> JSONResponse:
    await gw.tenants.update(ref, prepaid=body.prepaid,
                            multiplier_ppm=_ppm(body.price_multiplier))
    return JSONResponse(await _verified(gw.tenants, ref))


async def _move(gw: GatewayDep, ref: str, body: Movement, kind: Kind) -> JSONResponse:
    credit, _ = await gw.tenants.credit(ref, _amount(body.amount), kind=kind,
                                        reference=body.reference, note=body.note)
    return JSONResponse({**entry_object(credit.entry), "replayed": not credit.created},
                        status_code=201 if credit.created else 200)


@router.post("/{ref}/topups", status_code=201, responses=MOVEMENT)
async def topup(ref: str, body: Movement, gw: GatewayDep) -> JSONResponse:
    return await _move(gw, ref, body, Kind.TOPUP)


@router.post("/{ref}/adjustments", status_code=201, responses=MOVEMENT)
async def adjust(ref: str, body: Movement, gw: GatewayDep) -> JSONResponse:
    return await _move(gw, ref, body, Kind.ADJUSTMENT)


@router.get("/{ref}/ledger", responses=answers(ObjectList, 400, 401, 404))
async def tenant_ledger(
    ref: str, gw: GatewayDep,
    after: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    job_id: Annotated[str | None, Query()] = None,
) -> JSONResponse:
    page = await gw.tenants.ledger(ref, after=parse_after(after), limit=limit, job_id=job_id)
    return JSONResponse(ledger_page(page))
