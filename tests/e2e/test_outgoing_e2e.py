"""Outgoing webhooks against the real server process and real HTTP receivers on 127.0.0.1
(webhook-runtime.md §3, §5; issue #5): payloads, signatures, replies, 410/500, the retry
schedule, network errors, history, and deliveries surviving a SIGKILL."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.e2e.conftest import (
    ADMIN_PASS,
    ADMIN_USERNAME,
    OUTGOING_ENV,
    Client,
    Server,
    free_port,
    start_server,
)
from tests.e2e.receiver import Answer, Received, Receiver

USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/41.0.2227.0 Safari/537.36"
)


@pytest.fixture(scope="module")
def admin(outgoing_server: Server) -> Iterator[Client]:
    with Client(outgoing_server.base_url) as client:
        client.login(ADMIN_USERNAME, ADMIN_PASS)
        yield client


def create_outgoing(admin: Client, url: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "webhook-outgoing",
        "name": "e2e outgoing",
        "enabled": True,
        "username": "rocket.cat",
        "urls": [url],
        "scriptEnabled": False,
        "channel": "#general",
        "event": "sendMessage",
        "token": "e2e-token",
        **fields,
    }
    r = admin.post("integrations.create", **body)
    assert r.status_code == 200, r.text
    integration: dict[str, Any] = r.json()["integration"]
    return integration


def say(admin: Client, text: str, channel: str = "#general") -> dict[str, Any]:
    r = admin.post("chat.postMessage", channel=channel, text=text)
    assert r.status_code == 200, r.text
    message: dict[str, Any] = r.json()["message"]
    return message


def history(admin: Client, integration: dict[str, Any]) -> list[dict[str, Any]]:
    r = admin.get("integrations.history", id=integration["_id"], count=100, sort='{"_createdAt": 1}')
    assert r.status_code == 200, r.text
    records: list[dict[str, Any]] = r.json()["history"]
    return records


def wait_history(
    admin: Client, integration: dict[str, Any], steps: list[str], timeout: float = 15.0
) -> list[dict[str, Any]]:
    """Wait until the integration's history records end in `steps` (oldest first)."""
    deadline = time.monotonic() + timeout
    while True:
        records = history(admin, integration)
        if [r["step"] for r in records] == steps:
            return records
        if time.monotonic() > deadline:
            raise AssertionError(f"history steps {[r['step'] for r in records]} != {steps}")
        time.sleep(0.05)


def texts(admin: Client) -> list[dict[str, Any]]:
    r = admin.get("channels.messages", roomId="GENERAL", count=50)
    assert r.status_code == 200, r.text
    messages: list[dict[str, Any]] = r.json()["messages"]
    return messages


def test_a_trigger_word_message_is_delivered_with_its_payload_and_a_signature(
    outgoing_server: Server, admin: Client, receiver: Receiver
) -> None:
    integration = create_outgoing(admin, receiver.url("/signed"), triggerWords=["deploy"])
    say(admin, "hello, nothing to see")
    message = say(admin, "deploy api to production")
    (request,) = receiver.wait_count("/signed", 1)
    time.sleep(0.3)
    assert len(receiver.at("/signed")) == 1  # the message without the trigger word went nowhere
    data = request.json()
    assert data == {
        "token": "e2e-token",
        "bot": False,
        "trigger_word": "deploy",
        "channel_id": "GENERAL",
        "channel_name": "general",
        "message_id": message["_id"],
        "timestamp": message["ts"],
        "user_id": message["u"]["_id"],
        "user_name": ADMIN_USERNAME,
        "text": "deploy api to production",
        "siteUrl": data["siteUrl"],
    }
    assert request.method == "POST"
    assert request.headers["content-type"].startswith("application/json")
    assert request.headers["user-agent"] == USER_AGENT
    # Standard Webhooks, verified with the reference implementation
    Webhook(integration["signingSecret"]).verify(request.body, request.headers)
    assert wait_history(
        admin,
        integration,
        ["after-http-call"],
    )[0]["url"] == receiver.url("/signed")


