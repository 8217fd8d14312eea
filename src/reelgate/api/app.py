"""The ASGI application factory. No app object exists at import time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from reelgate import __version__
from reelgate.api import (
    admin,
    admin_ui,
    billing,
    characters,
    derived,
    events,
    health,
    metrics,
    models,
    quotes,
    videos,
)
from reelgate.api.allow import AllowOptions
from reelgate.api.body import BodyLimit
from reelgate.api.errors import install_error_handlers
from reelgate.api.fast import FastPaths
from reelgate.api.limits import RateLimitHeaders
from reelgate.api.nul import NulGuard
from reelgate.api.openapi import install as install_openapi
from reelgate.api.request_metrics import RequestMetrics
from reelgate.bootstrap import Gateway
from reelgate.config import Settings
from reelgate.metrics import LocalMetrics

__all__ = ["create_app"]

log = logging.getLogger(__name__)

#: how often each of several API processes writes its CPU and memory for the others
SHARE_SECONDS = 5.0


def create_app(settings: Settings | None = None, *, gateway: Gateway | None = None) -> FastAPI:
    settings = settings or (gateway.settings if gateway else Settings.from_env())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        gw = gateway or await Gateway.start(settings)
        app.state.gateway = gw
        worker_task = dispatch_task = share_task = None
        if settings.run_worker:
            worker_task = asyncio.create_task(gw.worker.run(), name="worker")
            dispatch_task = asyncio.create_task(gw.dispatcher.run(), name="webhooks")
        if local.share is not None:
            share_task = asyncio.create_task(_share_process_metrics(local), name="metrics")
        try:
            yield
        finally:
            gw.worker.stop()
            gw.dispatcher.stop()
            if share_task is not None:
                share_task.cancel()
            for task in (worker_task, dispatch_task, share_task):
                if task is not None:
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.wait_for(task, timeout=15)
            if gateway is None:
                await gw.close()

    local = LocalMetrics(settings.metrics_shared_dir)
    docs = settings.openapi_docs  # off: neither /docs nor /openapi.json exists
    app = FastAPI(title="reelgate", version=__version__, lifespan=lifespan, redoc_url=None,
                  docs_url="/docs" if docs else None,
                  openapi_url="/openapi.json" if docs else None)
    install_error_handlers(app)
    install_openapi(app)
    app.include_router(quotes.router)  # before videos: /videos/quote is not a video id
    app.include_router(characters.router)  # nor /videos/characters/{id}
    app.include_router(derived.router)
    app.include_router(videos.router)
    app.include_router(models.router)
    app.include_router(billing.router)
    app.include_router(health.router)
    app.include_router(events.router)
    app.include_router(metrics.router)
    app.include_router(admin.build_router())
    admin_ui.install(app)
    # a multipart body holds one file: a reference image or a video clip
    max_body = max(settings.max_upload_bytes * 4 // 3, settings.max_clip_bytes) + (1 << 20)
    app.add_middleware(BodyLimit, max_bytes=max_body, max_json_bytes=settings.max_json_bytes)
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(AllowOptions, routes=app.router.routes)
    app.add_middleware(FastPaths,  # retrieves and JSON creates, before all the above
                       routes=app.router.routes, max_json_bytes=settings.max_json_bytes)
    app.add_middleware(NulGuard)
    app.add_middleware(RequestMetrics, metrics=local.http, routes=app.router.routes)  # outermost
    app.state.local_metrics = local
    return app


async def _share_process_metrics(local: LocalMetrics) -> None:
    """``serve --workers N``: keep this process's CPU and memory current for the scrape
    another process answers."""
    while True:
        await asyncio.sleep(SHARE_SECONDS)
        local.sample()
