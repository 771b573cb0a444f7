"""`/hooks/...` through the in-process app (webhook-runtime.md §2). Integrations are stored through
the store with realistic documents (rest-integrations.md §13.1); the post-as user gets the `bot`
role, as integrations.create gives it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select, update

from hookhub.hub import Hub
from hookhub.ids import iso, random_id
from hookhub.runtime import incoming
from hookhub.store import events, users
from hookhub.store import integrations as store
from hookhub.store.tables import hook_receipts, messages, subscriptions
from tests.api.test_channels import set_permission
from tests.conftest import RC, assert_error, assert_ok

INVALID_HOOK = "Invalid integration id or token provided."
OVERRIDE_DISABLED = "overriding destination channel is disabled for this integration"


async def give_bot_role(hub: Hub, user_id: str) -> None:
    async with hub.tx() as ctx:
        user = await users.get_by_id(ctx.conn, user_id)
        assert user is not None
        if "bot" not in user["roles"]:
            await users.update_user(ctx.conn, user_id, {"roles": [*user["roles"], "bot"]})


async def make_hook(
    hub: Hub,
    *,
    user_id: str = "rocket.cat",
    username: str = "rocket.cat",
    channel: list[str] | None = None,
    token: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Store an incoming integration as integrations.create would and return its document."""
    await give_bot_role(hub, user_id)
    now = iso(hub.clock())
    doc: dict[str, Any] = {
        "_id": random_id(),
        "type": "webhook-incoming",
        "name": "CI alerts",
        "enabled": True,
        "username": username,
        "userId": user_id,
        "channel": channel if channel is not None else ["#general"],
        "token": token or random_id(48),
        "scriptEnabled": False,
        "scriptEngine": "isolated-vm",
        "overrideDestinationChannelEnabled": False,
        "_createdAt": now,
        "_createdBy": {"_id": "rocket.cat", "username": "rocket.cat"},
        "_updatedAt": now,
        **fields,
    }
    async with hub.tx() as ctx:
        await store.insert_integration(ctx.conn, doc)
    return doc


def url_of(hook: dict[str, Any], *, legacy: bool = False) -> str:
    if legacy:
        return f"/hooks/{hook['_id']}/{hook['username']}/{hook['token']}"
    return f"/hooks/{hook['_id']}/{hook['token']}"


def json_call(hook: dict[str, Any], body: Any) -> incoming.HookCall:
    """A JSON POST to `hook`, for calling `incoming.execute` (the general path) directly."""
    return incoming.HookCall(
        integration_id=hook["_id"],
        token=hook["token"],
        method="POST",
        url=url_of(hook),
        client_ip="127.0.0.1",
        content_type="application/json",
        raw_body=httpx.Request("POST", "http://x", json=body).content,
    )


async def room_texts(rc: RC, room_id: str, family: str = "channels") -> list[str]:
    body = assert_ok(await rc.get(f"{family}.messages", roomId=room_id, count=200))
    return [m["msg"] for m in body["messages"] if "t" not in m]


async def room_messages(rc: RC, room_id: str, family: str = "channels") -> list[dict[str, Any]]:
    body = assert_ok(await rc.get(f"{family}.messages", roomId=room_id, count=200))
    return [m for m in body["messages"] if "t" not in m]


async def count_messages(hub: Hub, text: str | None = None) -> int:
    async with hub.tx(write=False) as ctx:
        stmt = select(messages.c.id).where(messages.c.t.is_(None))
        if text is not None:
            stmt = stmt.where(messages.c.msg == text)
        return len((await ctx.conn.execute(stmt)).all())


@pytest.fixture
async def hook(hub: Hub, admin: RC) -> dict[str, Any]:
    return await make_hook(hub)


# -- posting -----------------------------------------------------------------------------------------


