"""API keys in the console: create one (its secret shown once, on the page that answers
the form, never stored or shown again) and revoke one.

Both go through :class:`~reelgate.auth.service.KeyService`, as ``reelgate keys`` does,
so the tenant and naming rules are the same (an unknown tenant is refused unless the
form asks for a new one; a name is unique among the tenant's live keys); allowed models
are checked against the live catalog and aliases stored as the model they name, as the
CLI does.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from reelgate.api.admin_ui.forms import NO_REFUSAL, Fields, Refusal, done, read_fields
from reelgate.api.admin_ui.session import Session, require_session
from reelgate.api.admin_ui.views import page
from reelgate.api.deps import gateway
from reelgate.auth.service import KeyLimits
from reelgate.catalog import Catalog
from reelgate.errors import APIError, InvalidRequest
from reelgate.ids import now

__all__ = ["router"]

router = APIRouter(prefix="/admin")


async def _keys_page(request: Request, session: Session, *, refusal: Refusal = NO_REFUSAL,
                     secret: str | None = None, created: str | None = None,
                     tenant: str | None = None, status: int = 200) -> Response:
    gw = gateway(request)
    keys = await gw.keys.list_all()
    tenant = tenant or request.query_params.get("tenant")
    if tenant:
        keys = [k for k in keys if tenant in (k.tenant_name, k.tenant_id)]
    tenants = [t.name for t in await gw.tenants.list_all()]
    return page(request, "keys.html", session, status, section="keys", keys=keys,
                tenants=tenants, models=list(gw.catalog.ids()), refusal=refusal,
                secret=secret, created=created, tenant_filter=tenant or "",
                done=request.query_params.get("done"))


@router.get("/keys")
async def keys_page(request: Request) -> Response:
    return await _keys_page(request, require_session(request))


def _allowed(catalog: Catalog, names: list[str]) -> list[str] | None:
    """Model ids for the names picked (aliases become the model); unknown ones refused."""
    if not names:
        return None
    unknown = [m for m in names if catalog.get(m) is None]
    if unknown:
        raise InvalidRequest(f"unknown model(s): {', '.join(unknown)}", param="models",
                             code="invalid_value")
    return list(dict.fromkeys(spec.id for m in names if (spec := catalog.get(m))))


def _positive(fields: Fields, name: str) -> int | None:
    value = fields.optional_int(name)
    if value is not None and value < 1:
        raise InvalidRequest(f"Invalid value for '{name}': it must be at least 1.",
                             param=name, code="invalid_value")
    return value


def _limits(fields: Fields, catalog: Catalog) -> KeyLimits:
    days = fields.optional_float("expires_in_days")
    if days is not None and days < 0:
        raise InvalidRequest("Invalid value for 'expires_in_days': it must be 0 or more.",
                             param="expires_in_days", code="invalid_value")
    return KeyLimits(
        allowed_models=_allowed(catalog, fields.all("models")),
        spend_cap_micros=fields.usd("spend_cap"),
        max_in_flight=_positive(fields, "max_in_flight"),
        creates_per_minute=_positive(fields, "creates_per_minute"),
        polls_per_minute=_positive(fields, "polls_per_minute"),
        expires_at=None if days is None else now() + days * 86400)


@router.post("/keys")
async def create_key(request: Request) -> Response:
    session, fields = await read_fields(request)
    gw = gateway(request)
    tenant, name = fields.get("tenant"), fields.get("name")
    try:
        limits = _limits(fields, gw.catalog)
        made = await gw.keys.create(tenant, name, limits,
                                    create_tenant=fields.flag("create_tenant"))
    except APIError as exc:
        return await _keys_page(request, session, refusal=fields.refusal("create", exc),
                                status=exc.status)
    return await _keys_page(request, session, secret=made.secret, tenant=tenant,
                            created=f"Created key {name} for tenant {tenant}.")


@router.post("/keys/{key_id}/revoke")
async def revoke_key(key_id: str, request: Request) -> Response:
    await read_fields(request)
    revoked = await gateway(request).keys.revoke(key_id)
    return done("/admin/keys", f"Revoked {revoked.name} of {revoked.tenant_name}; it stops "
                               "working at once.")
