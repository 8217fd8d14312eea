"""Every form the console posts needs the session's CSRF token: each POST route under
/admin (the admin API excepted, it takes a bearer token) answers 403 ``csrf_failed``
to a signed-in browser that sends a wrong token or none, before it looks anything up.

The routes are read from the application, so a new form without the check fails here.
"""

from __future__ import annotations

import re

from reelgate.api.app import create_app
from reelgate.config import Settings
from tests.support.server import GatewayProcess
from tests.ui.test_security import signed_in
from tests.unit.test_openapi import _api_routes

#: signing in has its own double-submit token (tested in test_security)
_OWN_TOKEN = {"/admin/login"}


def _console_posts() -> list[str]:
    routes = _api_routes(create_app(Settings()))
    paths = [r.path_format for r in routes if "POST" in r.methods
             and r.path_format.startswith("/admin/")
             and not r.path_format.startswith("/admin/api/")
             and r.path_format not in _OWN_TOKEN]
    return sorted({re.sub(r"\{[^}]+\}", "nope", p) for p in paths})


def test_every_console_post_checks_the_csrf_token(ui_gateway: GatewayProcess) -> None:
    paths = _console_posts()
    assert "/admin/channels" in paths and "/admin/channels/nope/disable" in paths
    web, csrf = signed_in(ui_gateway)
    for path in paths:
        for bad in ({}, {"csrf": "wrong"}):
            resp = web.post(path, data=bad)
            assert resp.status_code == 403, (path, resp.status_code, resp.text[:200])
            assert resp.json()["error"]["code"] == "csrf_failed", path
        if "nope" in path:  # with the token, the same request gets as far as the look-up
            found = web.post(path, data={"csrf": csrf})
            assert found.status_code in (303, 404), (path, found.status_code, found.text[:200])
