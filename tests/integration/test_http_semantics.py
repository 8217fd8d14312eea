"""HTTP as the document says: OPTIONS and 405 name every method a path takes, and a
validation error names a real parameter (or none), never ``'None'``."""

from __future__ import annotations

import httpx
import pytest

from tests.support.server import GatewayProcess


def _admin(gw: GatewayProcess, method: str, path: str, *, json: object = None,
           content: bytes | None = None, ctype: str | None = None) -> httpx.Response:
    token = (gw.data_dir / "admin.token").read_text().strip()
    headers = {"Authorization": f"Bearer {token}", **({"Content-Type": ctype} if ctype else {})}
    return httpx.request(method, f"{gw.root_url}/admin/api{path}", timeout=30, json=json,
                         content=content, headers=headers)


@pytest.mark.parametrize(("path", "allow"), [
    ("/v1/videos", "GET, OPTIONS, POST"),
    ("/v1/videos/video_x", "DELETE, GET, OPTIONS"),
    ("/v1/videos/video_x/content", "GET, HEAD, OPTIONS"),
    ("/admin/api/tenants/t", "GET, OPTIONS, PATCH"),
])
def test_options_answers_every_method_of_the_path(gateway: GatewayProcess, path: str,
                                                  allow: str) -> None:
    resp = httpx.options(gateway.root_url + path)
    assert resp.status_code == 204
    assert resp.headers["allow"] == allow


def test_options_on_an_unknown_path_is_a_404(gateway: GatewayProcess) -> None:
    resp = httpx.options(gateway.root_url + "/v1/nothing-here")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "unknown_url"


def test_a_405_names_every_method_of_the_path(gateway: GatewayProcess, api_key: str) -> None:
    resp = httpx.put(gateway.base_url + "/videos", headers={"Authorization": f"Bearer {api_key}"})
    assert resp.status_code == 405
    assert resp.headers["allow"] == "GET, OPTIONS, POST"
    assert resp.json()["error"]["code"] == "method_not_allowed"


def test_a_missing_admin_body_names_no_parameter(gateway: GatewayProcess) -> None:
    resp = _admin(gateway, "POST", "/tenants")
    assert resp.status_code == 400
    err = resp.json()["error"]
    assert err["param"] is None and "None" not in err["message"]
    assert err["code"] == "missing_required_parameter"


def test_broken_admin_json_is_invalid_json(gateway: GatewayProcess) -> None:
    resp = _admin(gateway, "POST", "/tenants", content=b'{"name": ', ctype="application/json")
    assert resp.status_code == 400
    err = resp.json()["error"]
    assert (err["param"], err["code"]) == (None, "invalid_json")


def test_a_missing_admin_field_is_named(gateway: GatewayProcess) -> None:
    resp = _admin(gateway, "POST", "/tenants", json={"prepaid": True})
    assert resp.status_code == 400
    err = resp.json()["error"]
    assert (err["param"], err["code"]) == ("name", "missing_required_parameter")
    assert "'name'" in err["message"]


def test_an_unknown_admin_field_is_named(gateway: GatewayProcess) -> None:
    resp = _admin(gateway, "POST", "/tenants", json={"name": "x", "colour": "red"})
    assert resp.status_code == 400
    assert (resp.json()["error"]["param"], resp.json()["error"]["code"]) == (
        "colour", "unknown_parameter")
