"""Admin UI sessions: a signed cookie, not a server-side store, plus CSRF tokens.

Signing in exchanges the admin token for a cookie (HttpOnly, SameSite=Strict, Path
/admin) holding a session id, an expiry and a CSRF token, signed with a key derived
from the admin token: rotating the token signs every browser out, and any number of
API processes accept the same cookie. Signing out records the session id as revoked
in the database (:mod:`reelgate.auth.sessions`), which :func:`load_session` checks on
every request, so a copied cookie dies with the sign-out. The admin token itself never
goes back to the browser, and neither does any tenant key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from reelgate.api.deps import gateway
from reelgate.errors import PermissionDenied

__all__ = [
    "COOKIE",
    "LOGIN_COOKIE",
    "LoginRequired",
    "Session",
    "check_csrf",
    "clear_session",
    "current_session",
    "load_session",
    "login_token",
    "remember_login_token",
    "require_session",
    "revoke_session",
    "start_session",
]

COOKIE = "rg_admin"
#: double-submit token for the sign-in form, which has no session yet
LOGIN_COOKIE = "rg_admin_login"
PATH = "/admin"
LIFETIME_SECONDS = 12 * 3600


class LoginRequired(Exception):
    """No valid session; pages redirect to the sign-in form, other routes get a 401."""


@dataclass(frozen=True)
class Session:
    expires_at: int
    csrf: str
    id: str = ""


def _key(admin_token: str) -> bytes:
    return hmac.new(admin_token.encode(), b"reelgate admin ui session v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(session: Session, admin_token: str) -> str:
    body = _b64(json.dumps({"exp": session.expires_at, "csrf": session.csrf,
                            "sid": session.id}).encode())
    mac = hmac.new(_key(admin_token), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def decode(value: str, admin_token: str, *, now: float | None = None) -> Session | None:
    body, _, mac = value.partition(".")
    try:
        given = _unb64(mac)
        expected = hmac.new(_key(admin_token), body.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(given, expected):
            return None
        data = json.loads(_unb64(body))
        session = Session(int(data["exp"]), str(data["csrf"]), str(data["sid"]))
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None
    return session if session.expires_at > (now or time.time()) else None


def _admin_token(request: Request) -> str:
    return gateway(request).admin_token


_STATE = "admin_session"


async def load_session(request: Request) -> None:
    """Every admin UI route's dependency: the cookie's session, unless it is signed out."""
    raw = request.cookies.get(COOKIE)
    session = decode(raw, _admin_token(request)) if raw else None
    if session is not None and (not session.id or
                                await gateway(request).admin_sessions.is_revoked(session.id)):
        session = None
    setattr(request.state, _STATE, session)


def current_session(request: Request) -> Session | None:
    """The session :func:`load_session` found; None where it did not run (fail closed)."""
    session = getattr(request.state, _STATE, None)
    return session if isinstance(session, Session) else None


def require_session(request: Request) -> Session:
    session = current_session(request)
    if session is None:
        raise LoginRequired
    return session


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path=PATH, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")


def start_session(request: Request, response: Response) -> Session:
    session = Session(int(time.time()) + LIFETIME_SECONDS, secrets.token_urlsafe(24),
                      secrets.token_urlsafe(18))
    _cookie(response, request, COOKIE, encode(session, _admin_token(request)), LIFETIME_SECONDS)
    response.delete_cookie(LOGIN_COOKIE, path=PATH)
    return session


def clear_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path=PATH)


async def revoke_session(request: Request, session: Session) -> None:
    """Sign ``session`` out in every process, not only in this browser."""
    await gateway(request).admin_sessions.revoke(session.id, session.expires_at)


def login_token(request: Request) -> str:
    """The sign-in form's CSRF token: the browser's current one, else a new one."""
    return request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)


def remember_login_token(request: Request, response: Response, token: str) -> None:
    _cookie(response, request, LOGIN_COOKIE, token, 3600)


def check_csrf(expected: str | None, given: object) -> None:
    """Refuse a state-changing request whose form token does not match the session's."""
    if not (expected and isinstance(given, str) and given
            and hmac.compare_digest(expected.encode(), given.encode())):
        raise PermissionDenied("The form's CSRF token is missing or does not match; reload "
                               "the page and try again.", code="csrf_failed")
