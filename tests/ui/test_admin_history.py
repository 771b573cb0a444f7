"""The history viewer of an outgoing integration (issue #7), in Chromium, on the real page
`#/integrations/<id>/history`: a delivery to a real receiver on 127.0.0.1 appears by live refresh,
its details show the request and the receiver's answer (and stay open across refreshes), Replay
sends the request again, and "Clear history" asks first (Cancel keeps, Clear empties)."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.receiver import Answer, Receiver
from tests.ui.conftest import open_page, shoot

DASH = "\N{EN DASH}"  # the summary says "Attempts 1<en dash>25 of 27"


def create_outgoing(rest: httpx.Client, name: str, url: str, trigger: str) -> dict[str, Any]:
    r = rest.post(
        "integrations.create",
        json={
            "type": "webhook-outgoing",
            "name": name,
            "enabled": True,
            "username": "rocket.cat",
            "urls": [url],
            "scriptEnabled": False,
            "channel": "#general",
            "event": "sendMessage",
            "triggerWords": [trigger],
            "token": "ui-history-token",
        },
    )
    assert r.status_code == 200, r.text
    integration: dict[str, Any] = r.json()["integration"]
    return integration


def history_total(rest: httpx.Client, integration_id: str) -> int:
    r = rest.get("integrations.history", params={"id": integration_id})
    assert r.status_code == 200, r.text
    return int(r.json()["total"])


def test_history_live_details_replay_and_clear(
    page: Any, rest: httpx.Client, receiver: Receiver, request: pytest.FixtureRequest
) -> None:
    receiver.script("/hist", Answer(body=b'{"received": "yes"}'))
    integration = create_outgoing(rest, "ui history", receiver.url("/hist"), "histtrigger")
    open_page(page, rest, f"/integrations/{integration['_id']}/history")
    page.get_by_role("heading", level=2, name="History", exact=True).wait_for()
    page.get_by_text("No deliveries recorded yet.").wait_for()
    assert page.get_by_label("Live refresh").is_checked()

    # a delivery after the page opened shows up without a reload
    r = rest.post("chat.postMessage", json={"channel": "#general", "text": "histtrigger hello receiver"})
    assert r.status_code == 200, r.text
    receiver.wait_count("/hist", 1)
    attempts = page.get_by_role("list", name="Delivery attempts").locator(":scope > li")
    attempts.first.get_by_text("Delivered").wait_for()  # the answer was recorded (after-http-call)
    assert attempts.count() == 1
    first = attempts.first
    assert "sendMessage" in first.inner_text()
    assert "after-http-call" in first.inner_text()
    shoot(page, request, "history-list")

    # details: the request sent and the receiver's answer
    toggle = first.get_by_role("button", name="Details")
    assert toggle.get_attribute("aria-expanded") == "false"
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true"
    details = first.locator(".hh-attempt-details")
    assert details.is_visible()
    shown = details.inner_text()
    assert receiver.url("/hist") in shown
    assert "histtrigger hello receiver" in shown  # the body sent
    assert '"received": "yes"' in shown  # the receiver's answer
    assert "2xx" in shown
    shoot(page, request, "history-details")

    # open details stay open across live refreshes
    for _ in range(2):
        with page.expect_response(lambda resp: "integrations.history" in resp.url):
            pass
    assert details.is_visible()
    assert toggle.get_attribute("aria-expanded") == "true"

    # replay: a second request reaches the receiver, and a second attempt is listed
    details.get_by_role("button", name="Replay").click()
    page.get_by_role("status").filter(has_text="Replay queued").wait_for()
    received = receiver.wait_count("/hist", 2)
    assert received[1].json()["text"] == "histtrigger hello receiver"
    attempts.nth(1).wait_for()
    assert attempts.count() == 2
    # the replayed attempt is now the older one, its details still open
    assert attempts.nth(1).locator(".hh-attempt-details").is_visible()
    assert not attempts.nth(0).locator(".hh-attempt-details").is_visible()

    # clear: Cancel keeps the history, Clear empties it
    page.get_by_role("button", name="Clear history").click()
    dialog = page.get_by_role("dialog", name="Clear history?")
    dialog.wait_for()
    dialog.get_by_role("button", name="Cancel").click()
    dialog.wait_for(state="hidden")
    assert history_total(rest, integration["_id"]) == 2
    assert attempts.count() == 2

    page.get_by_role("button", name="Clear history").click()
    dialog.get_by_role("button", name="Clear", exact=True).click()
    page.get_by_text("No deliveries recorded yet.").wait_for()
    assert history_total(rest, integration["_id"]) == 0
    assert attempts.count() == 0
    assert page.get_by_role("alert").filter(has_text="could not").count() == 0


def test_history_paging_and_errors_in_plain_words(page: Any, rest: httpx.Client, receiver: Receiver) -> None:
    receiver.script("/hist-pages", Answer())
    integration = create_outgoing(rest, "ui history pages", receiver.url("/hist-pages"), "pagetrigger")
    for n in range(27):
        r = rest.post("chat.postMessage", json={"channel": "#general", "text": f"pagetrigger {n}"})
        assert r.status_code == 200, r.text
    receiver.wait_count("/hist-pages", 27)
    open_page(page, rest, f"/integrations/{integration['_id']}/history")
    page.get_by_label("Live refresh").uncheck()
    summary = page.locator(".hh-history-summary")
    summary.get_by_text(f"Attempts 1{DASH}25 of 27", exact=False).wait_for()
    previous = page.get_by_role("button", name="Previous")
    following = page.get_by_role("button", name="Next")
    assert previous.is_disabled()
    following.click()
    summary.get_by_text(f"Attempts 26{DASH}27 of 27", exact=False).wait_for()
    assert following.is_disabled()
    attempts = page.get_by_role("list", name="Delivery attempts").locator(":scope > li")
    assert attempts.count() == 2
    previous.click()
    summary.get_by_text(f"Attempts 1{DASH}25 of 27", exact=False).wait_for()

    # a server refusal is said in words (the server's own), not thrown
    page.route(
        "**/api/v1/integrations.replayOutgoing",
        lambda route: route.fulfill(
            status=400,
            content_type="application/json",
            body=b'{"success": false, "error": "Invalid Integration History '
            b'[error-invalid-integration-history]"}',
        ),
    )
    attempts.first.get_by_role("button", name="Details").click()
    attempts.first.get_by_role("button", name="Replay").click()
    page.get_by_role("alert").filter(
        has_text="The attempt could not be replayed. Invalid Integration History"
    ).wait_for()


def test_try_it_can_replay_a_recorded_delivery_through_the_script(
    page: Any, rest: httpx.Client, receiver: Receiver, request: pytest.FixtureRequest
) -> None:
    """The try-it panel of an outgoing integration takes its latest recorded request as the
    sample: the script runs against what was really sent, and nothing is sent again."""
    integration = create_outgoing(rest, "ui recorded", receiver.url("/recorded"), "rectrigger")
    script = (
        "class Script { prepare_outgoing_request({request}) {"
        " return {url: request.url, method: 'POST', data: {seen: request.data.text}}; } }"
    )
    r = rest.put(
        "integrations.update",
        json={
            "type": "webhook-outgoing",
            "integrationId": integration["_id"],
            "name": "ui recorded",
            "enabled": True,
            "username": "rocket.cat",
            "urls": [receiver.url("/recorded")],
            "channel": "#general",
            "event": "sendMessage",
            "triggerWords": ["rectrigger"],
            "token": "ui-history-token",
            "scriptEnabled": True,
            "script": script,
        },
    )
    assert r.status_code == 200, r.text
    r = rest.post("chat.postMessage", json={"channel": "#general", "text": "rectrigger from the record"})
    assert r.status_code == 200, r.text
    receiver.wait_count("/recorded", 1)
    # the delivery's record is written after the answer: wait (bounded) until it is listed
    deadline = time.monotonic() + 15
    while history_total(rest, integration["_id"]) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)

    open_page(page, rest, f"/integrations/{integration['_id']}")
    page.get_by_role("button", name="Use the latest recorded request").click()
    sample = page.get_by_label("Sample request (JSON)")
    expect(sample).to_have_value(re.compile("rectrigger from the record"))  # waits for the fetch
    page.get_by_role("button", name="Run script").click()
    result = page.get_by_role("status").filter(has_text='"seen": "rectrigger from the record"')
    result.wait_for()
    shoot(page, request, "try-it-recorded")
    assert len(receiver.at("/recorded")) == 1  # the dry run sent nothing
