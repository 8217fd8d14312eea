"""The admin UI's session, CSRF and exposure rules, checked over plain HTTP."""

from __future__ import annotations

import re

import httpx
import openai
import pytest

from tests.integration.helpers import wait_done
from tests.support.server import GatewayProcess
from tests.ui.conftest import ADMIN_TOKEN

PAGES = ["/admin/jobs", "/admin/playground", "/admin/channels", "/admin/keys",
         "/admin/tenants", "/admin/prices", "/admin/webhooks", "/admin/dead-letters",
         "/admin/dashboard"]


def signed_in(gw: GatewayProcess) -> tuple[httpx.Client, str]:
    """A client holding a session cookie, and the session's CSRF token."""
    web = httpx.Client(base_url=gw.root_url, timeout=10)
    form = web.get("/admin/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    done = web.post("/admin/login", data={"token": ADMIN_TOKEN, "csrf": token.group(1)})
    assert done.status_code == 303
    csrf = re.search(r'name="csrf" value="([^"]+)"', web.get("/admin/keys").text)
    assert csrf is not None
    return web, csrf.group(1)


def test_everything_needs_a_session(ui_gateway: GatewayProcess) -> None:
    anon = httpx.Client(base_url=ui_gateway.root_url, timeout=10)
    for path in PAGES:
        resp = anon.get(path, headers={"accept": "text/html"})
        assert resp.status_code == 303, path
        assert resp.headers["location"].startswith("/admin/login?next=")
    for path in ("/admin/media/video_x/video", "/admin/jobs/video_x/events"):
        resp = anon.get(path)
        assert resp.status_code == 401
        assert resp.json()["error"]["code"] == "admin_session_required"
    anon.cookies.set("rg_admin", "eyJleHAiOiA5OTk5OTk5OTk5LCAiY3NyZiI6ICJ4In0.AAAA",
                     path="/admin")
    forged = anon.get("/admin/jobs", headers={"accept": "text/html"})
    assert forged.status_code == 303
    # the admin API's bearer token is not a browser session, and vice versa
    web, _ = signed_in(ui_gateway)
    assert web.get("/admin/api/webhooks").status_code == 401


def test_session_cookie_flags_and_page_headers(ui_gateway: GatewayProcess) -> None:
    web = httpx.Client(base_url=ui_gateway.root_url, timeout=10)
    form = web.get("/admin/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    done = web.post("/admin/login", data={"token": ADMIN_TOKEN, "csrf": csrf.group(1),
                                          "next": "https://evil.example/"})
    assert done.headers["location"] == "/admin/jobs"  # no open redirect
    cookie = next(v for k, v in done.headers.multi_items()
                  if k == "set-cookie" and v.startswith("rg_admin="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/admin" in cookie
    page = web.get("/admin/jobs")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    no_csrf = web.post("/admin/login", data={"token": ADMIN_TOKEN})
    assert no_csrf.status_code == 403


def test_posts_need_the_csrf_token(ui_gateway: GatewayProcess) -> None:
    ui_gateway.create_key("guarded", tenant="csrf-tenant")
    web, csrf = signed_in(ui_gateway)
    key_id = re.search(r'data-key-id="(key_[^"]+)"[^<]*<td class="mono">[^<]*</td>\s*'
                       r"<td>guarded</td>", web.get("/admin/keys").text)
    assert key_id is not None
    for bad in ({}, {"csrf": "wrong"}):
        resp = web.post(f"/admin/keys/{key_id.group(1)}/revoke", data=bad)
        assert resp.status_code == 403 and resp.json()["error"]["code"] == "csrf_failed"
    assert "revoked" not in web.get("/admin/keys").text.split("guarded")[1].split("</tr>")[0]
    out = web.post("/admin/logout", data={"csrf": "wrong"})
    assert out.status_code == 403
    assert web.post("/admin/logout", data={"csrf": csrf}).status_code == 303


def test_no_secret_reaches_the_browser_and_media_supports_range(
    ui_gateway: GatewayProcess,
) -> None:
    secret = ui_gateway.create_key("secretive", tenant="exposure")
    client = openai.OpenAI(api_key=secret, base_url=ui_gateway.base_url, max_retries=0)
    video = client.videos.create(model="sora-2", prompt="nothing to hide", seconds="4")
    assert wait_done(client, video.id).status == "completed"
    web, _ = signed_in(ui_gateway)
    for path in [*PAGES, f"/admin/jobs/{video.id}", f"/admin/playground?job={video.id}"]:
        html = web.get(path).text
        assert secret not in html and ADMIN_TOKEN not in html, path
        assert not re.search(r"sk-rg-[A-Za-z0-9_-]{20,}", html), path
    ranged = web.get(f"/admin/media/{video.id}/video", headers={"range": "bytes=100-199"})
    assert ranged.status_code == 206 and len(ranged.content) == 100
    assert ranged.headers["content-range"].startswith("bytes 100-199/")
    full = web.get(f"/admin/media/{video.id}/video")
    assert full.content[100:200] == ranged.content
    assert web.get(f"/admin/media/{video.id}/thumbnail").headers["content-type"] == "image/webp"
    assert web.get(f"/admin/media/{video.id}/poster").status_code == 404


@pytest.fixture(scope="module")
def playground_key(ui_gateway: GatewayProcess) -> str:
    return ui_gateway.create_key("pg", tenant="pg-errors")


@pytest.mark.parametrize("fields", [
    {"prompt": "x", "model": "sora-2", "size": "1x1", "seconds": "4"},
    {"prompt": "", "model": "sora-2", "size": "1280x720", "seconds": "4"},
    {"prompt": "x", "model": "nope", "size": "1280x720", "seconds": "4"},
    {"prompt": "x", "model": "sora-2", "size": "1280x720", "seconds": "5"},
])
def test_playground_shows_validation_errors_without_creating_jobs(
    ui_gateway: GatewayProcess, playground_key: str, fields: dict[str, str],
) -> None:
    web, csrf = signed_in(ui_gateway)
    html = web.get("/admin/playground").text
    key = re.search(r'<option value="(key_[^"]+)"[^>]*>pg-errors / pg ', html)
    assert key is not None
    resp = web.post("/admin/playground", data={"csrf": csrf, "key_id": key.group(1), **fields})
    assert resp.status_code == 400
    assert 'role="alert"' in resp.text
    listing = web.get("/admin/jobs", params={"tenant": "pg-errors"}).text
    assert "No jobs match these filters." in listing
    bad_key = web.post("/admin/playground", data={"csrf": csrf, "key_id": "key_nope",
                                                  "prompt": "x"})
    assert bad_key.status_code == 400