async def test_json_post_stores_a_normal_message_and_its_event(
    hub: Hub, http: httpx.AsyncClient, admin: RC, hook: dict[str, Any]
) -> None:
    r = await http.post(url_of(hook), json={"text": "  build #42 passed  "})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"success": True}

    stored = await room_messages(admin, "GENERAL")
    assert [m["msg"] for m in stored] == ["build #42 passed"]
    message = stored[0]
    assert message["bot"] == {"i": hook["_id"]}
    assert message["u"]["_id"] == "rocket.cat"
    assert message["groupable"] is False
    assert message["parseUrls"] is True

    async with hub.tx(write=False) as ctx:
        sent = [e for e in await events.list_events(ctx.conn) if e["type"] == "messageSent"]
    assert [e["message_id"] for e in sent] == [message["_id"]]


async def test_client_bot_field_is_overwritten(
    http: httpx.AsyncClient, admin: RC, hook: dict[str, Any]
) -> None:
    assert_ok(await http.post(url_of(hook), json={"text": "x", "bot": {"i": "someone-else"}}))
    assert (await room_messages(admin, "GENERAL"))[0]["bot"] == {"i": hook["_id"]}


async def test_form_payload_is_unwrapped(http: httpx.AsyncClient, admin: RC, hook: dict[str, Any]) -> None:
    # raw, as Rocket.Chat's own suite sends it (spaces and `#` unencoded)
    r = await http.post(
        url_of(hook),
        content='payload={"msg": "Message as form JSON at #1"}',
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert_ok(r)
    r = await http.post(url_of(hook), data={"payload": '{"text": "Slack style", "username": "ci"}'})
    assert_ok(r)
    stored = await room_messages(admin, "GENERAL")
    assert [m["msg"] for m in stored] == ["Slack style", "Message as form JSON at #1"]
    assert stored[0]["alias"] == "ci"


async def test_form_payload_that_is_not_an_object(
    hub: Hub, http: httpx.AsyncClient, admin: RC, hook: dict[str, Any]
) -> None:
    for payload in ("[1, 2]", '"text"', "3"):
        r = await http.post(url_of(hook), data={"payload": payload})
        assert_error(r, 400, "Integration payload must be a JSON object, not an array or primitive")
    assert await count_messages(hub) == 0


async def test_plain_form_fields_are_the_body(
    http: httpx.AsyncClient, admin: RC, hook: dict[str, Any]
) -> None:
    assert_ok(await http.post(url_of(hook), data={"text": "from a form", "emoji": ":smile:"}))
    stored = await room_messages(admin, "GENERAL")
    assert stored[0]["msg"] == "from a form"
    assert stored[0]["emoji"] == ":smile:"


async def test_query_parameters_never_become_text(
    hub: Hub, http: httpx.AsyncClient, admin: RC, hook: dict[str, Any]
) -> None:
    r = await http.get(url_of(hook), params={"text": "hi", "channel": "#other"})
    assert r.status_code == 200 and r.json() == {"success": True}
    r = await http.post(url_of(hook) + "?text=hi&msg=hi")
    assert r.status_code == 200 and r.json() == {"success": True}
    r = await http.post(url_of(hook) + "?text=from-query", json={"text": "from body"})
    assert_ok(r)
    assert await room_texts(admin, "GENERAL") == ["from body"]


async def test_legacy_three_segment_route(http: httpx.AsyncClient, admin: RC, hook: dict[str, Any]) -> None:
    assert_ok(await http.post(url_of(hook, legacy=True), json={"text": "legacy"}))
    assert_ok(await http.post(f"/hooks/{hook['_id']}/anything-at-all/{hook['token']}", json={"text": "any"}))
    assert await room_texts(admin, "GENERAL") == ["any", "legacy"]


async def test_percent_encoded_token(hub: Hub, http: httpx.AsyncClient, admin: RC) -> None:
    """Very old tokens are base64 with `/`, `+` and `=`, URL-encoded in the hook URL."""
    hook = await make_hook(hub, token="abc/DEF+ghi=")
    assert_ok(await http.post(f"/hooks/{hook['_id']}/{quote(hook['token'], safe='')}", json={"text": "old"}))
    assert await room_texts(admin, "GENERAL") == ["old"]


async def test_empty_bodies_post_nothing(
    hub: Hub, http: httpx.AsyncClient, admin: RC, hook: dict[str, Any]
) -> None:
    for kwargs in ({}, {"json": {}}, {"content": b"", "headers": {"content-type": "application/json"}}):
        r = await http.post(url_of(hook), **kwargs)  # type: ignore[arg-type]
        assert r.status_code == 200 and r.json() == {"success": True}
    assert await count_messages(hub) == 0


# -- refusals ------------------------------------------------------------------------------------------


async def test_wrong_token_or_id(hub: Hub, http: httpx.AsyncClient, admin: RC, hook: dict[str, Any]) -> None:
    token = hook["token"]
    # the last character replaced by one it certainly is not (a fixed "x" is the real token 1 time in 60)
    near_miss = token[:-1] + ("y" if token.endswith("x") else "x")
    for url in (
        f"/hooks/{hook['_id']}/{near_miss}",
        f"/hooks/{hook['_id']}/{hook['token']}extra",
        f"/hooks/nope/{hook['token']}",
        f"/hooks/{hook['_id']}/rocket.cat/wrong",
    ):
        assert_error(await http.post(url, json={"text": "no"}), 404, INVALID_HOOK)
        assert_error(await http.get(url), 404, INVALID_HOOK)
    assert await count_messages(hub) == 0


async def test_outgoing_integration_tokens_do_not_open_hooks(
    hub: Hub, http: httpx.AsyncClient, admin: RC
) -> None:
    hook = await make_hook(hub, type="webhook-outgoing", event="sendMessage", urls=["http://127.0.0.1:9/x"])
    assert_error(await http.post(url_of(hook), json={"text": "no"}), 404, INVALID_HOOK)


async def test_disabled(hub: Hub, http: httpx.AsyncClient, admin: RC) -> None:
    hook = await make_hook(hub, enabled=False)
    assert_error(await http.post(url_of(hook), json={"text": "no"}), 503, "Service Unavailable")
    assert await count_messages(hub) == 0


async def test_missing_user(hub: Hub, http: httpx.AsyncClient, admin: RC) -> None:
    hook = await make_hook(hub)
    async with hub.tx() as ctx:
        doc = await store.get_integration(ctx.conn, hook["_id"])
        assert doc is not None
        await store.replace_integration(ctx.conn, {**doc, "userId": "gone"})
    r = await http.post(url_of(hook), json={"text": "no"})
    assert_error(r, 401, "You must be logged in to do this.")


async def test_override_refused(hub: Hub, http: httpx.AsyncClient, admin: RC, hook: dict[str, Any]) -> None:
    other = assert_ok(await admin.post("channels.create", name="elsewhere"))["channel"]
    for body in ({"text": "x", "channel": ["elsewhere"]}, {"text": "x", "roomId": other["_id"]}):
        assert_error(await http.post(url_of(hook), json=body), 400, OVERRIDE_DISABLED)
    assert await count_messages(hub) == 0
    # falsy destinations are no override
    assert_ok(await http.post(url_of(hook), json={"text": "fine", "channel": "", "roomId": None}))
    assert await room_texts(admin, "GENERAL") == ["fine"]


async def test_override_allowed(hub: Hub, http: httpx.AsyncClient, admin: RC) -> None:
    hook = await make_hook(hub, overrideDestinationChannelEnabled=True)
    other = assert_ok(await admin.post("channels.create", name="elsewhere"))["channel"]
    assert_ok(await http.post(url_of(hook), json={"text": "by name", "channel": ["elsewhere"]}))
    assert_ok(await http.post(url_of(hook), json={"text": "by hash", "channel": "#elsewhere"}))
    assert_ok(await http.post(url_of(hook), json={"text": "by id", "roomId": other["_id"]}))
    assert await room_texts(admin, other["_id"]) == ["by id", "by hash", "by name"]
    assert await room_texts(admin, "GENERAL") == []
    members = assert_ok(await admin.get("channels.members", roomId=other["_id"]))["members"]
    assert "rocket.cat" in [m["username"] for m in members]  # auto-joined


async def test_direct_message_to_user(hub: Hub, http: httpx.AsyncClient, admin: RC, alice: RC) -> None:
    hook = await make_hook(hub, channel=["@alice"])
    assert_ok(await http.post(url_of(hook), json={"text": "psst", "separateResponse": True}))
    dms = assert_ok(await alice.get("im.list"))["ims"]
    assert len(dms) == 1
    assert await room_texts(alice, dms[0]["_id"], "im") == ["psst"]


async def test_private_group_the_user_cannot_post_to(
    hub: Hub, http: httpx.AsyncClient, admin: RC, bob: RC
) -> None:
    group = assert_ok(await admin.post("groups.create", name="secret"))["group"]
    assert bob.user_id is not None
    hook = await make_hook(hub, user_id=bob.user_id, username="bob", channel=["#secret"])
    assert_error(await http.post(url_of(hook), json={"text": "let me in"}), 400, "error-not-allowed")
    assert await room_texts(admin, group["_id"], "groups") == []
    async with hub.tx(write=False) as ctx:
        sub = await ctx.conn.execute(
            select(subscriptions.c.id).where(
                subscriptions.c.rid == group["_id"], subscriptions.c.user_id == bob.user_id
            )
        )
        assert sub.first() is None


async def test_unknown_room(hub: Hub, http: httpx.AsyncClient, admin: RC) -> None:
    hook = await make_hook(hub, channel=["#nowhere"])
    assert_error(await http.post(url_of(hook), json={"text": "x"}), 400, "invalid-channel")


async def test_archived_and_read_only_rooms(hub: Hub, http: httpx.AsyncClient, admin: RC) -> None:
    ro = assert_ok(await admin.post("channels.create", name="announcements", readOnly=True))["channel"]
    archived = assert_ok(await admin.post("channels.create", name="old"))["channel"]
    assert_ok(await admin.post("channels.archive", roomId=archived["_id"]))
    hook = await make_hook(hub, channel=["#old"])
    assert_error(await http.post(url_of(hook), json={"text": "x"}), 400, "room_is_archived")
    ro_hook = await make_hook(hub, channel=["#announcements"])
    # the bot role does not hold post-readonly (admins, owners and moderators do)
    r = await http.post(url_of(ro_hook), json={"text": "x"})
    assert_error(r, 400, "You can't send messages because the room is readonly.")
    assert await room_texts(admin, ro["_id"]) == []
    assert await count_messages(hub) == 0


async def test_without_separate_response_a_missing_destination_is_skipped_and_named(
    hub: Hub, http: httpx.AsyncClient, admin: RC
) -> None:
    """Issue #9: an integration whose room is gone (deleted, or deleted with its team) keeps
    posting to its other rooms and names the missing one; Rocket.Chat would answer 400 after
    posting to the destinations before it. With no destination left: 400 invalid-channel."""
    hook = await make_hook(hub, channel=["#general", "#nowhere"])
    r = await http.post(url_of(hook), json={"text": "x"})
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "missingChannels": ["#nowhere"]}
    assert await count_messages(hub) == 1
    nowhere = await make_hook(hub, channel=["#nowhere", "#neither"])
    assert_error(await http.post(url_of(nowhere), json={"text": "y"}), 400, "invalid-channel")
    assert await count_messages(hub) == 1


