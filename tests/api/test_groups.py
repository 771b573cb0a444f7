"""`groups.*` (core-api.md §6): the private-group family of the shared room rules."""

from __future__ import annotations

from typing import Any

import pytest

from hookhub.hub import Hub
from hookhub.store import events
from tests.api.test_channels import (
    ALREADY_SAME,
    TickingClock,
    post_message,
    room_messages,
    set_permission,
    sub_roles,
)
from tests.conftest import RC, assert_error, assert_ok

NOT_FOUND = (
    'The required "roomId" or "roomName" param provided does not match any group [error-room-not-found]'
)
LAST_OWNER = (
    "You are the last owner. Please set new owner before leaving the room. [error-you-are-last-owner]"
)
NOT_ALLOWED = "Not allowed [error-not-allowed]"


@pytest.fixture(autouse=True)
def ticking(hub: Hub) -> TickingClock:
    clock = TickingClock()
    hub.clock = clock
    return clock


async def create(client: RC, name: str, **kwargs: Any) -> dict[str, Any]:
    group: dict[str, Any] = assert_ok(await client.post("groups.create", name=name, **kwargs))["group"]
    return group


# -- create, info, lists ------------------------------------------------------------------------------


async def test_create(hub: Hub, alice: RC, bob: RC) -> None:
    group = await create(alice, "team", members=["bob", "ghost"], readOnly=True)
    assert group["t"] == "p" and group["name"] == group["fname"] == "team"
    assert group["usersCount"] == 2 and group["ro"] is True
    assert group["u"] == {"_id": alice.user_id, "username": "alice"}
    assert await sub_roles(hub, group["_id"], str(alice.user_id)) == ["owner"]
    assert await sub_roles(hub, group["_id"], str(bob.user_id)) == []
    assert await room_messages(hub, group["_id"]) == []


async def test_create_errors(hub: Hub, alice: RC) -> None:
    assert_error(await alice.post("groups.create", name=""), 400, 'Body param "name" is required')
    assert_error(await alice.post("groups.create"), 400, 'Body param "name" is required')
    await create(alice, "dup")
    assert_error(
        await alice.post("groups.create", name="dup"),
        400,
        "A channel with name 'dup' exists [error-duplicate-channel-name]",
        "error-duplicate-channel-name",
    )
    assert_error(
        await alice.post("groups.create", name="bad/name"),
        400,
        "bad/name is not a valid room name. [error-invalid-room-name]",
    )
    await set_permission(hub, "create-p", ["admin"])
    assert_error(await alice.post("groups.create", name="nope"), 400, NOT_ALLOWED, "error-not-allowed")
    # the name check comes first
    assert_error(await alice.post("groups.create", name=""), 400, 'Body param "name" is required')


async def test_info(alice: RC, bob: RC, admin: RC) -> None:
    group = await create(alice, "inner")
    by_id = assert_ok(await alice.get("groups.info", roomId=group["_id"]))["group"]
    assert by_id["_id"] == group["_id"]
    assert assert_ok(await alice.get("groups.info", roomName="inner"))["group"]["_id"] == group["_id"]
    # non-members, admins included, cannot see it
    assert_error(await bob.get("groups.info", roomId=group["_id"]), 400, NOT_FOUND, "error-room-not-found")
    assert_error(await admin.get("groups.info", roomName="inner"), 400, NOT_FOUND)
    assert_error(await alice.get("groups.info", roomId="GENERAL"), 400, NOT_FOUND)
    assert_error(
        await alice.get("groups.info"),
        400,
        'The parameter "roomId" or "roomName" is required [error-room-param-not-provided]',
        "error-room-param-not-provided",
    )
    assert_ok(await alice.post("groups.archive", roomId=group["_id"]))
    assert assert_ok(await alice.get("groups.info", roomId=group["_id"]))["group"]["archived"] is True


