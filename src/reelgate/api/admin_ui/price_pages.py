"""Prices in the console: the effective per-second price of every model and size, and
setting or removing an override, globally or for one tenant.

Through :class:`~reelgate.billing.service.PriceService`, as ``reelgate prices`` does;
prices are typed as decimal USD and kept as integer micro-USD.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from reelgate.api.admin_ui.forms import NO_REFUSAL, Refusal, done, read_fields
from reelgate.api.admin_ui.session import Session, require_session
from reelgate.api.admin_ui.views import page
from reelgate.api.deps import gateway
from reelgate.billing.money import format_usd
from reelgate.errors import APIError, InvalidRequest, NotFound

__all__ = ["router"]

router = APIRouter(prefix="/admin")


async def _prices(request: Request, session: Session, refusal: Refusal = NO_REFUSAL,
                  status: int = 200) -> Response:
    gw = gateway(request)
    table = await gw.prices.table()
    sizes = {m.id: list(m.sizes) for m in gw.catalog}
    return page(request, "prices.html", session, status, section="prices", table=table,
                overrides=await gw.prices.overrides(), sizes=sizes,
                tenants=[t.name for t in await gw.tenants.list_all()], refusal=refusal,
                done=request.query_params.get("done"))


@router.get("/prices")
async def prices_page(request: Request) -> Response:
    return await _prices(request, require_session(request))


@router.post("/prices")
async def set_price(request: Request) -> Response:
    session, fields = await read_fields(request)
    model, size, tenant = fields.get("model"), fields.get("size"), fields.get("tenant")
    try:
        micros = fields.usd("price")
        if micros is None:
            raise InvalidRequest("Missing required parameter: 'price'.", param="price",
                                 code="missing_required_parameter")
        row = await gateway(request).prices.set(model, size, micros, tenant or None)
    except APIError as exc:
        return await _prices(request, session, fields.refusal("set", exc), exc.status)
    where = f"tenant {tenant}" if row.tenant_id else "global"
    return done("/admin/prices", f"{row.model} {row.size}: "
                                 f"{format_usd(row.micros_per_second)} per second ({where}).")


@router.post("/prices/remove")
async def remove_price(request: Request) -> Response:
    _, fields = await read_fields(request)
    model, size, tenant = fields.get("model"), fields.get("size"), fields.get("tenant")
    row = await gateway(request).prices.unset(model, size, tenant or None)
    if row is None:
        raise NotFound(f"No override for {model} {size}.", param="model",
                       code="price_not_found")
    return done("/admin/prices", f"Removed the override for {model} {size}"
                                 f"{' of ' + tenant if tenant else ''}; now "
                                 f"{format_usd(row.micros_per_second)} per second "
                                 f"({row.source}).")
