"""``GET /v1/models``: the video models this gateway serves, with their options."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from reelgate.api.auth import principal
from reelgate.api.deps import GatewayDep
from reelgate.auth.principal import Principal
from reelgate.catalog import ModelSpec
from reelgate.errors import NotFound

__all__ = ["router"]

router = APIRouter(prefix="/v1", dependencies=[Depends(principal)])
Caller = Annotated[Principal, Depends(principal)]


def model_object(spec: ModelSpec, prices: dict[str, int] | None = None,
                 created: int = 1_700_000_000) -> dict[str, Any]:
    """``prices``: what the caller pays per second by size (micro-USD); list prices if None."""
    per_second = dict(spec.prices) if prices is None else prices
    return {
        "id": spec.id, "object": "model", "created": created, "owned_by": spec.owned_by,
        "description": spec.description, "quality": spec.quality,
        "sizes": list(spec.sizes), "seconds": list(spec.seconds),
        "default_size": spec.default_size, "default_seconds": spec.default_seconds,
        "pricing": {"unit": "second", "currency": "USD",
                    "per_second": {size: micros / 1_000_000 for size, micros in
                                   per_second.items()},
                    "per_second_micros": per_second},
    }


def _visible(spec: ModelSpec, caller: Principal) -> bool:
    return caller.allowed_models is None or spec.id in caller.allowed_models


@router.get("/models")
async def list_models(gw: GatewayDep, caller: Caller) -> JSONResponse:
    """The models this key may use, priced at what its tenant pays."""
    prices = await gw.prices.paid_by(caller)
    data = [model_object(m, prices.get(m.id)) for m in gw.catalog if _visible(m, caller)]
    return JSONResponse({"object": "list", "data": data})


@router.get("/models/{model_id}")
async def get_model(model_id: str, gw: GatewayDep, caller: Caller) -> JSONResponse:
    spec = gw.catalog.get(model_id)
    if spec is None or not _visible(spec, caller):
        raise NotFound(f"The model '{model_id}' does not exist.", param="model",
                       code="model_not_found")
    prices = await gw.prices.paid_by(caller)
    return JSONResponse(model_object(spec, prices.get(spec.id)))
