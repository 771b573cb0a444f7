"""More outgoing-webhook behaviour against the real `hookhub serve` process and real HTTP receivers
on 127.0.0.1 (webhook-runtime.md §3, §5; issue #5 "Verified by"): the membership events' payloads,
edits, trigger-word matching, the return shapes of the two script hooks, the loop breaker,
retention at startup and signature tampering.

Every test works in its own channel (or its own server), so the messages one test posts never fire
another test's integrations."""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.e2e.conftest import ADMIN_PASS, ADMIN_USERNAME, OUTGOING_ENV, Client, Server, start_server
from tests.e2e.receiver import Answer, Received, Receiver
from tests.e2e.test_outgoing_e2e import (
    USER_AGENT,
    create_outgoing,
    history,
    say,
    texts,
    wait_history,
)

# Date.prototype.toISOString(), the form every date takes in a JSON payload (§3.5).
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
# What a §3.5 membership payload (roomArchived / roomJoined / roomLeft) holds, no more.
MEMBERSHIP_KEYS = {
    "token",
    "bot",
    "timestamp",
    "channel_id",
    "channel_name",
    "user_id",
    "user_name",
    "user",
    "room",
}
USER_PASS = "More-e2e-pass-1"


@pytest.fixture(scope="module")
def admin(outgoing_server: Server) -> Iterator[Client]:
    with Client(outgoing_server.base_url) as client:
        client.login(ADMIN_USERNAME, ADMIN_PASS)
        yield client


# ---- helpers -------------------------------------------------------------------------------------


def create_channel(admin: Client, name: str) -> dict[str, Any]:
    r = admin.post("channels.create", name=name)
    assert r.status_code == 200, r.text
    room: dict[str, Any] = r.json()["channel"]
    return room


def room_of(admin: Client, name: str) -> dict[str, Any]:
    r = admin.get("channels.info", roomName=name)
    assert r.status_code == 200, r.text
    room: dict[str, Any] = r.json()["channel"]
    return room


def create_user(admin: Client, username: str) -> str:
    r = admin.post(
        "users.create", username=username, email=f"{username}@example.com", password=USER_PASS, name=username
    )
    assert r.status_code == 200, r.text
    return str(r.json()["user"]["_id"])


def room_messages(admin: Client, room_id: str) -> list[dict[str, Any]]:
    r = admin.get("channels.messages", roomId=room_id, count=100)
    assert r.status_code == 200, r.text
    messages: list[dict[str, Any]] = r.json()["messages"]
    return messages


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def wait_message(admin: Client, room_id: str, text: str) -> dict[str, Any]:
    """The message with `text` in the room, once it is there (fails after a bounded wait)."""
    found: list[dict[str, Any]] = []

    def posted() -> bool:
        found[:] = [m for m in room_messages(admin, room_id) if m.get("msg") == text]
        return bool(found)

    wait_until(posted, f"the message {text!r}")
    (message,) = found
    return message


def assert_recent_iso(value: Any) -> None:
    """A §3.5 date: an ISO string of the time of processing (now, give or take the test's run)."""
    assert isinstance(value, str) and ISO_DATE.match(value), value
    at = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - at) < timedelta(minutes=2), value


def only_request(receiver: Receiver, path: str) -> Received:
    (request,) = receiver.wait_count(path, 1)
    return request


# ---- 1. membership events -------------------------------------------------------------------------


