"""`channels.*` (core-api.md §5): success and failure envelopes, literally."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hookhub.hub import Hub
from hookhub.ids import iso
from hookhub.services.messages import insert_message
from hookhub.store import access, events, messages, rooms, users
from hookhub.store.tables import messages as messages_table
from tests.conftest import RC, assert_error, assert_ok

ALREADY_SAME = "is the same as what it would be changed to."


class TickingClock:
    """Every reading is one millisecond after the previous one, so message order is exact."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


@pytest.fixture(autouse=True)
def ticking(hub: Hub) -> TickingClock:
    clock = TickingClock()
    hub.clock = clock
    return clock


async def set_permission(hub: Hub, permission: str, roles: list[str]) -> None:
    async with hub.tx() as ctx:
        await access.set_permission_roles(ctx.conn, permission, roles, ctx.now())
    hub.permissions.invalidate()


async def post_message(hub: Hub, room_id: str, user_id: str, text: str, **extra: Any) -> str:
    """Store a user message through the message service (chat.* is not under test here)."""
    tmid = extra.pop("tmid", None)
    async with hub.tx() as ctx:
        room = await rooms.get_room(ctx.conn, room_id)
        user = await users.get_by_id(ctx.conn, user_id)
        assert room is not None and user is not None
        row = await insert_message(ctx, room, user, text=text, extra=extra, tmid=tmid)
    return str(row["id"])


async def room_messages(hub: Hub, room_id: str) -> list[dict[str, Any]]:
    async with hub.tx(write=False) as ctx:
        rows, _ = await messages.list_messages(
            ctx.conn, where=[messages_table.c.rid == room_id], order_by=[messages_table.c.ts]
        )
    return rows


async def sub_roles(hub: Hub, room_id: str, user_id: str) -> list[str] | None:
    async with hub.tx(write=False) as ctx:
        sub = await rooms.get_subscription(ctx.conn, room_id, user_id)
    return None if sub is None else list(sub["roles"])


async def create(client: RC, name: str, **kwargs: Any) -> dict[str, Any]:
    channel: dict[str, Any] = assert_ok(await client.post("channels.create", name=name, **kwargs))["channel"]
    return channel


# -- create --------------------------------------------------------------------------------------


async def test_create_makes_creator_owner_and_adds_members(hub: Hub, alice: RC, bob: RC) -> None:
    channel = await create(alice, "dev", members=["bob", "ghost"])
    assert channel["name"] == channel["fname"] == "dev"
    assert channel["t"] == "c"
    assert channel["u"] == {"_id": alice.user_id, "username": "alice"}
    assert channel["usersCount"] == 2
    assert channel["msgs"] == 0
    assert channel["ro"] is False
    assert channel["joinCodeRequired"] is False
    assert await sub_roles(hub, channel["_id"], str(alice.user_id)) == ["owner"]
    assert await sub_roles(hub, channel["_id"], str(bob.user_id)) == []
    # no system message on creation
    assert await room_messages(hub, channel["_id"]) == []


async def test_create_options(hub: Hub, alice: RC, admin: RC) -> None:
    channel = await create(
        alice,
        "news",
        readOnly=True,
        customFields={"k": "v"},
        extraData={"topic": "hello", "_id": "hijack", "t": "p"},
    )
    assert channel["ro"] is True
    assert channel["customFields"] == {"k": "v"}
    assert channel["topic"] == "hello"
    assert channel["_id"] != "hijack" and channel["t"] == "c"

    excluded = await create(admin, "quiet", excludeSelf=True, members=["alice"])
    assert excluded["usersCount"] == 1
    assert await sub_roles(hub, excluded["_id"], str(admin.user_id)) is None

    broadcast = await create(alice, "loud", extraData={"broadcast": True})
    assert broadcast["broadcast"] is True and broadcast["ro"] is True


async def test_create_errors(hub: Hub, alice: RC) -> None:
    assert_error(await alice.post("channels.create", name=""), 400, 'Param "name" is required')
    assert_error(await alice.post("channels.create"), 400, 'Param "name" is required')
    assert_error(
        await alice.post("channels.create", name="no spaces"),
        400,
        "no spaces is not a valid room name. [error-invalid-room-name]",
        "error-invalid-room-name",
    )
    await create(alice, "taken")
    assert_error(
        await alice.post("channels.create", name="taken"),
        400,
        "A channel with name 'taken' exists [error-duplicate-channel-name]",
        "error-duplicate-channel-name",
    )
    assert_error(
        await alice.post("channels.create", name="general"),
        400,
        "A channel with name 'general' exists [error-duplicate-channel-name]",
    )
    long_name = "n" * 256
    assert_error(
        await alice.post("channels.create", name=long_name),
        400,
        f"{long_name} is not a valid room name. [error-invalid-room-name]",
    )
    r = await alice.post("channels.create", name=42)
    assert_error(r, 400, "/name must be string [invalid-params]", "invalid-params")
    r = await alice.post("channels.create", name="x", members="bob")
    assert r.status_code == 400

    await set_permission(hub, "create-c", ["admin"])
    assert_error(await alice.post("channels.create", name="nope"), 403, "unauthorized")


