"""Tenants and keys managed from the console in headless Chromium, checked through
the admin API and the public API: a created key authenticates and its secret is shown
once; a top-up, an adjustment and a new multiplier change what the API reports; the
tenant page pages its ledger and shows its spend by model; a revoked key stops working.
"""

from __future__ import annotations

import re

import openai
import pytest
from playwright.sync_api import Page, expect

from tests.integration.helpers import wait_done
from tests.support.server import TEST_DATABASE, GatewayProcess
from tests.ui.conftest import sign_in
from tests.ui.console import admin_api, no_overflow, ok, said, shoot

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(TEST_DATABASE == "postgres",
                                 reason="browser tests run on the SQLite pass only")]

USD = 1_000_000


def _tenant(gw: GatewayProcess, ref: str) -> dict[str, object]:
    with admin_api(gw) as api:
        found: dict[str, object] = ok(api.get(f"/tenants/{ref}"))
    return found


def _ledger(gw: GatewayProcess, ref: str) -> list[dict[str, object]]:
    with admin_api(gw) as api:
        found: list[dict[str, object]] = ok(api.get(f"/tenants/{ref}/ledger",
                                                    params={"limit": 100}))["data"]
    return found


def _credit(page: Page, form: str, amount: str, note: str = "", reference: str = "") -> None:
    box = page.locator(f"#{form}-form")
    box.locator("input[name=amount]").fill(amount)
    box.locator("input[name=note]").fill(note)
    box.locator("input[name=reference]").fill(reference)
    box.get_by_role("button").click()


def test_tenant_money_keys_ledger_and_spend(page: Page,
                                            console_gateway: GatewayProcess) -> None:
    gw = console_gateway
    sign_in(page, gw, "/admin/tenants")
    create = page.locator("#new-tenant")
    create.locator("input[name=name]").fill("console-acme")
    create.locator("input[name=balance]").fill("ten dollars")
    create.get_by_role("button", name="Create tenant").click()
    expect(page.locator("#create-tenant [role=alert]")).to_contain_text(
        "Invalid value for 'balance'")
    expect(create.locator("input[name=name]")).to_have_value("console-acme")
    create.locator("input[name=balance]").fill("10")
    create.get_by_role("button", name="Create tenant").click()
    said(page, "Created tenant console-acme: prepaid, balance $10.00")
    assert _tenant(gw, "console-acme")["balance_micros"] == 10 * USD

    _credit(page, "topup", "5", reference="pay-1")
    said(page, "Posted topup $5.00 to console-acme; balance now $15.00")
    _credit(page, "topup", "5", reference="pay-1")  # the same payment: credited once
    said(page, "Already posted (same reference), unchanged")
    expect(page.locator("#balance")).to_have_text("$15.00")
    _credit(page, "adjust", "-2.5", note="   ")
    expect(page.locator("#adjust [role=alert]")).to_contain_text("An adjustment needs a note")
    _credit(page, "adjust", "-2.5", note="goodwill credit reversed")
    said(page, "balance now $12.50")
    assert _tenant(gw, "console-acme")["balance_micros"] == 12_500_000
    settings = page.locator("#settings-form")
    settings.locator("input[name=multiplier]").fill("1.5")
    settings.get_by_role("button", name="Save").click()
    said(page, "price multiplier 1.50")
    assert _tenant(gw, "console-acme")["price_multiplier"] == "1.50"

    page.goto(f"{gw.root_url}/admin/keys?tenant=console-acme")
    form = page.locator("#new-key")
    expect(form.locator("input[name=tenant]")).to_have_value("console-acme")
    form.locator("input[name=name]").fill("console-key")
    form.locator("select[name=models]").select_option(["sora-2"])
    form.locator("input[name=spend_cap]").fill("a lot")
    form.get_by_role("button", name="Create key").click()
    expect(page.locator("#create-key [role=alert]")).to_contain_text(
        "Invalid value for 'spend_cap'")
    expect(form.locator("select[name=models] option:checked")).to_have_text(["sora-2"])
    form.locator("input[name=spend_cap]").fill("3")
    form.get_by_role("button", name="Create key").click()
    secret = page.locator("#secret-value").inner_text().strip()
    assert secret.startswith("sk-")
    form.locator("input[name=name]").fill("console-key")  # the same name again
    form.locator("input[name=spend_cap]").fill("")
    form.get_by_role("button", name="Create key").click()
    expect(page.locator("#create-key [role=alert]")).to_contain_text(
        "already has an active key named 'console-key'")
    form.locator("input[name=tenant]").fill("console-acme-typo")  # not a tenant
    form.locator("input[name=name]").fill("other-key")
    form.get_by_role("button", name="Create key").click()
    expect(page.locator("#create-key [role=alert]")).to_contain_text(
        "No tenant 'console-acme-typo'")
    assert page.locator("#secret-value").count() == 0
    with admin_api(gw) as api:
        assert api.get("/tenants/console-acme-typo").status_code == 404
    shoot(page, "keys-created")
    page.goto(f"{gw.root_url}/admin/keys")
    assert secret not in page.content()  # shown that once only

    client = openai.OpenAI(api_key=secret, base_url=gw.base_url, max_retries=0)
    video = client.videos.create(model="sora-2", prompt="a console-made key", seconds="4")
    assert wait_done(client, video.id).status == "completed"
    with pytest.raises(openai.PermissionDeniedError):  # the key is held to its models
        client.videos.create(model="sora-2-pro", prompt="not allowed", seconds="4")
    with admin_api(gw) as api:
        job = ok(api.get(f"/jobs/{video.id}"))
    assert job["charged_micros"] > 0

    page.goto(f"{gw.root_url}/admin/tenants")
    page.locator("tr[data-tenant=console-acme] a", has_text="console-acme").click()
    row = page.locator("#spend-table tr[data-model=sora-2]")
    expect(row).to_contain_text("1")
    expect(row).to_contain_text(f"${job['charged_micros'] / USD:.2f}")
    expect(page.locator("#tenant-keys")).to_contain_text("console-key")
    shoot(page, "tenant")
    no_overflow(page)

    expected = [e["id"] for e in _ledger(gw, "console-acme")]
    assert len(expected) >= 5  # opening, top-up, adjustment, reserve, settle
    page.goto(re.sub(r"\?.*", "", page.url) + "?limit=2")
    seen: list[str] = []
    while True:
        seen += page.locator("#ledger-table tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.entry)")
        older = page.locator("#older")
        if older.count() == 0:
            break
        older.click()
    assert seen == expected  # every entry once, newest first
    assert "goodwill credit reversed" in " ".join(
        str(e["note"]) for e in _ledger(gw, "console-acme"))

    page.goto(f"{gw.root_url}/admin/keys?tenant=console-acme")
    page.once("dialog", lambda d: d.accept())
    page.locator("tr", has_text="console-key").get_by_role("button", name="Revoke").click()
    said(page, "Revoked console-key of console-acme")
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
    form = page.locator("#new-key")  # a new tenant only when asked for
    form.locator("input[name=tenant]").fill("console-new")
    form.locator("input[name=name]").fill("first")
    form.locator("input[name=create_tenant]").check()
    form.get_by_role("button", name="Create key").click()
    assert page.locator("#secret-value").inner_text().strip().startswith("sk-")
    assert _tenant(gw, "console-new")["mode"] == "postpaid"
    page.goto(f"{gw.root_url}/admin/tenants")
    shoot(page, "tenants")
    page.goto(f"{gw.root_url}/admin/keys")
    shoot(page, "keys")
    no_overflow(page)