def test_room_joined_left_and_archived_carry_the_membership_payload(
    outgoing_server: Server, admin: Client, receiver: Receiver
) -> None:
    room = create_channel(admin, "e2e-members")
    create_channel(admin, "e2e-members-other")
    joined = create_outgoing(
        admin, receiver.url("/joined"), event="roomJoined", channel="#e2e-members", token="tok-joined"
    )
    create_outgoing(admin, receiver.url("/left"), event="roomLeft", channel="#e2e-members", token="tok-left")
    # another room's integration: joining e2e-members must not fire it (the channel filter)
    create_outgoing(
        admin, receiver.url("/joined-elsewhere"), event="roomJoined", channel="#e2e-members-other", token="x"
    )
    # roomArchived ignores channels (§3.2): configured for #general, it fires for e2e-members too
    create_outgoing(
        admin, receiver.url("/archived"), event="roomArchived", channel="#general", token="tok-archived"
    )
    carol_id = create_user(admin, "carol")
    dave_id = create_user(admin, "dave")

    r = admin.post("channels.invite", roomId=room["_id"], userId=carol_id)
    assert r.status_code == 200, r.text
    (invited,) = receiver.wait_count("/joined", 1)
    with Client(outgoing_server.base_url) as dave:
        dave.login("dave", USER_PASS)
        r = dave.post("channels.join", roomId=room["_id"])
        assert r.status_code == 200, r.text
        first, self_joined = receiver.wait_count("/joined", 2)
        assert first == invited

        r = admin.post("channels.kick", roomId=room["_id"], userId=carol_id)
        assert r.status_code == 200, r.text
        (kicked,) = receiver.wait_count("/left", 1)
        r = dave.post("channels.leave", roomId=room["_id"])
        assert r.status_code == 200, r.text
        _, left = receiver.wait_count("/left", 2)

    r = admin.post("channels.archive", roomId=room["_id"])
    assert r.status_code == 200, r.text
    archived = only_request(receiver, "/archived")

    expected = [
        (invited, "tok-joined", carol_id, "carol"),
        (self_joined, "tok-joined", dave_id, "dave"),
        (kicked, "tok-left", carol_id, "carol"),
        (left, "tok-left", dave_id, "dave"),
    ]
    admin_id = admin.headers["X-User-Id"]
    expected.append((archived, "tok-archived", admin_id, ADMIN_USERNAME))
    for request, token, user_id, username in expected:
        data = request.json()
        assert set(data) == MEMBERSHIP_KEYS, data
        assert data["token"] == token
        assert data["bot"] is False
        assert data["channel_id"] == room["_id"]
        assert data["channel_name"] == "e2e-members"
        assert data["user_id"] == user_id
        assert data["user_name"] == username
        assert_recent_iso(data["timestamp"])
        assert data["user"]["_id"] == user_id and data["user"]["username"] == username
        assert "services" not in data["user"]
        assert data["room"]["_id"] == room["_id"] and data["room"]["name"] == "e2e-members"
        assert data["room"]["t"] == "c"
        assert request.headers["user-agent"] == USER_AGENT
    assert archived.json()["room"]["archived"] is True

    records = wait_history(admin, joined, ["after-http-call", "after-http-call"])
    assert [r["event"] for r in records] == ["roomJoined", "roomJoined"]
    assert sorted(r["data"]["user_name"] for r in records) == ["carol", "dave"]
    assert receiver.at("/joined-elsewhere") == []


# ---- 2. edits -------------------------------------------------------------------------------------


def test_an_edit_fires_again_only_with_run_on_edits(admin: Client, receiver: Receiver) -> None:
    room = create_channel(admin, "e2e-edits")
    on_edits = create_outgoing(
        admin, receiver.url("/edits-on"), channel="#e2e-edits", triggerWords=["edit-me"], runOnEdits=True
    )
    off_edits = create_outgoing(
        admin, receiver.url("/edits-off"), channel="#e2e-edits", triggerWords=["edit-me"], runOnEdits=False
    )
    message = say(admin, "edit-me first", channel="#e2e-edits")
    original = only_request(receiver, "/edits-on")
    assert "isEdited" not in original.json()
    assert only_request(receiver, "/edits-off").json()["text"] == "edit-me first"

    r = admin.post("chat.update", roomId=room["_id"], msgId=message["_id"], text="edit-me second")
    assert r.status_code == 200, r.text
    _, edited = receiver.wait_count("/edits-on", 2)
    data = edited.json()
    assert data["isEdited"] is True
    assert data["text"] == "edit-me second"
    assert data["message_id"] == message["_id"]
    assert data["trigger_word"] == "edit-me"
    assert data["channel_name"] == "e2e-edits"
    wait_history(admin, on_edits, ["after-http-call", "after-http-call"])
    # the edit was consumed by the same engine pass that fired /edits-on: a delivery for
    # /edits-off would have arrived by now
    time.sleep(0.5)
    assert len(receiver.at("/edits-off")) == 1
    assert [r["step"] for r in history(admin, off_edits)] == ["after-http-call"]


# ---- 3. trigger words ------------------------------------------------------------------------------


