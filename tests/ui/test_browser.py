"""The admin UI in headless Chromium: sign in, run the playground to a playing video,
find the job in the explorer and on its own page, revoke a key, replay a dead letter.

Screenshots go to test-artifacts/ (gitignored).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import openai
import pytest
from playwright.sync_api import Page, expect

from tests.integration.helpers import png, wait_done
from tests.support.server import TEST_DATABASE, GatewayProcess
from tests.ui.conftest import ADMIN_TOKEN, sign_in, wait_js
from tests.webhooks.receiver import Receiver

# The pages run the same queries on either database (the HTTP tests cover both);
# the browser only needs to see them once.
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(TEST_DATABASE == "postgres",
                                 reason="browser tests run on the SQLite pass only")]


def test_sign_in_playground_plays_and_explorer_finds_the_job(
    page: Page, ui_gateway: GatewayProcess, artifacts_dir: Path, tmp_path: Path,
) -> None:
    gw = ui_gateway
    gw.create_key("ui-key", tenant="studio")
    page.goto(f"{gw.root_url}/admin/jobs")
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    page.fill("input[name=token]", "not-the-token")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("not the admin token")
    page.screenshot(path=str(artifacts_dir / "ui-login.png"))
    page.fill("input[name=token]", ADMIN_TOKEN)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/admin/jobs$"))

    page.click("nav >> text=Playground")
    option = page.locator("select[name=key_id] option", has_text="studio / ui-key")
    page.select_option("select[name=key_id]", option.get_attribute("value"))
    page.fill("textarea[name=prompt]", "a paper boat drifting down a rainy street")
    page.select_option("select[name=model]", "sora-2")
    page.select_option("select[name=size]", "1280x720")
    page.select_option("select[name=seconds]", "4")
    ref = tmp_path / "ref.png"
    ref.write_bytes(png(1280, 720, (30, 90, 200)))
    page.set_input_files("input[name=input_reference]", str(ref))
    page.click("#generate")
    expect(page).to_have_url(re.compile(r"/admin/playground\?job=video_"))
    job_id = page.url.split("job=")[1]
    wait_js(page, "document.querySelector('#player').readyState >= 2", timeout=90)
    duration = page.eval_on_selector("#player", "v => v.duration")
    assert abs(duration - 4.0) < 0.1, duration
    page.eval_on_selector("#player", "v => { v.muted = true; return v.play(); }")
    wait_js(page, "document.querySelector('#player').currentTime > 0.3", timeout=15)
    expect(page.locator("[data-live-status]")).to_have_text("completed")
    page.screenshot(path=str(artifacts_dir / "ui-playground.png"))

    page.click("nav >> text=Jobs")
    page.select_option("select[name=tenant]", "studio")
    page.select_option("select[name=status]", "completed")
    page.click("form#job-filters button[type=submit]")
    row = page.locator(f"tr[data-job-id='{job_id}']")
    expect(row).to_be_visible()
    expect(row).to_contain_text("studio")
    page.screenshot(path=str(artifacts_dir / "ui-explorer.png"))
    page.select_option("select[name=status]", "failed")
    page.click("form#job-filters button[type=submit]")
    expect(page.locator(f"tr[data-job-id='{job_id}']")).to_have_count(0)

    page.goto(f"{gw.root_url}/admin/jobs?tenant=studio")
    page.click(f"a:text('{job_id}')")
    expect(page).to_have_url(re.compile(f"/admin/jobs/{job_id}$"))
    wait_js(page, "document.querySelector('#player').readyState >= 2")
    for img in ("#thumbnail", "#spritesheet"):
        wait_js(page, f"document.querySelector('{img}').naturalWidth > 0")
    kinds = page.locator("#timeline tbody tr td:nth-child(2)").all_inner_texts()
    assert kinds[0] == "created" and "state:completed" in kinds, kinds
    page.screenshot(path=str(artifacts_dir / "ui-job.png"), full_page=True)


def test_revoke_button_stops_the_key(page: Page, ui_gateway: GatewayProcess,
                                     artifacts_dir: Path) -> None:
    gw = ui_gateway
    doomed = gw.create_key("doomed", tenant="studio")
    client = openai.OpenAI(api_key=doomed, base_url=gw.base_url, max_retries=0)
    client.models.list()  # works before
    sign_in(page, gw, "/admin/keys")
    row = page.locator("tr", has_text="doomed")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    expect(page.locator("tr", has_text="doomed")).to_contain_text("revoked")
    page.screenshot(path=str(artifacts_dir / "ui-keys.png"))
    try:
        client.models.list()
        raise AssertionError("a revoked key still works")
    except openai.AuthenticationError:
        pass


def test_dead_letter_replay_button_delivers(page: Page, ui_gateway: GatewayProcess,
                                            artifacts_dir: Path) -> None:
    gw = ui_gateway
    key = gw.create_key("hooked", tenant="ui-hooks")
    client = openai.OpenAI(api_key=key, base_url=gw.base_url, max_retries=0)
    with Receiver(status=503) as rx:
        made = httpx.post(f"{gw.root_url}/admin/api/webhooks", timeout=10,
                          headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
                          json={"tenant": "ui-hooks", "url": rx.url, "allow_private": True})
        assert made.status_code == 201, made.text
        video = client.videos.create(model="sora-2", prompt="a webhook that fails", seconds="4")
        assert wait_done(client, video.id).status == "completed"
        sign_in(page, gw, "/admin/dead-letters")
        deadline = time.monotonic() + 30
        row = page.locator("tr", has_text=video.id)
        while row.count() == 0 and time.monotonic() < deadline:
            time.sleep(0.3)
            page.reload()
        expect(row).to_contain_text("dead")
        expect(row).to_contain_text("503")
        page.screenshot(path=str(artifacts_dir / "ui-dead-letters.png"))
        failures = len(rx.snapshot())
        rx.status = 200
        row.get_by_role("button", name="Replay").click()
        expect(page).to_have_url(re.compile(r"/admin/dead-letters$"))
        expect(page.locator("tr", has_text=video.id)).to_have_count(0)
        rx.wait_for(lambda got: len(got) > failures)
        verifier = openai.OpenAI(api_key="unused", webhook_secret=made.json()["secret"])
        last = rx.snapshot()[-1]
        assert verifier.webhooks.unwrap(last.body, last.headers).data.id == video.id
    page.goto(f"{gw.root_url}/admin/webhooks")
    expect(page.locator("tr", has_text=video.id).locator(".badge.delivered")).to_have_count(1)
    page.screenshot(path=str(artifacts_dir / "ui-webhooks.png"))