async def test_separate_response_mixed(hub: Hub, http: httpx.AsyncClient, admin: RC) -> None:
    hook = await make_hook(hub, channel=["#general", "#nowhere", "#general"])
    r = await http.post(url_of(hook), json={"text": "both", "separateResponse": True})
    body = assert_ok(r)
    assert list(body) == ["responses", "success"]
    first, second = body["responses"]
    assert first["channel"] == "#general"
    assert first["message"]["msg"] == "both" and first["message"]["rid"] == "GENERAL"
    assert first["message"]["bot"] == {"i": hook["_id"]}
    assert second == {"channel": "#nowhere", "error": "invalid-channel"}
    assert await room_texts(admin, "GENERAL") == ["both"]


async def test_separate_response_all_failed(hub: Hub, http: httpx.AsyncClient, admin: RC) -> None:
    hook = await make_hook(hub, channel=["#nowhere", "@nobody"])
    r = await http.post(url_of(hook), json={"text": "x", "separateResponse": True})
    assert r.status_code == 400
    assert r.json() == {
        "responses": [
            {"channel": "#nowhere", "error": "invalid-channel"},
            {"channel": "@nobody", "error": "invalid-channel"},
        ],
        "success": False,
    }
    assert await count_messages(hub) == 0


async def test_separate_response_refused_destination_leaves_no_auto_join(
    hub: Hub, http: httpx.AsyncClient, admin: RC
) -> None:
    """A destination refused after the auto-join (text too long) does not keep the join."""
    room = assert_ok(await admin.post("channels.create", name="quiet"))["channel"]
    hook = await make_hook(hub, channel=["#quiet"])
    r = await http.post(url_of(hook), json={"text": "x" * 6000, "separateResponse": True})
    assert r.status_code == 400
    members = assert_ok(await admin.get("channels.members", roomId=room["_id"]))["members"]
    assert "rocket.cat" not in [m["username"] for m in members]


