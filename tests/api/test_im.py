"""im.* / dm.* (core-api.md §7): creating direct messages, listing them, reading their
messages and history."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest

from hookhub.hub import Hub
from hookhub.ids import utcnow
from hookhub.store import rooms
from tests.api.test_chat import is_member, set_permission
from tests.conftest import RC, assert_error, assert_ok


def dm_id(*clients: RC) -> str:
    return "".join(sorted(c.user_id or "" for c in clients))


async def create(client: RC, route: str = "im.create", **body: Any) -> dict[str, Any]:
    room: dict[str, Any] = assert_ok(await client.post(route, body))["room"]
    return room


@pytest.fixture
def ticking(hub: Hub) -> None:
    """A clock one second further on every reading: messages never share a timestamp."""
    start = utcnow() - timedelta(hours=1)
    ticks = itertools.count()
    hub.clock = lambda: start + timedelta(seconds=next(ticks))


# -- im.create / dm.create ---------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["im.create", "dm.create"])
async def test_create_one_to_one(hub: Hub, alice: RC, bob: RC, route: str) -> None:
    room = await create(alice, route, username="bob")
    expected = dm_id(alice, bob)
    assert room == {"_id": expected, "rid": expected, "t": "d", "usernames": ["alice", "bob"]}
    async with hub.tx(write=False) as ctx:
        mine = await rooms.get_subscription(ctx.conn, expected, alice.user_id or "")
        theirs = await rooms.get_subscription(ctx.conn, expected, bob.user_id or "")
    assert mine is not None and mine["open"] is True and mine["name"] == "bob"
    assert theirs is not None and theirs["open"] is False and theirs["name"] == "alice"


async def test_create_is_idempotent(alice: RC, bob: RC) -> None:
    first = await create(alice, username="bob")
    second = await create(bob, "dm.create", username="alice")
    assert first["_id"] == second["_id"]


async def test_create_username_is_case_insensitive(alice: RC, bob: RC) -> None:
    room = await create(alice, username="BOB")
    assert room["_id"] == dm_id(alice, bob)


async def test_create_multiple(admin: RC, alice: RC, bob: RC) -> None:
    room = await create(alice, usernames="bob, boss")
    assert room["_id"] == dm_id(admin, alice, bob)
    assert sorted(room["usernames"]) == ["alice", "bob", "boss"]


async def test_create_exclude_self(hub: Hub, admin: RC, alice: RC, bob: RC) -> None:
    room = await create(alice, usernames="bob,boss", excludeSelf=True)
    assert room["_id"] == dm_id(admin, bob)
    assert not await is_member(hub, room["_id"], alice.user_id)
    r = await alice.post("im.create", username="bob", excludeSelf=True)
    assert_error(r, 400, "Invalid user [error-invalid-user]", "error-invalid-user")


async def test_create_with_yourself(alice: RC) -> None:
    room = await create(alice, username="alice")
    assert room["_id"] == alice.user_id
    assert room["usernames"] == ["alice"]


async def test_create_unknown_user(alice: RC) -> None:
    r = await alice.post("im.create", username="ghost")
    body = assert_error(r, 400, "Invalid user [error-invalid-user]", "error-invalid-user")
    assert body["details"] == {"method": "createDirectMessage"}


async def test_create_body_must_be_exactly_one_form(alice: RC) -> None:
    r = await alice.post("im.create", {})
    assert_error(
        r,
        400,
        "must have required property 'username'\n must have required property 'usernames'\n"
        " must match exactly one schema in oneOf [invalid-params]",
        "invalid-params",
    )
    r = await alice.post("im.create", username="bob", usernames="bob")
    assert r.status_code == 400 and r.json()["errorType"] == "invalid-params"
    r = await alice.post("im.create", username="bob", room="x")
    assert_error(r, 400, "must NOT have additional properties ('room') [invalid-params]", "invalid-params")
    r = await alice.post("im.create", username=3)
    assert_error(r, 400, "/username must be string [invalid-params]", "invalid-params")
    r = await alice.post("im.create", username="bob", excludeSelf="yes")
    assert_error(r, 400, "/excludeSelf must be boolean [invalid-params]", "invalid-params")


async def test_create_too_many_members(admin: RC, alice: RC) -> None:
    for name in ("u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8"):
        await admin.register_and_login(name)
    r = await alice.post("im.create", usernames="u1,u2,u3,u4,u5,u6,u7,u8")
    assert_error(
        r,
        400,
        "You cannot add more than 8 users, including yourself to a direct message "
        "[error-direct-message-max-user-exceeded]",
        "error-direct-message-max-user-exceeded",
    )


async def test_create_without_create_d(hub: Hub, alice: RC, bob: RC) -> None:
    await set_permission(hub, "create-d", ["admin"])
    r = await alice.post("im.create", username="bob")
    assert_error(r, 400, "Not allowed [error-not-allowed]", "error-not-allowed")
    # an existing DM can still be opened by holders of view-d-room
    await set_permission(hub, "create-d", ["admin", "user"])
    first = await create(bob, username="alice")
    await set_permission(hub, "create-d", ["admin"])
    assert (await create(alice, username="bob"))["_id"] == first["_id"]
    await set_permission(hub, "view-d-room", ["admin"])
    r = await alice.post("im.create", username="bob")
    assert_error(r, 400, "Not allowed [error-not-allowed]")


# -- im.list / dm.list -------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["im.list", "dm.list"])
async def test_list(admin: RC, alice: RC, bob: RC, route: str) -> None:
    await create(alice, username="bob")
    await create(alice, username="boss")
    await create(bob, username="boss")  # not alice's
    body = assert_ok(await alice.get(route))
    assert body["total"] == 2 and body["count"] == 2 and body["offset"] == 0
    assert sorted(r["_id"] for r in body["ims"]) == sorted([dm_id(alice, bob), dm_id(alice, admin)])
    assert all(r["t"] == "d" for r in body["ims"])
    page = assert_ok(await alice.get(route, offset=1, count=1))
    assert page["count"] == 1 and page["total"] == 2 and page["offset"] == 1
    assert page["ims"][0]["_id"] in {dm_id(alice, bob), dm_id(alice, admin)}


async def test_list_shows_last_message(alice: RC, bob: RC) -> None:
    room = await create(alice, username="bob")
    assert_ok(await alice.post("chat.postMessage", roomId=room["_id"], text="hey"))
    (im,) = assert_ok(await bob.get("im.list"))["ims"]
    assert im["lastMessage"]["msg"] == "hey"
    assert im["usernames"] == ["alice", "bob"]


async def test_list_empty(alice: RC) -> None:
    body = assert_ok(await alice.get("im.list"))
    assert body == {"ims": [], "offset": 0, "count": 0, "total": 0, "success": True}


# -- im.messages / dm.messages ----------------------------------------------------------------------


async def test_messages_by_room_id_and_by_username(ticking: None, alice: RC, bob: RC) -> None:
    room = await create(alice, username="bob")
    for text in ("one", "two", "three"):
        assert_ok(await alice.post("chat.postMessage", roomId=room["_id"], text=text))
    by_id = assert_ok(await alice.get("im.messages", roomId=room["_id"]))
    by_name = assert_ok(await alice.get("dm.messages", username="bob"))
    assert by_id == by_name
    assert [m["msg"] for m in by_id["messages"]] == ["three", "two", "one"]
    assert by_id["count"] == 3 and by_id["total"] == 3 and by_id["offset"] == 0
    page = assert_ok(await bob.get("dm.messages", roomId=room["_id"], count=1, offset=1))
    assert [m["msg"] for m in page["messages"]] == ["two"]
    assert page["total"] == 3
    asc = assert_ok(await alice.get("im.messages", roomId=room["_id"], sort='{"ts":1}'))
    assert [m["msg"] for m in asc["messages"]] == ["one", "two", "three"]


async def test_messages_by_username_opens_the_dm(hub: Hub, alice: RC, bob: RC) -> None:
    body = assert_ok(await alice.get("im.messages", username="bob"))
    assert body["messages"] == [] and body["total"] == 0
    assert await is_member(hub, dm_id(alice, bob), bob.user_id)


async def test_messages_errors(hub: Hub, admin: RC, alice: RC, bob: RC) -> None:
    r = await alice.get("im.messages")
    assert_error(r, 400, 'Query param "roomId" or "username" is required [error-room-param-not-provided]')
    not_found = (
        'The required "roomId" param provided does not match any direct message [error-room-not-found]'
    )
    assert_error(await alice.get("im.messages", roomId="nope"), 400, not_found, "error-room-not-found")
    assert_error(await alice.get("im.messages", roomId="GENERAL"), 400, not_found)
    assert_error(await alice.get("im.messages", username="ghost"), 400, not_found)
    # someone else's DM
    other = await create(bob, username="boss")
    assert_error(await alice.get("im.messages", roomId=other["_id"]), 403, "unauthorized")


# -- im.history / dm.history ------------------------------------------------------------------------


async def test_history(ticking: None, alice: RC, bob: RC) -> None:
    room = await create(alice, username="bob")
    posted = []
    for i in range(25):
        body = assert_ok(await alice.post("chat.postMessage", roomId=room["_id"], text=f"m{i}"))
        posted.append(body["message"])
    body = assert_ok(await bob.get("dm.history", roomId=room["_id"]))
    # 20 by default, newest first, no totals
    assert [m["msg"] for m in body["messages"]] == [f"m{i}" for i in range(24, 4, -1)]
    assert set(body) == {"messages", "success"}
    latest = posted[10]["ts"]
    body = assert_ok(await alice.get("im.history", roomId=room["_id"], latest=latest, count=3))
    assert [m["msg"] for m in body["messages"]] == ["m9", "m8", "m7"]
    body = assert_ok(
        await alice.get("im.history", roomId=room["_id"], latest=latest, inclusive="true", count=1)
    )
    assert [m["msg"] for m in body["messages"]] == ["m10"]


async def test_history_errors(alice: RC, bob: RC, admin: RC) -> None:
    r = await alice.get("im.history")
    assert_error(r, 400, 'Query param "roomId" is required [error-room-param-not-provided]')
    other = await create(bob, username="boss")
    assert_error(await alice.get("im.history", roomId=other["_id"]), 403, "unauthorized")
    room = await create(alice, username="bob")
    r = await alice.get("im.history", roomId=room["_id"], latest="yesterday")
    assert r.status_code == 400 and r.json()["errorType"] == "invalid-params"


# -- im.members / im.close / im.open / im.counters / im.setTopic -----------------------------------


async def test_members(alice: RC, bob: RC) -> None:
    rid = (await create(alice, username="bob"))["_id"]
    body = assert_ok(await bob.get("dm.members", roomId=rid))
    assert [m["username"] for m in body["members"]] == ["alice", "bob"]
    assert body["count"] == 2 and body["total"] == 2 and body["offset"] == 0
    assert set(body["members"][0]) == {"_id", "username", "name", "status", "utcOffset"}
    page = assert_ok(await alice.get("im.members", username="bob", count=1, sort='{"username":-1}'))
    assert [m["username"] for m in page["members"]] == ["bob"] and page["total"] == 2
    filtered = assert_ok(await alice.get("im.members", roomId=rid, filter="ALI"))
    assert [m["username"] for m in filtered["members"]] == ["alice"]


async def test_members_of_someone_elses_dm(admin: RC, alice: RC, bob: RC) -> None:
    rid = (await create(bob, username="boss"))["_id"]
    assert_error(await alice.get("im.members", roomId=rid), 403, "unauthorized")


async def test_close_and_open(hub: Hub, alice: RC, bob: RC) -> None:
    rid = (await create(alice, username="bob"))["_id"]

    async def is_open() -> bool:
        async with hub.tx(write=False) as ctx:
            sub = await rooms.get_subscription(ctx.conn, rid, alice.user_id or "")
        assert sub is not None
        return bool(sub["open"])

    assert_ok(await alice.post("im.close", roomId=rid))
    assert not await is_open()
    r = await alice.post("dm.close", roomId=rid)
    assert_error(r, 400, "The direct message room, is already closed to the sender")
    assert_ok(await alice.post("dm.open", roomId=rid))
    assert await is_open()
    # opening an open DM is a quiet success
    assert_ok(await alice.post("im.open", roomId=rid))
    r = await alice.post("im.close")
    assert_error(r, 400, 'Body param "roomId" is required [error-room-param-not-provided]')
    r = await alice.post("im.open", {})
    assert_error(r, 400, 'Body param "roomId" is required [error-room-param-not-provided]')
    r = await alice.post("im.close", roomId="gone")
    assert_error(r, 400, "The user is not subscribed to the room")


async def test_counters(admin: RC, alice: RC, bob: RC) -> None:
    rid = (await create(alice, username="bob"))["_id"]
    assert_ok(await alice.post("chat.postMessage", roomId=rid, text="one"))
    body = assert_ok(await bob.get("dm.counters", roomId=rid))
    assert body["joined"] is True
    assert body["members"] == 2 and body["msgs"] == 1
    assert body["latest"].endswith("Z")
    assert set(body) == {
        "joined",
        "members",
        "unreads",
        "unreadsFrom",
        "msgs",
        "latest",
        "userMentions",
        "success",
    }
    r = await alice.get("im.counters", roomId=rid, userId=bob.user_id)
    assert_error(r, 403, "unauthorized")
    # admins may ask for someone else
    body = assert_ok(await admin.get("im.counters", roomId=rid, userId=bob.user_id))
    assert body["joined"] is True and body["msgs"] == 1
    r = await alice.get("im.counters")
    assert_error(r, 400, 'Query param "roomId" is required [error-room-param-not-provided]')


async def test_set_topic(hub: Hub, admin: RC, alice: RC) -> None:
    rid = (await create(admin, username="alice"))["_id"]
    body = assert_ok(await admin.post("dm.setTopic", roomId=rid, topic="this is my new topic"))
    assert body["topic"] == "this is my new topic"
    info = assert_ok(await alice.get("rooms.info", roomId=rid))["room"]
    assert info["topic"] == "this is my new topic"
    r = await alice.post("im.setTopic", roomId=rid, topic="mine")
    assert_error(r, 400, "Editing room is not allowed [error-action-not-allowed]", "error-action-not-allowed")
    r = await alice.post("im.setTopic", topic="x")
    assert_error(r, 400, 'Body param "roomId" is required [error-room-param-not-provided]')