async def test_create_duplicate_of_archived_room(admin: RC) -> None:
    channel = await create(admin, "old")
    assert_ok(await admin.post("channels.archive", roomId=channel["_id"]))
    assert_error(
        await admin.post("channels.create", name="old"),
        400,
        "There's an archived channel with name old [error-archived-duplicate-name]",
        "error-archived-duplicate-name",
    )


async def test_anonymous_is_rejected(anon: RC) -> None:
    r = await anon.post("channels.create", name="x")
    assert r.status_code == 401


# -- info ------------------------------------------------------------------------------------------

NOT_FOUND = (
    'The required "roomId" or "roomName" param provided does not match any channel [error-room-not-found]'
)


async def test_info_by_id_and_name(alice: RC) -> None:
    by_id = assert_ok(await alice.get("channels.info", roomId="GENERAL"))["channel"]
    assert by_id["_id"] == "GENERAL" and by_id["name"] == "general" and by_id["default"] is True
    by_name = assert_ok(await alice.get("channels.info", roomName="general"))["channel"]
    assert by_name["_id"] == "GENERAL"
    assert "joinCode" not in by_name


async def test_info_errors(hub: Hub, alice: RC, bob: RC) -> None:
    assert_error(await alice.get("channels.info", roomId="nope"), 400, NOT_FOUND, "error-room-not-found")
    assert_error(await alice.get("channels.info"), 400, NOT_FOUND)
    group = assert_ok(await alice.post("groups.create", name="secret"))["group"]
    # a private group is not a channel
    assert_error(await alice.get("channels.info", roomId=group["_id"]), 400, NOT_FOUND)

    channel = await create(alice, "lobby")
    await set_permission(hub, "view-c-room", ["admin"])
    assert_error(await bob.get("channels.info", roomId=channel["_id"]), 403, "unauthorized")
    # members still see it
    assert_ok(await alice.get("channels.info", roomId=channel["_id"]))


async def test_info_of_archived_channel(admin: RC) -> None:
    channel = await create(admin, "dusty")
    assert_ok(await admin.post("channels.archive", roomId=channel["_id"]))
    assert assert_ok(await admin.get("channels.info", roomId=channel["_id"]))["channel"]["archived"] is True


# -- list, list.joined -----------------------------------------------------------------------------


async def test_list_pagination_and_sort(alice: RC, bob: RC) -> None:
    for name in ("c-three", "a-one", "b-two"):
        await create(bob, name)
    body = assert_ok(await alice.get("channels.list"))
    names = [c["name"] for c in body["channels"]]
    assert names == ["a-one", "b-two", "c-three", "general"]
    assert body["total"] == 4 and body["count"] == 4 and body["offset"] == 0

    page = assert_ok(await alice.get("channels.list", offset=1, count=2))
    assert [c["name"] for c in page["channels"]] == ["b-two", "c-three"]
    assert page["count"] == 2 and page["offset"] == 1 and page["total"] == 4

    desc = assert_ok(await alice.get("channels.list", sort='{"name":-1}'))
    assert [c["name"] for c in desc["channels"]] == ["general", "c-three", "b-two", "a-one"]
    by_users = assert_ok(await alice.get("channels.list", sort='{"usersCount":-1}', count=1))
    assert by_users["channels"][0]["name"] == "general"

    bad = await alice.get("channels.list", sort="{name:1}")
    assert_error(
        bad, 400, 'Invalid sort parameter provided: "{name:1}" [error-invalid-sort]', "error-invalid-sort"
    )
    assert_error(await alice.get("channels.list", count="x"), 400, "/count must be integer [invalid-params]")


async def test_list_without_view_c_room_shows_joined_only(hub: Hub, alice: RC, bob: RC) -> None:
    await create(bob, "bobs")
    await create(alice, "alices")
    await set_permission(hub, "view-c-room", ["admin"])
    await set_permission(hub, "view-joined-room", ["user"])
    names = [c["name"] for c in assert_ok(await alice.get("channels.list"))["channels"]]
    assert names == ["alices", "general"]

    await set_permission(hub, "view-joined-room", [])
    assert_error(
        await alice.get("channels.list"),
        403,
        "User does not have the permissions required for this action [error-unauthorized]",
    )