async def test_attachments(hub: Hub, http: httpx.AsyncClient, admin: RC, hook: dict[str, Any]) -> None:
    attachment = {
        "color": "#ff0000",
        "title": "Build failed",
        "title_link": "https://ci.example.com/42",
        "msg": "  step 3  ",
        "fields": [{"title": "Duration", "value": 42, "short": True}],
    }
    assert_ok(await http.post(url_of(hook), json={"text": "see below", "attachments": [attachment]}))
    message = (await room_messages(admin, "GENERAL"))[0]
    assert message["parseUrls"] is False
    [stored] = message["attachments"]
    assert stored["text"] == "step 3" and "msg" not in stored
    assert stored["fields"] == [{"title": "Duration", "value": "42", "short": True}]


async def test_attachment_with_javascript_link(
    hub: Hub, http: httpx.AsyncClient, admin: RC, hook: dict[str, Any]
) -> None:
    for link in ("javascript:alert(1)", "JavaScript:alert(1)", "/relative/path"):
        body = {"text": "x", "attachments": [{"title": "t", "title_link": link}]}
        assert_error(await http.post(url_of(hook), json=body), 400, "Invalid href value provided")
    body = {"text": "x", "attachments": [{"actions": [{"type": "button", "url": "javascript:alert(1)"}]}]}
    assert_error(await http.post(url_of(hook), json=body), 400, "Invalid href value provided")
    assert_error(
        await http.post(url_of(hook), json={"text": "x", "avatar": "javascript:x"}),
        400,
        "Invalid href value provided",
    )
    assert await count_messages(hub) == 0