def test_trigger_words_prefix_anywhere_case_and_first_match(admin: Client, receiver: Receiver) -> None:
    create_channel(admin, "e2e-words")
    words = ["beta", "alpha"]
    prefix = create_outgoing(admin, receiver.url("/prefix"), channel="#e2e-words", triggerWords=words)
    anywhere = create_outgoing(
        admin, receiver.url("/anywhere"), channel="#e2e-words", triggerWords=words, triggerWordAnywhere=True
    )
    for text in [
        "alphabet soup",  # a prefix, no word boundary needed
        "say alpha",  # only anywhere
        "Alpha and BETA",  # case-sensitive: nobody
        "alpha then beta",  # prefix: alpha; anywhere: beta, first in the stored order
        "nothing here",  # nobody
        "beta last",  # both: beta
    ]:
        say(admin, text, channel="#e2e-words")
    receiver.wait_count("/prefix", 3)
    receiver.wait_count("/anywhere", 4)
    wait_history(admin, prefix, ["after-http-call"] * 3)
    wait_history(admin, anywhere, ["after-http-call"] * 4)
    time.sleep(0.3)

    def fired(path: str) -> dict[str, str]:
        requests = receiver.at(path)
        return {r.json()["text"]: r.json()["trigger_word"] for r in requests}

    assert fired("/prefix") == {"alphabet soup": "alpha", "alpha then beta": "alpha", "beta last": "beta"}
    assert fired("/anywhere") == {
        "alphabet soup": "alpha",
        "say alpha": "alpha",
        "alpha then beta": "beta",
        "beta last": "beta",
    }
    # messages without a match wrote no history
    assert len(receiver.at("/prefix")) == 3 and len(history(admin, prefix)) == 3
    assert len(receiver.at("/anywhere")) == 4 and len(history(admin, anywhere)) == 4
    assert sorted(r["triggerWord"] for r in history(admin, anywhere)) == ["alpha", "alpha", "beta", "beta"]


# ---- 4. scripts' return shapes -------------------------------------------------------------------

PREPARE_MODIFIES = """
class Script {
  prepare_outgoing_request({ request }) {
    return {
      ...request,
      url: request.url + '/changed',
      data: { custom: true, original: request.data.text, word: request.data.trigger_word },
      headers: { ...request.headers, 'X-Hookhub-Test': 'modified' },
    };
  }
}
"""

PREPARE_NOTHING = """
class Script {
  prepare_outgoing_request({ request }) {
    return;
  }
}
"""

PREPARE_MESSAGE = """
class Script {
  prepare_outgoing_request({ request }) {
    return { message: { text: 'prepared for ' + request.data.user_name } };
  }
}
"""

PROCESS_CONTENT = """
class Script {
  process_outgoing_response({ request, response }) {
    const body = JSON.parse(response.content);
    return { content: { text: `processed ${body.n} ${response.status_code} ${request.data.trigger_word}` } };
  }
}
"""

PROCESS_FALSE = """
class Script {
  process_outgoing_response({ request, response }) {
    return false;
  }
}
"""

PREPARE_THROWS = """
class Script {
  prepare_outgoing_request({ request }) {
    throw new Error('prepare exploded');
  }
}
"""


def scripted(admin: Client, receiver: Receiver, path: str, word: str, script: str) -> dict[str, Any]:
    return create_outgoing(
        admin,
        receiver.url(path),
        channel="#e2e-scripts",
        triggerWords=[word],
        scriptEnabled=True,
        script=script,
    )


def test_prepare_returning_a_modified_request_is_what_is_sent(admin: Client, receiver: Receiver) -> None:
    create_channel(admin, "e2e-scripts")
    integration = scripted(admin, receiver, "/s-modify", "s-modify", PREPARE_MODIFIES)
    say(admin, "s-modify now", channel="#e2e-scripts")
    request = only_request(receiver, "/s-modify/changed")
    assert request.json() == {"custom": True, "original": "s-modify now", "word": "s-modify"}
    assert request.method == "POST"
    assert request.headers["x-hookhub-test"] == "modified"
    assert request.headers["user-agent"] == USER_AGENT
    assert request.headers["content-type"].startswith("application/json")
    # the signature covers the body the script made
    Webhook(integration["signingSecret"]).verify(request.body, request.headers)
    (record,) = wait_history(admin, integration, ["after-http-call"])
    assert record["url"] == receiver.url("/s-modify/changed")
    assert record["httpCallData"] == {"custom": True, "original": "s-modify now", "word": "s-modify"}
    assert record["ranPrepareScript"] is True
    assert receiver.at("/s-modify") == []