def test_a_reply_is_posted_back_as_the_integration_user_and_does_not_loop(
    outgoing_server: Server, admin: Client, receiver: Receiver
) -> None:
    receiver.script("/reply", Answer(body=b'{"text": "deployed by the bot"}'))
    integration = create_outgoing(
        admin, receiver.url("/reply"), triggerWords=["ship"], triggerWordAnywhere=True
    )
    say(admin, "please ship it (deployed)")
    receiver.wait_count("/reply", 1)
    deadline = time.monotonic() + 10
    while not any(m["msg"] == "deployed by the bot" for m in texts(admin)):
        assert time.monotonic() < deadline, "the reply was not posted"
        time.sleep(0.05)
    reply = next(m for m in texts(admin) if m["msg"] == "deployed by the bot")
    assert reply["u"]["username"] == "rocket.cat"
    assert reply["bot"] == {"i": integration["_id"]}
    records = wait_history(admin, integration, ["url-response-sent-message"])
    assert records[0]["finished"] is True
    time.sleep(0.5)
    assert len(receiver.at("/reply")) == 1  # its own reply never fires it again


def test_410_disables_the_integration(outgoing_server: Server, admin: Client, receiver: Receiver) -> None:
    receiver.script("/gone", Answer(status=410, body=b"gone"))
    integration = create_outgoing(admin, receiver.url("/gone"), triggerWords=["gone-test"])
    say(admin, "gone-test one")
    wait_history(admin, integration, ["after-process-http-status-410"])
    r = admin.get("integrations.get", integrationId=integration["_id"])
    assert r.json()["integration"]["enabled"] is False
    say(admin, "gone-test two")
    time.sleep(0.5)
    assert len(receiver.at("/gone")) == 1


def test_500_with_a_body_is_not_retried(outgoing_server: Server, admin: Client, receiver: Receiver) -> None:
    receiver.script("/boom", Answer(status=500, body=b"boom"))
    integration = create_outgoing(
        admin, receiver.url("/boom"), triggerWords=["boom-test"], retryFailedCalls=True, retryCount=3
    )
    say(admin, "boom-test")
    records = wait_history(admin, integration, ["after-process-http-status-500"])
    assert records[0]["error"] is True
    time.sleep(0.5)
    assert len(receiver.at("/boom")) == 1


def test_failures_are_retried_on_the_schedule_with_one_webhook_id(
    outgoing_server: Server, admin: Client, receiver: Receiver
) -> None:
    receiver.script("/flaky", Answer(status=503, body=b"busy"))
    integration = create_outgoing(
        admin,
        receiver.url("/flaky"),
        triggerWords=["flaky-test"],
        retryFailedCalls=True,
        retryCount=2,
        retryDelay="powers-of-two",
    )
    say(admin, "flaky-test")
    records = wait_history(admin, integration, ["going-to-retry-1", "going-to-retry-2", "too-many-retries"])
    assert all(r["error"] is True for r in records)
    requests = receiver.at("/flaky")
    assert len(requests) == 3
    assert len({r.headers["webhook-id"] for r in requests}) == 1


def test_a_retry_that_succeeds_ends_the_delivery(
    outgoing_server: Server, admin: Client, receiver: Receiver
) -> None:
    receiver.script("/second-time", Answer(status=502, body=b"bad gateway"), Answer(body=b'{"ok": 1}'))
    integration = create_outgoing(
        admin, receiver.url("/second-time"), triggerWords=["retry-ok"], retryFailedCalls=True, retryCount=4
    )
    say(admin, "retry-ok")
    wait_history(admin, integration, ["going-to-retry-1", "after-http-call"])
    time.sleep(0.3)
    assert [r.status for r in receiver.at("/second-time")] == [502, 200]


def test_connection_errors_are_retried(outgoing_server: Server, admin: Client) -> None:
    closed = f"http://127.0.0.1:{free_port()}/nobody-listens"
    integration = create_outgoing(
        admin, closed, triggerWords=["refused-test"], retryFailedCalls=True, retryCount=1
    )
    say(admin, "refused-test")
    records = wait_history(admin, integration, ["going-to-retry-1", "too-many-retries"])
    assert records[0]["httpError"]


def test_the_egress_guard_refuses_what_is_not_allowed(outgoing_server: Server, admin: Client) -> None:
    integration = create_outgoing(
        admin,
        "http://169.254.169.254/latest/meta-data/",
        triggerWords=["metadata-test"],
        retryFailedCalls=True,
    )
    say(admin, "metadata-test")
    (record,) = wait_history(admin, integration, ["after-http-call"])
    assert "169.254.169.254" in str(record["httpError"])


