"""The incoming-webhook rules that need no HTTP: body normalisation (webhook-runtime.md §2.3),
the destination guard and payload (§2.4, §2.8), error texts, idempotency keys, and message
building through the pipeline in a real transaction (§2.7)."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from hookhub.hub import Hub
from hookhub.ids import iso, random_id
from hookhub.runtime import incoming
from hookhub.runtime.incoming import Parsed, parse_body
from hookhub.runtime.rate_limit import RateLimiter
from hookhub.services.errors import Failure, InvalidParams, MeteorError
from hookhub.store import hook_receipts, integrations, messages, users
from hookhub.store.tables import hook_receipts as hook_receipts_table
from hookhub.store.tables import messages as messages_table

FORM = "application/x-www-form-urlencoded"
NOT_OBJECT = "Integration payload must be a JSON object, not an array or primitive"


# -- body normalisation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "raw", "expected"),
    [
        ("application/json", b'{"text": "hi"}', {"text": "hi"}),
        ("application/json; charset=utf-8", b'{"text": "hi"}', {"text": "hi"}),
        ("application/json", b"[1, 2]", {}),
        ("application/json", b'"hi"', {}),
        ("application/json", b"null", {}),
        ("application/json", b"{broken", {}),
        ("application/json", b"\xff\xfe\x00garbage", {}),
        ("application/json", b"", {}),
        ("", b'{"text": "no content type"}', {"text": "no content type"}),
        ("text/plain", b'{"text": "sns"}', {"text": "sns"}),
        ("text/plain", b"just words", {}),
        ("application/octet-stream", bytes(range(256)), {}),
        ("multipart/form-data; boundary=x", b'--x\r\n{"text": "no"}', {}),
        (FORM, b'payload={"text": "slack"}', {"text": "slack"}),
        (FORM, b"payload=%7B%22text%22%3A%22encoded%22%7D", {"text": "encoded"}),
        (FORM + "; charset=utf-8", b'payload={"text": "charset"}', {"text": "charset"}),
        (FORM, b"payload=not-json", {"payload": "not-json"}),
        (FORM, b'payload={"text": "a"}&other=1', {"payload": '{"text": "a"}', "other": "1"}),
        (FORM, b"text=hello+world&text=last", {"text": "last"}),
        (FORM, b"", {}),
        (FORM, b"\xff\xfe=\x00", {"\ufffd\ufffd": "\x00"}),
    ],
)
def test_parse_body(content_type: str, raw: bytes, expected: dict[str, Any]) -> None:
    parsed = parse_body(content_type, raw)
    assert parsed.error is None
    assert parsed.body == expected


@pytest.mark.parametrize("payload", [b"[1]", b"%5B%5D", b"3", b"%22text%22", b"null", b"true"])
def test_form_payload_must_be_an_object(payload: bytes) -> None:
    parsed = parse_body(FORM, b"payload=" + payload)
    assert parsed.body == {}
    assert isinstance(parsed.error, Failure)
    assert parsed.error.body() == {"success": False, "error": NOT_OBJECT}


def test_payload_is_only_unwrapped_for_a_form_content_type() -> None:
    assert parse_body("text/plain", b'payload={"text": "a"}').body == {}
    # Rocket.Chat unwraps only when the type starts with the form type
    assert parse_body(f"text/html, {FORM}", b'payload={"text": "a"}').body == {"payload": '{"text": "a"}'}


# -- destination guard and payload --------------------------------------------------------------------

INTEGRATION: dict[str, Any] = {"_id": "hook1", "channel": ["#general", "@alice"]}


@pytest.mark.parametrize(
    "body",
    [{"channel": "#x"}, {"channel": ["#x"]}, {"roomId": "abc"}, {"channel": "", "roomId": "abc"}],
)
def test_override_refused(body: dict[str, Any]) -> None:
    with pytest.raises(Failure) as caught:
        incoming.check_override(INTEGRATION, body)
    assert caught.value.error == "overriding destination channel is disabled for this integration"


@pytest.mark.parametrize("body", [{}, {"channel": ""}, {"roomId": None}, {"channel": [], "roomId": ""}])
def test_falsy_destinations_are_no_override(body: dict[str, Any]) -> None:
    incoming.check_override(INTEGRATION, body)
    assert incoming.message_payload(INTEGRATION, body)["channel"] == ["#general", "@alice"]


def test_override_allowed() -> None:
    allowed = {**INTEGRATION, "overrideDestinationChannelEnabled": True}
    incoming.check_override(allowed, {"channel": "#x"})
    assert incoming.message_payload(allowed, {"channel": "#x"})["channel"] == "#x"
    payload = incoming.message_payload(allowed, {"roomId": "r1", "channel": ""})
    assert payload["roomId"] == "r1" and "channel" not in payload


def test_bot_is_forced_and_body_untouched() -> None:
    body = {"text": "x", "bot": {"i": "spoofed"}}
    payload = incoming.message_payload(INTEGRATION, body)
    assert payload["bot"] == {"i": "hook1"}
    assert body == {"text": "x", "bot": {"i": "spoofed"}}


def test_integration_channel_as_a_string() -> None:
    assert incoming.message_payload({"_id": "h", "channel": "#legacy"}, {})["channel"] == ["#legacy"]
    assert incoming.message_payload({"_id": "h"}, {})["channel"] == []


def test_defaults() -> None:
    assert incoming.defaults_of({"alias": "CI", "emoji": ":robot:", "avatar": None}) == {
        "alias": "CI",
        "avatar": "",
        "emoji": ":robot:",
    }


def test_error_texts() -> None:
    assert incoming.error_text(MeteorError(None, "invalid-channel")) == "invalid-channel"
    assert incoming.error_text(MeteorError("The room", "error-room-archived")) == "error-room-archived"
    assert incoming.error_text(Failure("error-room-archived")) == "room_is_archived"
    assert incoming.error_text(Failure("error-not-allowed")) == "error-not-allowed"
    assert (
        incoming.error_text(InvalidParams(["/text must be string"]))
        == "/text must be string [invalid-params]"
    )


def test_idempotency_key_hash() -> None:
    assert incoming.key_hash(None) is None
    assert incoming.key_hash("   ") is None
    assert incoming.key_hash("abc") == incoming.key_hash(" abc ")
    assert incoming.key_hash("abc") != incoming.key_hash("abd")
    assert len(incoming.key_hash("x" * 10_000) or "") == 64


# -- the pipeline in a transaction -------------------------------------------------------------------


async def _run(
    hub: Hub, integration: dict[str, Any], parsed: Parsed
) -> tuple[incoming.HookAnswer, list[Any]]:
    async with hub.tx() as ctx:
        user = await users.get_by_id(ctx.conn, "rocket.cat")
        assert user is not None
        answer = await incoming.run_pipeline(ctx, integration, user, parsed)
        stored, _ = await messages.list_messages(ctx.conn, where=[], order_by=[], offset=0, limit=None)
    return answer, stored


async def test_empty_body_posts_nothing_without_script(hub: Hub) -> None:
    integration = {"_id": "h", "channel": ["#general"], "scriptEnabled": False}
    answer, stored = await _run(hub, integration, Parsed({}))
    assert (answer.status, answer.body) == (200, {"success": True})
    assert [m for m in stored if m["t"] is None] == []


async def test_empty_body_with_script_enabled_still_posts(hub: Hub) -> None:
    """Rocket.Chat's asymmetry (§2.4 step 6): with `scriptEnabled` an empty body goes on."""
    integration = {"_id": "h", "channel": ["#general"], "scriptEnabled": True, "alias": "CI"}
    answer, stored = await _run(hub, integration, Parsed({}))
    assert answer.status == 200
    posted = [m for m in stored if m["t"] is None]
    assert len(posted) == 1 and posted[0]["msg"] == "" and posted[0]["extra"]["alias"] == "CI"


