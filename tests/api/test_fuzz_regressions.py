"""What fuzzing the API found (issue #10), one plain test per finding, each failing on the code
before its fix.

1. A lone UTF-16 surrogate in a JSON body (`"\\ud800"`: valid JSON, not valid Unicode) reached
   the database driver or the answer's JSON encoder and became a 500 on nearly every POST route
   (138 of them). Fix: `routing.RCRoute` makes it U+FFFD on the way in, as Node does when
   Rocket.Chat writes such a string as UTF-8.
2. `groups.convertToTeam` / `channels.convertToTeam` passed a non-string room id or name (a
   number, a list) to the database: a 500. Fix: `400 "<key> must be string [invalid-params]"`.
3. On PostgreSQL, a NUL in a JSON string (`"a\u0000b"`) or in the query string (`a%00b`) was a
   500 on every route that stores or looks up the value (text cannot hold NUL). Fix: the same
   door refuses it, on every database alike, the way the integration lists already did:
   `400 "/<field> must not contain NUL characters [invalid-params]"`.
4. On PostgreSQL, `users.generatePersonalAccessToken` with a token name longer than its column
   (255) was a 500. Fix: 400 "The 'tokenName' param must not be longer than 255 characters".
5. On PostgreSQL, `users.create` (and `users.register`, `users.update`) with a name or username
   longer than 255 characters, or an email longer than 320, was a 500. Fix: ajv's
   "/name must NOT have more than 255 characters [invalid-params]", as `channels.setJoinCode` does.
6. An integer beyond 64 bits anywhere in a stored JSON value (`chat.postMessage` with
   `"customFields": 100000000000000000000`) failed the JSON encoder of the database column: a 500.
   Fix: the door reads it as Node's JSON.parse does, as a double (`1e+20`).
7. On PostgreSQL a NUL in an incoming hook's JSON payload (`{"text": "a\u0000b"}`) was a 500.
   Fix: a webhook's message is kept, with U+FFFD for each NUL (`chat.compose_post`, the one door
   of every post), on both databases alike: an alert is not lost for one odd byte.
8. The document said validation errors were FastAPI's 422 and documented no error envelope at
   all; the server answers 400/401/403 envelopes (tests/api/test_openapi.py covers it).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hookhub.api.routing import storable_body
from tests.conftest import RC, assert_error, assert_ok


async def _raw_post(rc: RC, path: str, body: str) -> httpx.Response:
    return await rc.http.post(
        f"/api/v1/{path}", content=body.encode(), headers={**rc.headers, "content-type": "application/json"}
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("channels.create", '{"name": "\\ud800"}'),
        ("channels.setTopic", '{"roomId": "GENERAL", "topic": "a\\udfffb"}'),
        ("chat.postMessage", '{"roomId": "\\ud800", "text": "x"}'),
        ("users.generatePersonalAccessToken", '{"tokenName": "\\ud800"}'),
        ("roles.addUserToRole", '{"roleName": "\\ud800", "username": "boss"}'),
    ],
)
async def test_a_lone_surrogate_in_a_body_is_no_server_error(admin: RC, path: str, body: str) -> None:
    r = await _raw_post(admin, path, body)
    assert r.status_code < 500, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.json()["success"] in (True, False)


async def test_a_lone_surrogate_is_stored_as_the_replacement_character(admin: RC) -> None:
    r = await _raw_post(admin, "channels.create", '{"name": "fuzz", "readOnly": false}')
    room_id = assert_ok(r)["channel"]["_id"]
    r = await _raw_post(
        admin, "channels.setTopic", f'{{"roomId": "{room_id}", "topic": "a\\ud800b\\ud83d\\ude00"}}'
    )
    assert assert_ok(r)["topic"] == "a\ufffdb\U0001f600"
    info = assert_ok(await admin.get("channels.info", roomId=room_id))
    assert info["channel"]["topic"] == "a\ufffdb\U0001f600"


async def test_a_surrogate_in_an_error_text_is_no_server_error(admin: RC) -> None:
    # the name comes back in the error text: it used to break the answer's JSON encoder
    r = await _raw_post(admin, "channels.create", '{"name": "a b\\ud800"}')
    body = assert_error(r, 400, "a b\ufffd is not a valid room name. [error-invalid-room-name]")
    assert body["errorType"] == "error-invalid-room-name"


def test_the_surrogate_scrub_keeps_everything_else() -> None:
    body = b'{"a": "x\\ud800", "b": "\\ud83d\\ude00", "\\udc00": [1, 1.5, null, true, 1234567890123456789]}'
    assert storable_body(body) == (
        b'{"a": "x\\ufffd", "b": "\\ud83d\\ude00", "\\ufffd": [1, 1.5, null, true, 1234567890123456789]}'
    )
    assert storable_body(b'{"a": "\\ud800"') == b'{"a": "\\ud800"'  # not JSON: untouched


@pytest.mark.parametrize(
    ("path", "key", "value"),
    [
        ("groups.convertToTeam", "roomId", 99999999999999999999),
        ("groups.convertToTeam", "roomId", ["x"]),
        ("groups.convertToTeam", "roomName", {"$ne": 1}),
        ("channels.convertToTeam", "channelId", 99999999999999999999),
        ("channels.convertToTeam", "channelName", ["general"]),
    ],
)
async def test_convert_to_team_refuses_a_room_that_is_not_a_string(
    admin: RC, path: str, key: str, value: Any
) -> None:
    r = await admin.post(path, {key: value})
    assert_error(r, 400, f"{key} must be string [invalid-params]", "invalid-params")


async def test_a_nul_in_a_body_is_refused(admin: RC) -> None:
    r = await _raw_post(admin, "channels.setTopic", '{"roomId": "GENERAL", "topic": "a\\u0000b"}')
    assert_error(r, 400, "/topic must not contain NUL characters [invalid-params]", "invalid-params")
    r = await _raw_post(
        admin, "chat.postMessage", '{"roomId": "GENERAL", "attachments": [{"text": "\\u0000"}]}'
    )
    assert_error(r, 400, "/attachments/0/text must not contain NUL characters [invalid-params]")
    # a NUL escaped as text is no NUL
    r = await _raw_post(admin, "channels.setTopic", '{"roomId": "GENERAL", "topic": "a\\\\u0000b"}')
    assert assert_ok(r)["topic"] == "a\\u0000b"


async def test_a_nul_in_the_query_string_is_refused(admin: RC, http: httpx.AsyncClient) -> None:
    r = await http.get("/api/v1/users.info?username=a%00b", headers=admin.headers)
    assert_error(r, 400, "/username must not contain NUL characters [invalid-params]", "invalid-params")
    r = await http.get("/api/v1/channels.info?roomName=gen%00eral", headers=admin.headers)
    assert_error(r, 400, "/roomName must not contain NUL characters [invalid-params]", "invalid-params")


async def test_a_token_name_longer_than_its_column_is_refused(admin: RC) -> None:
    r = await admin.post("users.generatePersonalAccessToken", tokenName="t" * 256)
    assert_error(r, 400, "The 'tokenName' param must not be longer than 255 characters")
    assert_ok(await admin.post("users.generatePersonalAccessToken", tokenName="t" * 255))


@pytest.mark.parametrize(
    ("field", "value", "limit"),
    [("name", "n" * 256, 255), ("username", "u" * 256, 255), ("email", "e" * 310 + "@example.com", 320)],
)
async def test_user_fields_longer_than_their_columns_are_refused(
    admin: RC, field: str, value: str, limit: int
) -> None:
    body = {
        "username": "longish",
        "email": "longish@example.com",
        "password": "pass-123",
        "name": "L",
        field: value,
    }
    r = await admin.post("users.create", body)
    assert_error(
        r, 400, f"/{field} must NOT have more than {limit} characters [invalid-params]", "invalid-params"
    )
    register = {
        "username": "longish",
        "email": "longish@example.com",
        "pass": "pass-123",
        "name": "L",
        field: value,
    }
    r = await admin.as_anonymous().post("users.register", register)
    assert_error(
        r, 400, f"/{field} must NOT have more than {limit} characters [invalid-params]", "invalid-params"
    )
    r = await admin.post("users.update", userId=admin.user_id, data={field: value})
    assert_error(r, 400, f"/data/{field} must NOT have more than {limit} characters [invalid-params]")
    # the longest value that fits is taken
    fits = {**body, field: value[-limit:] if field == "email" else value[:limit]}
    assert_ok(await admin.post("users.create", fits))


async def test_a_nul_in_a_hook_payload_is_kept_as_a_replacement_character(
    admin: RC, http: httpx.AsyncClient
) -> None:
    """PostgreSQL's text cannot hold a NUL (a 500 there before); a webhook's message is kept, on
    both databases, with U+FFFD in its place (in the text and in attachment fields)."""
    hook = assert_ok(
        await admin.post(
            "integrations.create",
            type="webhook-incoming",
            name="nul",
            enabled=True,
            username="boss",
            scriptEnabled=False,
            channel="#general",
        )
    )["integration"]
    r = await http.post(
        f"/hooks/{hook['_id']}/{hook['token']}",
        content=b'{"text": "a\\u0000b", "attachments": [{"title": "t\\u0000", "\\u0000k": "v"}]}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 200, r.text
    r = await http.post(
        f"/hooks/{hook['_id']}/{hook['token']}",
        content=b'{"text": "c\\u0000d"}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 200, r.text
    messages = assert_ok(await admin.get("channels.messages", roomId="GENERAL", count=2))["messages"]
    texts = sorted(m["msg"] for m in messages)
    assert texts == ["a\ufffdb", "c\ufffdd"]
    [with_attachment] = [m for m in messages if m["msg"] == "a\ufffdb"]
    assert with_attachment["attachments"][0]["title"] == "t\ufffd"


@pytest.mark.parametrize("custom", [100000000000000000000, {"a": -100000000000000000000}, [10**30]])
async def test_an_integer_beyond_64_bits_is_no_server_error(admin: RC, custom: Any) -> None:
    r = await admin.post("chat.postMessage", roomId="GENERAL", text="big", customFields=custom)
    assert r.status_code < 500, r.text
    r = await _raw_post(
        admin, "chat.postMessage", '{"roomId": "GENERAL", "text": "big", "customFields": {"n": 1e400}}'
    )
    assert r.status_code < 500, r.text


def test_an_integer_beyond_64_bits_becomes_the_double_node_makes() -> None:
    body = b'{"a": 100000000000000000000, "b": 9223372036854775807, "c": "12345678901234567890123", "d": 1%s}'
    assert storable_body(body % (b"0" * 400)) == (
        b'{"a": 1e+20, "b": 9223372036854775807, "c": "12345678901234567890123", "d": Infinity}'
    )
