"""The room settings and reads both families share beyond the basics (core-api.md §5, §6):
setType, setCustomFields, close/open, addAll, roles, moderators, counters, online, files."""

from __future__ import annotations

from typing import Any

import pytest

from hookhub.hub import Hub
from hookhub.ids import iso
from hookhub.services import room_admin
from hookhub.store import rooms, users
from tests.api.test_channels import (
    NOT_FOUND,
    TickingClock,
    post_message,
    room_messages,
    set_permission,
)
from tests.conftest import RC, assert_error, assert_ok

GROUP_NOT_FOUND = (
    'The required "roomId" or "roomName" param provided does not match any group [error-room-not-found]'
)
EDIT_NOT_ALLOWED = "Editing room is not allowed [error-action-not-allowed]"


@pytest.fixture(autouse=True)
def ticking(hub: Hub) -> TickingClock:
    clock = TickingClock()
    hub.clock = clock
    return clock


async def channel(client: RC, name: str, **kwargs: Any) -> str:
    body = assert_ok(await client.post("channels.create", name=name, **kwargs))
    return str(body["channel"]["_id"])


async def group(client: RC, name: str, **kwargs: Any) -> str:
    body = assert_ok(await client.post("groups.create", name=name, **kwargs))
    return str(body["group"]["_id"])


async def subscription(hub: Hub, room_id: str, user_id: str | None) -> dict[str, Any] | None:
    async with hub.tx(write=False) as ctx:
        return await rooms.get_subscription(ctx.conn, room_id, str(user_id))


async def set_user(hub: Hub, user_id: str | None, **values: Any) -> None:
    async with hub.tx() as ctx:
        await users.update_user(ctx.conn, str(user_id), values)


# -- setType ------------------------------------------------------------------------------------------


async def test_channel_becomes_private_group(hub: Hub, alice: RC, bob: RC) -> None:
    rid = await channel(alice, "openplan", members=["bob"])
    body = assert_ok(await alice.post("channels.setType", roomId=rid, type="p"))
    assert body["channel"]["_id"] == rid and body["channel"]["t"] == "p"
    # the channel routes no longer find it; the group routes do, for members
    assert_error(await alice.get("channels.info", roomId=rid), 400, NOT_FOUND, "error-room-not-found")
    assert assert_ok(await bob.get("groups.info", roomId=rid))["group"]["t"] == "p"
    for member in (alice, bob):
        sub = await subscription(hub, rid, member.user_id)
        assert sub is not None and sub["t"] == "p"
    assert [g["_id"] for g in assert_ok(await bob.get("groups.list"))["groups"]] == [rid]
    assert rid not in {c["_id"] for c in assert_ok(await bob.get("channels.list.joined"))["channels"]}
    note = (await room_messages(hub, rid))[-1]
    assert note["t"] == "room_changed_privacy" and note["msg"] == "private"
    assert note["u_username"] == "alice"


async def test_group_becomes_public_channel(hub: Hub, alice: RC, bob: RC, admin: RC) -> None:
    rid = await group(alice, "backroom", members=["bob"])
    body = assert_ok(await alice.post("groups.setType", roomName="backroom", type="c"))
    assert body["group"]["_id"] == rid and body["group"]["t"] == "c"
    assert_error(await alice.get("groups.info", roomId=rid), 400, GROUP_NOT_FOUND)
    # now public: anyone with view-c-room sees it
    assert assert_ok(await admin.get("channels.info", roomId=rid))["channel"]["t"] == "c"
    sub = await subscription(hub, rid, bob.user_id)
    assert sub is not None and sub["t"] == "c"
    assert (await room_messages(hub, rid))[-1]["msg"] == "public"
    # and back again through the channel family
    assert assert_ok(await alice.post("channels.setType", roomId=rid, type="p"))["channel"]["t"] == "p"