async def test_list_and_list_all(alice: RC, bob: RC, admin: RC) -> None:
    for name in ("g-b", "g-a", "g-c"):
        await create(alice, name)
    await create(bob, "bobs")
    body = assert_ok(await alice.get("groups.list"))
    assert [g["name"] for g in body["groups"]] == ["g-a", "g-b", "g-c"]
    assert body["total"] == 3 and body["count"] == 3 and body["offset"] == 0
    page = assert_ok(await alice.get("groups.list", count=1, offset=2))
    assert [g["name"] for g in page["groups"]] == ["g-c"] and page["total"] == 3
    desc = assert_ok(await alice.get("groups.list", sort='{"name":-1}'))
    assert [g["name"] for g in desc["groups"]] == ["g-c", "g-b", "g-a"]

    everything = assert_ok(await admin.get("groups.listAll"))
    assert [g["name"] for g in everything["groups"]] == ["bobs", "g-a", "g-b", "g-c"]
    assert everything["total"] == 4
    one = assert_ok(await admin.get("groups.listAll", count=1, offset=1))
    assert [g["name"] for g in one["groups"]] == ["g-a"] and one["count"] == 1
    assert_error(
        await alice.get("groups.listAll"),
        403,
        "User does not have the permissions required for this action [error-unauthorized]",
    )


# -- leave, invite, kick ------------------------------------------------------------------------------


async def test_leave(hub: Hub, alice: RC, bob: RC) -> None:
    group = await create(alice, "club", members=["bob"])
    body = assert_ok(await bob.post("groups.leave", roomId=group["_id"]))
    assert set(body) == {"success"}
    assert [m["t"] for m in await room_messages(hub, group["_id"])] == ["ul"]
    # no longer a member: the group is not found any more
    assert_error(await bob.post("groups.leave", roomId=group["_id"]), 400, NOT_FOUND)
    assert_error(
        await alice.post("groups.leave", roomId=group["_id"]), 400, LAST_OWNER, "error-you-are-last-owner"
    )


async def test_invite(hub: Hub, alice: RC, bob: RC, admin: RC) -> None:
    group = await create(alice, "crew")
    body = assert_ok(await alice.post("groups.invite", roomId=group["_id"], userId=bob.user_id))
    assert body["group"]["_id"] == group["_id"] and body["group"]["usersCount"] == 2
    assert [(m["t"], m["msg"]) for m in await room_messages(hub, group["_id"])] == [("au", "bob")]
    assert_ok(await alice.post("groups.invite", roomName="crew", usernames=["bob", "boss"]))
    assert (await sub_roles(hub, group["_id"], str(admin.user_id))) == []


async def test_invite_errors(alice: RC, bob: RC, admin: RC) -> None:
    group = await create(alice, "vault", members=["bob"])
    assert_error(
        await alice.post("groups.invite", roomId=group["_id"], username="ghost"),
        400,
        "Cannot invite if no valid users are provided [error-empty-invite-list]",
        "error-empty-invite-list",
    )
    assert_error(
        await alice.post("groups.invite", roomId=group["_id"]),
        400,
        'Please provide "userId" or "username" or "userIds" or "usernames" as param '
        "[error-users-params-not-provided]",
    )
    # plain member, and an admin outside the group (nobody holds add-user-to-any-p-room)
    assert_error(await bob.post("groups.invite", roomId=group["_id"], username="boss"), 400, NOT_ALLOWED)
    assert_error(await admin.post("groups.invite", roomId=group["_id"], username="boss"), 400, NOT_ALLOWED)
    assert_error(await alice.post("groups.invite", roomId="nope", username="bob"), 400, NOT_FOUND)


async def test_kick(hub: Hub, alice: RC, bob: RC, admin: RC) -> None:
    group = await create(alice, "dojo", members=["bob", "boss"])
    assert_error(await bob.post("groups.kick", roomId=group["_id"], username="boss"), 400, NOT_ALLOWED)
    assert_ok(await alice.post("groups.kick", roomId=group["_id"], userId=bob.user_id))
    assert await sub_roles(hub, group["_id"], str(bob.user_id)) is None
    assert_error(
        await alice.post("groups.kick", roomId=group["_id"], userId=bob.user_id),
        400,
        "User is not in this room [error-user-not-in-room]",
    )
    assert_error(await admin.post("groups.kick", roomId=group["_id"], userId=alice.user_id), 400, LAST_OWNER)
    # bob is out: the group is not found for him
    assert_error(await bob.post("groups.kick", roomId=group["_id"], username="boss"), 400, NOT_FOUND)


# -- room roles ---------------------------------------------------------------------------------------


