"""The admin web UI at ``/admin``: server-rendered pages, a little vanilla JS.

Templates and static files ship inside the package; nothing is fetched from a CDN or
anywhere else at run time. :func:`install` adds the pages to an app.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from reelgate.api.admin_ui import (
    auth_pages,
    channel_pages,
    dashboard_pages,
    job_pages,
    key_pages,
    model_pages,
    price_pages,
    tenant_pages,
    webhook_pages,
)
from reelgate.api.admin_ui.session import LoginRequired, load_session
from reelgate.api.admin_ui.views import HERE
from reelgate.errors import AuthenticationError

__all__ = ["install"]


async def _login_required(request: Request, exc: Exception) -> Response:
    """Pages send the browser to the sign-in form; streams, media and forms get a 401."""
    wants_page = request.method == "GET" and "text/html" in request.headers.get("accept", "")
    if wants_page:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/admin/login?next={quote(target, safe='')}", status_code=303)
    err = AuthenticationError("Sign in to the admin UI first.", code="admin_session_required")
    return JSONResponse(err.body(), status_code=err.status)


def install(app: FastAPI) -> None:
    for module in (auth_pages, channel_pages, dashboard_pages, job_pages, key_pages,
                   model_pages, price_pages, tenant_pages, webhook_pages):  # sessions first
        app.include_router(module.router, include_in_schema=False,
                           dependencies=[Depends(load_session)])
    app.mount("/admin/static", StaticFiles(directory=HERE / "static"), name="admin-static")
    app.add_exception_handler(LoginRequired, _login_required)