async def test_set_type_errors(hub: Hub, alice: RC, bob: RC) -> None:
    rid = await channel(alice, "typed", members=["bob"])
    assert_error(await alice.post("channels.setType", roomId=rid), 400, 'The bodyParam "type" is required')
    assert_error(
        await alice.post("channels.setType", roomId=rid, type=" "), 400, 'The bodyParam "type" is required'
    )
    assert_error(
        await alice.post("channels.setType", roomId=rid, type=5), 400, "/type must be string [invalid-params]"
    )
    assert_error(
        await alice.post("channels.setType", roomId=rid, type="c"),
        400,
        "The channel type is the same as what it would be changed to.",
    )
    assert_error(
        await bob.post("channels.setType", roomId=rid, type="p"),
        400,
        EDIT_NOT_ALLOWED,
        "error-action-not-allowed",
    )
    body = assert_error(
        await alice.post("channels.setType", roomId=rid, type="d"),
        400,
        "error-invalid-room-type [error-invalid-room-type]",
        "error-invalid-room-type",
    )
    assert body["details"] == {"function": "RocketChat.saveRoomType", "type": "d"}
    await set_permission(hub, "create-p", ["admin"])
    body = assert_error(
        await alice.post("channels.setType", roomId=rid, type="p"),
        400,
        "Changing a public channel to a private room is not allowed [error-action-not-allowed]",
        "error-action-not-allowed",
    )
    assert body["details"] == {"method": "saveRoomSettings", "action": "Change_Room_Type"}
    assert_error(await alice.post("channels.setType", roomId="nope", type="p"), 400, NOT_FOUND)
    assert_ok(await alice.post("channels.archive", roomId=rid))
    assert_error(
        await alice.post("channels.setType", roomId=rid, type="p"),
        400,
        "The channel, typed, is archived [error-room-archived]",
    )


async def test_group_set_type_errors(hub: Hub, alice: RC, bob: RC) -> None:
    rid = await group(alice, "hush", members=["bob"])
    assert_error(
        await alice.post("groups.setType", roomId=rid, type="p"),
        400,
        "The private group type is the same as what it would be changed to.",
    )
    assert_error(await bob.post("groups.setType", roomId=rid, type="c"), 400, EDIT_NOT_ALLOWED)
    await set_permission(hub, "create-c", ["admin"])
    assert_error(
        await alice.post("groups.setType", roomId=rid, type="c"),
        400,
        "Changing a private group to a public channel is not allowed [error-action-not-allowed]",
    )
    outsider = await alice.register_and_login("carol")
    assert_error(await outsider.post("groups.setType", roomId=rid, type="c"), 400, GROUP_NOT_FOUND)


# -- setCustomFields ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("family", "key"), [("channels", "channel"), ("groups", "group")])
async def test_set_custom_fields(alice: RC, bob: RC, family: str, key: str) -> None:
    create = channel if family == "channels" else group
    rid = await create(alice, "custom", members=["bob"], customFields={"old": True})
    route = f"{family}.setCustomFields"
    body = assert_ok(await alice.post(route, roomId=rid, customFields={"team": "red", "n": 1}))
    # the object replaces the previous one
    assert body[key]["customFields"] == {"team": "red", "n": 1}
    info = assert_ok(await alice.get(f"{family}.info", roomName="custom"))[key]
    assert info["customFields"] == {"team": "red", "n": 1}
    assert assert_ok(await alice.post(route, roomName="custom", customFields={}))[key]["customFields"] == {}

    required = 'The bodyParam "customFields" is required with a type like object.'
    assert_error(await alice.post(route, roomId=rid), 400, required)
    assert_error(await alice.post(route, roomId=rid, customFields="red"), 400, required)
    assert_error(await alice.post(route, roomId=rid, customFields=None), 400, required)
    body = assert_error(
        await alice.post(route, roomId=rid, customFields=["red"]),
        400,
        "Invalid roomCustomFields type [invalid-roomCustomFields-type]",
        "invalid-roomCustomFields-type",
    )
    assert body["details"] == {"function": "RocketChat.saveRoomCustomFields"}
    assert_error(await bob.post(route, roomId=rid, customFields={"x": 1}), 400, EDIT_NOT_ALLOWED)