async def test_non_array_attachments_are_ignored(
    http: httpx.AsyncClient, admin: RC, hook: dict[str, Any]
) -> None:
    assert_ok(await http.post(url_of(hook), json={"text": "x", "attachments": {"title": "no"}}))
    message = (await room_messages(admin, "GENERAL"))[0]
    assert "attachments" not in message


async def test_over_long_text(hub: Hub, http: httpx.AsyncClient, admin: RC, hook: dict[str, Any]) -> None:
    assert_error(await http.post(url_of(hook), json={"text": "x" * 5001}), 400, "error-message-size-exceeded")
    assert_ok(await http.post(url_of(hook), json={"text": "x" * 5000}))
    assert await count_messages(hub) == 1


async def test_huge_body(hub: Hub, http: httpx.AsyncClient, admin: RC, hook: dict[str, Any]) -> None:
    body = b'{"text": "' + b"x" * (1024 * 1024) + b'"}'
    r = await http.post(url_of(hook), content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {
        "success": False,
        "error": "Request body too large: at most 1048576 bytes are accepted",
    }
    assert await count_messages(hub) == 0


async def test_garbage_bodies_never_fail_the_server(
    hub: Hub, http: httpx.AsyncClient, admin: RC, hook: dict[str, Any]
) -> None:
    garbage = bytes(range(256)) * 8
    for content_type in (
        "application/json",
        "application/octet-stream",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "",
    ):
        r = await http.post(url_of(hook), content=garbage, headers={"content-type": content_type})
        assert r.status_code < 500, (content_type, r.text)
        assert r.headers["content-type"] == "application/json"
    for body in (b"[1,2,3]", b'"text"', b"null", b"{not json", b"\xff\xfe{}"):
        r = await http.post(url_of(hook), content=body, headers={"content-type": "application/json"})
        assert r.status_code == 200 and r.json() == {"success": True}
    assert_error(
        await http.post(url_of(hook), json={"text": 12}), 400, "/text must be string [invalid-params]"
    )


async def test_json_as_text_plain(http: httpx.AsyncClient, admin: RC, hook: dict[str, Any]) -> None:
    """Some senders (AWS SNS) post JSON as text/plain."""
    r = await http.post(url_of(hook), content=b'{"text": "sns"}', headers={"content-type": "text/plain"})
    assert_ok(r)
    assert await room_texts(admin, "GENERAL") == ["sns"]


async def test_message_builder_precedence(hub: Hub, http: httpx.AsyncClient, admin: RC) -> None:
    hook = await make_hook(hub, alias="Default alias", emoji=":robot:")
    assert_ok(await http.post(url_of(hook), json={"msg": "only msg"}))
    assert_ok(
        await http.post(
            url_of(hook),
            json={
                "text": "text wins",
                "msg": "msg loses",
                "username": "user wins",
                "alias": "alias loses",
                "icon_url": "https://example.com/a.png",
                "icon_emoji": ":x:",
                "blocks": [{"type": "section"}],
                "groupable": True,
                "parseUrls": False,
            },
        )
    )
    newest, oldest = await room_messages(admin, "GENERAL")
    assert oldest["msg"] == "only msg"
    assert oldest["alias"] == "Default alias" and oldest["emoji"] == ":robot:" and "avatar" not in oldest
    assert newest["msg"] == "text wins"
    assert newest["alias"] == "user wins"
    assert newest["avatar"] == "https://example.com/a.png" and "emoji" not in newest
    assert "blocks" not in newest
    assert newest["groupable"] is True and newest["parseUrls"] is False


async def test_thread_reply(http: httpx.AsyncClient, admin: RC, hook: dict[str, Any]) -> None:
    root = assert_ok(await admin.post("chat.postMessage", channel="#general", text="root"))["message"]
    assert_ok(await http.post(url_of(hook), json={"text": "reply", "tmid": root["_id"]}))
    reply = next(m for m in await room_messages(admin, "GENERAL") if m["msg"] == "reply")
    assert reply["tmid"] == root["_id"]


# -- routes ------------------------------------------------------------------------------------------


async def test_helper_routes(http: httpx.AsyncClient, admin: RC, hook: dict[str, Any]) -> None:
    for prefix in ("info", "sample"):
        for url in (
            f"/hooks/{prefix}/{hook['_id']}/{hook['token']}",
            f"/hooks/{prefix}/{hook['_id']}/rocket.cat/{hook['token']}",
        ):
            r = await http.get(url)
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == "application/json"
            if prefix == "info":
                assert r.json() == {"success": True}
            else:
                sample = r.json()
                assert [s["text"] for s in sample] == ["Sample text 1", "Sample text 2", "Sample text 3"]
                assert {s["user_name"] for s in sample} == {"rocket.cat"}
                assert {s["trigger_word"] for s in sample} == {"Sample"}
    assert_error(await http.get(f"/hooks/info/{hook['_id']}/nope"), 404, INVALID_HOOK)
    assert_error(await http.post(f"/hooks/info/{hook['_id']}/{hook['token']}"), 404, "Resource not found")


async def test_no_put_delete_routes(http: httpx.AsyncClient, hook: dict[str, Any]) -> None:
    for method in ("PUT", "DELETE", "PATCH"):
        r = await http.request(method, url_of(hook), json={"text": "x"})
        assert_error(r, 404, "Resource not found")
    assert_error(await http.post("/hooks/a/b/c/d/e"), 404, "Resource not found")
    assert_error(await http.post(f"/hooks/{hook['_id']}"), 404, "Resource not found")


async def test_preflight_and_cors(http: httpx.AsyncClient, hook: dict[str, Any]) -> None:
    r = await http.options(url_of(hook))
    assert r.status_code == 200 and r.text == "OK"
    r = await http.post(url_of(hook), json={})
    assert r.headers["access-control-allow-origin"] == "*"


async def test_zapier_add_and_remove(
    hub: Hub, http: httpx.AsyncClient, admin: RC, hook: dict[str, Any]
) -> None:
    add = f"/hooks/add/{hook['_id']}/{hook['token']}"
    remove = f"/hooks/remove/{hook['_id']}/{hook['token']}"
    subscribe = {
        "event": "newMessageOnChannel",
        "name": "zap",
        "target_url": "https://hooks.zapier.example/1",
        "data": {"channel_name": "general", "trigger_words": ["deploy"]},
    }
    # the hook's user creates the outgoing integration: its permissions apply
    assert_error(await http.post(add, json=subscribe), 400, "not_authorized")
    for permission in ("manage-outgoing-integrations", "manage-own-outgoing-integrations"):
        await set_permission(hub, permission, ["admin", "bot"])
    r = await http.post(add, json=subscribe)
    created = assert_ok(r)
    assert created["type"] == "webhook-outgoing"
    assert created["channel"] == ["#general"]
    assert created["urls"] == ["https://hooks.zapier.example/1"]
    assert created["enabled"] is True and len(created["token"]) == 24

    r = await http.post(add, json={"event": "newMessageOnChannel", "name": "zap"})
    assert_error(r, 400, "must have required property 'target_url' [invalid-params]", "invalid-params")
    r = await http.post(add, json={"event": "other", "name": "z", "target_url": "https://x.example"})
    assert r.status_code == 400 and r.json()["errorType"] == "invalid-params"

    assert_ok(await http.post(remove, json={"target_url": "https://hooks.zapier.example/1"}))
    async with hub.tx(write=False) as ctx:
        assert await store.get_integration(ctx.conn, created["_id"]) is None
    assert_error(
        await http.post(remove, json={"target_url": "https://hooks.zapier.example/1"}),
        400,
        "integration-not-found",
    )


# -- rate limiting -------------------------------------------------------------------------------------


class TestRateLimit:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"hooks_rate_limit": 3}

    async def test_headers_and_429(
        self, hub: Hub, http: httpx.AsyncClient, admin: RC, hook: dict[str, Any]
    ) -> None:
        remaining = []
        for _ in range(3):
            r = await http.post(url_of(hook), json={"text": "ok"})
            assert_ok(r)
            assert r.headers["x-ratelimit-limit"] == "3"
            remaining.append(r.headers["x-ratelimit-remaining"])
            reset = int(r.headers["x-ratelimit-reset"])
        assert remaining == ["2", "1", "0"]
        r = await http.post(url_of(hook), json={"text": "too many"})
        assert r.status_code == 429
        assert r.headers["content-type"] == "application/json"
        assert r.headers["x-ratelimit-remaining"] == "0"
        assert int(r.headers["x-ratelimit-reset"]) == reset
        error = r.json()["error"]
        assert r.json()["success"] is False
        assert error.startswith("Error, too many requests. Please slow down. You must wait ")
        assert error.endswith(" seconds before trying this endpoint again. [error-too-many-requests]")
        assert await count_messages(hub) == 3
        # each hook URL has its own budget: the legacy form counts apart
        assert_ok(await http.post(url_of(hook, legacy=True), json={"text": "legacy"}))

    async def test_integration_override(self, hub: Hub, http: httpx.AsyncClient, admin: RC) -> None:
        unlimited = await make_hook(hub, rateLimit=0)
        for _ in range(6):
            r = await http.post(url_of(unlimited), json={"text": "ok"})
            assert_ok(r)
            assert "x-ratelimit-limit" not in r.headers
        raised = await make_hook(hub, rateLimit=5)
        statuses = [(await http.post(url_of(raised), json={})).status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]

    async def test_unknown_tokens_are_not_counted(
        self, http: httpx.AsyncClient, hook: dict[str, Any]
    ) -> None:
        for _ in range(5):
            assert_error(await http.post(f"/hooks/{hook['_id']}/wrong"), 404, INVALID_HOOK)
        assert_ok(await http.post(url_of(hook), json={}))


