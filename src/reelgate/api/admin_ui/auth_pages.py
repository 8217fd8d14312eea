"""Signing in and out of the admin UI with the admin token."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from reelgate.api.admin_ui.session import (
    LOGIN_COOKIE,
    check_csrf,
    clear_session,
    current_session,
    login_token,
    remember_login_token,
    require_session,
    revoke_session,
    start_session,
)
from reelgate.api.admin_ui.views import page
from reelgate.api.deps import gateway
from reelgate.auth.admin_token import token_matches

__all__ = ["router", "safe_next"]

router = APIRouter()


def safe_next(target: str | None) -> str:
    """Only ever redirect to a page of this UI, never to another site."""
    if target and target.startswith("/admin/") and not target.startswith("/admin//") \
            and "\\" not in target and not target.startswith("/admin/login"):
        return target
    return "/admin/jobs"


def _login_page(request: Request, next_: str, error: str | None, status: int = 200) -> Response:
    token = login_token(request)
    response = page(request, "login.html", None, status, next=next_, error=error,
                    login_csrf=token)
    remember_login_token(request, response, token)
    return response


async def _too_many_attempts(request: Request, next_: str) -> Response | None:
    """Sign-in attempts per client address and minute are bounded: the admin token
    cannot be guessed at the speed of the network."""
    gw = gateway(request)
    limit = gw.settings.admin_login_per_minute
    if limit <= 0:
        return None
    client = request.client.host if request.client else "unknown"
    decision = await gw.limiter.hit(f"admin-login:{client}", limit)
    if decision.allowed:
        return None
    wait = max(1, math.ceil(decision.retry_after))
    response = _login_page(request, next_, f"Too many sign-in attempts; try again "
                                                   f"in {wait} s.", 429)
    response.headers["retry-after"] = str(wait)
    return response


@router.get("/admin")
async def home() -> Response:
    return RedirectResponse("/admin/jobs", status_code=303)


@router.get("/admin/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    if current_session(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, safe_next(next), None)


@router.post("/admin/login")
async def login(
    request: Request,
    token: Annotated[str, Form(max_length=500)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    check_csrf(request.cookies.get(LOGIN_COOKIE), csrf)
    refused = await _too_many_attempts(request, safe_next(next))
    if refused is not None:
        return refused
    if not token_matches(gateway(request).admin_token, token):
        return _login_page(request, safe_next(next), "That is not the admin token.", 401)
    response = RedirectResponse(safe_next(next), status_code=303)
    start_session(request, response)
    return response


@router.post("/admin/logout")
async def logout(request: Request,
                 csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    session = require_session(request)
    check_csrf(session.csrf, csrf)
    await revoke_session(request, session)
    response = RedirectResponse("/admin/login", status_code=303)
    clear_session(response)
    return response