# -- close / open -------------------------------------------------------------------------------------


async def test_channel_close_and_open(hub: Hub, alice: RC, bob: RC) -> None:
    rid = await channel(alice, "lounge")
    assert assert_ok(await alice.post("channels.close", roomId=rid)) == {"success": True}
    sub = await subscription(hub, rid, alice.user_id)
    assert sub is not None and sub["open"] is False and sub["alert"] is False
    assert_error(
        await alice.post("channels.close", roomId=rid),
        400,
        "The channel, lounge, is already closed to the sender",
    )
    # hidden is not gone: still a member
    assert rid in {c["_id"] for c in assert_ok(await alice.get("channels.list.joined"))["channels"]}
    assert_ok(await alice.post("channels.open", roomName="lounge"))
    sub = await subscription(hub, rid, alice.user_id)
    assert sub is not None and sub["open"] is True
    assert_error(
        await alice.post("channels.open", roomId=rid),
        400,
        "The channel, lounge, is already open to the sender",
    )
    for route in ("channels.close", "channels.open"):
        assert_error(
            await bob.post(route, roomId=rid), 400, 'The user/callee is not in the channel "lounge".'
        )
        assert_error(await alice.post(route, roomId="nope"), 400, NOT_FOUND)
    # archived rooms may still be hidden
    assert_ok(await alice.post("channels.archive", roomId=rid))
    assert_ok(await alice.post("channels.close", roomId=rid))


async def test_group_close_and_open(hub: Hub, alice: RC, bob: RC) -> None:
    rid = await group(alice, "nook")
    assert_ok(await alice.post("groups.close", roomId=rid))
    sub = await subscription(hub, rid, alice.user_id)
    assert sub is not None and sub["open"] is False
    assert_error(
        await alice.post("groups.close", roomId=rid),
        400,
        "The private group, nook, is already closed to the sender",
    )
    assert_ok(await alice.post("groups.open", roomId=rid))
    assert_error(
        await alice.post("groups.open", roomId=rid),
        400,
        "The private group, nook, is already open for the sender",
    )
    assert_error(await bob.post("groups.close", roomId=rid), 400, GROUP_NOT_FOUND)
    assert_error(
        await alice.post("groups.open"),
        400,
        'The parameter "roomId" or "roomName" is required [error-room-param-not-provided]',
    )


# -- addAll -------------------------------------------------------------------------------------------


async def test_add_all(hub: Hub, admin: RC, alice: RC, bob: RC) -> None:
    rid = await channel(alice, "everyone")
    await set_user(hub, bob.user_id, active=False)
    body = assert_ok(await admin.post("channels.addAll", roomId=rid, activeUsersOnly=True))
    assert body["channel"]["usersCount"] == 3  # alice, boss and rocket.cat; bob is inactive
    assert await subscription(hub, rid, bob.user_id) is None
    joined = [(m["t"], m["msg"]) for m in await room_messages(hub, rid)]
    assert sorted(joined) == [("uj", "boss"), ("uj", "rocket.cat")]

    # everyone, inactive users included; present members are skipped
    body = assert_ok(await admin.post("channels.addAll", roomName="everyone"))
    assert body["channel"]["usersCount"] == 4
    sub = await subscription(hub, rid, bob.user_id)
    assert sub is not None and sub["roles"] == [] and sub["open"] is True
    assert len(await room_messages(hub, rid)) == 3
    members = assert_ok(await alice.get("channels.members", roomId=rid))
    assert [m["username"] for m in members["members"]] == ["alice", "bob", "boss", "rocket.cat"]


async def test_add_all_active_only_spellings(hub: Hub, admin: RC, bob: RC) -> None:
    await set_user(hub, bob.user_id, active=False)
    for index, value in enumerate(("true", 1, "1")):
        rid = await channel(admin, f"spell{index}")
        assert_ok(await admin.post("channels.addAll", roomId=rid, activeUsersOnly=value))
        assert await subscription(hub, rid, bob.user_id) is None
    rid = await channel(admin, "spelled-no")
    assert_ok(await admin.post("channels.addAll", roomId=rid, activeUsersOnly="false"))
    assert await subscription(hub, rid, bob.user_id) is not None
    assert_error(
        await admin.post("channels.addAll", roomId=rid, activeUsersOnly=[True]),
        400,
        "/activeUsersOnly must be boolean,string,integer [invalid-params]",
    )