# -- idempotency -----------------------------------------------------------------------------------------


async def test_idempotency_key_replays_without_posting(
    hub: Hub, http: httpx.AsyncClient, admin: RC, hook: dict[str, Any]
) -> None:
    headers = {"Idempotency-Key": "alert-1"}
    first = await http.post(url_of(hook), json={"text": "once"}, headers=headers)
    assert_ok(first)
    assert "idempotent-replayed" not in first.headers
    again = await http.post(url_of(hook), json={"text": "once"}, headers=headers)
    assert again.status_code == first.status_code and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    # Standard Webhooks' header counts too; another key posts again
    assert_ok(await http.post(url_of(hook), json={"text": "once"}, headers={"webhook-id": "alert-1"}))
    assert_ok(await http.post(url_of(hook), json={"text": "once"}, headers={"Idempotency-Key": "alert-2"}))
    assert await count_messages(hub, "once") == 2


async def test_idempotency_replays_separate_responses(hub: Hub, http: httpx.AsyncClient, admin: RC) -> None:
    hook = await make_hook(hub, channel=["#general", "#nowhere"])
    body = {"text": "x", "separateResponse": True}
    first = await http.post(url_of(hook), json=body, headers={"webhook-id": "msg_1"})
    again = await http.post(url_of(hook), json=body, headers={"webhook-id": "msg_1"})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert await count_messages(hub) == 1