async def test_list_joined(alice: RC, bob: RC) -> None:
    await create(bob, "bobs")
    await create(alice, "mine")
    assert_ok(await alice.post("groups.create", name="private"))
    body = assert_ok(await alice.get("channels.list.joined"))
    assert [c["name"] for c in body["channels"]] == ["general", "mine"]
    assert body["total"] == 2 and body["count"] == 2 and body["offset"] == 0
    page = assert_ok(await alice.get("channels.list.joined", count=1, offset=1))
    assert [c["name"] for c in page["channels"]] == ["mine"] and page["total"] == 2


# -- join, leave ----------------------------------------------------------------------------------


async def test_join_and_leave(hub: Hub, alice: RC, bob: RC) -> None:
    channel = await create(alice, "open")
    joined = assert_ok(await bob.post("channels.join", roomId=channel["_id"], joinCode=None))["channel"]
    assert joined["usersCount"] == 2
    kinds = [(m["t"], m["u_id"]) for m in await room_messages(hub, channel["_id"])]
    assert kinds == [("uj", bob.user_id)]
    # joining again changes nothing
    again = assert_ok(await bob.post("channels.join", roomName="open"))["channel"]
    assert again["usersCount"] == 2

    left = assert_ok(await bob.post("channels.leave", roomId=channel["_id"]))["channel"]
    assert left["usersCount"] == 1
    assert await sub_roles(hub, channel["_id"], str(bob.user_id)) is None
    assert [m["t"] for m in await room_messages(hub, channel["_id"])] == ["uj", "ul"]


async def test_join_code(alice: RC, bob: RC, admin: RC) -> None:
    channel = await create(alice, "club")
    set_code = assert_ok(await alice.post("channels.setJoinCode", roomId=channel["_id"], joinCode="s3cret"))
    assert set_code["channel"]["joinCodeRequired"] is True
    assert "joinCode" not in set_code["channel"]

    assert_error(
        await bob.post("channels.join", roomId=channel["_id"]),
        400,
        "Code required [error-code-required]",
        "error-code-required",
    )
    assert_error(
        await bob.post("channels.join", roomId=channel["_id"], joinCode="wrong"),
        400,
        "Invalid code [error-code-invalid]",
        "error-code-invalid",
    )
    assert_ok(await bob.post("channels.join", roomId=channel["_id"], joinCode="s3cret"))
    # join-without-join-code (admin)
    assert_ok(await admin.post("channels.join", roomId=channel["_id"]))


async def test_join_errors(hub: Hub, admin: RC, bob: RC) -> None:
    assert_error(await bob.post("channels.join", roomId="nope"), 400, NOT_FOUND)
    channel = await create(admin, "arch")
    assert_ok(await admin.post("channels.archive", roomId=channel["_id"]))
    assert_error(
        await bob.post("channels.join", roomId=channel["_id"]),
        400,
        "The channel, arch, is archived [error-room-archived]",
        "error-room-archived",
    )
    other = await create(admin, "hidden")
    await set_permission(hub, "view-c-room", ["admin"])
    assert_error(
        await bob.post("channels.join", roomId=other["_id"]),
        400,
        "Not allowed [error-not-allowed]",
        "error-not-allowed",
    )


async def test_leave_errors(hub: Hub, admin: RC, alice: RC, bob: RC) -> None:
    channel = await create(alice, "stay")
    assert_error(
        await bob.post("channels.leave", roomId=channel["_id"]),
        400,
        "You are not in this room [error-user-not-in-room]",
        "error-user-not-in-room",
    )
    assert_error(
        await alice.post("channels.leave", roomId=channel["_id"]),
        400,
        "You are the last owner. Please set new owner before leaving the room. [error-you-are-last-owner]",
        "error-you-are-last-owner",
    )
    # a second owner lets the first one go
    assert_ok(await alice.post("channels.invite", roomId=channel["_id"], userId=bob.user_id))
    assert_ok(await alice.post("channels.addOwner", roomId=channel["_id"], userId=bob.user_id))
    assert_ok(await alice.post("channels.leave", roomId=channel["_id"]))

    await set_permission(hub, "leave-c", ["admin"])
    assert_error(await bob.post("channels.leave", roomId="GENERAL"), 400, "Not allowed [error-not-allowed]")


