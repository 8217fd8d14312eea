"""Operator surfaces: the admin API on the live gateway and the CLI on a real data dir."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from reelgate.cli import app
from tests.billing.test_e2e import admin, key, tenant
from tests.support.server import GatewayProcess


def test_admin_tenants_and_prices(gateway: GatewayProcess) -> None:
    name = tenant(gateway, prepaid=True)
    shown = admin(gateway, "GET", f"/tenants/{name}").json()
    assert shown["mode"] == "prepaid" and shown["balance_micros"] == 0 and shown["consistent"]
    assert admin(gateway, "POST", f"/tenants/{name}/topups",
                 json={"amount": "2.50"}).status_code == 201
    adj = admin(gateway, "POST", f"/tenants/{name}/adjustments",
                json={"amount": "-0.50", "note": "goodwill reversal"})
    assert adj.status_code == 201 and adj.json()["kind"] == "adjustment"
    changed = admin(gateway, "PATCH", f"/tenants/{name}",
                    json={"prepaid": False, "price_multiplier": "1.5"}).json()
    assert changed["mode"] == "postpaid" and changed["price_multiplier_ppm"] == 1_500_000
    assert changed["balance_micros"] == 2_000_000 and changed["ledger_micros"] == 2_000_000
    page = admin(gateway, "GET", f"/tenants/{name}/ledger", params={"limit": 1}).json()
    assert page["has_more"] and page["data"][0]["kind"] == "adjustment"
    listed = admin(gateway, "GET", "/tenants").json()["data"]
    assert name in [t["name"] for t in listed]

    prices = admin(gateway, "GET", "/prices", params={"tenant": name}).json()["data"]
    pro = {(p["model"], p["size"]): p for p in prices}
    assert pro["sora-2-pro", "1080x1920"]["micros_per_second"] == 700_000
    assert pro["sora-2-pro", "1080x1920"]["source"] == "catalog"
    put = admin(gateway, "PUT", "/prices", json={"model": "sora-2", "size": "720x1280",
                                                 "price": "0.09", "tenant": name})
    assert put.json()["micros_per_second"] == 90_000
    gone = admin(gateway, "DELETE", "/prices",
                 params={"model": "sora-2", "size": "720x1280", "tenant": name})
    assert gone.json()["source"] == "catalog"


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), [
    ("POST", "/tenants/{t}/topups", {"amount": 5}, 400, "invalid_value"),  # a float-prone number
    ("POST", "/tenants/{t}/topups", {"amount": "1.0000001"}, 400, "invalid_value"),
    ("POST", "/tenants/{t}/topups", {"amount": "-1"}, 400, "invalid_value"),
    ("POST", "/tenants/nobody/topups", {"amount": "1"}, 404, "tenant_not_found"),
    ("POST", "/tenants", {"name": "{t}"}, 409, "tenant_exists"),
    ("PUT", "/prices", {"model": "sora-2", "size": "1920x1080", "price": "1"}, 400,
     "invalid_value"),
    ("PUT", "/prices", {"model": "sora-2", "size": "720x1280", "price": "-1"}, 400,
     "invalid_value"),
    ("PATCH", "/tenants/{t}", {"price_multiplier": "5000"}, 400, "invalid_value"),
])
def test_admin_bad_requests(gateway: GatewayProcess, method: str, path: str,
                            body: dict[str, object], status: int, code: str) -> None:
    name = tenant(gateway)
    body = {k: (v.replace("{t}", name) if isinstance(v, str) else v) for k, v in body.items()}
    resp = admin(gateway, method, path.replace("{t}", name), json=body)
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["code"] == code and set(error) == {"message", "type", "param", "code"}


def test_admin_needs_the_token(gateway: GatewayProcess) -> None:
    import httpx

    resp = httpx.get(f"{gateway.root_url}/admin/api/tenants",
                     headers={"Authorization": "Bearer " + key(gateway, "default")})
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "invalid_admin_token"


def test_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("REELGATE_DATABASE_URL", "REELGATE_STORAGE_URL", "REELGATE_REDIS_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("REELGATE_DATA_DIR", str(tmp_path))
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, (args, result.output)
        return result.output

    assert "prepaid, balance $10.00" in run("tenants", "create", "acme", "--balance", "10")
    run("tenants", "create", "acme", code=1)  # exists
    run("tenants", "create", "postpaid-co", "--multiplier", "0.8")
    assert "balance now $12.50" in run("tenants", "topup", "acme", "2.5", "--reference", "p1")
    assert "Already posted" in run("tenants", "topup", "acme", "2.5", "--reference", "p1")
    run("tenants", "topup", "acme", "1e3", code=2)
    run("tenants", "topup", "nobody", "1", code=1)
    assert "$11.50" in run("tenants", "adjust", "acme", "--note", "fix", "--", "-1")
    assert "postpaid" in run("tenants", "set", "acme", "--postpaid")
    out = run("tenants", "list")
    assert "acme" in out and "postpaid-co" in out and "0.80" in out
    assert "verified: cached balance = ledger sum = $11.50" in run(
        "tenants", "show", "acme", "--verify")
    assert "$0.12 per second" in run("prices", "set", "sora-2", "1280x720", "0.12")
    run("prices", "set", "sora-2", "9999x1", "0.12", code=1)
    listed = run("prices", "list", "--tenant", "postpaid-co")
    assert "global" in listed and "0.096" in listed  # 0.12 x 0.8
    run("prices", "unset", "sora-2", "1280x720")
    run("prices", "unset", "sora-2", "1280x720", code=1)
    run("keys", "create", "--name", "x", "--tenant", "acme", "--models", "nope", code=2)
    run("keys", "create", "--name", "x", "--tenant", "acme", "--spend-cap", "ten", code=2)
    secret = run("keys", "create", "--name", "limited", "--tenant", "fresh", "--create-tenant",
                 "--models", "sora-2,sora-2-pro", "--spend-cap", "5", "--max-in-flight", "2",
                 "--creates-per-minute", "10", "--polls-per-minute", "100",
                 "--expires-in-days", "30").strip().splitlines()[-1]
    assert secret.startswith("sk-rg-")
    assert "fresh" in run("tenants", "list") and "postpaid" in run("tenants", "show", "fresh")