def test_room_and_user_events_carry_their_payloads(
    outgoing_server: Server, admin: Client, receiver: Receiver
) -> None:
    create_outgoing(admin, receiver.url("/created"), event="roomCreated", channel="", triggerWords=[])
    create_outgoing(admin, receiver.url("/users"), event="userCreated", targetRoom="#general", channel="")
    r = admin.post("channels.create", name="e2e-events")
    assert r.status_code == 200, r.text
    room = r.json()["channel"]
    r = admin.post("users.create", username="eve", email="eve@example.com", password="Eve-pass-1", name="Eve")
    assert r.status_code == 200, r.text
    (created,) = receiver.wait_count("/created", 1)
    data = created.json()
    assert data["channel_id"] == room["_id"] and data["channel_name"] == "e2e-events"
    assert data["user_name"] == ADMIN_USERNAME and data["owner"]["username"] == ADMIN_USERNAME
    assert data["room"]["_id"] == room["_id"]
    (user_event,) = receiver.wait_count("/users", 1)
    data = user_event.json()
    assert data["user_name"] == "eve" and data["user"]["username"] == "eve"
    assert "services" not in data["user"]


def test_history_is_listed_and_cleared(outgoing_server: Server, admin: Client, receiver: Receiver) -> None:
    integration = create_outgoing(admin, receiver.url("/history"), triggerWords=["history-test"])
    say(admin, "history-test")
    (record,) = wait_history(admin, integration, ["after-http-call"])
    assert record["event"] == "sendMessage" and record["integration"]["_id"] == integration["_id"]
    assert record["data"]["text"] == "history-test"
    r = admin.post("integrations.clearHistory", integrationId=integration["_id"])
    assert r.status_code == 200, r.text
    assert history(admin, integration) == []


def accepted(requests: list[Received], path: str) -> set[str]:
    """The message ids whose delivery to `path` the receiver accepted (200)."""
    return {r.json()["message_id"] for r in requests if r.path == path and r.status == 200}


def test_nothing_is_lost_when_the_server_is_killed(tmp_path: Path) -> None:
    """Deliveries pending and retries scheduled survive SIGKILL: after a restart every message
    reaches the receiver (counted by webhook-id), none twice after it was accepted."""
    data_dir = tmp_path / "data"
    # slow enough that retries are still scheduled when the process dies
    env = {**OUTGOING_ENV, "HOOKHUB_RETRY_TIME_SCALE": "0.002"}
    with Receiver() as receiver:
        receiver.script("/crash", Answer(status=503, body=b"down"))
        server = start_server(data_dir, **env)
        try:
            with Client(server.base_url) as admin:
                admin.login(ADMIN_USERNAME, ADMIN_PASS)
                create_outgoing(
                    admin,
                    receiver.url("/crash"),
                    triggerWords=["crash-test"],
                    retryFailedCalls=True,
                    retryCount=8,
                    retryDelay="powers-of-ten",
                )
                sent = [say(admin, f"crash-test {n}")["_id"] for n in range(20)]
            receiver.wait_count("/crash", 5)
        finally:
            server.stop(signal.SIGKILL)
        receiver.script("/crash", Answer(body=b'{"ok": true}'))
        server = start_server(data_dir, port=server.port, **env)
        try:
            receiver.wait_for(lambda rs: accepted(rs, "/crash") >= set(sent), timeout=30)
            time.sleep(1.0)
            ok = [r for r in receiver.at("/crash") if r.status == 200]
            assert {r.json()["message_id"] for r in ok} == set(sent)
            # one webhook-id per message, kept across attempts and the restart
            ids: dict[str, set[str]] = {}
            for r in receiver.at("/crash"):
                ids.setdefault(r.json()["message_id"], set()).add(r.headers["webhook-id"])
            assert all(len(v) == 1 for v in ids.values())
            assert len(ok) == len(sent)  # nothing delivered twice after the receiver accepted it
        finally:
            server.stop()


def test_replay_sends_the_recorded_event_again(
    outgoing_server: Server, admin: Client, receiver: Receiver
) -> None:
    integration = create_outgoing(admin, receiver.url("/replay"), triggerWords=["replay-test"])
    say(admin, "replay-test once")
    (record,) = wait_history(admin, integration, ["after-http-call"])
    r = admin.post("integrations.replayOutgoing", integrationId=integration["_id"], historyId=record["_id"])
    assert r.status_code == 200 and r.json() == {"success": True}
    first, second = receiver.wait_count("/replay", 2)
    assert first.json()["message_id"] == second.json()["message_id"]
    assert first.json()["text"] == second.json()["text"] == "replay-test once"
    assert first.headers["webhook-id"] != second.headers["webhook-id"]  # a new delivery
    wait_history(admin, integration, ["after-http-call", "after-http-call"])
