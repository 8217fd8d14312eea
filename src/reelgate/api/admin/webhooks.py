"""``/admin/api/webhooks``: endpoints, the delivery log, and replays of dead letters."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from reelgate.api.deps import GatewayDep
from reelgate.api.openapi import answers
from reelgate.api.schemas import ObjectList, SomeObject
from reelgate.webhooks.repository import Delivery, Endpoint

__all__ = ["router"]

router = APIRouter(prefix="/webhooks", tags=["admin: webhooks"])


class NewEndpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=1, max_length=2000)
    events: list[str] | None = None
    secret: str | None = None
    allow_private: bool = False


class NewSecret(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: whsec_…; generated when omitted
    secret: str | None = None


def endpoint_json(e: Endpoint, *, with_secret: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": e.id, "object": "webhook_endpoint", "tenant": e.tenant_name, "url": e.url,
        "events": list(e.events), "enabled": e.enabled, "allow_private": e.allow_private,
        "created_at": int(e.created_at),
    }
    if with_secret:
        out["secret"] = e.secret
    return out


def delivery_json(d: Delivery) -> dict[str, Any]:
    out = asdict(d)
    out.pop("lease_until")
    out["object"] = "webhook_delivery"
    return out


@router.get("", responses=answers(ObjectList, 400, 401, 404))
async def list_endpoints(
    gw: GatewayDep, tenant: Annotated[str | None, Query(max_length=200)] = None,
) -> JSONResponse:
    endpoints = await gw.webhooks.endpoints(tenant=tenant)
    return JSONResponse({"object": "list", "data": [endpoint_json(e) for e in endpoints]})


@router.post("", status_code=201, responses=answers(SomeObject, 400, 401, 404, 413, status=201))
async def add_endpoint(body: NewEndpoint, gw: GatewayDep) -> JSONResponse:
    endpoint = await gw.webhooks.register(
        tenant=body.tenant, url=body.url, events=body.events, secret=body.secret,
        allow_private=body.allow_private)
    return JSONResponse(endpoint_json(endpoint, with_secret=True), status_code=201)


@router.post("/{endpoint_id}/rotate-secret",
             responses=answers(SomeObject, 400, 401, 404, 413))
async def rotate_secret(endpoint_id: str, gw: GatewayDep,
                        body: NewSecret | None = None) -> JSONResponse:
    """A new signing secret, answered once; every delivery from now on is signed with it."""
    endpoint = await gw.webhooks.rotate_secret(endpoint_id, body.secret if body else None)
    return JSONResponse(endpoint_json(endpoint, with_secret=True))


@router.delete("/{endpoint_id}", responses=answers(SomeObject, 401, 404))
async def remove_endpoint(endpoint_id: str, gw: GatewayDep) -> JSONResponse:
    await gw.webhooks.remove(endpoint_id)
    return JSONResponse({"id": endpoint_id, "object": "webhook_endpoint.deleted",
                         "deleted": True})


@router.get("/deliveries", responses=answers(ObjectList, 400, 401))
async def list_deliveries(
    gw: GatewayDep,
    status: Annotated[str | None, Query(max_length=20)] = None,
    endpoint_id: Annotated[str | None, Query(max_length=40)] = None,
    job_id: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> JSONResponse:
    rows = await gw.webhooks.deliveries(status=status, endpoint_id=endpoint_id,
                                                  job_id=job_id, limit=limit)
    return JSONResponse({"object": "list", "data": [delivery_json(d) for d in rows]})


@router.get("/deliveries/{delivery_id}", responses=answers(SomeObject, 401, 404))
async def get_delivery(delivery_id: str, gw: GatewayDep) -> JSONResponse:
    return JSONResponse(delivery_json(await gw.webhooks.delivery(delivery_id)))


@router.post("/deliveries/{delivery_id}/replay", status_code=201,
             responses=answers(SomeObject, 401, 404, 409, status=201))
async def replay_delivery(delivery_id: str, gw: GatewayDep) -> JSONResponse:
    again = await gw.webhooks.replay(delivery_id)
    gw.dispatcher.wake()
    return JSONResponse(delivery_json(again), status_code=201)
