"""A gateway with a known admin token and headless Debian Chromium (via Playwright)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.server import GatewayProcess

ADMIN_TOKEN = "rg-admin-ui-tests-token"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture(scope="package")
def ui_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    gw = GatewayProcess(tmp_path_factory.mktemp("ui"), env={
        "REELGATE_ADMIN_TOKEN": ADMIN_TOKEN,
        "REELGATE_RENDER_CONCURRENCY": "2",
        "REELGATE_WEBHOOK_MAX_AGE_SECONDS": "2",
        "REELGATE_WEBHOOK_BACKOFF_BASE_SECONDS": "0.2",
        "REELGATE_WEBHOOK_BACKOFF_MAX_SECONDS": "0.5",
        "REELGATE_ADMIN_LOGIN_PER_MINUTE": "1000",  # these tests sign in often
    })
    gw.start()
    yield gw
    gw.stop()


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    tab = context.new_page()
    yield tab
    context.close()


def wait_js(page: Page, expression: str, timeout: float = 30.0) -> None:
    """Poll a JS expression until truthy.

    ``page.wait_for_function`` evaluates its predicate with ``eval`` inside the page,
    which the UI's Content-Security-Policy (rightly) forbids; ``page.evaluate`` runs
    through the DevTools protocol and is not subject to it.
    """
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"{expression!r} still false after {timeout}s")
        page.wait_for_timeout(100)


def sign_in(page: Page, gw: GatewayProcess, target: str = "/admin/jobs") -> None:
    page.goto(f"{gw.root_url}{target}")
    page.fill("input[name=token]", ADMIN_TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{target}*")


@pytest.fixture(scope="package")
def console_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """A gateway of the console tests' own: they add real channels, which retires the
    local one that the other UI tests render on."""
    gw = GatewayProcess(tmp_path_factory.mktemp("console"), env={
        "REELGATE_ADMIN_TOKEN": ADMIN_TOKEN,
        "REELGATE_ADMIN_LOGIN_PER_MINUTE": "1000",
        "REELGATE_WEBHOOK_BACKOFF_BASE_SECONDS": "0.2",
        "REELGATE_WEBHOOK_BACKOFF_MAX_SECONDS": "0.5",
    })
    gw.start()
    yield gw
    gw.stop()