async def test_leave_general(admin: RC, alice: RC) -> None:
    # GENERAL has no owner: leaving it simply works
    assert_ok(await alice.post("channels.leave", roomId="GENERAL"))
    # the Python suite makes its admin owner of GENERAL first, then expects the last-owner refusal
    assert_ok(await admin.post("channels.addOwner", roomId="GENERAL", username="boss"))
    r = await admin.post("channels.leave", roomId="GENERAL")
    assert_error(
        r,
        400,
        "You are the last owner. Please set new owner before leaving the room. [error-you-are-last-owner]",
    )


# -- invite, kick -----------------------------------------------------------------------------------


async def test_invite(hub: Hub, alice: RC, bob: RC, admin: RC) -> None:
    channel = await create(alice, "party")
    invited = assert_ok(await alice.post("channels.invite", roomId=channel["_id"], userId=bob.user_id))
    assert invited["channel"]["usersCount"] == 2
    msgs = await room_messages(hub, channel["_id"])
    assert [(m["t"], m["msg"], m["u_id"]) for m in msgs] == [("au", "bob", alice.user_id)]
    # already a member: skipped silently
    assert_ok(await alice.post("channels.invite", roomId=channel["_id"], username="bob"))
    assert len(await room_messages(hub, channel["_id"])) == 1
    # by lists
    body = assert_ok(await alice.post("channels.invite", roomName="party", usernames=["boss", "ghost"]))
    assert body["channel"]["usersCount"] == 3


async def test_invite_errors(alice: RC, bob: RC, admin: RC) -> None:
    channel = await create(alice, "closed")
    assert_error(
        await alice.post("channels.invite", roomId=channel["_id"]),
        400,
        'Please provide "userId" or "username" or "userIds" or "usernames" as param '
        "[error-users-params-not-provided]",
        "error-users-params-not-provided",
    )
    assert_error(
        await alice.post("channels.invite", roomId=channel["_id"], username="ghost"),
        400,
        "invalid-user-invite-list",
        "Cannot invite if no users are provided",
    )
    # bob is not a member and holds no add-user-to-any-c-room
    assert_error(
        await bob.post("channels.invite", roomId=channel["_id"], username="boss"),
        400,
        "Not allowed [error-not-allowed]",
        "error-not-allowed",
    )
    # admin may add to any public channel without being in it
    assert_ok(await admin.post("channels.invite", roomId=channel["_id"], userId=bob.user_id))
    # a plain member has no add-user-to-joined-room
    assert_error(
        await bob.post("channels.invite", roomId=channel["_id"], username="boss"),
        400,
        "Not allowed [error-not-allowed]",
    )
    assert_error(await alice.post("channels.invite", roomId="nope", username="bob"), 400, NOT_FOUND)


async def test_kick(hub: Hub, alice: RC, bob: RC) -> None:
    channel = await create(alice, "dojo", members=["bob"])
    kicked = assert_ok(await alice.post("channels.kick", roomId=channel["_id"], username="bob"))
    assert kicked["channel"]["usersCount"] == 1
    assert await sub_roles(hub, channel["_id"], str(bob.user_id)) is None
    assert [(m["t"], m["msg"]) for m in await room_messages(hub, channel["_id"])] == [("ru", "bob")]


async def test_kick_errors(alice: RC, bob: RC, admin: RC) -> None:
    channel = await create(alice, "ring", members=["bob"])
    assert_error(
        await bob.post("channels.kick", roomId=channel["_id"], userId=alice.user_id),
        400,
        "Not allowed [error-not-allowed]",
        "error-not-allowed",
    )
    assert_error(
        await alice.post("channels.kick", roomId=channel["_id"], username="boss"),
        400,
        "User is not in this room [error-user-not-in-room]",
        "error-user-not-in-room",
    )
    assert_error(
        await admin.post("channels.kick", roomId=channel["_id"], userId=alice.user_id),
        400,
        "You are the last owner. Please set new owner before leaving the room. [error-you-are-last-owner]",
        "error-you-are-last-owner",
    )
    assert_error(
        await alice.post("channels.kick", roomId=channel["_id"]),
        400,
        'The required "userId" or "username" param was not provided [error-user-param-not-provided]',
    )
    assert_error(
        await alice.post("channels.kick", roomId=channel["_id"], userId="ghost"),
        400,
        'The required "userId" or "username" param provided does not match any users [error-invalid-user]',
    )


# -- room roles -------------------------------------------------------------------------------------