async def test_add_all_errors(
    hub: Hub, admin: RC, alice: RC, bob: RC, monkeypatch: pytest.MonkeyPatch
) -> None:
    rid = await channel(alice, "crowd")
    r = await alice.post("channels.addAll", roomId=rid)
    assert r.status_code == 400
    assert r.json() == {
        "error": "Access to Method Forbidden [403]",
        "errorType": 403,
        "details": {"method": "addAllToRoom"},
        "success": False,
    }
    assert_error(await admin.post("channels.addAll", roomId="nope"), 400, NOT_FOUND)
    monkeypatch.setattr(room_admin, "API_USER_LIMIT", 3)
    body = assert_error(
        await admin.post("channels.addAll", roomId=rid),
        400,
        "User Limit Exceeded [error-user-limit-exceeded]",
        "error-user-limit-exceeded",
    )
    assert body["details"] == {"method": "addAllToRoom"}
    assert await subscription(hub, rid, bob.user_id) is None
    assert_ok(await admin.post("channels.archive", roomId=rid))
    assert_error(
        await admin.post("channels.addAll", roomId=rid),
        400,
        "The channel, crowd, is archived [error-room-archived]",
    )


async def test_group_add_all(hub: Hub, admin: RC, alice: RC, bob: RC) -> None:
    rid = await group(admin, "all-hands")
    body = assert_ok(await admin.post("groups.addAll", roomId=rid))
    assert body["group"]["usersCount"] == 4
    assert await subscription(hub, rid, bob.user_id) is not None
    # only members find the group
    other = await group(alice, "alices")
    assert_error(await admin.post("groups.addAll", roomId=other), 400, GROUP_NOT_FOUND)


# -- roles, moderators --------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["channels", "groups"])
async def test_roles_and_moderators(admin: RC, alice: RC, bob: RC, family: str) -> None:
    create = channel if family == "channels" else group
    rid = await create(alice, "ranks", members=["bob", "boss"])
    assert_ok(await alice.post(f"{family}.addModerator", roomId=rid, userId=bob.user_id))
    assert_ok(await alice.post(f"{family}.addLeader", roomId=rid, userId=bob.user_id))
    body = assert_ok(await bob.get(f"{family}.roles", roomId=rid))
    roles = body["roles"]
    # boss holds no room role; the holders come by username
    assert [(r["u"]["username"], r["roles"]) for r in roles] == [
        ("alice", ["owner"]),
        ("bob", ["moderator", "leader"]),
    ]
    assert roles[0]["rid"] == rid and isinstance(roles[0]["_id"], str)
    assert roles[1]["u"] == {"_id": bob.user_id, "username": "bob", "name": "Bob"}
    assert assert_ok(await bob.get(f"{family}.roles", roomName="ranks"))["roles"] == roles

    mods = assert_ok(await admin.get(f"{family}.moderators", roomName="ranks"))
    assert mods["moderators"] == [{"_id": bob.user_id, "username": "bob", "name": "Bob"}]
    assert_ok(await alice.post(f"{family}.removeModerator", roomId=rid, userId=bob.user_id))
    assert assert_ok(await admin.get(f"{family}.moderators", roomId=rid))["moderators"] == []


async def test_roles_access(hub: Hub, alice: RC, bob: RC) -> None:
    rid = await channel(alice, "public-ranks")
    # view-c-room is enough to read a public channel's roles
    assert len(assert_ok(await bob.get("channels.roles", roomId=rid))["roles"]) == 1
    await set_permission(hub, "view-c-room", ["admin"])
    body = assert_error(
        await bob.get("channels.roles", roomId=rid),
        400,
        "Not allowed [error-not-allowed]",
        "error-not-allowed",
    )
    assert body["details"] == {"method": "getRoomRoles"}
    assert_error(await bob.get("channels.roles", roomId="nope"), 400, NOT_FOUND)
    gid = await group(alice, "private-ranks")
    assert_error(await bob.get("groups.roles", roomId=gid), 400, GROUP_NOT_FOUND)
    assert_error(await bob.get("groups.moderators", roomId=gid), 400, GROUP_NOT_FOUND)


