"""chat.* (core-api.md §9): postMessage target resolution and checks, sendMessage, update,
delete, getMessage, and the outbox events they write."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from hookhub.hub import Hub
from hookhub.ids import utcnow
from hookhub.services import chat, outbox
from hookhub.services.rooms import create_room
from hookhub.store import access, events, messages, rooms, users
from hookhub.store.rows import Row
from tests.conftest import RC, assert_error, assert_ok

# -- helpers shared by the other test modules of this area --------------------------------------


async def user_row(hub: Hub, username: str) -> Row:
    async with hub.tx(write=False) as ctx:
        row = await users.get_by_username(ctx.conn, username)
    assert row is not None
    return row


async def make_room(
    hub: Hub, owner: str, name: str, t: str = "c", *, members: tuple[str, ...] = (), **room: Any
) -> Row:
    """A channel or group created straight through the service (no dependency on channels.*)."""
    creator = await user_row(hub, owner)
    async with hub.tx() as ctx:
        row = await create_room(ctx, creator, "p" if t == "p" else "c", name, members=members)
        if room:
            await rooms.update_room(ctx.conn, row["id"], room)
        fresh = await rooms.get_room(ctx.conn, row["id"])
    assert fresh is not None
    return fresh


async def room_row(hub: Hub, room_id: str) -> Row:
    async with hub.tx(write=False) as ctx:
        row = await rooms.get_room(ctx.conn, room_id)
    assert row is not None
    return row


async def is_member(hub: Hub, room_id: str, user_id: str | None) -> bool:
    async with hub.tx(write=False) as ctx:
        return await rooms.get_subscription(ctx.conn, room_id, user_id or "") is not None


async def set_permission(hub: Hub, permission: str, roles: list[str]) -> None:
    async with hub.tx() as ctx:
        await access.set_permission_roles(ctx.conn, permission, roles, ctx.now())
    hub.permissions.invalidate()


async def events_of(hub: Hub, kind: str) -> list[Row]:
    async with hub.tx(write=False) as ctx:
        rows = await events.list_events(ctx.conn)
    return [r for r in rows if r["type"] == kind]


async def post(client: RC, **body: Any) -> dict[str, Any]:
    return assert_ok(await client.post("chat.postMessage", body))


# -- chat.postMessage ------------------------------------------------------------------------------


async def test_post_to_general_by_id(hub: Hub, alice: RC) -> None:
    before = utcnow()
    body = await post(alice, channel="GENERAL", text="  hello  ")
    assert body["channel"] == "GENERAL"
    assert isinstance(body["ts"], int) and body["ts"] >= int(before.timestamp() * 1000) - 1
    message = body["message"]
    assert message["msg"] == "hello"
    assert message["rid"] == "GENERAL"
    assert message["u"] == {"_id": alice.user_id, "username": "alice", "name": "Alice"}
    assert message["groupable"] is False
    assert message["parseUrls"] is True
    assert "alias" not in message and "attachments" not in message and "editedAt" not in message
    assert message["ts"].endswith("Z") and message["_updatedAt"] == message["ts"]
    room = await room_row(hub, "GENERAL")
    assert room["last_message"]["_id"] == message["_id"]


async def test_post_without_text_stores_empty_msg(alice: RC) -> None:
    body = await post(alice, channel="GENERAL")
    assert body["message"]["msg"] == ""


async def test_post_records_message_sent_event(hub: Hub, alice: RC) -> None:
    body = await post(alice, roomId="GENERAL", text="evented")
    sent = await events_of(hub, outbox.MESSAGE_SENT)
    assert [e["message_id"] for e in sent] == [body["message"]["_id"]]
    assert sent[0]["payload"]["message"]["msg"] == "evented"
    assert sent[0]["room_id"] == "GENERAL"


async def test_post_channel_is_echoed_exactly(alice: RC) -> None:
    for target in ("#general", "general", "#GENERAL"):
        body = await post(alice, channel=target, text="x")
        assert body["channel"] == target
        assert body["message"]["rid"] == "GENERAL"


async def test_post_to_several_targets_reports_the_first(hub: Hub, alice: RC, bob: RC) -> None:
    await make_room(hub, "alice", "second")
    body = await post(alice, channel=["#second", "#general", "#second"], text="both")
    assert body["channel"] == "#second"
    sent = await events_of(hub, outbox.MESSAGE_SENT)
    assert sorted(e["room_id"] for e in sent) == sorted(["GENERAL", body["message"]["rid"]])


async def test_post_auto_joins_a_public_channel(hub: Hub, admin: RC, alice: RC) -> None:
    room = await make_room(hub, "boss", "lobby")
    assert not await is_member(hub, room["id"], alice.user_id)
    body = await post(alice, channel="#lobby", text="hi all")
    assert body["message"]["rid"] == room["id"]
    assert await is_member(hub, room["id"], alice.user_id)
    joined = await events_of(hub, outbox.ROOM_JOINED)
    assert any(e["room_id"] == room["id"] and e["user_id"] == alice.user_id for e in joined)


async def test_post_to_a_join_code_channel_is_refused(hub: Hub, admin: RC, alice: RC) -> None:
    await make_room(hub, "boss", "locked", join_code="s3cret")
    r = await alice.post("chat.postMessage", channel="#locked", text="x")
    assert_error(r, 400, "Code required [error-code-required]", "error-code-required")


async def test_post_to_user_opens_a_direct_message(hub: Hub, alice: RC, bob: RC) -> None:
    body = await post(alice, channel="@bob", text="psst")
    rid = "".join(sorted([alice.user_id or "", bob.user_id or ""]))
    assert body["message"]["rid"] == rid
    assert body["channel"] == "@bob"
    assert await is_member(hub, rid, bob.user_id)
    # a bare user id falls back to the DM with that user
    again = await post(alice, roomId=bob.user_id, text="again")
    assert again["message"]["rid"] == rid
    # and the DM id itself is a room id
    third = await post(bob, roomId=rid, text="reply")
    assert third["message"]["rid"] == rid


async def test_post_to_self_is_a_self_dm(alice: RC) -> None:
    body = await post(alice, channel="@alice", text="note to self")
    assert body["message"]["rid"] == alice.user_id


@pytest.mark.parametrize("target", ["#nope", "nope", "@nobody"])
async def test_post_to_unknown_target_is_invalid_channel(alice: RC, target: str) -> None:
    r = await alice.post("chat.postMessage", channel=target, text="x")
    body = assert_error(r, 400, "[invalid-channel]", "invalid-channel")
    assert "details" not in body


async def test_post_without_target_is_invalid_params(alice: RC) -> None:
    r = await alice.post("chat.postMessage", text="x")
    assert_error(
        r,
        400,
        "must have required property 'roomId'\n must have required property 'channel'\n"
        " must match exactly one schema in oneOf [invalid-params]",
        "invalid-params",
    )


async def test_post_with_non_string_text_is_invalid_params(alice: RC) -> None:
    r = await alice.post("chat.postMessage", channel="GENERAL", text=5)
    assert_error(r, 400, "/text must be string [invalid-params]", "invalid-params")
    r = await alice.post("chat.postMessage", channel=["GENERAL", 3], text="x")
    assert_error(r, 400, "/channel/1 must be string [invalid-params]", "invalid-params")


async def test_post_to_group_of_others_is_not_allowed(hub: Hub, alice: RC, bob: RC) -> None:
    group = await make_room(hub, "bob", "secret", "p")
    r = await alice.post("chat.postMessage", roomId=group["id"], text="let me in")
    body = assert_error(r, 400, "error-not-allowed")
    assert "errorType" not in body
    assert not await is_member(hub, group["id"], alice.user_id)


async def test_post_to_read_only_room(hub: Hub, admin: RC, alice: RC) -> None:
    room = await make_room(hub, "boss", "news", members=("alice",), ro=True)
    r = await alice.post("chat.postMessage", roomId=room["id"], text="x")
    assert_error(r, 400, "You can't send messages because the room is readonly.")
    assert_ok(await admin.post("chat.postMessage", roomId=room["id"], text="announcement"))


async def test_post_to_archived_room(hub: Hub, admin: RC, alice: RC) -> None:
    room = await make_room(hub, "alice", "old", archived=True)
    r = await alice.post("chat.postMessage", roomId=room["id"], text="x")
    assert_error(r, 400, "error-room-archived")


async def test_post_size_limit(alice: RC) -> None:
    assert_ok(await alice.post("chat.postMessage", channel="GENERAL", text="a" * 5000))
    r = await alice.post("chat.postMessage", channel="GENERAL", text="a" * 5001)
    body = assert_error(r, 400, "error-message-size-exceeded")
    assert "errorType" not in body
    r = await alice.post(
        "chat.postMessage", channel="GENERAL", attachments=[{"text": "b" * 5001}], text="short"
    )
    assert_error(r, 400, "error-message-size-exceeded")


async def test_post_alias_and_avatar_need_impersonation(hub: Hub, alice: RC) -> None:
    for extra in ({"alias": "Ghost"}, {"avatar": "https://example.com/a.png"}, {"icon_url": "https://x.y/z"}):
        r = await alice.post("chat.postMessage", channel="GENERAL", text="x", **extra)
        body = assert_error(r, 400, "Not enough permission")
        assert "errorType" not in body
    await set_permission(hub, "message-impersonate", ["bot", "app", "user"])
    body = await post(
        alice,
        channel="GENERAL",
        text="x",
        username="Ghost",
        icon_url="https://example.com/a.png",
        icon_emoji=":ghost:",
    )
    message = body["message"]
    assert message["alias"] == "Ghost"
    assert message["avatar"] == "https://example.com/a.png"
    # an avatar wins over an emoji
    assert "emoji" not in message
    body = await post(alice, channel="GENERAL", text="x", alias="A", emoji=":smile:")
    assert body["message"]["emoji"] == ":smile:"
    # the webhook spellings win over the REST ones
    body = await post(
        alice, channel="GENERAL", text="t", msg="m", alias="A", username="U", emoji=":a:", icon_emoji=":b:"
    )
    message = body["message"]
    assert (message["msg"], message["alias"], message["emoji"]) == ("t", "U", ":b:")


async def test_post_message_service_defaults_and_trusted_impersonation(hub: Hub, alice: RC) -> None:
    """What incoming integrations use: their alias/avatar/emoji fill in what the payload lacks."""
    author = await user_row(hub, "alice")
    async with hub.tx() as ctx:
        (posted,) = await chat.post_message(
            ctx,
            author,
            {"channel": "#general", "text": "from a hook"},
            defaults={"alias": "Hook", "emoji": ":robot:"},
            impersonation_allowed=True,
        )
        (own_avatar,) = await chat.post_message(
            ctx,
            author,
            {"channel": "#general", "icon_url": "https://example.com/i.png"},
            defaults={"alias": "Hook", "avatar": "https://example.com/default.png"},
            impersonation_allowed=True,
        )
    assert posted.channel == "#general"
    assert (posted.message["extra"]["alias"], posted.message["extra"]["emoji"]) == ("Hook", ":robot:")
    assert own_avatar.message["extra"]["avatar"] == "https://example.com/i.png"


async def test_post_avatar_javascript_is_refused(hub: Hub, alice: RC) -> None:
    await set_permission(hub, "message-impersonate", ["user"])
    r = await alice.post("chat.postMessage", channel="GENERAL", avatar="javascript:alert(1)")
    assert_error(r, 400, "Invalid href value provided")


async def test_post_attachments_are_echoed(alice: RC) -> None:
    body = await post(
        alice,
        channel="GENERAL",
        text="hello",
        attachments=[
            {"color": "#ff0000", "text": "there"},
            {"msg": " renamed ", "title_link": "https://example.com", "fields": [{"title": "n", "value": 3}]},
        ],
    )
    first, second = body["message"]["attachments"]
    assert first == {"color": "#ff0000", "text": "there"}
    assert second["text"] == "renamed" and "msg" not in second
    assert second["fields"] == [{"title": "n", "value": "3"}]
    # attachments turn URL previews off unless asked for
    assert body["message"]["parseUrls"] is False


@pytest.mark.parametrize(
    "attachment",
    [
        {"title_link": "javascript:alert(1)"},
        {"image_url": "JavaScript://x"},
        {"author_link": "/relative/path"},
        {"thumb_url": "not a url"},
        {"actions": [{"type": "button", "url": "javascript:void(0)"}]},
    ],
)
async def test_post_attachment_bad_urls(alice: RC, attachment: dict[str, Any]) -> None:
    r = await alice.post("chat.postMessage", channel="GENERAL", attachments=[attachment])
    body = assert_error(r, 400, "Invalid href value provided")
    assert "errorType" not in body


async def test_post_attachment_wrong_types(alice: RC) -> None:
    r = await alice.post("chat.postMessage", channel="GENERAL", attachments=[{"color": 5}])
    assert_error(r, 400, "Match error: Expected string, got number in field color")
    r = await alice.post("chat.postMessage", channel="GENERAL", attachments=["text"])
    assert_error(r, 400, "Match error: Expected object, got string in field attachments")
    r = await alice.post("chat.postMessage", channel="GENERAL", attachments=[{"fields": "x"}])
    assert_error(r, 400, "Match error: Expected array, got string in field fields")


async def test_post_non_array_attachments_are_ignored(alice: RC) -> None:
    body = await post(alice, channel="GENERAL", text="x", attachments={"color": "red"})
    assert "attachments" not in body["message"]


async def test_post_upload_paths_are_valid_urls(alice: RC) -> None:
    body = await post(alice, channel="GENERAL", attachments=[{"image_url": "/file-upload/abc/pic.png"}])
    assert body["message"]["attachments"][0]["image_url"] == "/file-upload/abc/pic.png"


async def test_post_thread_replies_go_to_the_root(alice: RC, bob: RC) -> None:
    root = (await post(alice, channel="GENERAL", text="root"))["message"]
    reply = (await post(bob, channel="GENERAL", text="r1", tmid=root["_id"]))["message"]
    nested = (await post(alice, channel="GENERAL", text="r2", tmid=reply["_id"]))["message"]
    assert reply["tmid"] == root["_id"]
    assert nested["tmid"] == root["_id"]
    parent = assert_ok(await alice.get("chat.getMessage", msgId=root["_id"]))["message"]
    assert parent["tcount"] == 2
    assert parent["replies"] == [bob.user_id, alice.user_id]
    assert_ok(await alice.post("chat.delete", roomId="GENERAL", msgId=nested["_id"]))
    parent = assert_ok(await alice.get("chat.getMessage", msgId=root["_id"]))["message"]
    assert parent["tcount"] == 1


async def test_post_requires_login(anon: RC) -> None:
    r = await anon.post("chat.postMessage", channel="GENERAL", text="x")
    assert_error(r, 401, "You must be logged in to do this.")


async def test_post_with_non_object_body(alice: RC) -> None:
    r = await alice.post("chat.postMessage", ["GENERAL"])
    assert r.status_code == 400
    assert r.json()["errorType"] == "invalid-params"


# -- chat.sendMessage ------------------------------------------------------------------------------


async def test_send_message_without_text(hub: Hub, alice: RC) -> None:
    body = assert_ok(await alice.post("chat.sendMessage", message={"rid": "GENERAL"}))
    assert body["message"]["rid"] == "GENERAL"
    assert body["message"]["msg"] == ""
    sent = await events_of(hub, outbox.MESSAGE_SENT)
    assert [e["message_id"] for e in sent] == [body["message"]["_id"]]


async def test_send_message_with_client_id(alice: RC) -> None:
    body = assert_ok(
        await alice.post("chat.sendMessage", message={"rid": "GENERAL", "msg": "Hello There", "_id": "42"})
    )
    assert body["message"]["_id"] == "42"
    assert body["message"]["msg"] == "Hello There"
    r = await alice.post("chat.sendMessage", message={"rid": "GENERAL", "msg": "again", "_id": "42"})
    assert_error(
        r,
        400,
        'A message with the id "42" already exists [error-message-already-exists]',
        "error-message-already-exists",
    )
    # once deleted, the id is free again
    assert_ok(await alice.post("chat.delete", roomId="GENERAL", msgId="42"))
    assert_ok(await alice.post("chat.sendMessage", message={"rid": "GENERAL", "_id": "42"}))


async def test_send_message_text_is_an_alias_of_msg(alice: RC) -> None:
    body = assert_ok(await alice.post("chat.sendMessage", message={"rid": "GENERAL", "text": "via text"}))
    assert body["message"]["msg"] == "via text"
    body = assert_ok(
        await alice.post("chat.sendMessage", message={"rid": "GENERAL", "text": "no", "msg": "yes"})
    )
    assert body["message"]["msg"] == "yes"


async def test_send_message_errors(alice: RC) -> None:
    r = await alice.post("chat.sendMessage", message={"msg": "General Kenobi"})
    assert_error(r, 400, "The 'rid' property on the message object is missing.")
    r = await alice.post("chat.sendMessage", other=1)
    assert_error(r, 400, "must have required property 'message' [invalid-params]", "invalid-params")
    r = await alice.post("chat.sendMessage", message={"rid": "GENERAL"}, other=1)
    assert_error(r, 400, "must NOT have additional properties ('other') [invalid-params]", "invalid-params")
    r = await alice.post("chat.sendMessage", message={"rid": "GENERAL", "t": "uj"})
    assert_error(r, 400, "Cannot send system messages using 'chat.sendMessage'")
    r = await alice.post("chat.sendMessage", message={"rid": "GENERAL", "tshow": True})
    assert_error(r, 400, "tshow provided but missing tmid [invalid-params]", "invalid-params")
    r = await alice.post("chat.sendMessage", message={"rid": "GENERAL", "msg": "x" * 5001})
    assert_error(
        r,
        400,
        "Message size exceeds Message_MaxAllowedSize [error-message-size-exceeded]",
        "error-message-size-exceeded",
    )
    r = await alice.post("chat.sendMessage", message={"rid": "nowhere"})
    assert_error(r, 400, "error-invalid-room")
    r = await alice.post("chat.sendMessage", message={"rid": "GENERAL", "msg": ["x"]})
    assert_error(r, 400, "/message/msg must be string [invalid-params]", "invalid-params")
    r = await alice.post("chat.sendMessage", message={"rid": "GENERAL", "tshow": "maybe"})
    assert_error(r, 400, "/message/tshow must be boolean [invalid-params]", "invalid-params")
    r = await alice.post("chat.sendMessage", message={"rid": "GENERAL", "attachments": ["x"]})
    assert_error(r, 400, "/message/attachments/0 must be object [invalid-params]", "invalid-params")
    r = await alice.post("chat.sendMessage", message={"rid": "GENERAL", "blocks": {}})
    assert_error(r, 400, "/message/blocks must be array [invalid-params]", "invalid-params")
    r = await alice.post("chat.sendMessage", message={"rid": "GENERAL", "customFields": 1})
    assert_error(r, 400, "/message/customFields must be object [invalid-params]", "invalid-params")
    r = await alice.post("chat.sendMessage", message="hi")
    assert_error(r, 400, "/message must be object [invalid-params]", "invalid-params")
    r = await alice.post("chat.sendMessage", message={"rid": "GENERAL", "_id": "x" * 65})
    assert_error(r, 400, "/message/_id must NOT have more than 64 characters [invalid-params]")


async def test_send_message_coerces_scalars_like_ajv(alice: RC) -> None:
    body = assert_ok(await alice.post("chat.sendMessage", message={"rid": "GENERAL", "msg": 7, "_id": 99}))
    assert body["message"]["msg"] == "7"
    assert body["message"]["_id"] == "99"


async def test_send_message_timestamp_out_of_sync(alice: RC) -> None:
    old = (utcnow() - timedelta(minutes=5)).isoformat()
    r = await alice.post("chat.sendMessage", message={"rid": "GENERAL", "ts": old})
    assert_error(r, 400, "Message timestamp is out of sync [error-message-ts-out-of-sync]")
    now_ms = int(utcnow().timestamp() * 1000)
    assert_ok(await alice.post("chat.sendMessage", message={"rid": "GENERAL", "ts": {"$date": now_ms}}))


async def test_send_message_impersonation_and_attachments(hub: Hub, alice: RC) -> None:
    r = await alice.post("chat.sendMessage", message={"rid": "GENERAL", "alias": "Boss"})
    assert_error(r, 400, "Not enough permission")
    r = await alice.post(
        "chat.sendMessage", message={"rid": "GENERAL", "attachments": [{"title_link": "javascript:x"}]}
    )
    assert_error(r, 400, "Invalid href value provided")
    await set_permission(hub, "message-impersonate", ["user"])
    body = assert_ok(
        await alice.post(
            "chat.sendMessage",
            message={
                "rid": "GENERAL",
                "alias": "Boss",
                "attachments": [{"color": "red"}],
                "customFields": {},
            },
        )
    )
    assert body["message"]["alias"] == "Boss"
    assert body["message"]["attachments"] == [{"color": "red"}]


async def test_send_message_thread_reply_follows_the_parent_room(hub: Hub, alice: RC) -> None:
    root = (await post(alice, channel="GENERAL", text="root"))["message"]
    other = await make_room(hub, "alice", "elsewhere")
    body = assert_ok(
        await alice.post(
            "chat.sendMessage", message={"rid": other["id"], "msg": "r", "tmid": root["_id"], "tshow": True}
        )
    )
    assert body["message"]["rid"] == "GENERAL"
    assert body["message"]["tmid"] == root["_id"]
    assert body["message"]["tshow"] is True


async def test_send_message_to_private_group_of_others(hub: Hub, alice: RC, bob: RC) -> None:
    group = await make_room(hub, "bob", "hidden", "p")
    r = await alice.post("chat.sendMessage", message={"rid": group["id"], "msg": "x"})
    assert_error(r, 400, "error-not-allowed")


# -- chat.update ------------------------------------------------------------------------------------


async def test_update_own_message(hub: Hub, alice: RC) -> None:
    posted = await post(alice, channel="GENERAL", text="hello")
    msg_id = posted["message"]["_id"]
    body = assert_ok(await alice.post("chat.update", roomId="GENERAL", msgId=msg_id, text="hello again"))
    message = body["message"]
    assert message["msg"] == "hello again"
    assert message["editedBy"] == {"_id": alice.user_id, "username": "alice"}
    assert message["editedAt"] == message["_updatedAt"]
    assert message["ts"] == posted["message"]["ts"]
    edited = await events_of(hub, outbox.MESSAGE_EDITED)
    assert len(edited) == 1
    assert edited[0]["message_id"] == msg_id
    assert edited[0]["payload"]["message"]["msg"] == "hello again"
    assert edited[0]["payload"]["actor"]["_id"] == alice.user_id
    room = await room_row(hub, "GENERAL")
    assert room["last_message"]["msg"] == "hello again"


async def test_update_errors(hub: Hub, alice: RC, bob: RC) -> None:
    msg_id = (await post(alice, channel="GENERAL", text="mine"))["message"]["_id"]
    r = await alice.post("chat.update", roomId="GENERAL", msgId="nope", text="x")
    assert_error(r, 400, 'No message found with the id of "nope".')
    r = await alice.post("chat.update", roomId="OTHER", msgId=msg_id, text="x")
    assert_error(r, 400, "The room id provided does not match where the message is from.")
    r = await bob.post("chat.update", roomId="GENERAL", msgId=msg_id, text="hijack")
    body = assert_error(
        r, 400, "Message editing not allowed [error-action-not-allowed]", "error-action-not-allowed"
    )
    assert body["details"] == {"method": "updateMessage", "action": "Message_editing"}
    r = await alice.post("chat.update", roomId="GENERAL", msgId=msg_id)
    assert_error(r, 400, "must have required property 'text' [invalid-params]", "invalid-params")
    r = await alice.post("chat.update", roomId="GENERAL", msgId=msg_id, text="x", extra=1)
    assert_error(r, 400, "must NOT have additional properties ('extra') [invalid-params]", "invalid-params")
    r = await alice.post("chat.update", roomId="GENERAL", msgId=msg_id, text="y" * 5001)
    assert_error(r, 400, "Message size exceeds Message_MaxAllowedSize [error-message-size-exceeded]")
    assert await events_of(hub, outbox.MESSAGE_EDITED) == []


async def test_admin_edits_anyone(alice: RC, admin: RC) -> None:
    msg_id = (await post(alice, channel="GENERAL", text="typo"))["message"]["_id"]
    body = assert_ok(await admin.post("chat.update", roomId="GENERAL", msgId=msg_id, text="fixed"))
    assert body["message"]["editedBy"]["username"] == "boss"
    assert body["message"]["u"]["username"] == "alice"


async def test_update_with_the_same_text_changes_nothing(hub: Hub, alice: RC, bob: RC) -> None:
    posted = (await post(alice, channel="GENERAL", text="same"))["message"]
    # Rocket.Chat returns before checking anything when nothing would change
    body = assert_ok(await bob.post("chat.update", roomId="GENERAL", msgId=posted["_id"], text="same"))
    assert body["message"] == posted
    assert await events_of(hub, outbox.MESSAGE_EDITED) == []


async def test_update_edits_a_file_caption(hub: Hub, alice: RC) -> None:
    posted = (await post(alice, channel="GENERAL", text="file"))["message"]
    async with hub.tx() as ctx:
        row = await messages.get_message(ctx.conn, posted["_id"])
        assert row is not None
        extra = {**row["extra"], "attachments": [{"title": "a.png", "description": "old caption"}]}
        await messages.update_message(ctx.conn, posted["_id"], {"extra": extra})
    r = await alice.post("chat.update", roomId="GENERAL", msgId=posted["_id"], text="new caption")
    message = assert_ok(r)["message"]
    assert message["msg"] == "file"
    assert message["attachments"] == [{"title": "a.png", "description": "new caption"}]


async def test_update_custom_fields(alice: RC) -> None:
    msg_id = (await post(alice, channel="GENERAL", text="a"))["message"]["_id"]
    body = assert_ok(
        await alice.post("chat.update", roomId="GENERAL", msgId=msg_id, text="b", customFields={"k": 1})
    )
    assert body["message"]["customFields"] == {"k": 1}


@pytest.mark.parametrize("settings_overrides", [{"message_allow_editing": False}])
async def test_update_own_message_when_editing_is_off(alice: RC, admin: RC) -> None:
    msg_id = (await post(alice, channel="GENERAL", text="a"))["message"]["_id"]
    r = await alice.post("chat.update", roomId="GENERAL", msgId=msg_id, text="b")
    assert_error(r, 400, "Message editing not allowed [error-action-not-allowed]")
    # edit-message still lets moderators through
    assert_ok(await admin.post("chat.update", roomId="GENERAL", msgId=msg_id, text="b"))


@pytest.mark.parametrize("settings_overrides", [{"message_edit_block_minutes": 1}])
async def test_update_blocked_after_time_limit(hub: Hub, alice: RC) -> None:
    msg_id = (await post(alice, channel="GENERAL", text="a"))["message"]["_id"]
    assert_ok(await alice.post("chat.update", roomId="GENERAL", msgId=msg_id, text="b"))
    hub.clock = lambda: utcnow() + timedelta(minutes=2)
    r = await alice.post("chat.update", roomId="GENERAL", msgId=msg_id, text="c")
    assert_error(r, 400, "Message editing is blocked [error-message-editing-blocked]")


async def test_update_in_room_left_is_refused(hub: Hub, alice: RC) -> None:
    group = await make_room(hub, "alice", "mine", "p", members=("boss",))
    msg_id = (await post(alice, roomId=group["id"], text="a"))["message"]["_id"]
    async with hub.tx() as ctx:
        await rooms.delete_subscription(ctx.conn, group["id"], alice.user_id or "")
    r = await alice.post("chat.update", roomId=group["id"], msgId=msg_id, text="b")
    assert_error(r, 400, "error-not-allowed")


# -- chat.delete ------------------------------------------------------------------------------------


async def test_delete_own_message(hub: Hub, alice: RC) -> None:
    first = (await post(alice, channel="GENERAL", text="first"))["message"]
    second = (await post(alice, channel="GENERAL", text="second"))["message"]
    msgs_before = (await room_row(hub, "GENERAL"))["msgs"]
    body = assert_ok(await alice.post("chat.delete", roomId="GENERAL", msgId=second["_id"]))
    assert body["_id"] == second["_id"]
    assert isinstance(body["ts"], str) and body["ts"].isdigit()
    assert body["message"] == {
        "_id": second["_id"],
        "rid": "GENERAL",
        "u": {"_id": alice.user_id, "username": "alice", "name": "Alice"},
    }
    r = await alice.get("chat.getMessage", msgId=second["_id"])
    assert r.status_code == 400 and r.json() == {"success": False}
    room = await room_row(hub, "GENERAL")
    assert room["msgs"] == msgs_before - 1
    assert room["last_message"]["_id"] == first["_id"]
    deleted = await events_of(hub, outbox.MESSAGE_DELETED)
    assert [e["message_id"] for e in deleted] == [second["_id"]]
    assert deleted[0]["payload"]["message"]["msg"] == "second"
    assert deleted[0]["payload"]["actor"]["username"] == "alice"


async def test_delete_errors(hub: Hub, alice: RC, bob: RC) -> None:
    msg_id = (await post(alice, channel="GENERAL", text="mine"))["message"]["_id"]
    r = await alice.post("chat.delete", roomId="GENERAL", msgId="nope")
    assert_error(r, 400, 'No message found with the id of "nope".')
    r = await alice.post("chat.delete", roomId="ELSEWHERE", msgId=msg_id)
    assert_error(r, 400, "The room id provided does not match where the message is from.")
    r = await bob.post("chat.delete", roomId="GENERAL", msgId=msg_id)
    body = assert_error(r, 400, "Not allowed [error-action-not-allowed]", "error-action-not-allowed")
    assert body["details"] == {"method": "deleteMessage", "action": "Delete_message"}
    r = await bob.post("chat.delete", roomId="GENERAL", msgId=msg_id, asUser=True)
    assert_error(
        r,
        400,
        'Unauthorized. You must have the permission "force-delete-message" '
        "to delete other's message as them.",
    )
    r = await bob.post("chat.delete", roomId="GENERAL")
    assert_error(r, 400, "must have required property 'msgId' [invalid-params]", "invalid-params")
    assert await events_of(hub, outbox.MESSAGE_DELETED) == []


async def test_admin_deletes_anyone(hub: Hub, alice: RC, admin: RC) -> None:
    one = (await post(alice, channel="GENERAL", text="one"))["message"]["_id"]
    two = (await post(alice, channel="GENERAL", text="two"))["message"]["_id"]
    assert_ok(await admin.post("chat.delete", roomId="GENERAL", msgId=one))
    # as the author: admin may force-delete
    assert_ok(await admin.post("chat.delete", roomId="GENERAL", msgId=two, asUser=True))
    deleted = await events_of(hub, outbox.MESSAGE_DELETED)
    assert [e["payload"]["actor"]["username"] for e in deleted] == ["boss", "boss"]


@pytest.mark.parametrize("settings_overrides", [{"message_allow_deleting": False}])
async def test_delete_own_message_when_deleting_is_off(alice: RC, admin: RC) -> None:
    msg_id = (await post(alice, channel="GENERAL", text="a"))["message"]["_id"]
    r = await alice.post("chat.delete", roomId="GENERAL", msgId=msg_id)
    assert_error(r, 400, "Not allowed [error-action-not-allowed]")
    # force-delete-message ignores the setting
    assert_ok(await admin.post("chat.delete", roomId="GENERAL", msgId=msg_id))


async def test_delete_in_read_only_room(hub: Hub, alice: RC, admin: RC) -> None:
    room = await make_room(hub, "boss", "board", members=("alice",))
    msg_id = (await post(alice, roomId=room["id"], text="before ro"))["message"]["_id"]
    async with hub.tx() as ctx:
        await rooms.update_room(ctx.conn, room["id"], {"ro": True})
    r = await alice.post("chat.delete", roomId=room["id"], msgId=msg_id)
    assert_error(r, 400, "You can't delete messages because the room is readonly.")


async def test_deleting_the_only_message_clears_last_message(hub: Hub, alice: RC) -> None:
    room = await make_room(hub, "alice", "quiet")
    msg_id = (await post(alice, roomId=room["id"], text="only"))["message"]["_id"]
    assert_ok(await alice.post("chat.delete", roomId=room["id"], msgId=msg_id))
    after = await room_row(hub, room["id"])
    assert after["last_message"] is None
    assert after["msgs"] == 0


# -- chat.getMessage --------------------------------------------------------------------------------


async def test_get_message(alice: RC, bob: RC) -> None:
    posted = (await post(alice, channel="GENERAL", text="read me"))["message"]
    body = assert_ok(await bob.get("chat.getMessage", msgId=posted["_id"]))
    assert body["message"] == posted


async def test_get_message_errors(hub: Hub, alice: RC, bob: RC) -> None:
    r = await alice.get("chat.getMessage")
    assert_error(r, 400, 'The "msgId" query parameter must be provided.')
    r = await alice.get("chat.getMessage", msgId="missing")
    assert r.status_code == 400 and r.json() == {"success": False}
    group = await make_room(hub, "bob", "private", "p")
    msg_id = (await post(bob, roomId=group["id"], text="secret"))["message"]["_id"]
    r = await alice.get("chat.getMessage", msgId=msg_id)
    assert_error(r, 400, "Not allowed [error-not-allowed]", "error-not-allowed")
