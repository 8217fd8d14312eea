"""``GET /v1/models``: the video models this gateway serves, with their options."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from reelgate.api.auth import principal
from reelgate.api.deps import GatewayDep
from reelgate.api.openapi import answers
from reelgate.api.schemas import Model, ModelList
from reelgate.auth.principal import Principal
from reelgate.catalog import (
    EXTENSION_SECONDS,
    MAX_EXTENSIONS,
    MAX_TOTAL_SECONDS,
    ModelSpec,
    ModelState,
    Operation,
)
from reelgate.errors import NotFound

__all__ = ["router"]

router = APIRouter(prefix="/v1", dependencies=[Depends(principal)])
Caller = Annotated[Principal, Depends(principal)]


def model_object(spec: ModelSpec, prices: dict[str, int] | None = None,
                 created: int = 1_700_000_000, *, available: bool = True,
                 operations: list[str] | None = None) -> dict[str, Any]:
    """``prices``: what the caller pays per second by size (micro-USD); list prices if None.
    ``available``: whether an enabled channel serves it (a create is refused if not).
    ``operations``: those an enabled channel serving it can do (None: not known here)."""
    per_second = dict(spec.prices) if prices is None else prices
    extends = Operation.EXTEND in spec.operations
    return {
        "id": spec.id, "object": "model", "created": created, "owned_by": spec.owned_by,
        "description": spec.description, "quality": spec.quality,
        "state": spec.state.value, "available": available and spec.state is not ModelState.RETIRED,
        "successor": spec.successor, "message": spec.message or None,
        "aliases": list(spec.aliases),
        "operations": [op.value for op in Operation if op in spec.operations],
        "available_operations": operations,
        "extension_seconds": list(EXTENSION_SECONDS) if extends else [],
        "max_extensions": MAX_EXTENSIONS if extends else 0,
        "max_total_seconds": MAX_TOTAL_SECONDS if extends else None,
        "sizes": list(spec.sizes), "seconds": list(spec.seconds),
        "rules": [{"when_sizes": list(r.when_sizes), "seconds": list(r.seconds)} if r.when_sizes
                  else {"when_seconds": list(r.when_seconds), "sizes": list(r.sizes)}
                  for r in spec.rules],
        "default_size": spec.default_size, "default_seconds": spec.default_seconds,
        "pricing": {"unit": "render_second" if spec.render_cap else "second",
                    "currency": "USD",
                    "per_second": {size: micros / 1_000_000 for size, micros in
                                   per_second.items()},
                    "per_second_micros": per_second,
                    "max_render_seconds": spec.render_cap},
    }


def _visible(spec: ModelSpec, caller: Principal) -> bool:
    return caller.allowed_models is None or spec.id in caller.allowed_models


@router.get("/models", responses=answers(ModelList, 401))
async def list_models(gw: GatewayDep, caller: Caller) -> JSONResponse:
    """The models this key may use, priced at what its tenant pays; hidden ones left out,
    retired ones and ones no channel serves listed with ``available: false``."""
    prices = await gw.prices.paid_by(caller)
    listed = [m for m in gw.catalog.listed() if _visible(m, caller)]
    served = await gw.availability.served(m.id for m in listed)
    can = await gw.operations.served_operations(listed)
    data = [model_object(m, prices.get(m.id), available=m.id in served, operations=can[m.id])
            for m in listed]
    return JSONResponse({"object": "list", "data": data})


@router.get("/models/{model_id}", responses=answers(Model, 401, 404))
async def get_model(model_id: str, gw: GatewayDep, caller: Caller) -> JSONResponse:
    spec = gw.catalog.get(model_id)
    if spec is None or not _visible(spec, caller):
        raise NotFound(f"The model '{model_id}' does not exist.", param="model",
                       code="model_not_found")
    prices = await gw.prices.paid_by(caller)
    served = await gw.availability.served([spec.id])
    can = await gw.operations.served_operations([spec])
    return JSONResponse(model_object(spec, prices.get(spec.id), available=spec.id in served,
                                     operations=can[spec.id]))
