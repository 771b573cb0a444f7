"""The main admin pages (issue #7) in a real browser: login, the integrations list, the incoming and
outgoing forms, the not-allowed page, delete with confirmation and logout.

Each test creates what it needs under names of its own (the server is shared by the module)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Client, Server
from tests.e2e.receiver import Receiver
from tests.ui.conftest import ADMIN_PASS, ADMIN_USERNAME, PHONE, shoot

DASH = "\N{EN DASH}"
COUNT_RE = re.compile(r"Messages in #[\w.-]+: (\d+)")


def showing(first: int, last: int, total: int) -> str:
    """The list's paging text, "Showing 1\N{EN DASH}25 of 30"."""
    return f"Showing {first}{DASH}{last} of {total}"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def admin(ui_server: Server) -> Iterator[Client]:
    """A REST client logged in as the administrator."""
    with Client(ui_server.base_url) as client:
        client.login(ADMIN_USERNAME, ADMIN_PASS)
        yield client


def create_channel(admin: Client, name: str) -> None:
    r = admin.post("channels.create", name=name)
    assert r.status_code == 200, r.text


def create_incoming(admin: Client, name: str, channel: str = "#general") -> dict[str, Any]:
    r = admin.post(
        "integrations.create",
        type="webhook-incoming",
        name=name,
        enabled=True,
        username=ADMIN_USERNAME,
        channel=channel,
        scriptEnabled=False,
    )
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()["integration"]
    return doc


def log_in(page: Page, user: str = ADMIN_USERNAME, password: str = ADMIN_PASS) -> None:
    page.goto("/admin/")
    page.get_by_label("Username or email").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def expect_login_form(page: Page) -> None:
    expect(page.get_by_role("heading", level=1, name="Log in")).to_be_visible()
    expect(page.get_by_label("Username or email")).to_be_visible()
    expect(page.get_by_label("Password")).to_be_visible()


def assert_fits_phone(page: Page) -> None:
    """At 360 px the page itself never scrolls sideways (wide tables scroll inside their wrapper)."""
    size = page.viewport_size
    page.set_viewport_size(PHONE)
    try:
        widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1], f"page scrolls sideways at phone width: {widths}"
    finally:
        if size:
            page.set_viewport_size(size)


def message_count(page: Page) -> int:
    status = page.get_by_text(COUNT_RE)
    expect(status).to_be_visible()
    found = COUNT_RE.search(status.inner_text())
    assert found, status.inner_text()
    return int(found.group(1))


