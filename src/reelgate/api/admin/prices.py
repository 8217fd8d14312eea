"""``/admin/api/prices``: per-second prices by model and size, global or per tenant."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from reelgate.api.deps import GatewayDep
from reelgate.api.openapi import answers
from reelgate.api.schemas import ObjectList, SomeObject
from reelgate.billing.money import parse_usd, usd_str
from reelgate.billing.prices import PriceRow
from reelgate.errors import InvalidRequest, NotFound

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


def price_object(row: PriceRow) -> dict[str, Any]:
    return {"object": "billing.price", "model": row.model, "size": row.size,
            "tenant_id": row.tenant_id or None, "source": row.source, "unit": "second",
            "micros_per_second": row.micros_per_second,
            "usd_per_second": usd_str(row.micros_per_second)}


@router.get("", responses=answers(ObjectList, 401, 404))
async def list_prices(gw: GatewayDep,
                      tenant: Annotated[str | None, Query()] = None) -> JSONResponse:
    """Effective base prices (before the tenant multiplier) and where each comes from."""
    rows = await gw.prices.table(tenant)
    return JSONResponse({"object": "list", "data": [price_object(r) for r in rows]})


@router.put("", responses=answers(SomeObject, 400, 401, 404, 413))
async def set_price(body: NewPrice, gw: GatewayDep) -> JSONResponse:
    try:
        micros = parse_usd(body.price)
    except ValueError as exc:
        raise InvalidRequest(f"Invalid value for 'price': {exc}.", param="price",
                             code="invalid_value") from exc
    return JSONResponse(price_object(await gw.prices.set(body.model, body.size, micros,
                                                         body.tenant)))


@router.delete("", responses=answers(SomeObject, 400, 401, 404))
async def unset_price(
    gw: GatewayDep, model: Annotated[str, Query()], size: Annotated[str, Query()],
    tenant: Annotated[str | None, Query()] = None,
) -> JSONResponse:
    row = await gw.prices.unset(model, size, tenant)
    if row is None:
        raise NotFound(f"No price override for {model} {size}.", param="model",
                       code="price_not_found")
    return JSONResponse(price_object(row))
