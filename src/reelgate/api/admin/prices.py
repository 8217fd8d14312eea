"""``/admin/api/prices``: per-second prices by model and size, global or per tenant."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from reelgate.api.deps import gateway
from reelgate.billing import tenants
from reelgate.billing.money import parse_usd, usd_str
from reelgate.billing.prices import PriceRow, TablePricer
from reelgate.errors import InvalidRequest, NotFound
from reelgate.store.db import Database

__all__ = ["router"]

router = APIRouter(prefix="/prices", tags=["admin: prices"])


class NewPrice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=100)
    size: str = Field(min_length=1, max_length=20)
    #: USD per second as a decimal string, e.g. "0.10"
    price: str = Field(min_length=1, max_length=40)
    #: a tenant id or name; omitted for the global price
    tenant: str | None = None


def _parts(request: Request) -> tuple[Database, TablePricer]:
    gw = gateway(request)
    return gw.db, gw.pricer


def price_object(row: PriceRow) -> dict[str, Any]:
    return {"object": "billing.price", "model": row.model, "size": row.size,
            "tenant_id": row.tenant_id or None, "source": row.source, "unit": "second",
            "micros_per_second": row.micros_per_second,
            "usd_per_second": usd_str(row.micros_per_second)}


async def _tenant_id(conn: Any, ref: str | None) -> str:
    return "" if not ref else (await tenants.get(conn, ref)).id


@router.get("")
async def list_prices(request: Request,
                      tenant: Annotated[str | None, Query()] = None) -> JSONResponse:
    """Effective base prices (before the tenant multiplier) and where each comes from."""
    db, pricer = _parts(request)
    async with db.read() as conn:
        rows = await pricer.table(conn, await _tenant_id(conn, tenant))
    return JSONResponse({"object": "list", "data": [price_object(r) for r in rows]})


@router.put("")
async def set_price(body: NewPrice, request: Request) -> JSONResponse:
    try:
        micros = parse_usd(body.price)
    except ValueError as exc:
        raise InvalidRequest(f"Invalid value for 'price': {exc}.", param="price",
                             code="invalid_value") from exc
    db, pricer = _parts(request)
    async with db.begin() as conn:
        tid = await _tenant_id(conn, body.tenant)
        await pricer.set_price(conn, body.model, body.size, micros, tid)
        row = await pricer.base_rate(conn, tid, body.model, body.size)
    return JSONResponse(price_object(row))


@router.delete("")
async def unset_price(
    request: Request, model: Annotated[str, Query()], size: Annotated[str, Query()],
    tenant: Annotated[str | None, Query()] = None,
) -> JSONResponse:
    db, pricer = _parts(request)
    async with db.begin() as conn:
        tid = await _tenant_id(conn, tenant)
        if not await pricer.unset_price(conn, model, size, tid):
            raise NotFound(f"No price override for {model} {size}.", param="model",
                           code="price_not_found")
        row = await pricer.base_rate(conn, tid, model, size)
    return JSONResponse(price_object(row))