def wait_until(condition: Any, timeout: float = 15.0, what: str = "condition") -> None:
    """Poll `condition()` until true, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(0.1)


def test_login_rejects_a_wrong_password_then_shows_the_integrations_list(
    page: Page, request: pytest.FixtureRequest
) -> None:
    page.goto("/admin/")
    expect_login_form(page)
    shoot(page, request, "login")
    page.get_by_label("Username or email").fill(ADMIN_USERNAME)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    expect(page.locator("#account")).to_be_hidden()

    page.get_by_label("Password").fill(ADMIN_PASS)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1, name="Integrations")).to_be_visible()
    expect(page).to_have_url(re.compile(r"#/integrations$"))
    expect(page.locator("#account-name")).to_have_text(ADMIN_USERNAME)
    expect(page.locator("#account")).to_be_visible()
    expect(page.get_by_role("link", name="New incoming webhook")).to_be_visible()
    expect(page.get_by_role("link", name="New outgoing webhook")).to_be_visible()
    shoot(page, request, "list")
    assert_fits_phone(page)


def test_incoming_webhook_created_in_the_form_shows_its_url_and_counts_posted_messages(
    page: Page, request: pytest.FixtureRequest, admin: Client, ui_server: Server
) -> None:
    channel = unique("ui-in")
    create_channel(admin, channel)
    name = unique("incoming")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in(page)
    page.get_by_role("link", name="New incoming webhook").click()
    expect(page.get_by_role("heading", level=1, name="New incoming webhook")).to_be_visible()
    page.get_by_label("Name", exact=True).fill(name)
    expect(page.get_by_label("Enabled", exact=True)).to_be_checked()
    page.get_by_label("Post as").fill(ADMIN_USERNAME)
    page.get_by_label("Channel", exact=True).fill(f"#{channel}")
    page.get_by_label("Alias").fill("UI bot")
    page.get_by_label("Emoji").fill(":ghost:")
    expect(page.get_by_label("Avatar URL")).to_be_visible()
    expect(page.get_by_label("Allow the payload to override the channel")).not_to_be_checked()
    expect(page.get_by_label("Script enabled")).not_to_be_checked()
    expect(page.get_by_label("Script", exact=True)).to_be_visible()
    page.get_by_role("button", name="Save").click()

    url_input = page.get_by_label("Webhook URL")
    expect(url_input).to_have_value(re.compile(rf"^{re.escape(ui_server.base_url)}/hooks/[^/]+/[^/]+$"))
    expect(url_input).to_have_attribute("readonly", "")
    expect(page.get_by_role("status").filter(has_text=f"Saved {name}.")).to_be_visible()
    hook_url = url_input.input_value()
    expect(page.get_by_role("heading", name="curl example")).to_be_visible()
    expect(page.locator("pre")).to_contain_text(hook_url)
    page.get_by_role("button", name="Copy URL").click()
    expect(page.get_by_text("Copied", exact=True)).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == hook_url
    shoot(page, request, "incoming-form")
    assert_fits_phone(page)

    before = message_count(page)
    for text in ("first from the test", "second from the test"):
        r = httpx.post(hook_url, json={"text": text}, trust_env=False, timeout=10.0)
        assert r.status_code == 200, r.text
    page.get_by_role("button", name="Refresh count").click()
    expect(page.get_by_text(f"Messages in #{channel}: {before + 2}")).to_be_visible()

    page.get_by_role("button", name="Send test message").click()
    expect(page.get_by_text("Test message sent.")).to_be_visible()
    expect(page.get_by_text(f"Messages in #{channel}: {before + 3}")).to_be_visible()
    history = admin.get("channels.history", roomName=channel, count=1).json()
    assert history["messages"][0]["msg"] == "Test message from hookhub"

    # the saved settings come back when the page is opened again
    page.reload()
    expect(page.get_by_label("Alias")).to_have_value("UI bot")
    expect(page.get_by_label("Channel", exact=True)).to_have_value(f"#{channel}")


def test_outgoing_webhook_created_in_the_form_delivers_and_the_list_shows_the_delivery(
    page: Page, request: pytest.FixtureRequest, admin: Client, receiver: Receiver
) -> None:
    channel = unique("ui-out")
    create_channel(admin, channel)
    name = unique("outgoing")
    log_in(page)
    page.get_by_role("link", name="New outgoing webhook").click()
    expect(page.get_by_role("heading", level=1, name="New outgoing webhook")).to_be_visible()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Event").select_option("sendMessage")
    page.get_by_label("Channel", exact=True).fill(f"#{channel}")
    page.get_by_label("URLs").fill(receiver.url("/ui"))
    page.get_by_label("Token").fill("ui-token")
    page.get_by_label("Post as").fill(ADMIN_USERNAME)
    for label in ("Impersonate user", "Run on edits", "Retry failed calls", "Script enabled"):
        expect(page.get_by_label(label)).not_to_be_checked()
    expect(page.get_by_label("Retry count")).to_be_visible()
    page.get_by_label("Retry delay").select_option("powers-of-two")
    expect(page.get_by_label("Target room")).to_be_visible()
    expect(page.get_by_label("Trigger words")).to_be_visible()
    page.get_by_role("button", name="Save").click()

    secret = page.get_by_label("Signing secret")
    expect(secret).to_have_value(re.compile(r".+"))
    expect(page.get_by_role("link", name="History")).to_be_visible()
    expect(page.get_by_label("Retry delay")).to_have_value("powers-of-two")
    shoot(page, request, "outgoing-form")
    assert_fits_phone(page)
    integration_id = page.url.rsplit("/", 1)[1]

    r = admin.post("chat.postMessage", channel=f"#{channel}", text="hello from the ui test")
    assert r.status_code == 200, r.text
    got = receiver.wait_count("/ui", 1)
    assert got[0].json()["text"] == "hello from the ui test"
    assert got[0].json()["token"] == "ui-token"

    def delivered() -> bool:
        entries = admin.get("integrations.history", id=integration_id, count=1).json()["history"]
        return bool(entries) and entries[0]["step"] == "after-http-call"

    wait_until(delivered, what="history entry after-http-call")
    page.get_by_role("link", name="Back to integrations").click()
    page.get_by_label("Filter by name").fill(name)
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=name))
    expect(page.get_by_role("row")).to_have_count(2)  # header and the one match
    expect(row.get_by_role("cell").nth(1)).to_have_text("Outgoing")
    expect(row.get_by_role("cell").nth(2)).to_have_text("Yes")
    expect(row.get_by_role("cell").nth(3)).to_have_text(f"#{channel}")
    expect(row.get_by_role("cell").nth(4)).to_have_text(ADMIN_USERNAME)
    expect(row.get_by_role("cell").nth(5)).to_have_text("delivered")

    page.get_by_role("link", name=name).click()
    page.get_by_role("link", name="History").click()
    expect(page.get_by_role("heading", level=1, name=f"History: {name}")).to_be_visible()
    expect(page.get_by_role("link", name="Back to the integration")).to_be_visible()


def test_user_without_integration_permissions_sees_not_allowed(
    page: Page, request: pytest.FixtureRequest, admin: Client
) -> None:
    username = unique("plain")
    r = admin.post(
        "users.create",
        username=username,
        email=f"{username}@example.com",
        password="Plain-pass-1",
        name="Plain",
    )
    assert r.status_code == 200, r.text
    log_in(page, username, "Plain-pass-1")
    expect(page.get_by_role("heading", level=1, name="Not allowed")).to_be_visible()
    expect(page.get_by_text("manage-incoming-integrations")).to_be_visible()
    expect(page.locator("#account-name")).to_have_text(username)
    expect(page.get_by_role("table")).to_have_count(0)
    shoot(page, request, "not-allowed")


def test_filters_by_name_and_type_and_pages_through_more_than_25(
    page: Page, request: pytest.FixtureRequest, admin: Client
) -> None:
    prefix = unique("paging")
    for number in range(27):
        create_incoming(admin, f"{prefix}-in-{number:02d}")
    r = admin.post(
        "integrations.create",
        type="webhook-outgoing",
        name=f"{prefix}-out",
        enabled=False,
        username=ADMIN_USERNAME,
        channel="#general",
        event="sendMessage",
        urls=["http://127.0.0.1:9/never"],
        scriptEnabled=False,
    )
    assert r.status_code == 200, r.text
    total = admin.get("integrations.list", count=1).json()["total"]
    assert total >= 28

    log_in(page)
    expect(page.get_by_text(showing(1, 25, total))).to_be_visible()
    page.get_by_label("Filter by name").fill(prefix)
    expect(page.get_by_text(showing(1, 25, 28))).to_be_visible()
    expect(page.get_by_role("row")).to_have_count(26)
    shoot(page, request, "list")
    assert_fits_phone(page)
    expect(page.get_by_role("button", name="Previous")).to_be_disabled()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text(showing(26, 28, 28))).to_be_visible()
    expect(page.get_by_role("row")).to_have_count(4)
    expect(page.get_by_role("button", name="Next")).to_be_disabled()
    page.get_by_role("button", name="Previous").click()
    expect(page.get_by_text(showing(1, 25, 28))).to_be_visible()

    page.get_by_label("Type").select_option(label="Outgoing")
    expect(page.get_by_text(showing(1, 1, 1))).to_be_visible()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=f"{prefix}-out"))
    expect(row.get_by_role("cell").nth(2)).to_have_text("No")
    expect(row.get_by_role("cell").nth(5)).to_have_text("—")  # never delivered
    page.get_by_label("Type").select_option(label="Incoming")
    expect(page.get_by_text(showing(1, 25, 27))).to_be_visible()
    page.get_by_label("Filter by name").fill(f"{prefix}-in-1")
    expect(page.get_by_text(showing(1, 10, 10))).to_be_visible()
    page.get_by_label("Type").select_option(label="All")
    page.get_by_label("Filter by name").fill(unique("nothing"))
    expect(page.get_by_text("No integration matches these filters.")).to_be_visible()


def test_delete_asks_for_confirmation_cancel_keeps_and_delete_removes(
    page: Page, request: pytest.FixtureRequest, admin: Client
) -> None:
    name = unique("doomed")
    doc = create_incoming(admin, name)
    log_in(page)
    expect(page.get_by_role("heading", level=1, name="Integrations")).to_be_visible()
    page.goto(f"/admin/#/integrations/{doc['_id']}")
    expect(page.get_by_role("heading", level=1, name=f"Incoming webhook: {name}")).to_be_visible()
    expect(page.get_by_label("Webhook URL")).to_have_value(
        re.compile(rf"/hooks/{doc['_id']}/{doc['token']}$")
    )

    page.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete integration?")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    assert dialog.evaluate("d => d.matches(':modal')"), "the confirmation must be modal"
    shoot(page, request, "delete-dialog")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    assert admin.get("integrations.get", integrationId=doc["_id"]).status_code == 200

    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", level=1, name="Integrations")).to_be_visible()
    expect(page.get_by_text(f"Deleted {name}")).to_be_visible()
    r = admin.get("integrations.get", integrationId=doc["_id"])
    assert r.status_code == 400 and r.json()["error"] == "The integration does not exists."


def test_server_errors_are_shown_in_plain_words_near_the_form(page: Page, admin: Client) -> None:
    log_in(page)
    page.get_by_role("link", name="New incoming webhook").click()
    page.get_by_label("Name", exact=True).fill(unique("broken"))
    page.get_by_label("Post as").fill(ADMIN_USERNAME)
    page.get_by_label("Channel", exact=True).fill(f"#{unique('no-such-room')}")
    page.get_by_role("button", name="Save").click()
    alert = page.get_by_role("alert").filter(has_text=re.compile(r"\S"))
    expect(alert).to_have_count(1)
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("Invalid room")
    expect(page.get_by_role("button", name="Save")).to_be_enabled()
    expect(page.get_by_role("heading", level=1, name="New incoming webhook")).to_be_visible()


def test_logout_returns_to_login_and_pages_need_a_session_again(page: Page, ui_server: Server) -> None:
    log_in(page)
    expect(page.get_by_role("heading", level=1, name="Integrations")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect_login_form(page)
    expect(page.locator("#account")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('hookhub.session')") is None

    calls: list[str] = []
    page.on("request", lambda req: calls.append(req.url) if "/api/v1/" in req.url else None)
    page.goto("/admin/#/integrations")
    page.reload()
    expect_login_form(page)
    page.goto("/admin/#/integrations/new/outgoing")
    expect_login_form(page)
    assert calls == [], calls  # nothing is fetched without a session

    # a session the server no longer accepts (logged out elsewhere) also leads to the login form
    log_in(page)
    expect(page.get_by_role("heading", level=1, name="Integrations")).to_be_visible()
    stored = page.evaluate("JSON.parse(sessionStorage.getItem('hookhub.session'))")
    r = httpx.post(
        f"{ui_server.base_url}/api/v1/logout",
        headers={"X-User-Id": stored["userId"], "X-Auth-Token": stored["authToken"]},
        trust_env=False,
    )
    assert r.status_code == 200, r.text
    page.get_by_role("link", name="New outgoing webhook").click()
    page.get_by_role("link", name="Back to integrations").click()
    expect_login_form(page)


def test_saved_script_compile_error_is_shown_in_the_editor(page: Page, admin: Client) -> None:
    r = admin.post(
        "integrations.create",
        type="webhook-incoming",
        name=unique("bad-script"),
        enabled=True,
        username=ADMIN_USERNAME,
        channel="#general",
        scriptEnabled=True,
        script="class Script {\n  process_incoming_request() {\n    return {;\n  }\n}\n",
    )
    assert r.status_code == 200, r.text
    doc = r.json()["integration"]
    assert doc["scriptError"]["name"] == "SyntaxError"
    log_in(page)
    expect(page.get_by_role("heading", level=1, name="Integrations")).to_be_visible()
    page.goto(f"/admin/#/integrations/{doc['_id']}")
    expect(page.get_by_label("Script enabled")).to_be_checked()
    expect(page.get_by_role("alert").filter(has_text="SyntaxError")).to_be_visible()