async def test_deferred_payload_error(hub: Hub) -> None:
    with pytest.raises(Failure):
        await _run(hub, {"_id": "h", "channel": ["#general"]}, Parsed({}, Failure(NOT_OBJECT)))


async def test_message_building(hub: Hub) -> None:
    integration = {"_id": "h", "channel": ["#general"], "avatar": "https://example.com/default.png"}
    body = {
        "msg": "  trimmed  ",
        "alias": "Alias",
        "emoji": ":tada:",
        "attachments": [{"msg": " note ", "title": "T"}],
        "customFields": {},
        "separateResponse": False,
    }
    _answer, stored = await _run(hub, integration, Parsed(body))
    [message] = [m for m in stored if m["t"] is None]
    assert message["msg"] == "trimmed"
    extra = message["extra"]
    # payload emoji beats the integration's default avatar; exactly one of the two is kept
    assert extra["emoji"] == ":tada:" and "avatar" not in extra
    assert extra["alias"] == "Alias"
    assert extra["attachments"] == [{"text": "note", "title": "T"}]
    assert extra["parseUrls"] is False and extra["groupable"] is False
    assert extra["bot"] == {"i": "h"}
    assert "customFields" not in extra and "separateResponse" not in extra


# -- idempotency receipts ------------------------------------------------------------------------------