async def test_owner_roles(hub: Hub, alice: RC, bob: RC) -> None:
    channel = await create(alice, "board", members=["bob"])
    rid = channel["_id"]
    assert_ok(await alice.post("channels.addOwner", roomId=rid, userId=bob.user_id))
    assert await sub_roles(hub, rid, str(bob.user_id)) == ["owner"]
    note = (await room_messages(hub, rid))[-1]
    assert (
        note["t"] == "subscription-role-added" and note["msg"] == "bob" and note["extra"]["role"] == "owner"
    )
    body = assert_error(
        await alice.post("channels.addOwner", roomId=rid, username="bob"),
        400,
        "User is already an owner [error-user-already-owner]",
        "error-user-already-owner",
    )
    assert body["details"] == {"method": "addRoomOwner"}
    assert_ok(await bob.post("channels.removeOwner", roomId=rid, userId=alice.user_id))
    assert await sub_roles(hub, rid, str(alice.user_id)) == []
    assert_error(
        await bob.post("channels.removeOwner", roomId=rid, userId=alice.user_id),
        400,
        "User is not an owner [error-user-not-owner]",
        "error-user-not-owner",
    )
    assert_error(
        await bob.post("channels.removeOwner", roomId=rid, userId=bob.user_id),
        400,
        "This is the last owner. Please set a new owner before removing this one. [error-remove-last-owner]",
        "error-remove-last-owner",
    )
    # alice lost set-owner with the role
    assert_error(
        await alice.post("channels.addOwner", roomId=rid, userId=alice.user_id),
        400,
        "Not allowed [error-not-allowed]",
    )
    assert_error(
        await bob.post("channels.addOwner", roomId=rid, username="boss"),
        400,
        "User is not in this room [error-user-not-in-room]",
    )


@pytest.mark.parametrize(("role", "noun"), [("moderator", "a moderator"), ("leader", "a leader")])
async def test_moderator_and_leader_roles(hub: Hub, alice: RC, bob: RC, role: str, noun: str) -> None:
    rid = (await create(alice, f"{role}s", members=["bob"]))["_id"]
    add, remove = f"channels.add{role.title()}", f"channels.remove{role.title()}"
    assert_ok(await alice.post(add, roomId=rid, userId=bob.user_id))
    assert await sub_roles(hub, rid, str(bob.user_id)) == [role]
    assert_error(
        await alice.post(add, roomId=rid, userId=bob.user_id),
        400,
        f"User is already {noun} [error-user-already-{role}]",
        f"error-user-already-{role}",
    )
    # set-moderator / set-leader belong to admin and owner only
    assert_error(
        await bob.post(add, roomId=rid, userId=alice.user_id), 400, "Not allowed [error-not-allowed]"
    )
    assert_ok(await alice.post(remove, roomId=rid, userId=bob.user_id))
    assert_error(
        await alice.post(remove, roomId=rid, userId=bob.user_id),
        400,
        f"User is not {noun} [error-user-not-{role}]",
        f"error-user-not-{role}",
    )


# -- members, messages, history --------------------------------------------------------------------


async def test_members(hub: Hub, admin: RC, alice: RC, bob: RC) -> None:
    body = assert_ok(await alice.get("channels.members", roomId="GENERAL"))
    assert [m["username"] for m in body["members"]] == ["alice", "bob", "boss"]
    assert body["total"] == 3 and body["count"] == 3 and body["offset"] == 0
    member = body["members"][0]
    assert set(member) >= {"_id", "username", "name", "status", "_updatedAt"}
    assert "emails" not in member and "roles" not in member

    page = assert_ok(await alice.get("channels.members", roomName="general", offset=1, count=1))
    assert [m["username"] for m in page["members"]] == ["bob"] and page["total"] == 3
    desc = assert_ok(await alice.get("channels.members", roomId="GENERAL", sort='{"username":-1}'))
    assert desc["members"][0]["username"] == "boss"
    filtered = assert_ok(await alice.get("channels.members", roomId="GENERAL", filter="BO"))
    assert [m["username"] for m in filtered["members"]] == ["bob", "boss"]
    by_status = await alice.http.get(
        "/api/v1/channels.members?roomId=GENERAL&status[]=online", headers=alice.headers
    )
    assert assert_ok(by_status)["total"] == 0

    assert_error(await alice.get("channels.members", roomId="nope"), 400, NOT_FOUND)
    channel = await create(admin, "private-ish")
    await set_permission(hub, "view-c-room", ["admin"])
    assert_error(await alice.get("channels.members", roomId=channel["_id"]), 403, "unauthorized")


