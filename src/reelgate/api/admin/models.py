"""``/admin/api/models``: the model catalog, the same operations as ``reelgate models``.

Model tables use the catalog file format (prices as USD strings). ``PATCH`` names only
what it changes; send the ``version`` you read to be refused (409) instead of
overwriting a change made meanwhile. Import and export are the TOML file itself.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response

from reelgate.api.deps import gateway
from reelgate.api.openapi import answers, request_body
from reelgate.api.schemas import ObjectList, SomeObject
from reelgate.catalog import doc_from_spec
from reelgate.catalog.service import CatalogService, ModelChange, ModelRecord
from reelgate.errors import InvalidRequest

__all__ = ["model_record", "router"]

router = APIRouter(prefix="/models", tags=["admin: models"])

_CHANGE_KEYS = ("set_prices", "remove_sizes", "add_aliases", "remove_aliases")


def _service(request: Request) -> CatalogService:
    return gateway(request).models


def model_record(record: ModelRecord, available: bool) -> dict[str, Any]:
    return {"object": "catalog.model", "id": record.spec.id, "version": record.version,
            "source": record.source, "changed": list(record.changed), "available": available,
            "model": doc_from_spec(record.spec)}


async def _render(request: Request, records: list[ModelRecord]) -> list[dict[str, Any]]:
    served = await gateway(request).availability.served(r.spec.id for r in records)
    return [model_record(r, r.spec.id in served) for r in records]


def _version(body: dict[str, Any]) -> int | None:
    version = body.pop("version", None)
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise InvalidRequest("'version' must be an integer.", param="version",
                             code="invalid_type")
    return version


@router.get("", responses=answers(ObjectList, 401))
async def list_models(request: Request) -> JSONResponse:
    data = await _render(request, await _service(request).records())
    return JSONResponse({"object": "list", "data": data})


@router.get("/export", response_class=Response,
            responses=answers({"type": "string"}, 401,
                              media="application/toml", description="The catalog file (TOML)."))
async def export(request: Request) -> Response:
    text = await _service(request).export_text()
    return Response(text, media_type="application/toml",
                    headers={"content-disposition": 'attachment; filename="models.toml"'})


@router.post("/import",
             responses=answers(SomeObject, 400, 401, 413),
             openapi_extra=request_body(other={"application/toml": {"schema": {"type": "string"}}}))
async def import_file(request: Request) -> JSONResponse:
    """The body is a catalog file (TOML); each model in it becomes exactly as written."""
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("The catalog file must be UTF-8 TOML.", param="file",
                             code="invalid_catalog") from None
    changed = await _service(request).import_text(text)
    return JSONResponse({"object": "catalog.import", "models": changed})


@router.get("/{model_id}", responses=answers(SomeObject, 401, 404))
async def show(model_id: str, request: Request) -> JSONResponse:
    [data] = await _render(request, [await _service(request).show(model_id)])
    return JSONResponse(data)


@router.post("", status_code=201, responses=answers(SomeObject, 400, 401, 409, 413, status=201))
async def add(request: Request, body: dict[str, Any] = Body(...)) -> JSONResponse:
    model_id = body.pop("id", None)
    if not isinstance(model_id, str):
        raise InvalidRequest("Missing required parameter: 'id' (the new model's name).",
                             param="id", code="missing_required_parameter")
    [data] = await _render(request, [await _service(request).add(model_id, body)])
    return JSONResponse(data, status_code=201)


@router.patch("/{model_id}", responses=answers(SomeObject, 400, 401, 404, 409, 413))
async def update(model_id: str, request: Request,
                 body: dict[str, Any] = Body(...)) -> JSONResponse:
    """Fields of the file format replace (null: back to the shipped value); ``set_prices``
    ({size: USD}), ``remove_sizes``, ``add_aliases``, ``remove_aliases`` edit in place."""
    version = _version(body)
    extra = {k: body.pop(k) for k in _CHANGE_KEYS if k in body}
    for key in ("remove_sizes", "add_aliases", "remove_aliases"):
        value = extra.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidRequest(f"'{key}' must be a list of strings.", param=key,
                                 code="invalid_type")
    prices = extra.get("set_prices", {})
    if not isinstance(prices, dict) or not all(isinstance(v, str) for v in prices.values()):
        raise InvalidRequest("'set_prices' maps sizes to USD strings such as \"0.10\".",
                             param="set_prices", code="invalid_type")
    change = ModelChange(fields=body, set_prices=prices,
                         remove_sizes=extra.get("remove_sizes", []),
                         add_aliases=extra.get("add_aliases", []),
                         remove_aliases=extra.get("remove_aliases", []))
    record = await _service(request).update(model_id, change, expected_version=version)
    [data] = await _render(request, [record])
    return JSONResponse(data)


@router.post("/{model_id}/aliases", status_code=201,
             responses=answers(SomeObject, 400, 401, 404, 409, 413, status=201))
async def add_alias(model_id: str, request: Request,
                    body: dict[str, Any] = Body(...)) -> JSONResponse:
    alias = body.get("alias")
    if not isinstance(alias, str):
        raise InvalidRequest("Missing required parameter: 'alias'.", param="alias",
                             code="missing_required_parameter")
    record = await _service(request).alias(model_id, alias, expected_version=_version(body))
    [data] = await _render(request, [record])
    return JSONResponse(data, status_code=201)


@router.delete("/{model_id}/aliases/{alias}", responses=answers(SomeObject, 400, 401, 404))
async def remove_alias(model_id: str, alias: str, request: Request) -> JSONResponse:
    [data] = await _render(request, [await _service(request).alias(model_id, alias,
                                                                   remove=True)])
    return JSONResponse(data)


@router.post("/{model_id}/retire", responses=answers(SomeObject, 400, 401, 404, 409, 413))
async def retire(model_id: str, request: Request,
                 body: dict[str, Any] = Body(default_factory=dict)) -> JSONResponse:
    message, successor = body.get("message", ""), body.get("successor")
    if not isinstance(message, str) or not (successor is None or isinstance(successor, str)):
        raise InvalidRequest("'message' and 'successor' are strings.", param="message",
                             code="invalid_type")
    record = await _service(request).retire(model_id, message=message, successor=successor,
                                            expected_version=_version(body))
    [data] = await _render(request, [record])
    return JSONResponse(data)
