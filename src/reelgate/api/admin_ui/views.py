"""What every admin page shares: the templates, formatting filters, security headers."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from reelgate.api.admin_ui.session import Session
from reelgate.billing.money import format_usd

__all__ = ["HERE", "page", "templates"]

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))

#: no inline script or style anywhere, so the policy can forbid both
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; media-src 'self'; "
                               "style-src 'self'; script-src 'self'; object-src 'none'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _when(value: float | None) -> str:
    if value is None:
        return "-"
    return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _usd(micros: int | None) -> str:
    return "-" if micros is None else format_usd(micros)


def _pretty(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str) if value else ""


templates.env.filters["when"] = _when
templates.env.filters["usd"] = _usd
templates.env.filters["pretty"] = _pretty


def page(request: Request, name: str, session: Session | None, status: int = 200,
         **context: Any) -> Response:
    """Render ``name`` with the session's CSRF token and the nav's current section."""
    context.update(csrf=session.csrf if session else "", signed_in=session is not None)
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response
