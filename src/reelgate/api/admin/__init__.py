"""The admin HTTP API under ``/admin/api``: one router, one token, one module per area.

Each area (channels, tenants and prices, webhooks, jobs) adds its own module with an
``APIRouter`` and registers it in :data:`AREAS` below.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from reelgate.api.admin.auth import require_admin

__all__ = ["AREAS", "build_router"]

#: modules exposing ``router``; imported lazily so an area can be added by one line
AREAS: tuple[str, ...] = ("webhooks", "tenants", "prices", "channels", "jobs", "models",
                          "dashboard")


def build_router() -> APIRouter:
    import importlib

    router = APIRouter(prefix="/admin/api", dependencies=[Depends(require_admin)])
    for name in AREAS:
        module = importlib.import_module(f"reelgate.api.admin.{name}")
        router.include_router(module.router)
    return router
