"""Webhooks, prices, the models page and job search from the console in headless
Chromium, checked through the receiver, the admin API and the public API: an added
endpoint's secret (shown once) verifies its deliveries, a rotated one verifies the next
and the old one no longer does; prices set and removed are what the API reports; a
model's price, alias and retirement take effect; a job is found by id and by prompt.
"""

from __future__ import annotations

import re

import httpx
import openai
import pytest
from playwright.sync_api import Page, expect

from tests.integration.helpers import wait_done
from tests.support.server import TEST_DATABASE, GatewayProcess
from tests.ui.conftest import sign_in
from tests.ui.console import admin_api, no_overflow, ok, said, shoot
from tests.webhooks.receiver import Receiver

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(TEST_DATABASE == "postgres",
                                 reason="browser tests run on the SQLite pass only")]

TENANT = "console-hooks"


@pytest.fixture(scope="module")
def client(console_gateway: GatewayProcess) -> openai.OpenAI:
    with admin_api(console_gateway) as api:
        ok(api.post("/tenants", json={"name": TENANT}))
    key = console_gateway.create_key("hooks", tenant=TENANT)
    return openai.OpenAI(api_key=key, base_url=console_gateway.base_url, max_retries=0)


def _verify(secret: str, got: object) -> str:
    verifier = openai.OpenAI(api_key="unused", webhook_secret=secret)
    event = verifier.webhooks.unwrap(got.body, got.headers)  # type: ignore[attr-defined]
    return str(event.data.id)


def _secret(page: Page) -> str:
    return page.locator("#secret-value").inner_text().strip()


def test_webhook_add_rotate_remove(page: Page, console_gateway: GatewayProcess,
                                   client: openai.OpenAI) -> None:
    gw = console_gateway
    sign_in(page, gw, "/admin/webhooks")
    form = page.locator("#new-endpoint")
    form.locator("select[name=tenant]").select_option(TENANT)
    with Receiver() as rx:
        form.locator("input[name=url]").fill(rx.url)
        form.get_by_role("button", name="Add endpoint").click()  # loopback, not allowed
        expect(page.locator("#add-endpoint [role=alert]")).to_contain_text("is not allowed")
        expect(form.locator("input[name=url]")).to_have_value(rx.url)
        form.locator("input[name=allow_private]").check()
        form.get_by_role("button", name="Add endpoint").click()
        first = _secret(page)
        assert first.startswith("whsec_")
        endpoint = page.locator("#endpoints tr[data-endpoint]").first.get_attribute(
            "data-endpoint")
        shoot(page, "webhook-added")

        video = client.videos.create(model="sora-2", prompt="webhook console one",
                                     seconds="4")
        assert wait_done(client, video.id).status == "completed"
        rx.wait_for(lambda got: len(got) >= 1)
        assert _verify(first, rx.snapshot()[-1]) == video.id

        page.goto(f"{gw.root_url}/admin/webhooks")
        assert first not in page.content()  # shown that once only
        page.once("dialog", lambda d: d.accept())
        page.locator(f"tr[data-endpoint={endpoint}]").get_by_role(
            "button", name="Rotate secret").click()
        second = _secret(page)
        assert second.startswith("whsec_") and second != first
        again = client.videos.create(model="sora-2", prompt="webhook console two",
                                     seconds="4")
        assert wait_done(client, again.id).status == "completed"
        rx.wait_for(lambda got: len(got) >= 2)
        latest = rx.snapshot()[-1]
        assert _verify(second, latest) == again.id
        with pytest.raises(openai.InvalidWebhookSignatureError):
            _verify(first, latest)

    page.goto(f"{gw.root_url}/admin/webhooks")
    expect(page.locator("table.deliveries tbody tr")).to_have_count(2)
    shoot(page, "webhooks")
    no_overflow(page)  # the delivery log fits at 1400 px (it used to stick out)
    page.once("dialog", lambda d: d.accept())
    page.locator(f"tr[data-endpoint={endpoint}]").get_by_role("button", name="Remove").click()
    said(page, f"Removed {endpoint}")
    with admin_api(gw) as api:
        assert ok(api.get("/webhooks"))["data"] == []

    page.goto(f"{gw.root_url}/admin/jobs")
    search = page.locator("#job-filters input[name=q]")
    search.fill(video.id)
    search.press("Enter")
    expect(page).to_have_url(re.compile(f"/admin/jobs/{video.id}$"))
    page.goto(f"{gw.root_url}/admin/jobs")
    page.locator("#job-filters input[name=q]").fill("CONSOLE t")
    page.locator("#job-filters button[type=submit]").click()
    ids = page.locator("#jobs-table tbody tr").evaluate_all("r => r.map(x => x.dataset.jobId)")
    assert ids == [again.id]  # "console two" only: case-blind, a substring
    shoot(page, "jobs-search")
    no_overflow(page)
    page.locator("#job-filters input[name=q]").fill("no such prompt anywhere")
    page.locator("#job-filters button[type=submit]").click()
    expect(page.locator("p.empty")).to_contain_text("No job has a prompt with")


