"""The ``/metrics`` a ``reelgate worker`` serves on ``REELGATE_WORKER_METRICS_PORT``.

What a worker does to jobs is in the database, so the API's ``/metrics`` reports it
(submit and poll errors, jobs, money) whichever process did the work; only the
worker process's own CPU, memory and interpreter numbers are here, as the usual
``process_*`` and ``python_*`` families, and ``reelgate_build_info`` (a dashboard's
job list). The metrics token applies as on the API.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from reelgate.api.errors import error_response
from reelgate.api.metrics import check_token
from reelgate.errors import APIError, NotFound
from reelgate.metrics import LocalMetrics
from reelgate.metrics.exposition import render_build_info

__all__ = ["worker_metrics_app"]


def worker_metrics_app(local: LocalMetrics, token: str) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response: Response
        try:
            if request.url.path != "/metrics" or request.method not in ("GET", "HEAD"):
                raise NotFound("This port serves GET /metrics only.")
            check_token(request, token)
            response = Response(render_build_info() + local.render(),
                                media_type=CONTENT_TYPE_LATEST)
        except APIError as err:
            response = error_response(err)
        await response(scope, receive, send)

    return app
