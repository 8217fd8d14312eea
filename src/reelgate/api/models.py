"""``GET /v1/models``: the video models this gateway serves, with their options."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from reelgate.api.auth import principal
from reelgate.catalog import ModelSpec

__all__ = ["router"]

router = APIRouter(prefix="/v1", dependencies=[Depends(principal)])


def model_object(spec: ModelSpec, created: int = 1_700_000_000) -> dict[str, Any]:
    return {
        "id": spec.id, "object": "model", "created": created, "owned_by": spec.owned_by,
        "description": spec.description, "quality": spec.quality,
        "sizes": list(spec.sizes), "seconds": list(spec.seconds),
        "default_size": spec.default_size, "default_seconds": spec.default_seconds,
        "pricing": {"unit": "second", "currency": "USD",
                    "per_second": {size: micros / 1_000_000 for size, micros in
                                   spec.prices.items()}},
    }


@router.get("/models")
async def list_models(request: Request) -> JSONResponse:
    catalog = request.app.state.gateway.catalog
    return JSONResponse({"object": "list", "data": [model_object(m) for m in catalog]})


@router.get("/models/{model_id}")
async def get_model(model_id: str, request: Request) -> JSONResponse:
    from reelgate.errors import NotFound

    spec = request.app.state.gateway.catalog.get(model_id)
    if spec is None:
        raise NotFound(f"The model '{model_id}' does not exist.", param="model",
                       code="model_not_found")
    return JSONResponse(model_object(spec))