async def test_members_of_broadcast_room(alice: RC, bob: RC) -> None:
    channel = await create(alice, "radio", members=["bob"], extraData={"broadcast": True})
    assert assert_ok(await alice.get("channels.members", roomId=channel["_id"]))["total"] == 2
    assert_error(await bob.get("channels.members", roomId=channel["_id"]), 403, "unauthorized")


async def test_messages(hub: Hub, alice: RC, bob: RC) -> None:
    rid = (await create(alice, "talk"))["_id"]
    ids = [await post_message(hub, rid, str(alice.user_id), f"m{i}") for i in range(3)]
    await post_message(hub, rid, str(alice.user_id), "hidden", _hidden=True)
    body = assert_ok(await alice.get("channels.messages", roomId=rid))
    assert [m["_id"] for m in body["messages"]] == ids[::-1]
    assert body["total"] == 3 and body["count"] == 3 and body["offset"] == 0
    asc = assert_ok(await alice.get("channels.messages", roomId=rid, sort='{"ts":1}', count=2, offset=1))
    assert [m["msg"] for m in asc["messages"]] == ["m1", "m2"] and asc["total"] == 3
    # public: readable by non-members holding view-c-room
    assert assert_ok(await bob.get("channels.messages", roomId=rid))["total"] == 3

    await set_permission(hub, "view-c-room", ["admin", "bot"])
    assert_error(
        await bob.get("channels.messages", roomId=rid),
        403,
        "User does not have the permissions required for this action [error-unauthorized]",
    )


async def test_messages_for_view_joined_room_non_member(hub: Hub, alice: RC, bob: RC) -> None:
    rid = (await create(alice, "talk"))["_id"]
    await set_permission(hub, "view-joined-room", ["user"])
    assert_error(await bob.get("channels.messages", roomId=rid), 403, "unauthorized")
    assert_ok(await alice.get("channels.messages", roomId=rid))


async def test_history(hub: Hub, alice: RC, bob: RC) -> None:
    rid = (await create(alice, "log"))["_id"]
    ids = [await post_message(hub, rid, str(alice.user_id), f"m{i}") for i in range(5)]
    body = assert_ok(await alice.get("channels.history", roomId=rid))
    assert [m["_id"] for m in body["messages"]] == ids[::-1]
    assert set(body) == {"messages", "success"}

    page = assert_ok(await alice.get("channels.history", roomId=rid, count=2, offset=1))
    assert [m["msg"] for m in page["messages"]] == ["m3", "m2"]

    async with hub.tx(write=False) as ctx:
        stamps = {r["id"]: r["ts"] for r in (await messages.list_messages(ctx.conn))[0]}
    latest, oldest = iso(stamps[ids[3]]), iso(stamps[ids[1]])
    window = assert_ok(await alice.get("channels.history", roomId=rid, latest=latest, oldest=oldest))
    assert [m["msg"] for m in window["messages"]] == ["m2"]
    inclusive = assert_ok(
        await alice.get("channels.history", roomId=rid, latest=latest, oldest=oldest, inclusive="true")
    )
    assert [m["msg"] for m in inclusive["messages"]] == ["m3", "m2", "m1"]
    # the Python client sends booleans as "True": Rocket.Chat only honours "true"
    python_bool = assert_ok(
        await alice.get("channels.history", roomId=rid, latest=latest, oldest=oldest, inclusive="True")
    )
    assert [m["msg"] for m in python_bool["messages"]] == ["m2"]

    assert_error(
        await alice.get("channels.history", roomId=rid, latest="yesterday"),
        400,
        '/latest must match format "date-time" [invalid-params]',
        "invalid-params",
    )
    assert_error(await alice.get("channels.history", roomId="nope"), 400, NOT_FOUND)
    # bob is no member but may read a public channel
    assert len(assert_ok(await bob.get("channels.history", roomId=rid))["messages"]) == 5
    await set_permission(hub, "view-c-room", ["admin"])
    assert_error(await bob.get("channels.history", roomId=rid), 403, "unauthorized")


async def test_history_threads_and_unreads(hub: Hub, alice: RC) -> None:
    rid = (await create(alice, "threads"))["_id"]
    root = await post_message(hub, rid, str(alice.user_id), "root")
    await post_message(hub, rid, str(alice.user_id), "reply", tmid=root)
    await post_message(hub, rid, str(alice.user_id), "shown", tmid=root, tshow=True)
    default = assert_ok(await alice.get("channels.history", roomId=rid))
    assert [m["msg"] for m in default["messages"]] == ["shown", "root"]
    everything = assert_ok(await alice.get("channels.history", roomId=rid, showThreadMessages="true"))
    assert [m["msg"] for m in everything["messages"]] == ["shown", "reply", "root"]

    unread = assert_ok(await alice.get("channels.history", roomId=rid, unreads="true", count=1))
    assert unread["firstUnread"]["msg"] == "root"
    assert unread["unreadNotLoaded"] == 2


