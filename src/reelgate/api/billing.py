"""``/v1/billing``: a key's own tenant balance and ledger. Reading them costs nothing."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from reelgate.api.auth import principal
from reelgate.api.deps import GatewayDep
from reelgate.api.openapi import answers
from reelgate.api.schemas import Balance, LedgerList
from reelgate.auth.principal import Principal
from reelgate.auth.records import TenantRecord
from reelgate.billing import tenants
from reelgate.billing.ledger import Entry
from reelgate.billing.money import usd_str
from reelgate.billing.service import LedgerPage
from reelgate.errors import InvalidRequest

__all__ = ["entry_object", "ledger_page", "parse_after", "router", "tenant_object"]

router = APIRouter(prefix="/v1/billing")
Caller = Annotated[Principal, Depends(principal)]
_ENTRY_PREFIX = "le_"


def tenant_object(tenant: TenantRecord) -> dict[str, Any]:
    return {
        "id": tenant.id, "object": "billing.tenant", "name": tenant.name,
        "mode": tenants.mode(tenant),
        "balance_micros": tenant.balance_micros, "balance_usd": usd_str(tenant.balance_micros),
        "price_multiplier": usd_str(tenant.price_multiplier_ppm),
        "price_multiplier_ppm": tenant.price_multiplier_ppm,
    }


def entry_object(entry: Entry) -> dict[str, Any]:
    return {
        "id": f"{_ENTRY_PREFIX}{entry.id}", "object": "billing.ledger_entry",
        "tenant_id": entry.tenant_id, "kind": entry.kind.value,
        "amount_micros": entry.amount_micros, "amount_usd": usd_str(entry.amount_micros),
        "job_id": entry.job_id, "key_id": entry.key_id, "entry_key": entry.entry_key,
        "note": entry.note, "created_at": int(entry.created_at),
    }


def parse_after(after: str | None) -> int | None:
    if after is None:
        return None
    digits = after.removeprefix(_ENTRY_PREFIX)
    if not digits.isdigit() or len(digits) > 18:
        raise InvalidRequest(f"Invalid value for 'after': {after!r} is not a ledger entry id.",
                             param="after", code="invalid_value")
    return int(digits)


def ledger_page(page: LedgerPage) -> dict[str, Any]:
    data = [entry_object(e) for e in page.entries]
    return {"object": "list", "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None, "has_more": page.has_more}


@router.get("/balance", responses=answers(Balance, 401))
async def balance(gw: GatewayDep, caller: Caller) -> JSONResponse:
    found = await gw.tenants.balance(caller)
    body = {**tenant_object(found.tenant), "object": "billing.balance",
            "key": {"id": caller.key_id, "name": caller.key_name,
                    "spent_micros": found.spent_micros,
                    "spend_cap_micros": found.spend_cap_micros,
                    "models": list(caller.allowed_models) if caller.allowed_models else None,
                    "max_in_flight": caller.max_in_flight,
                    "creates_per_minute": caller.creates_per_minute,
                    "polls_per_minute": caller.polls_per_minute}}
    return JSONResponse(body)


@router.get("/ledger", responses=answers(LedgerList, 400, 401))
async def ledger_entries(
    gw: GatewayDep, caller: Caller,
    after: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    job_id: Annotated[str | None, Query()] = None,
) -> JSONResponse:
    """Newest first; pass the last id as ``after`` for the next page."""
    page = await gw.tenants.own_ledger(caller, after=parse_after(after), limit=limit,
                                       job_id=job_id)
    return JSONResponse(ledger_page(page))