def test_prepare_returning_nothing_cancels_the_call(admin: Client, receiver: Receiver) -> None:
    integration = scripted(admin, receiver, "/s-nothing", "s-nothing", PREPARE_NOTHING)
    say(admin, "s-nothing now", channel="#e2e-scripts")
    (record,) = wait_history(admin, integration, ["after-prepare-no-opts"])
    assert record["finished"] is True
    assert "error" not in record and "url" not in record
    time.sleep(0.3)
    assert receiver.at("/s-nothing") == []


def test_prepare_returning_only_a_message_posts_it_without_a_call(admin: Client, receiver: Receiver) -> None:
    room = room_of(admin, "e2e-scripts")
    integration = scripted(admin, receiver, "/s-message", "s-message", PREPARE_MESSAGE)
    say(admin, "s-message now", channel="#e2e-scripts")
    posted = wait_message(admin, room["_id"], f"prepared for {ADMIN_USERNAME}")
    assert posted["u"]["username"] == "rocket.cat"
    assert posted["bot"] == {"i": integration["_id"]}
    (record,) = wait_history(admin, integration, ["after-prepare-no-url_or_method"])
    assert record["finished"] is True
    assert [sent["message"]["_id"] for sent in record["prepareSentMessage"]] == [posted["_id"]]
    assert "url" not in record
    time.sleep(0.3)
    assert receiver.at("/s-message") == []


def test_process_returning_content_posts_it(admin: Client, receiver: Receiver) -> None:
    room = room_of(admin, "e2e-scripts")
    receiver.script("/s-process", Answer(body=b'{"n": 42}'))
    integration = scripted(admin, receiver, "/s-process", "s-process", PROCESS_CONTENT)
    say(admin, "s-process now", channel="#e2e-scripts")
    posted = wait_message(admin, room["_id"], "processed 42 200 s-process")
    assert posted["bot"] == {"i": integration["_id"]}
    assert posted["u"]["username"] == "rocket.cat"
    (record,) = wait_history(admin, integration, ["after-process-send-message"])
    assert record["finished"] is True
    assert [sent["message"]["_id"] for sent in record["processSentMessage"]] == [posted["_id"]]
    assert len(receiver.at("/s-process")) == 1


def test_process_returning_false_stops_default_processing(admin: Client, receiver: Receiver) -> None:
    room = room_of(admin, "e2e-scripts")
    # without the script this reply would be posted (§3.8 step 5)
    receiver.script("/s-false", Answer(body=b'{"text": "must not be posted"}'))
    integration = scripted(admin, receiver, "/s-false", "s-false", PROCESS_FALSE)
    say(admin, "s-false now", channel="#e2e-scripts")
    (record,) = wait_history(admin, integration, ["after-process-false-result"])
    assert record["finished"] is True
    assert "resultMessage" not in record
    assert len(receiver.at("/s-false")) == 1
    assert not any(m.get("msg") == "must not be posted" for m in room_messages(admin, room["_id"]))


def test_prepare_throwing_is_recorded_and_cancels_the_call(admin: Client, receiver: Receiver) -> None:
    integration = scripted(admin, receiver, "/s-throws", "s-throws", PREPARE_THROWS)
    say(admin, "s-throws now", channel="#e2e-scripts")
    # §3.7 / §5.2: `execute-script-error-running-prepare_outgoing_request` (error + stack) is not a
    # terminal step: the failed call counts as "nothing returned", so the record moves on to
    # `after-prepare-no-opts` and keeps the error fields (partial $set semantics).
    (record,) = wait_history(admin, integration, ["after-prepare-no-opts"])
    assert record["error"] is True
    assert "prepare exploded" in record["errorStack"]
    assert record["errorStack"].startswith("  ")  # upstream indents the stack
    assert record["finished"] is True
    assert "url" not in record
    time.sleep(0.3)
    assert receiver.at("/s-throws") == []


# ---- 5. loop breaker -------------------------------------------------------------------------------


