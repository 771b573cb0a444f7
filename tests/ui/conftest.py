"""Browser tests of the admin pages (issue #7): a real `hookhub serve` subprocess, a real receiver
on 127.0.0.1, and Debian's Chromium driven by Playwright.

Chromium is `/usr/bin/chromium` (`.ci/run` installs Debian's `chromium` package) or the path in
`HOOKHUB_TEST_CHROMIUM`; without it these tests skip, saying so. Screenshots go to
`test-artifacts/` (or `HOOKHUB_TEST_ARTIFACTS`), one per page and width, named after the test
and the page: `shoot(page, request, "list")` writes `<test>-list-desktop.png` and
`<test>-list-phone.png`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ADMIN_PASS, ADMIN_USERNAME, OUTGOING_ENV, Server, serving
from tests.e2e.receiver import Receiver

CHROMIUM = Path(os.environ.get("HOOKHUB_TEST_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("HOOKHUB_TEST_ARTIFACTS", "test-artifacts"))
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}
# What the machine's closed network needs: no background connections, no sandbox as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Playwright waits this long for an element or a page by default (ms): generous for slow CI.
TIMEOUT_MS = 15_000

__all__ = ["ADMIN_PASS", "ADMIN_USERNAME", "open_page", "shoot"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one module. Playwright's sync API keeps an asyncio loop running in this
    thread while it is open, which the asyncio tests and `asyncio.run` of other modules cannot
    share: it must end with the module."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set HOOKHUB_TEST_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server per test module; tests create what they need under names of their own."""
    with serving(tmp_path_factory.mktemp("ui") / "data", **OUTGOING_ENV) as running:
        yield running


@pytest.fixture
def page(browser: Any, ui_server: Server) -> Iterator[Any]:
    """A fresh browser context (no session) at desktop width, on the server's /admin/."""
    context = browser.new_context(viewport=DESKTOP, base_url=ui_server.base_url)
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    console_errors: list[str] = []
    opened.on("pageerror", lambda error: console_errors.append(str(error)))
    try:
        yield opened
    finally:
        context.close()
    # an uncaught script error is a defect even when the test's assertions passed
    assert console_errors == [], console_errors


@pytest.fixture(scope="module")
def rest(ui_server: Server) -> Iterator[httpx.Client]:
    """An admin REST client of the UI server (X-User-Id / X-Auth-Token headers set)."""
    with httpx.Client(base_url=ui_server.base_url + "/api/v1/", timeout=10.0, trust_env=False) as client:
        r = client.post("login", json={"user": ADMIN_USERNAME, "password": ADMIN_PASS})
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        client.headers.update({"X-User-Id": data["userId"], "X-Auth-Token": data["authToken"]})
        yield client


def open_page(page: Any, rest: httpx.Client, route: str) -> None:
    """Open `/admin/#<route>` logged in as the admin (the REST session put where api.js reads it)."""
    session = {
        "userId": rest.headers["X-User-Id"],
        "authToken": rest.headers["X-Auth-Token"],
        "username": ADMIN_USERNAME,
    }
    page.goto("/admin/")
    page.evaluate("s => sessionStorage.setItem('hookhub.session', JSON.stringify(s))", session)
    page.goto(f"/admin/#{route}")


def shoot(page: Any, request: pytest.FixtureRequest, label: str) -> None:
    """Screenshots of the current page at desktop and phone width, for a human to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    test = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    size = page.viewport_size
    for width_name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.screenshot(path=str(ARTIFACTS / f"{test}-{label}-{width_name}.png"), full_page=True)
    if size:
        page.set_viewport_size(size)
