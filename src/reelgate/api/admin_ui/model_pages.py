"""The models page: the catalog as operators see it, with the edits the CLI offers.

Each form names one change (a price, an alias, retire or restore, an import) and goes
through the same :class:`~reelgate.catalog.service.CatalogService` as ``reelgate models``
and ``/admin/api/models``, with the version the page showed, so an edit made meanwhile
by someone else is refused rather than overwritten.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from reelgate.api.admin_ui.session import check_csrf, require_session
from reelgate.api.admin_ui.views import page
from reelgate.api.deps import gateway
from reelgate.catalog.service import ModelChange
from reelgate.errors import APIError

__all__ = ["router"]

router = APIRouter(prefix="/admin")
Text = Annotated[str, Form(max_length=2000)]


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


async def _apply(request: Request, csrf: str, what: str, change: ModelChange, model: str,
                 version: str) -> Response:
    check_csrf(require_session(request).csrf, csrf)
    try:
        await gateway(request).models.update(
            model, change, expected_version=int(version) if version.isdigit() else None)
    except APIError as exc:
        return _back(error=exc.message)
    return _back(done=f"{model}: {what}")


@router.post("/models/{model}/price")
async def set_price(model: str, request: Request, size: Text, price: Text, csrf: Text = "",
                    version: Text = "") -> Response:
    return await _apply(request, csrf, f"{size} now {price} USD per second",
                        ModelChange(set_prices={size.strip(): price.strip()}), model, version)


@router.post("/models/{model}/alias")
async def add_alias(model: str, request: Request, alias: Text, csrf: Text = "",
                    version: Text = "") -> Response:
    return await _apply(request, csrf, f"alias {alias} added",
                        ModelChange(add_aliases=[alias.strip()]), model, version)


@router.post("/models/{model}/retire")
async def retire(model: str, request: Request, csrf: Text = "", message: Text = "",
                 successor: Text = "", version: Text = "") -> Response:
    fields = {"state": "retired", "message": message.strip(), "successor": successor.strip()}
    return await _apply(request, csrf, "retired", ModelChange(fields=fields), model, version)


@router.post("/models/{model}/restore")
async def restore(model: str, request: Request, csrf: Text = "",
                  version: Text = "") -> Response:
    change = ModelChange(fields={"state": "active", "message": "", "successor": ""})
    return await _apply(request, csrf, "active again", change, model, version)


@router.post("/models/import")
async def import_file(request: Request, csrf: Annotated[str, Form(max_length=200)] = "",
                      toml: Annotated[str, Form(max_length=1_000_000)] = "") -> Response:
    check_csrf(require_session(request).csrf, csrf)
    try:
        changed = await gateway(request).models.import_text(toml)
    except APIError as exc:
        return _back(error=exc.message)
    return _back(done=f"imported {', '.join(changed)}")
