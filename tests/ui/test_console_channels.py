"""Channels managed from the console in headless Chromium, checked through the admin
API and the upstreams: add with keys (a refusal shown in the form), a live test with
each key's verdict, edit, remove and add keys, and a disabled channel that gets no jobs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import openai
import pytest
from playwright.sync_api import Page, expect

from tests.integration.helpers import wait_done
from tests.support.server import TEST_DATABASE, GatewayProcess
from tests.ui.conftest import sign_in
from tests.ui.console import admin_api, no_overflow, ok, said, shoot
from tests.upstreams.support import Upstream, start_upstream

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(TEST_DATABASE == "postgres",
                                 reason="browser tests run on the SQLite pass only")]


@pytest.fixture(scope="module")
def fakes(console_gateway: GatewayProcess) -> Iterator[tuple[Upstream, Upstream]]:
    """Two fake upstreams; afterwards the channels on them are disabled and the local
    one serves again, for the console tests that follow."""
    a, b = start_upstream("openai"), start_upstream("openai_b")
    yield a, b
    with admin_api(console_gateway) as api:
        for ch in ok(api.get("/channels"))["data"]:
            if ch["provider"] != "local" and ch["enabled"]:
                ok(api.post(f"/channels/{ch['id']}/disable"))
        ok(api.post("/channels/local/enable"))
    a.server.stop()
    b.server.stop()


def _channel(gw: GatewayProcess, name: str) -> dict[str, object]:
    with admin_api(gw) as api:
        found: dict[str, object] = ok(api.get(f"/channels/{name}"))
    return found


def _add(page: Page, name: str, base_url: str, keys: str, models: str = "sora-2",
         options: str = "") -> None:
    form = page.locator("#new-channel")
    form.locator("input[name=name]").fill(name)
    form.locator("select[name=provider]").select_option("openai")
    form.locator("input[name=base_url]").fill(base_url)
    form.locator("textarea[name=keys]").fill(keys)
    form.locator("textarea[name=models]").fill(models)
    form.locator("textarea[name=options]").fill(options)
    form.get_by_role("button", name="Add channel").click()


def test_add_test_edit_keys_and_disable_a_channel(
    page: Page, console_gateway: GatewayProcess, fakes: tuple[Upstream, Upstream],
) -> None:
    gw = console_gateway
    a, b = fakes
    sign_in(page, gw, "/admin/channels")

    # a refusal of the service is shown in the form, with what was typed (but no key)
    _add(page, "fake-a", "file:///etc/passwd", "sk-oa-1")
    alert = page.locator("#add-channel [role=alert]")
    expect(alert).to_contain_text("base_url must be an http(s) URL")
    expect(page.locator("#new-channel input[name=name]")).to_have_value("fake-a")
    expect(page.locator("#new-channel textarea[name=keys]")).to_have_value("")
    shoot(page, "channels-refused")

    _add(page, "fake-a", a.base_url, "sk-oa-1\nsk-oa-not-valid-123", options="read_timeout=30")
    expect(page).to_have_url(re.compile(r"/admin/channels/ch_\w+\?done="))
    said(page, "Added channel fake-a (2 keys)")
    made = _channel(gw, "fake-a")
    assert made["models"] == {"sora-2": "sora-2"} and made["options"] == {"read_timeout": 30}
    assert [k["label"] for k in made["keys"]] == ["key1", "key2"]  # type: ignore[attr-defined]
    assert "sk-oa-1" not in page.content()  # keys only ever come back masked

    page.locator("#test-channel").click()
    results = page.locator("#test-results tbody tr")
    expect(results).to_have_count(2)
    expect(results.nth(0)).to_contain_text("ok")
    expect(results.nth(1)).to_contain_text("bad_key")
    assert a.creates() == []  # a check creates nothing upstream
    shoot(page, "channel-test")
    no_overflow(page)

    edit = page.locator("#edit-channel")
    edit.locator("input[name=weight]").fill("0")
    edit.get_by_role("button", name="Save").click()
    expect(page.locator("#edit [role=alert]")).to_contain_text("weight must be between 1 and 1000")
    edit.locator("input[name=weight]").fill("3")
    edit.locator("input[name=priority]").fill("5")
    edit.locator("textarea[name=options]").fill("")
    edit.locator("textarea[name=models]").fill("sora-2\nsora-2-pro=sora-2-pro")
    edit.get_by_role("button", name="Save").click()
    said(page, "Saved channel fake-a")
    edited = _channel(gw, "fake-a")
    assert (edited["priority"], edited["weight"], edited["options"]) == (5, 3, {})
    assert edited["models"] == {"sora-2": "sora-2", "sora-2-pro": "sora-2-pro"}

    bad = page.locator("#channel-keys tr[data-key-label=key2]")
    bad.locator("input[name=purge]").check()
    page.once("dialog", lambda d: d.accept())
    bad.get_by_role("button", name="Remove").click()
    said(page, "Key key2 deleted")
    page.locator("#add-key input[name=key]").fill("sk-oa-2")
    page.locator("#add-key input[name=label]").fill("second")
    page.locator("#add-key").get_by_role("button", name="Add key").click()
    said(page, "Added key second")
    keys = _channel(gw, "fake-a")["keys"]
    assert [(k["label"], k["enabled"]) for k in keys] == [  # type: ignore[attr-defined]
        ("key1", True), ("second", True)]
    shoot(page, "channel")

    page.goto(f"{gw.root_url}/admin/channels")
    _add(page, "fake-b", b.base_url, "sk-ob-1")
    said(page, "Added channel fake-b (1 key)")
    page.goto(f"{gw.root_url}/admin/channels/fake-a")
    page.once("dialog", lambda d: d.accept())
    page.locator("#disable-channel").click()
    expect(page.locator("#channel-state")).to_have_text("disabled")
    assert _channel(gw, "fake-a")["enabled"] is False

    client = openai.OpenAI(api_key=gw.create_key("routing", tenant="console-routing"),
                           base_url=gw.base_url, max_retries=0)
    videos = [client.videos.create(model="sora-2", prompt=f"routed {i}", seconds="4")
              for i in range(3)]
    assert all(wait_done(client, v.id).status == "completed" for v in videos)
    assert a.creates() == [] and len(b.creates()) == 3  # the disabled channel got none

    page.goto(f"{gw.root_url}/admin/channels")
    row = page.locator("tr[data-channel=fake-a]")
    expect(row).to_contain_text("disabled")
    row.get_by_role("button", name="Enable").click()
    expect(page.locator("tr[data-channel=fake-a]")).to_contain_text("enabled")
    assert _channel(gw, "fake-a")["enabled"] is True
    shoot(page, "channels")
    no_overflow(page)
