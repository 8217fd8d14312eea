"""Doors an operator may close: sign-out that holds in every process, a bounded sign-in
rate, no /docs or /openapi.json, a token on /metrics.

``locked`` is a second ``reelgate serve`` on the UI gateway's own database with those
settings, so a session signed out in one process is checked in another.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.support.server import GatewayProcess
from tests.ui.conftest import ADMIN_TOKEN
from tests.ui.test_security import signed_in

METRICS_TOKEN = "metrics-secret-for-tests"


@pytest.fixture(scope="module")
def locked(ui_gateway: GatewayProcess) -> Iterator[GatewayProcess]:
    gw = GatewayProcess(ui_gateway.data_dir, args=("--no-worker",), env={
        **ui_gateway.env, "REELGATE_ADMIN_LOGIN_PER_MINUTE": "3",
        "REELGATE_OPENAPI_DOCS": "0", "REELGATE_METRICS_TOKEN": METRICS_TOKEN})
    gw.start()
    yield gw
    gw.stop()


def _page(gw: GatewayProcess, cookie: str, path: str = "/admin/jobs",
          accept: str = "text/html") -> httpx.Response:
    fresh = httpx.Client(base_url=gw.root_url, timeout=30)
    fresh.cookies.set("rg_admin", cookie, path="/admin")
    return fresh.get(path, headers={"accept": accept})


def test_sign_out_revokes_the_session_in_every_process(ui_gateway: GatewayProcess,
                                                       locked: GatewayProcess) -> None:
    web, csrf = signed_in(ui_gateway)
    cookie = web.cookies["rg_admin"]
    assert _page(ui_gateway, cookie).status_code == 200
    assert _page(locked, cookie).status_code == 200  # any process accepts the cookie
    assert web.post("/admin/logout", data={"csrf": csrf}).status_code == 303
    for gw in (ui_gateway, locked):  # a copy kept from before the sign-out is dead too
        again = _page(gw, cookie)
        assert again.status_code == 303, gw.port
        assert again.headers["location"].startswith("/admin/login")
    events = _page(ui_gateway, cookie, "/admin/jobs/video_x/events", "text/event-stream")
    assert events.status_code == 401


def test_other_sessions_survive_a_sign_out(ui_gateway: GatewayProcess) -> None:
    first, csrf = signed_in(ui_gateway)
    second, _ = signed_in(ui_gateway)
    first.post("/admin/logout", data={"csrf": csrf})
    assert second.get("/admin/jobs").status_code == 200


def _attempt(web: httpx.Client, token: str) -> httpx.Response:
    form = web.get("/admin/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    return web.post("/admin/login", data={"token": token, "csrf": csrf.group(1)})


def test_sign_in_attempts_are_rate_limited(locked: GatewayProcess) -> None:
    web = httpx.Client(base_url=locked.root_url, timeout=30)
    statuses = [_attempt(web, "guess-" + str(i)).status_code for i in range(3)]
    assert statuses == [401, 401, 401]
    refused = _attempt(web, ADMIN_TOKEN)  # past the limit even the right token waits
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert "Too many sign-in attempts" in refused.text
    assert "rg_admin=" not in refused.headers.get("set-cookie", "")


def test_docs_and_schema_can_be_turned_off(ui_gateway: GatewayProcess,
                                           locked: GatewayProcess) -> None:
    assert httpx.get(ui_gateway.root_url + "/openapi.json").status_code == 200
    assert httpx.get(ui_gateway.root_url + "/docs").status_code == 200
    for path in ("/openapi.json", "/docs", "/redoc"):
        resp = httpx.get(locked.root_url + path)
        assert resp.status_code == 404, path
        assert resp.json()["error"]["code"] == "unknown_url"


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {METRICS_TOKEN}"])
def test_metrics_can_require_a_token(locked: GatewayProcess, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    resp = httpx.get(locked.root_url + "/metrics", headers=headers)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "invalid_metrics_token"


def test_metrics_with_the_token(ui_gateway: GatewayProcess, locked: GatewayProcess) -> None:
    assert httpx.get(ui_gateway.root_url + "/metrics").status_code == 200  # off by default
    resp = httpx.get(locked.root_url + "/metrics",
                     headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert resp.status_code == 200
    assert "reelgate_" in resp.text
