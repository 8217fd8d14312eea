"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from reelgate.api.deps import GatewayDep
from reelgate.api.openapi import answers
from reelgate.api.schemas import Health, Readiness

__all__ = ["router"]

router = APIRouter()


@router.get("/healthz", responses=answers(Health))
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz", responses=answers(Readiness, more={503: {
    "description": "A dependency is not available; ``checks`` says which.",
    "model": Readiness}}))
async def readyz(gw: GatewayDep) -> JSONResponse:
    checks = await gw.readiness()
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks},
                        status_code=200 if ok else 503)