def test_a_reply_chain_between_two_integrations_stops_at_the_depth_limit(
    admin: Client, receiver: Receiver
) -> None:
    room = create_channel(admin, "e2e-loop")
    receiver.script("/loop-a", Answer(body=b'{"text": "ping"}'))
    receiver.script("/loop-b", Answer(body=b'{"text": "ping"}'))
    a = create_outgoing(admin, receiver.url("/loop-a"), channel="#e2e-loop", triggerWords=[])
    b = create_outgoing(admin, receiver.url("/loop-b"), channel="#e2e-loop", triggerWords=[])
    say(admin, "start the chain", channel="#e2e-loop")

    def depth_exceeded(integration: dict[str, Any]) -> list[dict[str, Any]]:
        return [r for r in history(admin, integration) if r["step"] == "loop-depth-exceeded"]

    wait_until(lambda: bool(depth_exceeded(a)) and bool(depth_exceeded(b)), "loop-depth-exceeded records")
    time.sleep(1.0)  # a chain that did not stop would keep going meanwhile
    # Depth 0 is the person's message; a reply to a delivery of depth d has depth d + 1, and
    # messages deeper than the default HOOKHUB_OUTGOING_MAX_DEPTH (3) are not delivered. A never
    # fires on its own replies, so each integration is called for depths 0, 1, 2 and 3.
    assert len(receiver.at("/loop-a")) == 4
    assert len(receiver.at("/loop-b")) == 4
    for integration in (a, b):
        records = history(admin, integration)
        assert (
            sorted(r["step"] for r in records) == ["loop-depth-exceeded"] + ["url-response-sent-message"] * 4
        )
        (stopped,) = depth_exceeded(integration)
        assert stopped["error"] is True
        assert stopped["data"]["text"] == "ping"
        assert stopped["data"]["bot"] is True  # it is the other integration's reply
    pings = [m for m in room_messages(admin, room["_id"]) if m.get("msg") == "ping"]
    assert len(pings) == 8
    assert {m["bot"]["i"] for m in pings} == {a["_id"], b["_id"]}


# ---- 7. signatures -----------------------------------------------------------------------------------


def test_a_tampered_delivery_does_not_verify(admin: Client, receiver: Receiver) -> None:
    integration = create_outgoing(admin, receiver.url("/tamper"), triggerWords=["tamper-test"])
    say(admin, "tamper-test original")
    request = only_request(receiver, "/tamper")
    secret = integration["signingSecret"]
    assert isinstance(secret, str) and secret.startswith("whsec_")
    Webhook(secret).verify(request.body, request.headers)  # the untouched request verifies

    other_secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other_secret).verify(request.body, request.headers)
    tampered = request.body.replace(b"tamper-test original", b"tamper-test modified")
    assert tampered != request.body
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(
            request.body, {**request.headers, "webhook-id": request.headers["webhook-id"] + "x"}
        )


# ---- 6. retention at startup -------------------------------------------------------------------------


def test_history_beyond_the_cap_is_pruned_when_the_engine_starts(tmp_path: Path, receiver: Receiver) -> None:
    data_dir = tmp_path / "data"
    env = {**OUTGOING_ENV, "HOOKHUB_HISTORY_MAX_PER_INTEGRATION": "2"}
    server = start_server(data_dir, port=None, **env)
    try:
        with Client(server.base_url) as admin:
            admin.login(ADMIN_USERNAME, ADMIN_PASS)
            integration = create_outgoing(admin, receiver.url("/retention"), triggerWords=["keep-test"])
            sent = []
            for n in range(1, 6):
                # one at a time, so the records' _updatedAt follow the messages' order
                sent.append(say(admin, f"keep-test {n}")["_id"])
                wait_history(admin, integration, ["after-http-call"] * n)
            # the engine pruned when it started, before any record existed; the next run is minutes away
            assert len(history(admin, integration)) == 5
    finally:
        server.stop()
    server = start_server(data_dir, port=server.port, **env)
    try:
        with Client(server.base_url) as admin:
            admin.login(ADMIN_USERNAME, ADMIN_PASS)
            wait_until(lambda: len(history(admin, integration)) == 2, "history pruned to 2 records")
            records = history(admin, integration)
            assert [r["data"]["message_id"] for r in records] == sent[-2:]
            assert [r["data"]["text"] for r in records] == ["keep-test 4", "keep-test 5"]
            r = admin.get("integrations.history", id=integration["_id"])
            assert r.status_code == 200, r.text
            assert r.json()["total"] == 2
            # the engine still delivers after the restart, and the new record is kept
            say(admin, "keep-test 6")
            receiver.wait_count("/retention", 6)
            wait_until(
                lambda: [r["data"]["text"] for r in history(admin, integration)][-1:] == ["keep-test 6"],
                "the new record",
            )
            assert texts(admin)[0]["msg"] == "keep-test 6"
    finally:
        server.stop()