async def test_room_roles(hub: Hub, alice: RC, bob: RC) -> None:
    rid = (await create(alice, "roles", members=["bob"]))["_id"]
    for role in ("owner", "moderator", "leader"):
        assert_ok(await alice.post(f"groups.add{role.title()}", roomId=rid, userId=bob.user_id))
    assert await sub_roles(hub, rid, str(bob.user_id)) == ["owner", "moderator", "leader"]
    assert_error(
        await alice.post("groups.addOwner", roomId=rid, userId=bob.user_id),
        400,
        "User is already an owner [error-user-already-owner]",
    )
    for role in ("moderator", "leader", "owner"):
        assert_ok(await alice.post(f"groups.remove{role.title()}", roomId=rid, userId=bob.user_id))
    assert await sub_roles(hub, rid, str(bob.user_id)) == []
    assert_error(await bob.post("groups.addModerator", roomId=rid, userId=bob.user_id), 400, NOT_ALLOWED)
    assert_error(
        await alice.post("groups.removeOwner", roomId=rid, userId=alice.user_id),
        400,
        "This is the last owner. Please set a new owner before removing this one. [error-remove-last-owner]",
    )


# -- members, messages, history -------------------------------------------------------------------------


async def test_members(alice: RC, bob: RC) -> None:
    group = await create(alice, "circle", members=["bob", "boss"])
    body = assert_ok(await alice.get("groups.members", roomId=group["_id"]))
    assert [m["username"] for m in body["members"]] == ["alice", "bob", "boss"]
    assert body["total"] == 3 and body["count"] == 3 and body["offset"] == 0
    page = assert_ok(await alice.get("groups.members", roomName="circle", count=1, offset=2))
    assert [m["username"] for m in page["members"]] == ["boss"]
    assert assert_ok(await alice.get("groups.members", roomId=group["_id"], filter="ali"))["total"] == 1
    other = await create(bob, "elsewhere")
    assert_error(await alice.get("groups.members", roomId=other["_id"]), 400, NOT_FOUND)


async def test_messages_and_history(hub: Hub, alice: RC, bob: RC) -> None:
    rid = (await create(alice, "notes"))["_id"]
    ids = [await post_message(hub, rid, str(alice.user_id), f"m{i}") for i in range(25)]
    await post_message(hub, rid, str(alice.user_id), "reply", tmid=ids[0])

    body = assert_ok(await alice.get("groups.messages", roomId=rid, count=5))
    assert body["messages"][0]["msg"] == "reply"
    assert body["total"] == 26 and body["count"] == 5 and body["offset"] == 0

    history = assert_ok(await alice.get("groups.history", roomId=rid))
    # 20 by default, thread replies included unless showThreadMessages=false
    assert len(history["messages"]) == 20
    assert history["messages"][0]["msg"] == "reply"
    assert set(history) == {"messages", "success"}
    hidden = assert_ok(await alice.get("groups.history", roomId=rid, showThreadMessages="false", count=1))
    assert hidden["messages"][0]["msg"] == "m24"
    # the Python client pages with offset/count until a short page
    seen: list[str] = []
    offset = 0
    while True:
        page = assert_ok(await alice.get("groups.history", roomId=rid, offset=offset, count=10))["messages"]
        seen += [m["_id"] for m in page]
        offset += 10
        if len(page) < 10:
            break
    assert len(seen) == 26 == len(set(seen))

    assert_error(await bob.get("groups.history", roomId=rid), 400, NOT_FOUND)
    assert_error(await bob.get("groups.messages", roomId=rid), 400, NOT_FOUND)
    assert_error(
        await alice.get("groups.history", roomId=rid, oldest="not-a-date"),
        400,
        '/oldest must match format "date-time" [invalid-params]',
    )


# -- archive, rename, delete -----------------------------------------------------------------------------