async def test_idempotency_keys_are_per_integration(hub: Hub, http: httpx.AsyncClient, admin: RC) -> None:
    one, two = await make_hook(hub), await make_hook(hub)
    for hook in (one, two):
        assert_ok(await http.post(url_of(hook), json={"text": "x"}, headers={"Idempotency-Key": "k"}))
    assert await count_messages(hub) == 2


async def test_failed_requests_leave_no_receipt(
    hub: Hub, http: httpx.AsyncClient, admin: RC, hook: dict[str, Any]
) -> None:
    headers = {"Idempotency-Key": "retry-me"}
    r = await http.post(url_of(hook), json={"text": "x", "channel": "#other"}, headers=headers)
    assert_error(r, 400, OVERRIDE_DISABLED)
    assert_ok(await http.post(url_of(hook), json={"text": "fixed"}, headers=headers))
    assert await room_texts(admin, "GENERAL") == ["fixed"]


async def test_receipts_expire_after_a_day(
    hub: Hub, http: httpx.AsyncClient, admin: RC, hook: dict[str, Any]
) -> None:
    headers = {"Idempotency-Key": "daily"}
    assert_ok(await http.post(url_of(hook), json={"text": "x"}, headers=headers))
    async with hub.tx() as ctx:
        await ctx.conn.execute(update(hook_receipts).values(created_at=hub.clock() - timedelta(hours=25)))
    r = await http.post(url_of(hook), json={"text": "x"}, headers=headers)
    assert_ok(r)
    assert "idempotent-replayed" not in r.headers
    assert await count_messages(hub) == 2
    async with hub.tx(write=False) as ctx:
        assert len((await ctx.conn.execute(select(hook_receipts.c.id))).all()) == 1


