"""The models page: the catalog as operators see it, with the edits the CLI offers.

Each form names one change (a price, an alias, retire or restore, an import) and goes
through the same :class:`~reelgate.catalog.service.CatalogService` as ``reelgate models``
and ``/admin/api/models``, with the version the page showed, so an edit made meanwhile
by someone else is refused rather than overwritten.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from reelgate.api.admin_ui.forms import Fields, read_fields
from reelgate.api.admin_ui.session import require_session
from reelgate.api.admin_ui.views import page
from reelgate.api.deps import gateway
from reelgate.catalog.service import ModelChange
from reelgate.errors import APIError

__all__ = ["router"]

router = APIRouter(prefix="/admin")


def _back(error: str | None = None, done: str | None = None) -> RedirectResponse:
    query = f"?error={quote(error)}" if error else (f"?done={quote(done)}" if done else "")
    return RedirectResponse(f"/admin/models{query}", status_code=303)


@router.get("/models")
async def models_page(request: Request, error: str | None = None,
                      done: str | None = None) -> Response:
    session = require_session(request)
    gw = gateway(request)
    records = await gw.models.records()
    served = await gw.availability.served(r.spec.id for r in records)
    return page(request, "models.html", session, section="models", records=records,
                served=served, error=error, done=done)


@router.get("/models/export.toml")
async def export(request: Request) -> Response:
    require_session(request)
    return Response(await gateway(request).models.export_text(),
                    media_type="application/toml",
                    headers={"content-disposition": 'attachment; filename="models.toml"'})


async def _apply(request: Request, what: str, change: ModelChange, model: str,
                 fields: Fields) -> Response:
    version = fields.get("version")
    try:
        await gateway(request).models.update(
            model, change, expected_version=int(version) if version.isdigit() else None)
    except APIError as exc:
        return _back(error=exc.message)
    return _back(done=f"{model}: {what}")


@router.post("/models/{model}/price")
async def set_price(model: str, request: Request) -> Response:
    _, fields = await read_fields(request)
    size, price = fields.get("size"), fields.get("price")
    return await _apply(request, f"{size} now {price} USD per second",
                        ModelChange(set_prices={size: price}), model, fields)


@router.post("/models/{model}/alias")
async def add_alias(model: str, request: Request) -> Response:
    _, fields = await read_fields(request)
    alias = fields.get("alias")
    return await _apply(request, f"alias {alias} added", ModelChange(add_aliases=[alias]),
                        model, fields)


@router.post("/models/{model}/retire")
async def retire(model: str, request: Request) -> Response:
    _, fields = await read_fields(request)
    change = ModelChange(fields={"state": "retired", "message": fields.get("message"),
                                 "successor": fields.get("successor")})
    return await _apply(request, "retired", change, model, fields)


@router.post("/models/{model}/restore")
async def restore(model: str, request: Request) -> Response:
    _, fields = await read_fields(request)
    change = ModelChange(fields={"state": "active", "message": "", "successor": ""})
    return await _apply(request, "active again", change, model, fields)


@router.post("/models/import")
async def import_file(request: Request) -> Response:
    _, fields = await read_fields(request)
    try:
        changed = await gateway(request).models.import_text(fields.text("toml"))
    except APIError as exc:
        return _back(error=exc.message)
    return _back(done=f"imported {', '.join(changed)}")