async def _stored_hook(hub: Hub) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": random_id(),
        "type": "webhook-incoming",
        "name": "receipts",
        "enabled": True,
        "username": "rocket.cat",
        "userId": "rocket.cat",
        "channel": ["#general"],
        "token": random_id(48),
        "scriptEnabled": False,
        "_createdAt": iso(hub.clock()),
        "_createdBy": {"_id": "rocket.cat", "username": "rocket.cat"},
    }
    async with hub.tx() as ctx:
        await integrations.insert_integration(ctx.conn, doc)
    return doc


def _call(hook: dict[str, Any], key: str | None, text: str = "x") -> incoming.HookCall:
    return incoming.HookCall(
        integration_id=hook["_id"],
        token=hook["token"],
        method="POST",
        url=f"/hooks/{hook['_id']}/{hook['token']}",
        client_ip="127.0.0.1",
        content_type="application/json",
        raw_body=orjson.dumps({"text": text}),
        idempotency_key=key,
    )


async def _count(hub: Hub, table: Any) -> int:
    async with hub.tx(write=False) as ctx:
        return len((await ctx.conn.execute(select(table.c.id))).all())


async def test_concurrent_twin_that_committed_first_wins(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    """The PostgreSQL race: both twins pass the receipt check, the second one's insert hits the
    unique key. Its messages roll back and it answers with the first one's receipt."""
    hook = await _stored_hook(hub)
    hashed = incoming.key_hash("twin")
    assert hashed is not None
    async with hub.tx() as ctx:
        await hook_receipts.insert_receipt(
            ctx.conn,
            hook["_id"],
            hashed,
            status=200,
            body={"success": True, "first": 1},
            created_at=ctx.now(),
        )
    real_replay = incoming._replay
    calls: list[int] = []

    async def blind_first(ctx: Any, integration_id: str, key: str) -> incoming.HookAnswer | None:
        calls.append(1)
        return None if len(calls) == 1 else await real_replay(ctx, integration_id, key)

    monkeypatch.setattr(incoming, "_replay", blind_first)
    headers: dict[str, str] = {}
    answer = await incoming.execute(hub, RateLimiter(), _call(hook, "twin"), headers)
    assert (answer.status, answer.body) == (200, {"success": True, "first": 1})
    assert headers[incoming.REPLAYED_HEADER] == "true"
    assert len(calls) == 2
    assert await _count(hub, messages_table) == 0


async def test_old_receipts_are_pruned(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = await _stored_hook(hub)
    async with hub.tx() as ctx:
        await hook_receipts.insert_receipt(
            ctx.conn,
            hook["_id"],
            "old" * 21 + "d",
            status=200,
            body={"success": True},
            created_at=ctx.now() - timedelta(hours=30),
        )
    monkeypatch.setattr(incoming, "_last_prune", -math.inf)
    await incoming.execute(hub, RateLimiter(), _call(hook, "fresh"), {})
    async with hub.tx(write=False) as ctx:
        keys = (await ctx.conn.execute(select(hook_receipts_table.c.key_hash))).scalars().all()
    assert keys == [incoming.key_hash("fresh")]
    # and not again within the sweep interval
    async with hub.tx() as ctx:
        await hook_receipts.insert_receipt(
            ctx.conn, hook["_id"], "x" * 64, status=200, body={}, created_at=ctx.now() - timedelta(hours=30)
        )
    await incoming.execute(hub, RateLimiter(), _call(hook, "another"), {})
    assert await _count(hub, hook_receipts_table) == 3