# -- counters -----------------------------------------------------------------------------------------


async def test_channel_counters(hub: Hub, admin: RC, alice: RC, bob: RC) -> None:
    rid = await channel(alice, "stats", members=["bob"])
    fresh = assert_ok(await alice.get("channels.counters", roomId=rid))
    room = assert_ok(await alice.get("channels.info", roomId=rid))["channel"]
    sub = await subscription(hub, rid, alice.user_id)
    assert sub is not None
    # nothing posted yet: `latest` is the room's last change
    assert fresh == {
        "joined": True,
        "members": 2,
        "unreads": 0,
        "unreadsFrom": iso(sub["ls"]),
        "msgs": 0,
        "latest": room["_updatedAt"],
        "userMentions": 0,
        "success": True,
    }
    await post_message(hub, rid, str(bob.user_id), "one")
    await post_message(hub, rid, str(bob.user_id), "two")
    last = (await room_messages(hub, rid))[-1]
    body = assert_ok(await alice.get("channels.counters", roomName="stats"))
    assert body["unreads"] == 2 and body["msgs"] == 2 and body["latest"] == iso(last["ts"])

    carol = await admin.register_and_login("carol")
    outsider = assert_ok(await carol.get("channels.counters", roomId=rid))
    assert outsider == {
        "joined": False,
        "members": None,
        "unreads": None,
        "unreadsFrom": None,
        "msgs": None,
        "latest": None,
        "userMentions": None,
        "success": True,
    }
    # room administrators see the room figures, and anyone's counters
    as_admin = assert_ok(await admin.get("channels.counters", roomId=rid))
    assert as_admin["joined"] is False and as_admin["members"] == 2 and as_admin["msgs"] == 2
    assert as_admin["unreads"] is None
    for_bob = assert_ok(await admin.get("channels.counters", roomId=rid, userId=bob.user_id))
    assert for_bob["joined"] is True and for_bob["unreads"] == 2
    assert_error(await alice.get("channels.counters", roomId=rid, userId=bob.user_id), 403, "unauthorized")
    assert_error(await alice.get("channels.counters", roomId="nope"), 400, NOT_FOUND)
    assert_ok(await alice.post("channels.archive", roomId=rid))
    assert_error(
        await alice.get("channels.counters", roomId=rid),
        400,
        "The channel, stats, is archived [error-room-archived]",
    )


async def test_group_counters(hub: Hub, admin: RC, alice: RC, bob: RC) -> None:
    rid = await group(alice, "tally", members=["bob"])
    await post_message(hub, rid, str(alice.user_id), "hi")
    body = assert_ok(await bob.get("groups.counters", roomId=rid))
    assert body["joined"] is True and body["unreads"] == 1 and body["members"] == 2 and body["msgs"] == 1
    # the group is found for non-members here; only administrators get its figures
    as_admin = assert_ok(await admin.get("groups.counters", roomName="tally"))
    assert as_admin["joined"] is False and as_admin["msgs"] == 1 and as_admin["members"] == 2
    carol = await admin.register_and_login("carol")
    outsider = assert_ok(await carol.get("groups.counters", roomId=rid))
    assert outsider["joined"] is False and outsider["msgs"] is None and outsider["members"] is None
    assert_error(await carol.get("groups.counters", roomId=rid, userId=bob.user_id), 403, "unauthorized")
    assert_error(await alice.get("groups.counters", roomId="GENERAL"), 400, GROUP_NOT_FOUND)
    assert_ok(await alice.post("groups.archive", roomId=rid))
    assert_error(
        await alice.get("groups.counters", roomId=rid),
        400,
        "The private group, tally, is archived [error-room-archived]",
    )


