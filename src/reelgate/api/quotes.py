"""``POST /v1/videos/quote``: the same body as a create, answered with what it would cost.

The amount is exactly what the create would reserve for the caller's tenant (model,
size, seconds, multiplier, overrides), with whether the balance and the key's caps
cover it and, if the create would be refused, which rule refuses it. Nothing is
written: no job, no reservation, no stored upload.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from reelgate.api.auth import principal
from reelgate.api.body import read_fields
from reelgate.api.deps import GatewayDep
from reelgate.api.limits import limit_polls
from reelgate.api.openapi import answers, request_body
from reelgate.api.schemas import CreateVideoForm, CreateVideoJSON, QuoteObject
from reelgate.auth.principal import Principal
from reelgate.billing.money import usd_str
from reelgate.billing.quote import Quote, refusal_of
from reelgate.errors import APIError
from reelgate.jobs.requests import parse_create

__all__ = ["quote_object", "router"]

router = APIRouter(prefix="/v1")
Caller = Annotated[Principal, Depends(principal)]


def quote_object(q: Quote) -> dict[str, Any]:
    return {
        "object": "video.quote", "model": q.model, "requested_model": q.requested_model,
        "size": q.size, "seconds": str(q.seconds), "currency": "USD",
        "amount_micros": q.amount_micros, "amount": usd_str(q.amount_micros),
        "per_second_micros": q.per_second_micros, "price_source": q.price_source,
        "multiplier_ppm": q.multiplier_ppm, "billing": q.billing,
        "reserved_seconds": q.reserved_seconds,
        "balance": {"mode": "prepaid" if q.prepaid else "postpaid",
                    "balance_micros": q.balance_micros, "covers": q.balance_covers},
        "key": {"spend_cap_micros": q.spend_cap_micros, "spent_micros": q.spent_micros,
                "covers": q.cap_covers},
        "allowed": q.refusal is None,
        "refusal": refusal_of(q.refusal) if q.refusal is not None else None,
        "notice": q.notice,
    }


@router.post("/videos/quote", dependencies=[Depends(limit_polls)],
             responses=answers(QuoteObject, 400, 401, 413, 429),
             openapi_extra=request_body(CreateVideoJSON, CreateVideoForm))
async def quote_video(request: Request, caller: Caller, gw: GatewayDep) -> JSONResponse:
    fields, ref = await read_fields(request, max_image_bytes=gw.settings.max_upload_bytes)
    try:
        params = parse_create(fields, ref, gw.catalog,
                              max_prompt_chars=gw.settings.max_prompt_chars)
        await gw.availability.admit(params.model)
    except APIError as exc:  # the create would be refused before any price applies
        return JSONResponse({"object": "video.quote", "allowed": False,
                             "refusal": refusal_of(exc)})
    return JSONResponse(quote_object(await gw.quotes.quote(caller, params)))
