"""HTTP control endpoints on a fake's own port, for tests that run it out of process.

``POST /_faults`` (body: :class:`~tests.fakes.faults.Fault` fields) adds a fault and
``DELETE /_faults`` clears them; ``GET /_requests`` and ``GET /_violations`` return the
logs; ``POST /_keys`` ``{"accept": [...], "revoke": [...]}``; ``POST /_config``
``{"complete_after", "content_ttl", "moderation_words"}``; ``POST /_reset``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .faults import Fault

if TYPE_CHECKING:
    from .core import FakeUpstream

__all__ = ["control_app"]


def control_app(fake: FakeUpstream) -> Starlette:
    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            fake.clear_faults()
            return JSONResponse({"cleared": True})
        try:
            fault = fake.add_fault(Fault(**await request.json()))
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(asdict(fault))

    async def requests(request: Request) -> Response:
        return JSONResponse([asdict(r) for r in fake.requests])

    async def violations(request: Request) -> Response:
        return JSONResponse([asdict(v) for v in fake.violations])

    async def keys(request: Request) -> Response:
        body = await request.json()
        for key in body.get("accept", []):
            fake.accept(key)
        for key in body.get("revoke", []):
            fake.revoke(key)
        return JSONResponse({"keys": sorted(fake.keys)})

    async def config(request: Request) -> Response:
        body = await request.json()
        if "complete_after" in body:
            fake.complete_after = float(body["complete_after"])
        if "content_ttl" in body:
            ttl = body["content_ttl"]
            fake.content_ttl = None if ttl is None else float(ttl)
        if "moderation_words" in body:
            fake.moderation_words = set(body["moderation_words"])
        return JSONResponse(
            {"complete_after": fake.complete_after, "content_ttl": fake.content_ttl}
        )

    async def reset(request: Request) -> Response:
        fake.reset()
        return JSONResponse({"reset": True})

    return Starlette(
        routes=[
            Route("/_faults", faults, methods=["POST", "DELETE"]),
            Route("/_requests", requests, methods=["GET"]),
            Route("/_violations", violations, methods=["GET"]),
            Route("/_keys", keys, methods=["POST"]),
            Route("/_config", config, methods=["POST"]),
            Route("/_reset", reset, methods=["POST"]),
        ]
    )