# -- archive, unarchive, rename, delete --------------------------------------------------------------


async def test_archive_and_unarchive(hub: Hub, admin: RC, alice: RC) -> None:
    rid = (await create(alice, "attic"))["_id"]
    assert_ok(await alice.post("channels.archive", roomId=rid))
    async with hub.tx(write=False) as ctx:
        archived = [e for e in await events.list_events(ctx.conn) if e["type"] == "roomArchived"]
    assert len(archived) == 1 and archived[0]["room_id"] == rid
    assert archived[0]["payload"]["room"]["archived"] is True
    assert_error(
        await alice.post("channels.archive", roomId=rid),
        400,
        "The channel, attic, is archived [error-room-archived]",
        "error-room-archived",
    )
    # unarchive-room is admin-only
    assert_error(
        await alice.post("channels.unarchive", roomId=rid),
        400,
        "Not authorized [error-not-authorized]",
        "error-not-authorized",
    )
    assert_ok(await admin.post("channels.unarchive", roomId=rid))
    assert "archived" not in assert_ok(await alice.get("channels.info", roomId=rid))["channel"]
    assert_error(
        await admin.post("channels.unarchive", roomId=rid), 400, "The channel, attic, is not archived"
    )


async def test_archive_needs_permission(alice: RC, bob: RC) -> None:
    rid = (await create(alice, "keep", members=["bob"]))["_id"]
    assert_error(
        await bob.post("channels.archive", roomId=rid),
        400,
        "Not authorized [error-not-authorized]",
        "error-not-authorized",
    )
    assert_error(await bob.post("channels.archive", roomId="nope"), 400, NOT_FOUND)


async def test_rename(hub: Hub, alice: RC, bob: RC) -> None:
    rid = (await create(alice, "before", members=["bob"]))["_id"]
    renamed = assert_ok(await alice.post("channels.rename", roomId=rid, name="after"))["channel"]
    assert renamed["name"] == renamed["fname"] == "after"
    async with hub.tx(write=False) as ctx:
        sub = await rooms.get_subscription(ctx.conn, rid, str(bob.user_id))
    assert sub is not None and sub["name"] == "after"
    assert (await room_messages(hub, rid))[-1]["t"] == "r"
    assert_ok(await alice.get("channels.info", roomName="after"))

    assert_error(await alice.post("channels.rename", roomId=rid), 400, 'The bodyParam "name" is required')
    assert_error(
        await alice.post("channels.rename", roomId=rid, name="  "), 400, 'The bodyParam "name" is required'
    )
    assert_error(
        await alice.post("channels.rename", roomId=rid, name="after"),
        400,
        "The channel name is the same as what it would be renamed to.",
    )
    assert_error(
        await alice.post("channels.rename", roomId=rid, name="general"),
        400,
        "A channel with name 'general' exists [error-duplicate-channel-name]",
    )
    assert_error(
        await alice.post("channels.rename", roomId=rid, name="bad name"),
        400,
        "bad name is not a valid room name. [error-invalid-room-name]",
    )
    assert_error(
        await bob.post("channels.rename", roomId=rid, name="mine"),
        400,
        "Editing room is not allowed [error-action-not-allowed]",
        "error-action-not-allowed",
    )


async def test_delete(hub: Hub, alice: RC, bob: RC) -> None:
    rid = (await create(alice, "doomed", members=["bob"]))["_id"]
    await post_message(hub, rid, str(alice.user_id), "bye")
    assert_error(
        await bob.post("channels.delete", roomId=rid),
        400,
        "Not allowed [error-not-allowed]",
        "error-not-allowed",
    )
    assert_ok(await alice.post("channels.delete", roomName="doomed"))
    assert_error(await alice.get("channels.info", roomId=rid), 400, NOT_FOUND)
    assert await room_messages(hub, rid) == []
    assert await sub_roles(hub, rid, str(bob.user_id)) is None
    async with hub.tx(write=False) as ctx:
        removed = await rooms.removed_since(ctx.conn, datetime(2000, 1, 1, tzinfo=UTC))
    assert [r["id"] for r in removed] == [rid]
    # the name is free again
    await create(alice, "doomed")
    assert_error(await alice.post("channels.delete", roomId="nope"), 400, NOT_FOUND)