async def test_concurrent_duplicates_post_once(
    hub: Hub, http: httpx.AsyncClient, admin: RC, hook: dict[str, Any]
) -> None:
    async def send() -> httpx.Response:
        return await http.post(url_of(hook), json={"text": "dup"}, headers={"Idempotency-Key": "burst"})

    answers = await asyncio.gather(*(send() for _ in range(15)))
    assert {r.status_code for r in answers} == {200}
    assert all(r.json() == {"success": True} for r in answers)
    assert sum(1 for r in answers if "idempotent-replayed" not in r.headers) == 1
    assert await count_messages(hub, "dup") == 1


async def test_concurrent_distinct_posts_all_land(
    hub: Hub, http: httpx.AsyncClient, admin: RC, hook: dict[str, Any]
) -> None:
    async def send(n: int) -> httpx.Response:
        return await http.post(url_of(hook), json={"text": f"burst {n}"})

    answers = await asyncio.gather(*(send(n) for n in range(20)))
    assert [r.status_code for r in answers] == [200] * 20
    texts = await room_texts(admin, "GENERAL")
    assert sorted(texts) == sorted(f"burst {n}" for n in range(20))
    async with hub.tx(write=False) as ctx:
        sent = [e for e in await events.list_events(ctx.conn) if e["type"] == "messageSent"]
    assert len(sent) == 20
    room = assert_ok(await admin.get("channels.info", roomId="GENERAL"))["channel"]
    assert room["msgs"] == 20