async def test_archive_and_unarchive(hub: Hub, admin: RC, alice: RC, bob: RC) -> None:
    rid = (await create(alice, "shelf", members=["bob", "boss"]))["_id"]
    assert_error(await bob.post("groups.archive", roomId=rid), 400, "Not authorized [error-not-authorized]")
    assert_ok(await alice.post("groups.archive", roomId=rid))
    async with hub.tx(write=False) as ctx:
        assert [e["room_id"] for e in await events.list_events(ctx.conn) if e["type"] == "roomArchived"] == [
            rid
        ]
    assert_error(
        await alice.post("groups.archive", roomId=rid),
        400,
        "The private group, shelf, is archived [error-room-archived]",
        "error-room-archived",
    )
    assert_error(
        await alice.post("groups.setTopic", roomId=rid, topic="x"),
        400,
        "The private group, shelf, is archived [error-room-archived]",
    )
    assert_error(
        await alice.post("groups.unarchive", roomId=rid), 400, "Not authorized [error-not-authorized]"
    )
    assert_ok(await admin.post("groups.unarchive", roomId=rid))
    # not archived: groups.unarchive just succeeds
    assert_ok(await admin.post("groups.unarchive", roomId=rid))
    assert "archived" not in assert_ok(await alice.get("groups.info", roomId=rid))["group"]


async def test_rename(hub: Hub, alice: RC, bob: RC) -> None:
    rid = (await create(alice, "old-name", members=["bob"]))["_id"]
    assert (
        assert_ok(await alice.post("groups.rename", roomId=rid, name="new-name"))["group"]["name"]
        == "new-name"
    )
    assert assert_ok(await bob.get("groups.info", roomName="new-name"))["group"]["_id"] == rid
    assert (
        assert_ok(await alice.post("groups.rename", roomId=rid, name="new-name"))["group"]["name"]
        == "new-name"
    )
    assert_error(await alice.post("groups.rename", roomId=rid), 400, 'The bodyParam "name" is required')
    assert_error(
        await bob.post("groups.rename", roomId=rid, name="bobs"),
        400,
        "Editing room is not allowed [error-action-not-allowed]",
    )
    assert_error(
        await alice.post("groups.rename", roomId=rid, name="general"),
        400,
        "A channel with name 'general' exists [error-duplicate-channel-name]",
    )


async def test_delete(hub: Hub, alice: RC, bob: RC, admin: RC) -> None:
    rid = (await create(alice, "trash", members=["bob"]))["_id"]
    await post_message(hub, rid, str(bob.user_id), "bye")
    assert_error(await bob.post("groups.delete", roomId=rid), 400, NOT_ALLOWED, "error-not-allowed")
    # not a member: not found, even for an admin
    assert_error(await admin.post("groups.delete", roomId=rid), 400, NOT_FOUND)
    assert_ok(await alice.post("groups.delete", roomName="trash"))
    assert_error(await alice.get("groups.info", roomId=rid), 400, NOT_FOUND)
    assert await room_messages(hub, rid) == []

    again = (await create(alice, "trash"))["_id"]
    assert_ok(await alice.post("groups.delete", groupId=again))
    assert_error(
        await alice.post("groups.delete"),
        400,
        'The parameter "roomId" or "roomName" is required [error-room-param-not-provided]',
    )


# -- settings --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("param", "field"),
    [
        ("topic", "topic"),
        ("description", "description"),
        ("announcement", "announcement"),
        ("purpose", "description"),
    ],
)
async def test_text_settings(alice: RC, bob: RC, param: str, field: str) -> None:
    rid = (await create(alice, "cfg", members=["bob"]))["_id"]
    route = f"groups.set{param.title()}"
    assert assert_ok(await alice.post(route, roomId=rid, **{param: "v1"}))[param] == "v1"
    # the same value again is fine for groups
    assert_ok(await alice.post(route, roomId=rid, **{param: "v1"}))
    assert assert_ok(await alice.get("groups.info", roomId=rid))["group"][field] == "v1"
    assert_error(await alice.post(route, roomId=rid), 400, f'The bodyParam "{param}" is required')
    assert_error(
        await bob.post(route, roomId=rid, **{param: "x"}),
        400,
        "Editing room is not allowed [error-action-not-allowed]",
    )
    assert_error(
        await alice.post(route, roomId=rid, **{param: 5}), 400, f"/{param} must be string [invalid-params]"
    )


async def test_set_read_only(alice: RC) -> None:
    rid = (await create(alice, "ro"))["_id"]
    assert assert_ok(await alice.post("groups.setReadOnly", roomId=rid, readOnly=True))["group"]["ro"] is True
    assert_error(
        await alice.post("groups.setReadOnly", roomId=rid, readOnly=True),
        400,
        f"The private group read only setting {ALREADY_SAME}",
    )
    assert (
        assert_ok(await alice.post("groups.setReadOnly", roomId=rid, readOnly=False))["group"]["ro"] is False
    )