async def test_delete_archived_channel(admin: RC) -> None:
    rid = (await create(admin, "gone"))["_id"]
    assert_ok(await admin.post("channels.archive", roomId=rid))
    assert_ok(await admin.post("channels.delete", roomId=rid))


# -- settings -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("param", "field", "label"),
    [
        ("topic", "topic", "topic"),
        ("description", "description", "description"),
        ("announcement", "announcement", "announcement"),
        ("purpose", "description", "purpose (description)"),
    ],
)
async def test_text_settings(alice: RC, bob: RC, param: str, field: str, label: str) -> None:
    rid = (await create(alice, "settings", members=["bob"]))["_id"]
    route = f"channels.set{param.title()}"
    body = assert_ok(await alice.post(route, roomId=rid, **{param: "hello"}))
    assert body[param] == "hello"
    assert assert_ok(await alice.get("channels.info", roomId=rid))["channel"][field] == "hello"
    assert_error(
        await alice.post(route, roomId=rid, **{param: "hello"}), 400, f"The channel {label} {ALREADY_SAME}"
    )
    assert_error(await alice.post(route, roomId=rid), 400, f'The bodyParam "{param}" is required')
    assert_error(
        await bob.post(route, roomId=rid, **{param: "mine"}),
        400,
        "Editing room is not allowed [error-action-not-allowed]",
        "error-action-not-allowed",
    )


async def test_set_read_only(hub: Hub, alice: RC, bob: RC) -> None:
    rid = (await create(alice, "quiet", members=["bob"]))["_id"]
    assert (
        assert_ok(await alice.post("channels.setReadOnly", roomId=rid, readOnly=True))["channel"]["ro"]
        is True
    )
    assert_error(
        await alice.post("channels.setReadOnly", roomId=rid, readOnly=True),
        400,
        f"The channel read only setting {ALREADY_SAME}",
    )
    assert_error(
        await alice.post("channels.setReadOnly", roomId=rid), 400, 'The bodyParam "readOnly" is required'
    )
    assert_error(
        await bob.post("channels.setReadOnly", roomId=rid, readOnly=False),
        400,
        "Editing room is not allowed [error-action-not-allowed]",
    )
    # a moderator may edit the room but not its read-only flag
    assert_ok(await alice.post("channels.addModerator", roomId=rid, userId=bob.user_id))
    assert_error(
        await bob.post("channels.setReadOnly", roomId=rid, readOnly=False),
        400,
        "Editing readOnly room is not allowed [error-action-not-allowed]",
    )


async def test_set_join_code_errors(alice: RC, bob: RC) -> None:
    rid = (await create(alice, "gate", members=["bob"]))["_id"]
    assert_error(
        await alice.post("channels.setJoinCode", roomId=rid, joinCode="x" * 256),
        400,
        "/joinCode must NOT have more than 255 characters [invalid-params]",
    )
    assert_error(
        await alice.post("channels.setJoinCode", roomId=rid), 400, 'The bodyParam "joinCode" is required'
    )
    assert_error(
        await alice.post("channels.setJoinCode", roomId=rid, joinCode=" "),
        400,
        'The bodyParam "joinCode" is required',
    )
    assert_error(
        await bob.post("channels.setJoinCode", roomId=rid, joinCode="x"),
        400,
        "Editing room is not allowed [error-action-not-allowed]",
    )


async def test_set_default(admin: RC, alice: RC) -> None:
    rid = (await create(alice, "welcome"))["_id"]
    assert (
        assert_ok(await admin.post("channels.setDefault", roomId=rid, default=True))["channel"]["default"]
        is True
    )
    assert_error(
        await admin.post("channels.setDefault", roomId=rid, default="true"),
        400,
        f"The channel default setting {ALREADY_SAME}",
        "error-channels-setdefault-missing-default-param",
    )
    assert (
        assert_ok(await admin.post("channels.setDefault", roomId=rid, default="0"))["channel"]["default"]
        is False
    )
    assert_error(
        await admin.post("channels.setDefault", roomId=rid),
        400,
        'The bodyParam "default" is required',
        "error-channels-setdefault-is-same",
    )
    r = await admin.post("channels.setDefault", roomId=rid, default={"on": True})
    assert r.status_code == 400 and r.json()["errorType"] == "invalid-params"
    # a default room is joined by users registered afterwards
    assert_ok(await admin.post("channels.setDefault", roomId=rid, default=True))
    carol = await admin.register_and_login("carol")
    joined = assert_ok(await carol.get("channels.list.joined"))["channels"]
    assert {c["name"] for c in joined} == {"general", "welcome"}
