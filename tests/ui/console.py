"""Helpers for the console tests: screenshots at two widths, the admin API, fakes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.support.server import GatewayProcess
from tests.ui.conftest import ADMIN_TOKEN

#: git-ignored (test-artifacts/); look at them after a run
SHOTS = Path(__file__).parent.parent.parent / "test-artifacts" / "console"
WIDE, NARROW = 1400, 800


def shoot(page: Page, name: str) -> None:
    """The whole page at 1400 px and at 800 px wide (the viewport is put back)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size or {"width": 1440, "height": 1000}
    for width in (WIDE, NARROW):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size(size)


def no_overflow(page: Page) -> None:
    """Nothing sticks out sideways: the page is no wider than the window."""
    for width in (WIDE, NARROW):
        page.set_viewport_size({"width": width, "height": 900})
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, f"{page.url} is {wide} px wide in a {width} px window"
    page.set_viewport_size({"width": 1440, "height": 1000})


def admin_api(gw: GatewayProcess) -> httpx.Client:
    return httpx.Client(base_url=f"{gw.root_url}/admin/api", timeout=30,
                        headers={"authorization": f"Bearer {ADMIN_TOKEN}"})


def ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, (response.status_code, response.text)
    return response.json()


def said(page: Page, text: str) -> None:
    """The page that answered the last form says ``text`` (waits for it to load)."""
    expect(page.locator("p.notice")).to_contain_text(text)


def query_id(url: str, name: str) -> str:
    found = re.search(rf"[?&]{name}=([^&]+)", url)
    assert found is not None, url
    return found.group(1)