# -- online -------------------------------------------------------------------------------------------


async def test_channel_online(hub: Hub, admin: RC, alice: RC, bob: RC) -> None:
    rid = await channel(alice, "presence", members=["bob", "boss"])
    await set_user(hub, alice.user_id, status="online")
    await set_user(hub, admin.user_id, status="away")
    expected = [
        {"_id": alice.user_id, "username": "alice"},
        {"_id": admin.user_id, "username": "boss"},
    ]
    assert assert_ok(await bob.get("channels.online", _id=rid))["online"] == expected
    by_query = assert_ok(await bob.get("channels.online", query='{"name": "presence"}'))
    assert by_query["online"] == expected

    assert_error(await bob.get("channels.online"), 400, "Invalid query")
    assert_error(await bob.get("channels.online", _id="nope"), 400, "Channel does not exists")
    gid = await group(alice, "not-a-channel")
    assert_error(await alice.get("channels.online", _id=gid), 400, "Channel does not exists")
    assert_error(
        await bob.get("channels.online", query="{bad"),
        400,
        'Invalid query parameter provided: "{bad" [error-invalid-query]',
        "error-invalid-query",
    )
    assert_error(
        await bob.get("channels.online", query='{"t": "c"}'),
        400,
        'Invalid query parameter provided: "{"t": "c"}" [error-invalid-query]',
    )
    # both filters must match
    assert_error(
        await bob.get("channels.online", _id=rid, query='{"name": "general"}'), 400, "Channel does not exists"
    )
    carol = await admin.register_and_login("carol")
    await set_permission(hub, "view-c-room", ["admin"])
    assert_error(
        await carol.get("channels.online", _id=rid),
        400,
        "Not Allowed [error-not-allowed]",
        "error-not-allowed",
    )


async def test_group_online(hub: Hub, alice: RC, bob: RC) -> None:
    rid = await group(alice, "whispers")
    await set_user(hub, alice.user_id, status="busy")
    await set_user(hub, bob.user_id, status="online")
    body = assert_ok(await alice.get("groups.online", _id=rid))
    # bob is online but not a member
    assert body["online"] == [{"_id": alice.user_id, "username": "alice"}]
    assert_error(await bob.get("groups.online", _id=rid), 400, "Not Allowed [error-not-allowed]")
    assert_error(await alice.get("groups.online", _id="GENERAL"), 400, "Group does not exists")
    assert_error(await alice.get("groups.online"), 400, "Invalid query")


# -- files --------------------------------------------------------------------------------------------


async def test_files_are_always_empty(hub: Hub, alice: RC, bob: RC) -> None:
    rid = await channel(alice, "docs")
    empty = {"files": [], "count": 0, "offset": 0, "total": 0, "success": True}
    assert assert_ok(await alice.get("channels.files", roomId=rid)) == empty
    paged = assert_ok(await alice.get("channels.files", roomName="docs", offset=10, count=5))
    assert paged == {**empty, "offset": 10}
    assert_error(await alice.get("channels.files", roomId="nope"), 400, NOT_FOUND)
    assert_error(
        await alice.get("channels.files", roomId=rid, offset="x"),
        400,
        "/offset must be integer [invalid-params]",
    )
    await set_permission(hub, "view-c-room", ["admin"])
    assert_error(await bob.get("channels.files", roomId=rid), 403, "unauthorized")

    gid = await group(alice, "vault")
    assert assert_ok(await alice.get("groups.files", roomId=gid)) == empty
    assert_error(await bob.get("groups.files", roomId=gid), 400, GROUP_NOT_FOUND)


async def test_anonymous_is_rejected(anon: RC) -> None:
    for route in ("channels.setType", "groups.close", "channels.addAll"):
        assert (await anon.post(route, roomId="GENERAL")).status_code == 401
    for route in ("channels.counters", "groups.roles", "channels.online", "channels.files"):
        assert (await anon.get(route, roomId="GENERAL")).status_code == 401
