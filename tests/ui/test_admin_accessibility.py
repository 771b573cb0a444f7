"""The admin pages without a mouse, and for assistive technology: a keyboard alone logs in and
reaches every page, and every form control on every page has an accessible name."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Client, Server
from tests.ui.conftest import ADMIN_PASS, ADMIN_USERNAME, shoot

# Controls the page shows that no label, aria-label or aria-labelledby names.
UNNAMED_CONTROLS = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter((el) => el.offsetParent !== null && el.type !== 'hidden')
  .filter((el) => !(el.labels && el.labels.length)
    && !el.getAttribute('aria-label')
    && !el.getAttribute('aria-labelledby')
    && !(el.tagName === 'BUTTON' && el.textContent.trim()))
  .map((el) => el.outerHTML.slice(0, 120))"""


@pytest.fixture(scope="module")
def outgoing_id(ui_server: Server) -> str:
    with Client(ui_server.base_url) as admin:
        admin.login(ADMIN_USERNAME, ADMIN_PASS)
        r = admin.post(
            "integrations.create",
            type="webhook-outgoing",
            name="a11y outgoing",
            enabled=True,
            username="rocket.cat",
            urls=["http://127.0.0.1:9/never"],
            scriptEnabled=False,
            channel="#general",
            event="sendMessage",
            token="a11y-token",
        )
        assert r.status_code == 200, r.text
        return str(r.json()["integration"]["_id"])


def test_a_keyboard_alone_logs_in_and_opens_a_new_webhook_form(page: Page, request: Any) -> None:
    page.goto("/admin/")
    user = page.get_by_label("Username or email")
    expect(user).to_be_visible()
    user.focus()
    page.keyboard.type(ADMIN_USERNAME)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(ADMIN_PASS)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1, name="Integrations")).to_be_visible()
    # Tab through the page until the link to the new incoming webhook form has the focus
    link = page.get_by_role("link", name="New incoming webhook")
    for _ in range(30):
        page.keyboard.press("Tab")
        if link.evaluate("el => el === document.activeElement"):
            break
    expect(link).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Name", exact=True)).to_be_visible()
    shoot(page, request, "keyboard-incoming-form")


@pytest.mark.parametrize(
    "route",
    [
        "/login",
        "/integrations",
        "/integrations/new/incoming",
        "/integrations/new/outgoing",
        "EDIT",
        "HISTORY",
    ],
)
def test_every_control_has_an_accessible_name(page: Page, outgoing_id: str, route: str) -> None:
    if route != "/login":
        page.goto("/admin/")
        page.get_by_label("Username or email").fill(ADMIN_USERNAME)
        page.get_by_label("Password").fill(ADMIN_PASS)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", level=1, name="Integrations")).to_be_visible()
    route = {"EDIT": f"/integrations/{outgoing_id}", "HISTORY": f"/integrations/{outgoing_id}/history"}.get(
        route, route
    )
    page.goto(f"/admin/#{route}")
    page.locator("main h1").first.wait_for()
    page.wait_for_load_state("networkidle")
    assert page.evaluate(UNNAMED_CONTROLS) == []
