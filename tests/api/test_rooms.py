"""rooms.info and rooms.get (core-api.md §8)."""

from __future__ import annotations

from datetime import timedelta

from hookhub.hub import Hub
from hookhub.ids import iso, utcnow
from hookhub.store import rooms
from tests.api.test_chat import make_room
from tests.conftest import RC, assert_error, assert_ok

# -- rooms.info --------------------------------------------------------------------------------------


async def test_info_by_id_and_by_name(alice: RC) -> None:
    by_id = assert_ok(await alice.get("rooms.info", roomId="GENERAL"))
    by_name = assert_ok(await alice.get("rooms.info", roomName="general"))
    assert by_id == by_name
    room = by_id["room"]
    assert room["_id"] == "GENERAL"
    assert room["name"] == "general" and room["t"] == "c" and room["default"] is True
    assert "joinCode" not in room and room["joinCodeRequired"] is False


async def test_info_of_a_public_channel_not_joined(hub: Hub, admin: RC, alice: RC) -> None:
    room = await make_room(hub, "boss", "open-house")
    body = assert_ok(await alice.get("rooms.info", roomId=room["id"]))
    assert body["room"]["name"] == "open-house"
    assert body["room"]["u"] == {"_id": admin.user_id, "username": "boss"}


async def test_info_of_a_group(hub: Hub, alice: RC, bob: RC) -> None:
    group = await make_room(hub, "bob", "backroom", "p", members=("alice",))
    assert assert_ok(await alice.get("rooms.info", roomName="backroom"))["room"]["t"] == "p"
    lonely = await make_room(hub, "bob", "bobs-only", "p")
    r = await alice.get("rooms.info", roomId=lonely["id"])
    assert_error(r, 400, "not-allowed", "Not Allowed")
    assert group["id"] != lonely["id"]


async def test_info_of_a_direct_message(alice: RC, bob: RC, admin: RC) -> None:
    rid = assert_ok(await alice.post("im.create", username="bob"))["room"]["_id"]
    room = assert_ok(await bob.get("rooms.info", roomId=rid))["room"]
    assert room["t"] == "d" and room["usernames"] == ["alice", "bob"]
    assert sorted(room["uids"]) == sorted([alice.user_id, bob.user_id])
    r = await admin.get("rooms.info", roomId=rid)
    assert_error(r, 400, "not-allowed", "Not Allowed")


async def test_info_errors(hub: Hub, alice: RC) -> None:
    r = await alice.get("rooms.info")
    assert_error(
        r,
        400,
        'The parameter "roomId" or "roomName" is required [error-roomid-param-not-provided]',
        "error-roomid-param-not-provided",
    )
    r = await alice.get("rooms.info", roomId="  ")
    assert_error(r, 400, 'The parameter "roomId" or "roomName" is required [error-roomid-param-not-provided]')
    r = await alice.get("rooms.info", roomId="nope")
    assert_error(
        r,
        400,
        'The required "roomId" or "roomName" param provided does not match any channel'
        " [error-room-not-found]",
        "error-room-not-found",
    )
    await make_room(hub, "alice", "attic", archived=True)
    r = await alice.get("rooms.info", roomName="attic")
    assert_error(r, 400, "The channel, attic, is archived [error-room-archived]", "error-room-archived")


async def test_info_requires_login(anon: RC) -> None:
    assert_error(await anon.get("rooms.info", roomId="GENERAL"), 401, "You must be logged in to do this.")


# -- rooms.get ---------------------------------------------------------------------------------------


async def test_get_lists_joined_rooms(hub: Hub, admin: RC, alice: RC, bob: RC) -> None:
    mine = await make_room(hub, "alice", "alices", "p")
    await make_room(hub, "bob", "bobs", "p")
    await make_room(hub, "boss", "public-not-joined")
    rid = assert_ok(await alice.post("im.create", username="bob"))["room"]["_id"]
    assert_ok(await alice.post("chat.postMessage", roomId=rid, text="hi"))
    body = assert_ok(await alice.get("rooms.get"))
    assert body["remove"] == []
    ids = {r["_id"] for r in body["update"]}
    assert ids == {"GENERAL", mine["id"], rid}
    dm = next(r for r in body["update"] if r["_id"] == rid)
    assert dm["lastMessage"]["msg"] == "hi"


async def test_get_updated_since(hub: Hub, alice: RC) -> None:
    old = await make_room(hub, "alice", "stale", "p")
    gone = await make_room(hub, "alice", "doomed", "p")
    since = utcnow() + timedelta(seconds=1)
    hub.clock = lambda: since + timedelta(seconds=5)
    fresh = await make_room(hub, "alice", "fresh", "p")
    async with hub.tx() as ctx:
        await rooms.delete_room(ctx.conn, gone["id"], "p", ctx.now())
    body = assert_ok(await alice.get("rooms.get", updatedSince=iso(since)))
    assert [r["_id"] for r in body["update"]] == [fresh["id"]]
    assert body["remove"] == [{"_id": gone["id"], "_deletedAt": iso(since + timedelta(seconds=5))}]
    assert old["id"] not in {r["_id"] for r in body["update"]}


async def test_get_updated_since_invalid(alice: RC) -> None:
    r = await alice.get("rooms.get", updatedSince="not-a-date")
    assert_error(
        r,
        400,
        'The "updatedSince" query parameter must be a valid date. [error-updatedSince-param-invalid]',
        "error-updatedSince-param-invalid",
    )
