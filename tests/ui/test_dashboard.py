"""The dashboard in headless Chromium: 20,000 synthetic jobs over 30 days, each window's
charts drawn with axes, legends and bars, the same numbers as ``/admin/api/dashboard``;
and a job run by the real worker shows up on the page.

Screenshots go to test-artifacts/ (gitignored): ui-dashboard-24h.png, -7d, -30d.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from playwright.sync_api import Page, expect

from reelgate.store.db import Database
from reelgate.store.migrate import upgrade
from tests.integration.helpers import wait_done
from tests.support.server import TEST_DATABASE, GatewayProcess
from tests.support.synthetic import CHANNELS, Synthetic, load_sqlite
from tests.ui.conftest import ADMIN_TOKEN, sign_in

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(TEST_DATABASE == "postgres",
                                 reason="browser tests run on the SQLite pass only")]

CHARTS = ("jobs", "durations", "channels", "spend", "queue")


@pytest.fixture(scope="module")
def seeded_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """A gateway (no worker: the synthetic channels lead nowhere) on a seeded database."""
    data_dir = tmp_path_factory.mktemp("dashboard")
    path = data_dir / "seeded.sqlite"
    url = f"sqlite+aiosqlite:///{path}"

    async def migrate() -> None:
        db = Database(url)
        try:
            await upgrade(db)
        finally:
            await db.dispose()

    # a thread of its own: Playwright's sync API keeps an event loop running here
    migrating = threading.Thread(target=lambda: asyncio.run(migrate()))
    migrating.start()
    migrating.join()
    load_sqlite(str(path), Synthetic(20_000, end=time.time(), days=30))
    gw = GatewayProcess(data_dir, env={"REELGATE_DATABASE_URL": url,
                                       "REELGATE_ADMIN_TOKEN": ADMIN_TOKEN},
                        args=("--no-worker",))
    gw.start()
    yield gw
    gw.stop()


def board(gw: GatewayProcess, window: str) -> httpx.Response:
    return httpx.get(f"{gw.root_url}/admin/api/dashboard", params={"window": window},
                     headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60)


def _number(text: str) -> int:
    return int(re.sub(r"[^\d]", "", text))


def _check_charts(page: Page, data: dict[str, Any]) -> None:
    for kind in CHARTS:
        svg = page.locator(f"svg[data-chart={kind}]")
        expect(svg).to_be_visible()
        assert svg.locator("text.tick").count() >= 3, kind  # an axis with values
    legend = page.locator("svg[data-chart=jobs] .legend-item")
    expect(legend).to_have_text(["completed", "failed"])
    expect(page.locator("svg[data-chart=durations] .legend-item")).to_have_text(["p50", "p95"])
    expect(page.locator("svg[data-chart=channels] .legend-item")).to_have_text(
        ["failed", "refunded"])
    spenders = [t["tenant"] for t in data["spend"]["tenants"]]
    expect(page.locator("svg[data-chart=spend] .legend-item")).to_have_text(spenders)
    drawn = sum(1 for v in data["jobs"]["series"]["completed"] if v)
    assert page.locator("svg[data-chart=jobs] rect.mark[data-series=completed]").count() == drawn
    models = page.locator("svg[data-chart=durations] text.category").all_text_contents()
    assert models == [d["model"] for d in data["durations"]]
    channels = page.locator("svg[data-chart=channels] text.category").all_text_contents()
    assert channels == [c["channel"] for c in data["channels"]]
    peaks = sum(1 for v in data["queue"]["peak"] if v)
    assert page.locator("svg[data-chart=queue] rect.mark").count() == peaks
    ended = sum(map(sum, data["jobs"]["series"].values()))
    assert _number(page.locator("#stat-ended").inner_text()) == ended
    assert _number(page.locator("#stat-waiting").inner_text()) == data["queue"]["waiting_now"]


def test_every_window_charts_what_the_api_returns(page: Page, seeded_gateway: GatewayProcess,
                                                  artifacts_dir: Path) -> None:
    gw = seeded_gateway
    sign_in(page, gw)
    page.click("nav >> text=Dashboard")
    expect(page).to_have_url(re.compile(r"/admin/dashboard$"))
    expect(page.locator("nav a.active")).to_have_text("Dashboard")
    for window, label in (("24h", "24 hours"), ("7d", "7 days"), ("30d", "30 days")):
        if window != "24h":
            page.click(f".segmented >> text={label}")
            expect(page).to_have_url(re.compile(f"window={window}$"))
        expect(page.locator(".segmented a.active")).to_have_text(label)
        resp = board(gw, window)
        assert resp.status_code == 200, resp.text
        data = resp.json()
        assert data["object"] == "admin.dashboard" and data["window"] == window
        _check_charts(page, data)
        page.screenshot(path=str(artifacts_dir / f"ui-dashboard-{window}.png"), full_page=True)
    names = {c.name for c in CHANNELS}
    assert names <= {c["channel"] for c in data["channels"]}
    assert sum(d["jobs"] for d in data["durations"]) == sum(data["jobs"]["series"]["completed"])


def test_bad_window_and_no_token(seeded_gateway: GatewayProcess) -> None:
    bad = board(seeded_gateway, "1y")
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "window"
    anonymous = httpx.get(f"{seeded_gateway.root_url}/admin/api/dashboard", timeout=10)
    assert anonymous.status_code == 401


def test_a_job_the_worker_ran_is_on_the_page(page: Page, ui_gateway: GatewayProcess) -> None:
    gw = ui_gateway
    client = openai.OpenAI(api_key=gw.create_key("dash", tenant="dash-tenant"),
                           base_url=gw.base_url, max_retries=0)
    video = client.videos.create(model="sora-2", prompt="a lighthouse at dusk", seconds="4")
    assert wait_done(client, video.id).status == "completed"
    data = board(gw, "24h").json()
    assert sum(data["jobs"]["series"]["completed"]) >= 1
    assert "sora-2" in [d["model"] for d in data["durations"]]
    assert sum(t["total_micros"] for t in data["spend"]["tenants"]) > 0
    sign_in(page, gw, "/admin/dashboard")
    expect(page.locator("#chart-durations table")).to_contain_text("sora-2")
