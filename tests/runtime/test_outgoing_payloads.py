"""Outgoing payloads and requests (webhook-runtime.md §3.5, §3.6, §3.4 steps 10-13)."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from hookhub.hub import Hub
from hookhub.runtime.outgoing_payloads import (
    AUTH_FORM_ERROR,
    BODY_FORBIDDEN_ERROR,
    USER_AGENT,
    PayloadError,
    RequestInvalid,
    body_bytes,
    build_data,
    default_request,
    http_request,
    integration_event,
    js_truthy,
    request_body,
    request_timeout_seconds,
)
from hookhub.store import events
from tests.conftest import RC

NOW = datetime(2026, 11, 23, 12, 30, 45, 123000, tzinfo=UTC)
NOW_ISO = "2026-11-23T12:30:45.123Z"
SITE = "https://chat.example.com"
INTEGRATION: dict[str, Any] = {"_id": "hookOut000000000001", "type": "webhook-outgoing", "token": "abc"}

GENERAL: dict[str, Any] = {
    "_id": "GENERAL",
    "t": "c",
    "name": "general",
    "msgs": 3,
    "usersCount": 2,
    "ts": "2026-11-20T09:00:00.000Z",
    "_updatedAt": "2026-11-20T09:00:00.000Z",
    "ro": False,
    "default": True,
    "sysMes": True,
    "joinCodeRequired": False,
}
SECRET = {**GENERAL, "_id": "roomPriv000000001", "t": "p", "name": "secret", "default": False}
DIRECT: dict[str, Any] = {
    "_id": "aliceId0000000001bobId000000000001",
    "t": "d",
    "msgs": 1,
    "usersCount": 2,
    "ts": "2026-11-20T09:00:00.000Z",
    "uids": ["aliceId0000000001", "bobId000000000001"],
    "usernames": ["alice", "bob"],
}
ALICE: dict[str, Any] = {
    "_id": "aliceId0000000001",
    "username": "alice",
    "name": "Alice",
    "type": "user",
    "active": True,
    "status": "online",
    "utcOffset": 0,
    "emails": [{"address": "alice@example.com", "verified": True}],
    "roles": ["user"],
    "createdAt": "2026-11-01T08:00:00.000Z",
    "_updatedAt": "2026-11-01T08:00:00.000Z",
    "services": {"password": {"bcrypt": "secret-hash"}},
}
ALICE_PUBLIC = {k: v for k, v in ALICE.items() if k != "services"}
ROBOT: dict[str, Any] = {**ALICE, "_id": "robotId0000000001", "username": "robot", "type": "bot"}
ROBOT_PUBLIC = {k: v for k, v in ROBOT.items() if k != "services"}
BOSS: dict[str, Any] = {**ALICE, "_id": "bossId00000000001", "username": "boss", "roles": ["admin"]}
MESSAGE: dict[str, Any] = {
    "_id": "msgId000000000001",
    "rid": "GENERAL",
    "msg": "deploy api",
    "ts": "2026-11-23T10:00:00.000Z",
    "u": {"_id": "aliceId0000000001", "username": "alice", "name": "Alice"},
    "_updatedAt": "2026-11-23T10:00:00.000Z",
}


def data(event: str, payload: dict[str, Any], *, trigger_word: str | None = None, **integration: Any) -> Any:
    return build_data(
        event,
        payload,
        {**INTEGRATION, **integration},
        trigger_word=trigger_word,
        site_url=SITE,
        now=NOW,
    )


# ---- §3.5, one row per event ----------------------------------------------------------------------


def test_send_message_matches_the_spec_example() -> None:
    got = data("messageSent", {"room": GENERAL, "message": MESSAGE, "actor": ALICE}, trigger_word="deploy")
    assert json.dumps(got, separators=(",", ":")) == (
        '{"token":"abc","bot":false,"trigger_word":"deploy","channel_id":"GENERAL","channel_name":"general",'
        '"message_id":"msgId000000000001","timestamp":"2026-11-23T10:00:00.000Z","user_id":"aliceId0000000001",'
        '"user_name":"alice","text":"deploy api","siteUrl":"https://chat.example.com"}'
    )


SEND_BASE = {
    "token": "abc",
    "bot": False,
    "channel_id": "GENERAL",
    "channel_name": "general",
    "message_id": "msgId000000000001",
    "timestamp": "2026-11-23T10:00:00.000Z",
    "user_id": "aliceId0000000001",
    "user_name": "alice",
    "text": "deploy api",
    "siteUrl": SITE,
}


@pytest.mark.parametrize(
    ("event", "room", "message_extra", "expected_extra", "dropped"),
    [
        pytest.param("messageSent", GENERAL, {}, {}, (), id="plain"),
        pytest.param("sendMessage", GENERAL, {}, {}, (), id="integration-event-name"),
        pytest.param(
            "messageSent", SECRET, {}, {"channel_id": SECRET["_id"], "channel_name": "secret"}, (), id="group"
        ),
        pytest.param("messageSent", DIRECT, {}, {"channel_id": DIRECT["_id"]}, ("channel_name",), id="dm"),
        pytest.param(
            "messageSent",
            {**DIRECT, "name": "alice-bob"},
            {},
            {"channel_id": DIRECT["_id"]},
            ("channel_name",),
            id="dm-with-a-name",
        ),
        pytest.param("messageSent", GENERAL, {"alias": "Deployer"}, {"alias": "Deployer"}, (), id="alias"),
        pytest.param("messageSent", GENERAL, {"alias": ""}, {}, (), id="empty-alias"),
        pytest.param(
            "messageSent", GENERAL, {"bot": {"i": "hookIn00000000001"}}, {"bot": True}, (), id="bot"
        ),
        pytest.param(
            "messageSent", GENERAL, {"tmid": "parent00000000001"}, {"tmid": "parent00000000001"}, ()
        ),
        pytest.param(
            "messageEdited", GENERAL, {"editedAt": "2026-11-23T10:05:00.000Z"}, {"isEdited": True}, ()
        ),
        pytest.param(
            "messageSent", GENERAL, {"editedAt": "2026-11-23T10:05:00.000Z"}, {"isEdited": True}, ()
        ),
        pytest.param("messageEdited", GENERAL, {}, {"isEdited": True}, (), id="edit-event-without-editedAt"),
    ],
)
def test_send_message_fields(
    event: str,
    room: dict[str, Any],
    message_extra: dict[str, Any],
    expected_extra: dict[str, Any],
    dropped: tuple[str, ...],
) -> None:
    message = {**MESSAGE, "rid": room["_id"], **message_extra}
    expected = {k: v for k, v in {**SEND_BASE, **expected_extra}.items() if k not in dropped}
    assert data(event, {"room": room, "message": message, "actor": ALICE}) == expected


def test_file_uploaded_carries_the_documents() -> None:
    message = {**MESSAGE, "msg": "", "alias": "Up"}
    got = data("fileUploaded", {"room": GENERAL, "message": message, "user": ALICE})
    assert got == {
        "token": "abc",
        "bot": False,
        "channel_id": "GENERAL",
        "channel_name": "general",
        "message_id": "msgId000000000001",
        "timestamp": "2026-11-23T10:00:00.000Z",
        "user_id": "aliceId0000000001",
        "user_name": "alice",
        "text": "",
        "alias": "Up",
        "user": ALICE_PUBLIC,
        "room": GENERAL,
        "message": message,
    }


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"room": GENERAL, "user": BOSS, "actor": BOSS}, id="as-services-write-it"),
        pytest.param({"room": GENERAL, "actor": BOSS}, id="actor-only"),
        pytest.param({"room": GENERAL, "user": BOSS, "actor": ALICE}, id="user-wins"),
    ],
)
def test_room_created(payload: dict[str, Any]) -> None:
    boss_public = {k: v for k, v in BOSS.items() if k != "services"}
    assert data("roomCreated", payload) == {
        "token": "abc",
        "bot": False,
        "channel_id": "GENERAL",
        "channel_name": "general",
        "timestamp": "2026-11-20T09:00:00.000Z",
        "user_id": "bossId00000000001",
        "user_name": "boss",
        "owner": boss_public,
        "room": GENERAL,
    }


def test_room_created_by_a_bot_stays_not_bot() -> None:
    assert data("roomCreated", {"room": GENERAL, "user": ROBOT})["bot"] is False


@pytest.mark.parametrize(
    ("event", "payload", "subject", "subject_public"),
    [
        ("roomArchived", {"room": GENERAL, "actor": ALICE}, ALICE, ALICE_PUBLIC),
        ("roomJoined", {"room": GENERAL, "user": ALICE, "actor": ALICE}, ALICE, ALICE_PUBLIC),
        ("roomJoined", {"room": GENERAL, "user": ALICE, "actor": BOSS}, ALICE, ALICE_PUBLIC),
        ("roomLeft", {"room": GENERAL, "user": ALICE, "actor": BOSS}, ALICE, ALICE_PUBLIC),
        ("roomLeft", {"room": GENERAL, "user": ROBOT, "actor": ROBOT}, ROBOT, ROBOT_PUBLIC),
        ("roomJoined", {"room": GENERAL, "user": ROBOT}, ROBOT, ROBOT_PUBLIC),
        ("roomArchived", {"room": GENERAL, "actor": ROBOT}, ROBOT, ROBOT_PUBLIC),
    ],
)
def test_membership_events(
    event: str, payload: dict[str, Any], subject: dict[str, Any], subject_public: dict[str, Any]
) -> None:
    assert data(event, payload) == {
        "token": "abc",
        "bot": subject["type"] == "bot",
        "timestamp": NOW_ISO,
        "channel_id": "GENERAL",
        "channel_name": "general",
        "user_id": subject["_id"],
        "user_name": subject["username"],
        "user": subject_public,
        "room": GENERAL,
    }


def test_room_joined_in_a_dm_has_no_channel_name() -> None:
    got = data("roomJoined", {"room": DIRECT, "user": ALICE})
    assert got["channel_id"] == DIRECT["_id"]
    assert "channel_name" not in got


@pytest.mark.parametrize(("user", "public"), [(ALICE, ALICE_PUBLIC), (ROBOT, ROBOT_PUBLIC)])
def test_user_created(user: dict[str, Any], public: dict[str, Any]) -> None:
    assert data("userCreated", {"user": user}) == {
        "token": "abc",
        "bot": user["type"] == "bot",
        "timestamp": "2026-11-01T08:00:00.000Z",
        "user_id": user["_id"],
        "user_name": user["username"],
        "user": public,
    }


@pytest.mark.parametrize("token", [None, "", 42, ["abc"]])
def test_token_only_when_a_non_empty_string(token: Any) -> None:
    got = data("userCreated", {"user": ALICE}, token=token)
    assert "token" not in got
    assert next(iter(got)) == "bot"


def test_no_token_key_at_all() -> None:
    integration = {k: v for k, v in INTEGRATION.items() if k != "token"}
    got = build_data("userCreated", {"user": ALICE}, integration, trigger_word=None, site_url=SITE, now=NOW)
    assert "token" not in got


@pytest.mark.parametrize("trigger_word", [None, ""])
def test_trigger_word_only_when_matched(trigger_word: str | None) -> None:
    got = data("messageSent", {"room": GENERAL, "message": MESSAGE}, trigger_word=trigger_word)
    assert "trigger_word" not in got


def test_dates_become_iso_text() -> None:
    created = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    message = {**MESSAGE, "ts": datetime(2026, 11, 23, 10, 0, tzinfo=UTC)}
    assert (
        data("messageSent", {"room": GENERAL, "message": message})["timestamp"] == "2026-11-23T10:00:00.000Z"
    )
    got = data("userCreated", {"user": {**ALICE, "createdAt": created, "lastLogin": created}})
    assert got["timestamp"] == "2026-01-02T03:04:05.678Z"
    assert got["user"]["lastLogin"] == "2026-01-02T03:04:05.678Z"
    # ISO text in another spelling is normalised to the wire form.
    room = {**GENERAL, "ts": "2026-11-20T09:00:00+00:00"}
    assert data("roomCreated", {"room": room, "user": BOSS})["timestamp"] == "2026-11-20T09:00:00.000Z"


def test_inputs_are_not_shared_or_changed() -> None:
    payload = {"room": GENERAL, "user": ALICE}
    before = copy.deepcopy(payload)
    got = data("roomJoined", payload)
    got["user"]["name"] = "changed"
    got["room"]["name"] = "changed"
    assert payload == before


@pytest.mark.parametrize(
    ("event", "payload", "missing"),
    [
        ("messageSent", {"message": MESSAGE}, "room"),
        ("messageSent", {"room": GENERAL}, "message"),
        ("roomCreated", {"room": GENERAL}, "user or actor"),
        ("roomJoined", {"user": ALICE}, "room"),
        ("roomLeft", {"room": GENERAL}, "user or actor"),
        ("userCreated", {"actor": ALICE}, "user"),
        ("fileUploaded", {"room": GENERAL, "message": MESSAGE}, "user or actor"),
    ],
)
def test_missing_documents(event: str, payload: dict[str, Any], missing: str) -> None:
    with pytest.raises(PayloadError, match=f"has no {missing} document"):
        data(event, payload)


@pytest.mark.parametrize("event", ["messageDeleted", "nope", ""])
def test_events_without_payload(event: str) -> None:
    with pytest.raises(PayloadError, match="no outgoing payload"):
        integration_event(event)


WITH_PAYLOAD = ("userCreated", "roomCreated", "roomJoined", "roomLeft", "roomArchived", "messageSent")


async def test_payloads_from_real_outbox_events(hub: Hub, admin: RC, alice: RC) -> None:
    """The keys the services write (rooms.py, room_admin.py, users.py, messages.py) are the ones
    build_data reads."""
    r = await admin.post("channels.create", name="deploys")
    assert r.status_code == 200, r.text
    room_id = r.json()["channel"]["_id"]
    assert (await admin.post("channels.invite", roomId=room_id, userId=alice.user_id)).status_code == 200
    assert (await alice.post("chat.postMessage", roomId=room_id, text="deploy now")).status_code == 200
    assert (await alice.post("channels.leave", roomId=room_id)).status_code == 200
    assert (await admin.post("channels.archive", roomId=room_id)).status_code == 200

    async with hub.tx(write=False) as ctx:
        rows = await events.list_events(ctx.conn, limit=10_000)
    built: dict[str, dict[str, Any]] = {}
    for row in rows:
        ours = row["type"] == "userCreated" or row["room_id"] == room_id
        if ours and row["type"] in WITH_PAYLOAD:
            built[f"{row['type']}:{row['payload'].get('user', {}).get('username')}"] = data(
                row["type"], row["payload"]
            )

    assert built["userCreated:alice"]["user_name"] == "alice"
    assert built["roomCreated:boss"]["owner"]["username"] == "boss"
    assert built["roomCreated:boss"]["channel_name"] == "deploys"
    assert built["roomJoined:alice"]["user_name"] == "alice"
    assert built["roomLeft:alice"]["user_name"] == "alice"
    archived = built["roomArchived:None"]
    assert (archived["user_name"], archived["channel_id"]) == ("boss", room_id)
    sent = built["messageSent:None"]
    assert (sent["text"], sent["user_name"], sent["channel_name"]) == ("deploy now", "alice", "deploys")
    for payload in built.values():
        assert "services" not in payload.get("user", {})


# ---- §3.6 request ---------------------------------------------------------------------------------------


def test_default_request() -> None:
    payload = {"token": "abc", "bot": False}
    assert default_request("https://example.com/hook", payload) == {
        "params": {},
        "method": "POST",
        "url": "https://example.com/hook",
        "data": payload,
        "headers": {
            "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/41.0.2227.0 Safari/537.36"
        },
    }
    assert "auth" not in default_request("https://example.com/hook", payload)


@pytest.mark.parametrize(
    ("value", "truthy"),
    [
        (None, False),
        (False, False),
        (0, False),
        (0.0, False),
        (float("nan"), False),
        ("", False),
        (True, True),
        (1, True),
        (-1.5, True),
        ("0", True),
        ("false", True),
        ({}, True),
        ([], True),
    ],
)
def test_js_truthy(value: Any, truthy: bool) -> None:
    assert js_truthy(value) is truthy


@pytest.mark.parametrize(
    ("payload", "body"),
    [
        ({"text": "hé", "n": 1}, '{"text":"hé","n":1}'.encode()),
        ({}, b"{}"),
        ([], b"[]"),
        ([1, "a"], b'[1,"a"]'),
        ("raw text", b"raw text"),
        ("a=1&b=ü", "a=1&b=ü".encode()),
        (5, b"5"),
        (2.5, b"2.5"),
        (3.0, b"3"),
        (True, b"true"),
        ("", None),
        (0, None),
        (False, None),
        (None, None),
    ],
)
def test_body_and_content_type(payload: Any, body: bytes | None) -> None:
    request = {**default_request("https://example.com", {}), "data": payload}
    got_body, headers = request_body(request)
    assert got_body == body
    assert body_bytes(payload) == body
    expected = {"User-Agent": USER_AGENT}
    if body is not None:
        expected["Content-Type"] = "application/json"
    assert headers == expected


def test_data_datetimes_are_sent_as_iso() -> None:
    body, _ = request_body({"data": {"at": NOW}})
    assert body == b'{"at":"2026-11-23T12:30:45.123Z"}'


def test_non_finite_numbers_are_sent_as_null_like_json_stringify() -> None:
    body, _ = request_body({"data": {"x": float("inf"), "y": [float("nan")], "z": 1.5}})
    assert body == b'{"x":null,"y":[null],"z":1.5}'


def test_unsendable_json_is_a_request_error() -> None:
    # Past what orjson takes (an integer beyond 64 bits) the stdlib path decides, and refuses NaN.
    with pytest.raises(RequestInvalid, match="cannot be sent as JSON"):
        request_body({"data": {"x": float("inf"), "big": 2**70}})
    body, _ = request_body({"data": {"big": 2**70}})
    assert body == b'{"big":1180591620717411303424}'


def test_no_data_key_means_no_body() -> None:
    assert request_body({"url": "u", "method": "POST", "headers": {}}) == (None, {})


def test_content_type_replaces_any_spelling() -> None:
    _, headers = request_body({"data": {"a": 1}, "headers": {"content-type": "text/plain", "X-A": "1"}})
    assert headers == {"X-A": "1", "Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        ("user:pass", "Basic dXNlcjpwYXNz"),
        (":", "Basic Og=="),
        ("user:", "Basic dXNlcjo="),
        ("usér:pâss:x", "Basic " + base64.b64encode("usér:pâss:x".encode()).decode()),
    ],
)
def test_basic_auth(auth: str, expected: str) -> None:
    _, headers = request_body({"auth": auth, "headers": {"authorization": "Bearer old"}})
    assert headers == {"Authorization": expected}


@pytest.mark.parametrize("auth", [None, "", False, 0])
def test_falsy_auth_is_ignored(auth: Any) -> None:
    assert request_body({"auth": auth, "headers": {"X": "y"}}) == (None, {"X": "y"})


@pytest.mark.parametrize("auth", ["userpass", "user pass", 12, True, {"user": "pass"}, ["u:p"]])
def test_auth_without_colon(auth: Any) -> None:
    with pytest.raises(RequestInvalid) as caught:
        request_body({"auth": auth, "headers": {}})
    assert caught.value.message == 'auth option should be of the form "username:password"'
    assert str(caught.value) == AUTH_FORM_ERROR


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Num": 5, "X-Float": 1.0, "X-Bool": True}, {"X-Num": "5", "X-Float": "1", "X-Bool": "true"}),
        ({"X-None": None, "X-A": "a"}, {"X-A": "a"}),
        ({"X-List": ["a", 1]}, {"X-List": "a,1"}),
        ({"X-Obj": {"a": 1}}, {"X-Obj": "[object Object]"}),
        (None, {}),
        ("not headers", {}),
    ],
)
def test_header_values(headers: Any, expected: dict[str, str]) -> None:
    assert request_body({"headers": headers}) == (None, expected)


@pytest.mark.parametrize(
    ("timeout", "seconds"),
    [
        (None, 20.0),
        (1500, 1.5),
        (0.5, 0.0005),
        (60000, 60.0),
        (0, 20.0),
        (-5, 20.0),
        ("1000", 20.0),
        (True, 20.0),
        (float("inf"), 20.0),
        (float("nan"), 20.0),
    ],
)
def test_timeout(timeout: Any, seconds: float) -> None:
    request = {} if timeout is None else {"timeout": timeout}
    assert request_timeout_seconds(request) == seconds


def test_http_request_default() -> None:
    request = default_request("https://example.com/hook", {"token": "abc", "bot": False})
    sent = http_request(request)
    assert sent.method == "POST"
    assert sent.url == "https://example.com/hook"
    assert sent.body == b'{"token":"abc","bot":false}'
    assert sent.headers == {"User-Agent": USER_AGENT, "Content-Type": "application/json"}
    assert sent.timeout_seconds == 20.0
    assert sent.problem is None
    # What process_outgoing_response will see: the headers as sent.
    assert sent.request == {**request, "headers": sent.headers}
    assert request["headers"] == {"User-Agent": USER_AGENT}


def test_http_request_sees_authorization() -> None:
    sent = http_request(
        {"url": "https://e.com", "method": "put", "auth": "a:b", "headers": {}, "timeout": 250}
    )
    assert sent.method == "PUT"
    assert sent.body is None
    assert sent.headers == {"Authorization": "Basic YTpi"}
    assert sent.request["headers"] == {"Authorization": "Basic YTpi"}
    assert sent.timeout_seconds == 0.25


@pytest.mark.parametrize(
    ("method", "sent_as"),
    [("post", "POST"), ("Get", "GET"), ("delete", "DELETE"), ("options", "OPTIONS"), ("patch", "patch")],
)
def test_method_normalisation(method: str, sent_as: str) -> None:
    assert http_request({"url": "https://e.com", "method": method}).method == sent_as


@pytest.mark.parametrize(
    ("request_obj", "problem"),
    [
        ({"method": "GET", "data": {"a": 1}}, BODY_FORBIDDEN_ERROR),
        ({"method": "head", "data": "x"}, "Request with GET/HEAD method cannot have body"),
        ({"method": "GET", "data": ""}, None),
        ({"method": "GET"}, None),
        ({"method": "PATCH", "data": {"a": 1}}, None),
        ({"method": "PO ST"}, "Invalid request method 'PO ST'"),
        (
            {"method": "POST", "headers": {"Bad Name": "x"}},
            'Header name must be a valid HTTP token ["Bad Name"]',
        ),
        (
            {"method": "POST", "headers": {"X-A": "a\r\nX-B: b"}},
            'Invalid character in header content ["X-A"]',
        ),
        ({"method": "POST", "headers": {"X-A": "tab\tis fine"}}, None),
    ],
)
def test_transport_problems(request_obj: dict[str, Any], problem: str | None) -> None:
    assert http_request({"url": "https://e.com", **request_obj}).problem == problem


def test_bad_auth_aborts_before_anything_is_built() -> None:
    with pytest.raises(RequestInvalid):
        http_request({"url": "https://e.com", "method": "POST", "auth": "nocolon", "headers": {}})