def _price(gw: GatewayProcess, model: str, size: str, tenant: str | None = None) -> object:
    with admin_api(gw) as api:
        rows = ok(api.get("/prices", params={"tenant": tenant} if tenant else {}))["data"]
    return next((r["usd_per_second"], r["source"]) for r in rows
                if (r["model"], r["size"]) == (model, size))


def test_prices_set_and_removed(page: Page, console_gateway: GatewayProcess,
                                client: openai.OpenAI) -> None:
    gw = console_gateway
    catalog = _price(gw, "sora-2", "1280x720")
    sign_in(page, gw, "/admin/prices")
    form = page.locator("#price-form")

    def set_price(size: str, price: str, tenant: str = "") -> None:
        form.locator("select[name=model]").select_option("sora-2")
        form.locator("input[name=size]").fill(size)
        form.locator("input[name=price]").fill(price)
        form.locator("select[name=tenant]").select_option(tenant)
        form.get_by_role("button", name="Set price").click()

    set_price("1280x720", "cheap")
    expect(page.locator("#set-price [role=alert]")).to_contain_text("Invalid value for 'price'")
    set_price("1280x720", "0.25")
    said(page, "sora-2 1280x720: $0.25 per second (global)")
    assert _price(gw, "sora-2", "1280x720") == ("0.25", "global")
    set_price("720x1280", "0.05", TENANT)
    said(page, f"(tenant {TENANT})")
    assert _price(gw, "sora-2", "720x1280", TENANT) == ("0.05", "tenant")
    quote = httpx.post(f"{gw.base_url}/videos/quote", headers={
        "authorization": f"Bearer {client.api_key}"}, json={
        "model": "sora-2", "size": "720x1280", "seconds": "4", "prompt": "x"}, timeout=30)
    assert quote.status_code == 200 and "200000" in quote.text  # 4 s at $0.05
    shoot(page, "prices")
    no_overflow(page)

    page.once("dialog", lambda d: d.accept())
    page.locator(f"#tenant-prices tr[data-price='{TENANT} sora-2 720x1280']").get_by_role(
        "button").click()
    said(page, "Removed the override for sora-2 720x1280")
    page.once("dialog", lambda d: d.accept())
    page.locator("#prices tr[data-price='sora-2 1280x720']").get_by_role("button").click()
    said(page, "Removed the override for sora-2 1280x720")
    assert _price(gw, "sora-2", "1280x720") == catalog
    assert _price(gw, "sora-2", "720x1280", TENANT)[1] != "tenant"  # type: ignore[index]


def test_models_page_price_alias_retire_restore(page: Page,
                                                console_gateway: GatewayProcess,
                                                client: openai.OpenAI) -> None:
    gw = console_gateway

    def model(ref: str) -> dict[str, object]:
        with admin_api(gw) as api:
            found: dict[str, object] = ok(api.get(f"/models/{ref}"))["model"]
        return found

    sign_in(page, gw, "/admin/models")
    row = page.locator("#model-sora-2-pro")
    row.locator("form[action$='/price'] select[name=size]").select_option("1280x720")
    row.locator("form[action$='/price'] input[name=price]").fill("0.33")
    row.get_by_role("button", name="Set price").click()
    said(page, "sora-2-pro: 1280x720 now 0.33 USD per second")
    assert model("sora-2-pro")["prices"]["1280x720"] == "0.33"  # type: ignore[index]
    row = page.locator("#model-sora-2-pro")
    row.locator("input[name=alias]").fill("console-pro")
    row.get_by_role("button", name="Add alias").click()
    said(page, "alias console-pro added")
    assert "console-pro" in model("sora-2-pro")["aliases"]  # type: ignore[operator]
    row = page.locator("#model-sora-2-pro")
    row.locator("form[action$='/retire'] select[name=successor]").select_option("sora-2")
    page.once("dialog", lambda d: d.accept())
    row.get_by_role("button", name="Retire").click()
    said(page, "sora-2-pro: retired")
    assert model("sora-2-pro")["state"] == "retired"
    moved = client.videos.create(model="console-pro", prompt="an alias of a retired model",
                                 seconds="4")
    assert moved.model == "sora-2"  # the alias names sora-2-pro, retired to sora-2
    shoot(page, "models")
    page.locator("#model-sora-2-pro").get_by_role("button", name="Restore").click()
    said(page, "sora-2-pro: active again")
    assert model("sora-2-pro")["state"] == "active"
