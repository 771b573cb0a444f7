"""Teams, second slice (teams.md §2.2, §3, §4): the rooms of a team (addRooms, removeRoom, updateRoom,
listRooms, listRoomsOfUser), teams.update, teams.autocomplete, teams.convertToChannel,
channels/groups.convertToTeam and channels/groups.create inside a team."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hookhub.hub import Hub
from tests.api.test_channels import NOT_FOUND as CHANNEL_NOT_FOUND
from tests.api.test_channels import create as create_channel
from tests.api.test_channels import room_messages, set_permission, sub_roles
from tests.api.test_groups import NOT_ALLOWED
from tests.api.test_groups import NOT_FOUND as GROUP_NOT_FOUND
from tests.api.test_groups import create as create_group
from tests.api.test_hooks import count_messages, make_hook, url_of
from tests.api.test_teams import (  # noqa: F401  (ticking: the autouse clock fixture)
    FORBIDDEN_ROUTE,
    PRIVATE,
    PUBLIC,
    assert_invalid_params,
    assert_match_error,
    create_team,
    member_roles,
    ticking,
)
from tests.conftest import RC, assert_error, assert_ok

TEAM_NOT_FOUND = 'The "teamId" param provided does not match any team [error-team-not-found]'
ROOM_DOC_KEYS = {"_id", "t", "name"}


@pytest.fixture
async def carol(admin: RC) -> RC:
    return await admin.register_and_login("carol")


async def add_rooms(client: RC, team_id: str, *room_ids: str) -> list[dict[str, Any]]:
    rooms: list[dict[str, Any]] = assert_ok(
        await client.post("teams.addRooms", teamId=team_id, rooms=list(room_ids))
    )["rooms"]
    return rooms


async def list_rooms(client: RC, **params: Any) -> dict[str, Any]:
    return assert_ok(await client.get("teams.listRooms", **params))


def names(rooms: list[dict[str, Any]]) -> list[str]:
    return sorted(r["name"] for r in rooms)


async def make_moderator(owner: RC, team_id: str, user: RC) -> None:
    assert_ok(
        await owner.post(
            "teams.updateMember", teamId=team_id, member={"userId": user.user_id, "roles": ["moderator"]}
        )
    )


async def channel_doc(client: RC, room_id: str) -> dict[str, Any]:
    channel: dict[str, Any] = assert_ok(await client.get("channels.info", roomId=room_id))["channel"]
    return channel


async def group_doc(client: RC, room_id: str) -> dict[str, Any]:
    group: dict[str, Any] = assert_ok(await client.get("groups.info", roomId=room_id))["group"]
    return group


# -- teams.addRooms -----------------------------------------------------------------------------------


async def test_add_rooms_sets_team_id_on_owned_rooms_and_answers_the_room_docs(hub: Hub, alice: RC) -> None:
    team = await create_team(alice, "crew")
    dev = await create_channel(alice, "dev")
    ops = await create_group(alice, "ops")
    rooms = await add_rooms(alice, team["_id"], dev["_id"], ops["_id"])
    assert sorted(r["_id"] for r in rooms) == sorted([dev["_id"], ops["_id"]])
    for room in rooms:
        assert set(room) >= ROOM_DOC_KEYS
        assert room["teamId"] == team["_id"]
        assert "teamMain" not in room and "teamDefault" not in room

    channel = await channel_doc(alice, dev["_id"])
    assert channel["teamId"] == team["_id"] and "teamMain" not in channel and "teamDefault" not in channel
    group = await group_doc(alice, ops["_id"])
    assert group["teamId"] == team["_id"] and "teamMain" not in group
    # only the public room is announced in the main room
    kinds = [m["t"] for m in await room_messages(hub, team["roomId"])]
    assert kinds.count("user-added-room-to-team") == 1


async def test_add_rooms_by_team_name(alice: RC) -> None:
    team = await create_team(alice, "crew")
    dev = await create_channel(alice, "dev")
    body = assert_ok(await alice.post("teams.addRooms", teamName="crew", rooms=[dev["_id"]]))
    assert [r["_id"] for r in body["rooms"]] == [dev["_id"]]
    assert (await channel_doc(alice, dev["_id"]))["teamId"] == team["_id"]


async def test_add_rooms_caller_must_own_every_room_even_an_admin(alice: RC, bob: RC, admin: RC) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob"])
    mine = await create_channel(alice, "mine")
    bobs = await create_channel(bob, "bobs", members=["alice"])
    # alice may access bob's public channel but is not its owner; nothing is moved
    assert_error(
        await alice.post("teams.addRooms", teamId=team["_id"], rooms=[mine["_id"], bobs["_id"]]),
        400,
        "error-no-owner-channel",
    )
    assert "teamId" not in await channel_doc(alice, mine["_id"])
    assert "teamId" not in await channel_doc(alice, bobs["_id"])
    # no admin exemption: admins hold move-room-to-team but do not own alice's room
    assert_error(
        await admin.post("teams.addRooms", teamId=team["_id"], rooms=[mine["_id"]]),
        400,
        "error-no-owner-channel",
    )
    assert "teamId" not in await channel_doc(alice, mine["_id"])


async def test_add_rooms_unknown_room_is_invalid_room_and_nothing_moves(alice: RC) -> None:
    team = await create_team(alice, "crew")
    dev = await create_channel(alice, "dev")
    assert_error(
        await alice.post("teams.addRooms", teamId=team["_id"], rooms=[dev["_id"], "no-such-room"]),
        400,
        "invalid-room",
    )
    assert "teamId" not in await channel_doc(alice, dev["_id"])


async def test_add_rooms_room_already_on_a_team(alice: RC) -> None:
    team = await create_team(alice, "crew")
    other = await create_team(alice, "other")
    dev = await create_channel(alice, "dev")
    await add_rooms(alice, team["_id"], dev["_id"])
    assert_error(
        await alice.post("teams.addRooms", teamId=team["_id"], rooms=[dev["_id"]]),
        400,
        "room-already-on-team",
    )
    assert_error(
        await alice.post("teams.addRooms", teamId=other["_id"], rooms=[dev["_id"]]),
        400,
        "room-already-on-team",
    )
    # another team's main room (alice owns it) is on a team already
    assert_error(
        await alice.post("teams.addRooms", teamId=team["_id"], rooms=[other["roomId"]]),
        400,
        "room-already-on-team",
    )
    assert (await channel_doc(alice, dev["_id"]))["teamId"] == team["_id"]
    main = await channel_doc(alice, other["roomId"])
    assert main["teamId"] == other["_id"] and main["teamMain"] is True


async def test_add_rooms_needs_move_room_to_team_in_the_main_room(alice: RC, bob: RC, carol: RC) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob"])
    bobs = await create_channel(bob, "bobs")
    carols = await create_channel(carol, "carols")
    denied = {"success": False, "error": "error-no-permission-team-channel"}
    r = await bob.post("teams.addRooms", teamId=team["_id"], rooms=[bobs["_id"]])
    assert r.status_code == 403 and r.json() == denied, r.text
    r = await carol.post("teams.addRooms", teamId=team["_id"], rooms=[carols["_id"]])
    assert r.status_code == 403 and r.json() == denied, r.text
    assert "teamId" not in await channel_doc(bob, bobs["_id"])
    # a team moderator holds it
    await make_moderator(alice, team["_id"], bob)
    assert [r["_id"] for r in await add_rooms(bob, team["_id"], bobs["_id"])] == [bobs["_id"]]


async def test_add_rooms_errors(alice: RC) -> None:
    await create_team(alice, "crew")
    dev = await create_channel(alice, "dev")
    assert_error(
        await alice.post("teams.addRooms", teamId="nope", rooms=[dev["_id"]]), 400, "team-does-not-exist"
    )
    assert_error(
        await alice.post("teams.addRooms", teamName="nope", rooms=[dev["_id"]]), 400, "team-does-not-exist"
    )
    # rooms must be a list of ids (ME)
    assert_match_error(await alice.post("teams.addRooms", teamName="crew"))
    assert_match_error(await alice.post("teams.addRooms", teamName="crew", rooms=dev["_id"]))


async def test_list_and_list_all_count_child_rooms_without_the_main_room(alice: RC, admin: RC) -> None:
    team = await create_team(alice, "crew")
    await create_team(alice, "empty")
    dev = await create_channel(alice, "dev")
    ops = await create_group(alice, "ops")
    await add_rooms(alice, team["_id"], dev["_id"], ops["_id"])
    mine = {t["name"]: t["rooms"] for t in assert_ok(await alice.get("teams.list"))["teams"]}
    assert mine == {"crew": 2, "empty": 0}
    every = {t["name"]: t["rooms"] for t in assert_ok(await admin.get("teams.listAll"))["teams"]}
    assert every == {"crew": 2, "empty": 0}
    assert_ok(await alice.post("teams.removeRoom", teamId=team["_id"], roomId=dev["_id"]))
    mine = {t["name"]: t["rooms"] for t in assert_ok(await alice.get("teams.list"))["teams"]}
    assert mine == {"crew": 1, "empty": 0}


# -- teams.removeRoom ---------------------------------------------------------------------------------


async def test_remove_room_unsets_team_id_and_team_default(hub: Hub, alice: RC) -> None:
    team = await create_team(alice, "crew")
    dev = await create_channel(alice, "dev")
    ops = await create_group(alice, "ops")
    await add_rooms(alice, team["_id"], dev["_id"], ops["_id"])
    assert_ok(await alice.post("teams.updateRoom", roomId=dev["_id"], isDefault=True))

    room = assert_ok(await alice.post("teams.removeRoom", teamId=team["_id"], roomId=dev["_id"]))["room"]
    assert room["_id"] == dev["_id"]
    assert "teamId" not in room and "teamDefault" not in room
    channel = await channel_doc(alice, dev["_id"])
    assert "teamId" not in channel and "teamDefault" not in channel
    kinds = [m["t"] for m in await room_messages(hub, team["roomId"])]
    assert "user-removed-room-from-team" in kinds

    # by team name, a private room
    room = assert_ok(await alice.post("teams.removeRoom", teamName="crew", roomId=ops["_id"]))["room"]
    assert room["_id"] == ops["_id"] and "teamId" not in room
    assert "teamId" not in await group_doc(alice, ops["_id"])
    assert list_rooms_total(await list_rooms(alice, teamId=team["_id"])) == 0


def list_rooms_total(body: dict[str, Any]) -> int:
    total: int = body["total"]
    assert total == len(body["rooms"]) == body["count"], body
    return total


async def test_remove_room_errors(alice: RC) -> None:
    team = await create_team(alice, "crew")
    other = await create_team(alice, "other")
    dev = await create_channel(alice, "dev")
    loose = await create_channel(alice, "loose")
    await add_rooms(alice, other["_id"], dev["_id"])
    assert_error(
        await alice.post("teams.removeRoom", teamId=team["_id"], roomId=dev["_id"]),
        400,
        "room-not-on-that-team",
    )
    assert_error(
        await alice.post("teams.removeRoom", teamId=team["_id"], roomId=loose["_id"]),
        400,
        "room-not-on-that-team",
    )
    assert_error(
        await alice.post("teams.removeRoom", teamId=team["_id"], roomId="no-such-room"), 400, "invalid-room"
    )
    assert_error(
        await alice.post("teams.removeRoom", teamId="nope", roomId=dev["_id"]), 400, "team-does-not-exist"
    )
    assert (await channel_doc(alice, dev["_id"]))["teamId"] == other["_id"]


async def test_remove_room_needs_remove_team_channel(alice: RC, bob: RC, carol: RC) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob"])
    dev = await create_channel(alice, "dev")
    await add_rooms(alice, team["_id"], dev["_id"])
    for caller in (bob, carol):
        assert_error(
            await caller.post("teams.removeRoom", teamId=team["_id"], roomId=dev["_id"]), 403, "unauthorized"
        )
    assert (await channel_doc(alice, dev["_id"]))["teamId"] == team["_id"]
    await make_moderator(alice, team["_id"], bob)
    assert_ok(await bob.post("teams.removeRoom", teamId=team["_id"], roomId=dev["_id"]))


async def test_remove_room_a_moderator_cannot_reach_is_invalid_room(alice: RC, bob: RC) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob"])
    ops = await create_group(alice, "ops")
    await add_rooms(alice, team["_id"], ops["_id"])
    # moderator: remove-team-channel but not view-all-team-channels, and not in the group
    await make_moderator(alice, team["_id"], bob)
    assert_error(
        await bob.post("teams.removeRoom", teamId=team["_id"], roomId=ops["_id"]), 400, "invalid-room"
    )
    assert (await group_doc(alice, ops["_id"]))["teamId"] == team["_id"]


# -- teams.updateRoom ---------------------------------------------------------------------------------


async def test_update_room_sets_and_clears_team_default(alice: RC) -> None:
    team = await create_team(alice, "crew")
    dev = await create_channel(alice, "dev")
    await add_rooms(alice, team["_id"], dev["_id"])
    room = assert_ok(await alice.post("teams.updateRoom", roomId=dev["_id"], isDefault=True))["room"]
    assert room["_id"] == dev["_id"] and room["teamDefault"] is True and room["teamId"] == team["_id"]
    assert (await channel_doc(alice, dev["_id"]))["teamDefault"] is True
    room = assert_ok(await alice.post("teams.updateRoom", roomId=dev["_id"], isDefault=False))["room"]
    assert room["teamDefault"] is False
    assert (await channel_doc(alice, dev["_id"]))["teamDefault"] is False


async def test_update_room_default_subscribes_current_and_later_members(
    hub: Hub, alice: RC, bob: RC, carol: RC, admin: RC
) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob"])
    ops = await create_group(alice, "ops")
    await add_rooms(alice, team["_id"], ops["_id"])
    assert await sub_roles(hub, ops["_id"], str(bob.user_id)) is None
    assert_ok(await alice.post("teams.updateRoom", roomId=ops["_id"], isDefault=True))
    assert await sub_roles(hub, ops["_id"], str(bob.user_id)) == []
    assert await sub_roles(hub, ops["_id"], str(alice.user_id)) == ["owner"]
    assert (await group_doc(bob, ops["_id"]))["usersCount"] == 2

    # a member added afterwards joins the default room too
    assert_ok(await alice.post("teams.addMembers", teamId=team["_id"], members=[{"userId": carol.user_id}]))
    assert await sub_roles(hub, ops["_id"], str(carol.user_id)) == []
    # so does one who joins the public main room (§1.4: any path)
    dave = await admin.register_and_login("dave")
    assert_ok(await dave.post("channels.join", roomId=team["roomId"]))
    assert "dave" in await member_roles(alice, team["_id"])
    assert await sub_roles(hub, ops["_id"], str(dave.user_id)) == []


async def test_update_room_not_default_does_not_subscribe(hub: Hub, alice: RC, bob: RC) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob"])
    ops = await create_group(alice, "ops")
    await add_rooms(alice, team["_id"], ops["_id"])
    assert_ok(await alice.post("teams.updateRoom", roomId=ops["_id"], isDefault=False))
    assert await sub_roles(hub, ops["_id"], str(bob.user_id)) is None


async def test_update_room_is_default_must_be_a_boolean(alice: RC) -> None:
    team = await create_team(alice, "crew")
    dev = await create_channel(alice, "dev")
    await add_rooms(alice, team["_id"], dev["_id"])
    for value in ("true", 1, None):
        assert_match_error(await alice.post("teams.updateRoom", roomId=dev["_id"], isDefault=value))
    assert_match_error(await alice.post("teams.updateRoom", roomId=dev["_id"]))
    assert_match_error(await alice.post("teams.updateRoom", isDefault=True))
    assert "teamDefault" not in await channel_doc(alice, dev["_id"])


async def test_update_room_errors(alice: RC, bob: RC) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob"])
    loose = await create_channel(alice, "loose")
    dev = await create_channel(alice, "dev")
    ops = await create_group(alice, "ops")
    await add_rooms(alice, team["_id"], dev["_id"], ops["_id"])
    assert_error(
        await alice.post("teams.updateRoom", roomId=loose["_id"], isDefault=True), 400, "room-not-on-team"
    )
    assert_error(
        await alice.post("teams.updateRoom", roomId="no-such-room", isDefault=True), 400, "invalid-room"
    )
    # a plain member lacks edit-team-channel in the main room
    assert_error(await bob.post("teams.updateRoom", roomId=dev["_id"], isDefault=True), 403, "unauthorized")
    # a moderator holds it, but without view-all-team-channels must reach the room
    await make_moderator(alice, team["_id"], bob)
    assert_error(await bob.post("teams.updateRoom", roomId=ops["_id"], isDefault=True), 400, "invalid-room")
    room = assert_ok(await bob.post("teams.updateRoom", roomId=dev["_id"], isDefault=True))["room"]
    assert room["teamDefault"] is True
    assert "teamDefault" not in await group_doc(alice, ops["_id"])


# -- teams.listRooms ----------------------------------------------------------------------------------


async def test_list_rooms_excludes_main_room_and_filters(alice: RC) -> None:
    team = await create_team(alice, "crew")
    alpha = await create_channel(alice, "alpha-dev")
    ops = await create_group(alice, "Alpha-ops")
    beta = await create_channel(alice, "beta")
    await add_rooms(alice, team["_id"], alpha["_id"], ops["_id"], beta["_id"])

    # what rocketchat_API sends: empty filter and type mean no filter
    for params in ({"teamId": team["_id"]}, {"teamName": "crew", "filter": "", "type": ""}):
        body = await list_rooms(alice, **params)
        assert names(body["rooms"]) == ["Alpha-ops", "alpha-dev", "beta"]
        assert body["total"] == 3 and body["count"] == 3 and body["offset"] == 0
        for room in body["rooms"]:
            assert room["teamId"] == team["_id"] and "teamMain" not in room
    # filter: case-insensitive substring of the name
    assert names((await list_rooms(alice, teamId=team["_id"], filter="ALPHA"))["rooms"]) == [
        "Alpha-ops",
        "alpha-dev",
    ]
    assert names((await list_rooms(alice, teamId=team["_id"], filter="ta"))["rooms"]) == ["beta"]
    none = await list_rooms(alice, teamId=team["_id"], filter="crew")
    assert none["rooms"] == [] and none["total"] == 0

    # autoJoin: default rooms only
    assert (await list_rooms(alice, teamId=team["_id"], type="autoJoin"))["rooms"] == []
    assert_ok(await alice.post("teams.updateRoom", roomId=beta["_id"], isDefault=True))
    auto = await list_rooms(alice, teamId=team["_id"], type="autoJoin")
    assert [r["_id"] for r in auto["rooms"]] == [beta["_id"]] and auto["total"] == 1
    assert auto["rooms"][0]["teamDefault"] is True


async def test_list_rooms_paging(alice: RC) -> None:
    team = await create_team(alice, "crew")
    ids = [(await create_channel(alice, name))["_id"] for name in ("one", "two", "three")]
    await add_rooms(alice, team["_id"], *ids)
    seen: list[str] = []
    for offset in range(3):
        page = await list_rooms(alice, teamId=team["_id"], count=1, offset=offset)
        assert page["count"] == 1 and page["offset"] == offset and page["total"] == 3
        seen += [r["_id"] for r in page["rooms"]]
    assert sorted(seen) == sorted(ids)
    past = await list_rooms(alice, teamId=team["_id"], count=2, offset=3)
    assert past["rooms"] == [] and past["count"] == 0 and past["total"] == 3


async def test_list_rooms_member_sees_public_rooms_and_own_subscriptions(alice: RC, bob: RC) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob"])
    pub = await create_channel(alice, "pub")
    priv = await create_group(alice, "priv")
    shared = await create_group(alice, "shared", members=["bob"])
    await add_rooms(alice, team["_id"], pub["_id"], priv["_id"], shared["_id"])
    seen = await list_rooms(bob, teamId=team["_id"])
    assert names(seen["rooms"]) == ["pub", "shared"] and seen["total"] == 2
    # the owner holds view-all-team-channels
    assert names((await list_rooms(alice, teamId=team["_id"]))["rooms"]) == ["priv", "pub", "shared"]


async def test_list_rooms_of_private_team_needs_membership_or_view_all_teams(
    alice: RC, bob: RC, admin: RC
) -> None:
    team = await create_team(alice, "hidden", PRIVATE)
    ops = await create_group(alice, "ops")
    await add_rooms(alice, team["_id"], ops["_id"])
    assert_error(await bob.get("teams.listRooms", teamId=team["_id"]), 400, "user-not-on-private-team")
    assert_error(await bob.get("teams.listRooms", teamName="hidden"), 400, "user-not-on-private-team")
    assert names((await list_rooms(admin, teamId=team["_id"]))["rooms"]) == ["ops"]
    # a public team's rooms are listed to outsiders (public ones only)
    open_team = await create_team(alice, "open")
    pub = await create_channel(alice, "pub")
    priv = await create_group(alice, "priv")
    await add_rooms(alice, open_team["_id"], pub["_id"], priv["_id"])
    assert names((await list_rooms(bob, teamId=open_team["_id"]))["rooms"]) == ["pub"]


async def test_list_rooms_unknown_team(alice: RC) -> None:
    assert_error(await alice.get("teams.listRooms", teamId="nope"), 400, "team-does-not-exist")
    assert_error(await alice.get("teams.listRooms", teamName="nope"), 400, "team-does-not-exist")


# -- teams.listRoomsOfUser ----------------------------------------------------------------------------


async def test_list_rooms_of_user_lists_the_target_users_rooms_with_is_last_owner(alice: RC, bob: RC) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob"])
    pub = await create_channel(alice, "pub")
    shared = await create_group(alice, "shared", members=["bob"])
    loose = await create_channel(alice, "loose", members=["bob"])
    await add_rooms(alice, team["_id"], pub["_id"], shared["_id"])

    body = assert_ok(await alice.get("teams.listRoomsOfUser", teamId=team["_id"], userId=alice.user_id))
    by_name = {r["name"]: r for r in body["rooms"]}
    # the main room and rooms outside the team are not listed
    assert set(by_name) == {"pub", "shared"} and loose["_id"] not in {r["_id"] for r in body["rooms"]}
    assert body["total"] == 2 and body["count"] == 2 and body["offset"] == 0
    assert by_name["pub"]["isLastOwner"] is True and by_name["shared"]["isLastOwner"] is True

    # another user's rooms, as the team owner (view-all-team-channels), by team name
    body = assert_ok(await alice.get("teams.listRoomsOfUser", teamName="crew", userId=bob.user_id))
    assert [(r["_id"], r["isLastOwner"]) for r in body["rooms"]] == [(shared["_id"], False)]
    assert body["total"] == 1
    # one's own rooms need no permission
    body = assert_ok(await bob.get("teams.listRoomsOfUser", teamId=team["_id"], userId=bob.user_id))
    assert [r["_id"] for r in body["rooms"]] == [shared["_id"]]


async def test_list_rooms_of_user_offset_is_always_zero(alice: RC) -> None:
    team = await create_team(alice, "crew")
    ids = [(await create_channel(alice, name))["_id"] for name in ("one", "two", "three")]
    await add_rooms(alice, team["_id"], *ids)
    body = assert_ok(
        await alice.get("teams.listRoomsOfUser", teamId=team["_id"], userId=alice.user_id, offset=1, count=1)
    )
    assert body["offset"] == 0
    assert body["count"] == len(body["rooms"])


async def test_list_rooms_of_user_can_user_delete(alice: RC, bob: RC) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob"])
    shared = await create_group(alice, "shared", members=["bob"])
    await add_rooms(alice, team["_id"], shared["_id"])
    mine = assert_ok(
        await alice.get(
            "teams.listRoomsOfUser", teamId=team["_id"], userId=alice.user_id, canUserDelete="true"
        )
    )
    assert [r["_id"] for r in mine["rooms"]] == [shared["_id"]]
    # bob is neither an owner of the group nor of the main room
    theirs = assert_ok(
        await alice.get("teams.listRoomsOfUser", teamId=team["_id"], userId=bob.user_id, canUserDelete="true")
    )
    assert theirs["rooms"] == []


async def test_list_rooms_of_user_errors(alice: RC, bob: RC, carol: RC) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob"])
    # another user's rooms need view-all-team-channels in the main room
    for caller in (bob, carol):
        assert_error(
            await caller.get("teams.listRoomsOfUser", teamId=team["_id"], userId=alice.user_id),
            403,
            "unauthorized",
        )
    r = await alice.get("teams.listRoomsOfUser", teamId=team["_id"])
    assert r.status_code == 400 and r.json()["success"] is False, r.text
    assert_error(
        await alice.get("teams.listRoomsOfUser", teamId="nope", userId=alice.user_id),
        400,
        "team-does-not-exist",
    )
    private = await create_team(alice, "hidden", PRIVATE)
    assert_error(
        await bob.get("teams.listRoomsOfUser", teamId=private["_id"], userId=bob.user_id),
        400,
        "user-not-on-private-team",
    )


# -- teams.update -------------------------------------------------------------------------------------


async def test_update_renames_team_and_main_room(alice: RC) -> None:
    team = await create_team(alice, "crew")
    body = assert_ok(await alice.post("teams.update", teamId=team["_id"], data={"name": "squad"}))
    assert body == {"success": True}
    info = assert_ok(await alice.get("teams.info", teamId=team["_id"]))["teamInfo"]
    assert info["name"] == "squad" and info["type"] == PUBLIC
    main = assert_ok(await alice.get("channels.info", roomName="squad"))["channel"]
    assert main["_id"] == team["roomId"] and main["teamMain"] is True
    assert_error(await alice.get("channels.info", roomName="crew"), 400, CHANNEL_NOT_FOUND)
    assert assert_ok(await alice.get("teams.info", teamName="squad"))["teamInfo"]["_id"] == team["_id"]
    assert_error(await alice.get("teams.info", teamName="crew"), 400, "Team not found")


async def test_update_type_flips_the_main_room(alice: RC, bob: RC) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob"])
    assert_ok(await alice.post("teams.update", teamName="crew", data={"type": PRIVATE}))
    assert assert_ok(await alice.get("teams.info", teamId=team["_id"]))["teamInfo"]["type"] == PRIVATE
    group = await group_doc(bob, team["roomId"])
    assert group["t"] == "p" and group["teamMain"] is True
    assert_error(await alice.get("channels.info", roomId=team["roomId"]), 400, CHANNEL_NOT_FOUND)

    assert_ok(await alice.post("teams.update", teamId=team["_id"], data={"type": PUBLIC, "name": "open"}))
    info = assert_ok(await alice.get("teams.info", teamId=team["_id"]))["teamInfo"]
    assert info["type"] == PUBLIC and info["name"] == "open"
    channel = await channel_doc(alice, team["roomId"])
    assert channel["t"] == "c" and channel["name"] == "open"
    assert_error(await alice.get("groups.info", roomId=team["roomId"]), 400, GROUP_NOT_FOUND)


async def test_update_data_needs_name_or_type_only(alice: RC) -> None:
    team = await create_team(alice, "crew")
    for data in ({}, {"topic": "x"}, {"name": "squad", "topic": "x"}):
        assert_invalid_params(await alice.post("teams.update", teamId=team["_id"], data=data))
    assert_invalid_params(await alice.post("teams.update", teamId=team["_id"]))
    assert_invalid_params(await alice.post("teams.update", teamId=team["_id"], data={"type": 2}))
    assert assert_ok(await alice.get("teams.info", teamId=team["_id"]))["teamInfo"]["name"] == "crew"


async def test_update_needs_edit_team(alice: RC, bob: RC, carol: RC, admin: RC) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob"])
    await make_moderator(alice, team["_id"], bob)
    for caller in (bob, carol):
        assert_error(
            await caller.post("teams.update", teamId=team["_id"], data={"name": "mine"}), 403, "unauthorized"
        )
    assert_ok(await admin.post("teams.update", teamId=team["_id"], data={"name": "squad"}))
    assert assert_ok(await alice.get("teams.info", teamId=team["_id"]))["teamInfo"]["name"] == "squad"


async def test_update_name_rules_of_rooms_apply(alice: RC) -> None:
    team = await create_team(alice, "crew")
    await create_channel(alice, "lobby")
    assert_error(
        await alice.post("teams.update", teamId=team["_id"], data={"name": "lobby"}),
        400,
        "A channel with name 'lobby' exists [error-duplicate-channel-name]",
    )
    assert_error(
        await alice.post("teams.update", teamId=team["_id"], data={"name": "bad name"}),
        400,
        "bad name is not a valid room name. [error-invalid-room-name]",
    )
    assert_error(
        await alice.post("teams.update", teamId="nope", data={"name": "x"}), 400, "team-does-not-exist"
    )
    assert assert_ok(await alice.get("teams.info", teamId=team["_id"]))["teamInfo"]["name"] == "crew"
    assert (await channel_doc(alice, team["roomId"]))["name"] == "crew"


# -- teams.autocomplete -------------------------------------------------------------------------------

AUTOCOMPLETE_KEYS = {"_id", "name", "fname", "t", "teamId"}


async def test_autocomplete_main_rooms_by_prefix(alice: RC, bob: RC) -> None:
    rockets = await create_team(alice, "rockets")
    rockband = await create_team(bob, "rockband", PRIVATE, members=["alice"])
    await create_team(bob, "rocketry", PRIVATE)  # bob's, alice is not in it
    await create_team(alice, "bedrock")  # contains, does not start with
    await create_channel(alice, "rocky")  # not a team's main room

    teams = assert_ok(await alice.get("teams.autocomplete", name="ROCK"))["teams"]
    assert [t["name"] for t in teams] == ["rockband", "rockets"]
    for item in teams:
        assert AUTOCOMPLETE_KEYS <= set(item) <= AUTOCOMPLETE_KEYS | {"avatarETag"}
    by_name = {t["name"]: t for t in teams}
    assert by_name["rockets"]["_id"] == rockets["roomId"] and by_name["rockets"]["teamId"] == rockets["_id"]
    assert by_name["rockets"]["t"] == "c" and by_name["rockets"]["fname"] == "rockets"
    assert by_name["rockband"]["_id"] == rockband["roomId"] and by_name["rockband"]["t"] == "p"

    # bob sees his private team and alice's public one
    assert [t["name"] for t in assert_ok(await bob.get("teams.autocomplete", name="rock"))["teams"]] == [
        "rockband",
        "rocketry",
        "rockets",
    ]
    assert assert_ok(await alice.get("teams.autocomplete", name="zzz"))["teams"] == []


async def test_autocomplete_returns_at_most_ten(alice: RC) -> None:
    for i in range(12):
        await create_team(alice, f"squad{i:02d}")
    teams = assert_ok(await alice.get("teams.autocomplete", name="squad"))["teams"]
    assert [t["name"] for t in teams] == [f"squad{i:02d}" for i in range(10)]


async def test_autocomplete_needs_name(alice: RC) -> None:
    r = await alice.get("teams.autocomplete")
    assert r.status_code == 400 and r.json()["success"] is False, r.text


# -- teams.convertToChannel ---------------------------------------------------------------------------


async def test_convert_to_channel_dissolves_the_team(hub: Hub, alice: RC, bob: RC) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob"])
    dev = await create_channel(alice, "dev")
    ops = await create_group(alice, "ops")
    await add_rooms(alice, team["_id"], dev["_id"], ops["_id"])
    assert_ok(await alice.post("teams.updateRoom", roomId=dev["_id"], isDefault=True))

    body = assert_ok(await alice.post("teams.convertToChannel", teamId=team["_id"]))
    assert body == {"success": True}
    assert_error(await alice.get("teams.info", teamId=team["_id"]), 400, "Team not found")
    main = await channel_doc(alice, team["roomId"])
    assert main["t"] == "c" and main["name"] == "crew"
    assert "teamId" not in main and "teamMain" not in main
    for room in (await channel_doc(alice, dev["_id"]), await group_doc(alice, ops["_id"])):
        assert "teamId" not in room and "teamDefault" not in room
    # subscriptions stay, memberships go
    assert await sub_roles(hub, team["roomId"], str(bob.user_id)) == []
    assert assert_ok(await bob.get("teams.list"))["total"] == 0
    assert "user-converted-to-channel" in [m["t"] for m in await room_messages(hub, team["roomId"])]


async def test_convert_private_team_to_channel_by_name_removing_rooms(alice: RC) -> None:
    team = await create_team(alice, "hidden", PRIVATE)
    dev = await create_channel(alice, "dev")
    ops = await create_group(alice, "ops")
    await add_rooms(alice, team["_id"], dev["_id"], ops["_id"])
    assert_ok(await alice.post("teams.convertToChannel", teamName="hidden", roomsToRemove=[dev["_id"]]))
    assert_error(await alice.get("teams.info", teamName="hidden"), 400, "Team not found")
    assert_error(await alice.get("channels.info", roomId=dev["_id"]), 400, CHANNEL_NOT_FOUND)
    assert "teamId" not in await group_doc(alice, ops["_id"])
    main = await group_doc(alice, team["roomId"])
    assert main["t"] == "p" and "teamId" not in main and "teamMain" not in main


async def test_convert_to_channel_needs_convert_team(alice: RC, bob: RC) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob"])
    await make_moderator(alice, team["_id"], bob)
    assert_error(await bob.post("teams.convertToChannel", teamId=team["_id"]), 403, "unauthorized")
    assert_error(await alice.post("teams.convertToChannel", teamId="nope"), 400, "team-does-not-exist")
    assert assert_ok(await alice.get("teams.info", teamId=team["_id"]))["teamInfo"]["_id"] == team["_id"]


# -- channels.convertToTeam, groups.convertToTeam -----------------------------------------------------


async def test_channel_convert_to_team(hub: Hub, alice: RC, bob: RC, carol: RC) -> None:
    dev = await create_channel(alice, "dev", members=["bob", "carol"])
    team = assert_ok(await alice.post("channels.convertToTeam", channelId=dev["_id"]))["team"]
    assert team["name"] == "dev" and team["type"] == PUBLIC and team["roomId"] == dev["_id"]
    assert team["createdBy"] == {"_id": alice.user_id, "username": "alice"}
    channel = await channel_doc(alice, dev["_id"])
    assert channel["teamMain"] is True and channel["teamId"] == team["_id"]
    assert await member_roles(alice, team["_id"]) == {"alice": ["owner"], "bob": None, "carol": None}
    assert await sub_roles(hub, dev["_id"], str(alice.user_id)) == ["owner"]
    assert "user-converted-to-team" in [m["t"] for m in await room_messages(hub, dev["_id"])]
    # deletable by the room's name (rocketchat_API cleanup)
    assert_ok(await alice.post("teams.delete", teamName="dev"))


async def test_channel_convert_to_team_by_name(alice: RC) -> None:
    dev = await create_channel(alice, "dev")
    team = assert_ok(await alice.post("channels.convertToTeam", channelName="dev"))["team"]
    assert team["roomId"] == dev["_id"]
    assert assert_ok(await alice.get("teams.info", teamName="dev"))["teamInfo"]["_id"] == team["_id"]


async def test_group_convert_to_team_by_id_and_name(alice: RC, bob: RC) -> None:
    ops = await create_group(alice, "ops", members=["bob"])
    team = assert_ok(await alice.post("groups.convertToTeam", roomId=ops["_id"]))["team"]
    assert team["name"] == "ops" and team["type"] == PRIVATE and team["roomId"] == ops["_id"]
    group = await group_doc(bob, ops["_id"])
    assert group["t"] == "p" and group["teamMain"] is True and group["teamId"] == team["_id"]
    assert await member_roles(alice, team["_id"]) == {"alice": ["owner"], "bob": None}
    assert_ok(await alice.post("teams.delete", teamName="ops"))

    vault = await create_group(alice, "vault")
    team = assert_ok(await alice.post("groups.convertToTeam", roomName="vault"))["team"]
    assert team["roomId"] == vault["_id"] and team["type"] == PRIVATE
    assert_ok(await alice.post("teams.delete", teamName="vault"))


async def test_convert_to_team_needs_create_team(hub: Hub, alice: RC) -> None:
    dev = await create_channel(alice, "dev")
    ops = await create_group(alice, "ops")
    await set_permission(hub, "create-team", ["admin"])
    assert_error(await alice.post("channels.convertToTeam", channelId=dev["_id"]), 403, FORBIDDEN_ROUTE)
    # groups.convertToTeam checks create-team and edit-room together in the handler (403U)
    assert_error(await alice.post("groups.convertToTeam", roomId=ops["_id"]), 403, "unauthorized")
    assert "teamMain" not in await channel_doc(alice, dev["_id"])
    assert "teamMain" not in await group_doc(alice, ops["_id"])


async def test_convert_to_team_needs_edit_room(alice: RC, bob: RC) -> None:
    dev = await create_channel(alice, "dev", members=["bob"])
    ops = await create_group(alice, "ops", members=["bob"])
    assert_error(await bob.post("channels.convertToTeam", channelId=dev["_id"]), 403, "unauthorized")
    assert_error(await bob.post("groups.convertToTeam", roomId=ops["_id"]), 403, "unauthorized")
    assert "teamMain" not in await channel_doc(alice, dev["_id"])


async def test_convert_to_team_unknown_room(alice: RC) -> None:
    assert_error(await alice.post("channels.convertToTeam", channelId="nope"), 400, CHANNEL_NOT_FOUND)
    assert_error(await alice.post("groups.convertToTeam", roomId="nope"), 400, GROUP_NOT_FOUND)


# -- channels.create, groups.create inside a team -----------------------------------------------------


async def test_create_channel_and_group_inside_a_team(hub: Hub, alice: RC) -> None:
    team = await create_team(alice, "crew")
    dev = await create_channel(alice, "dev", extraData={"teamId": team["_id"]})
    ops = await create_group(alice, "ops", extraData={"teamId": team["_id"]})
    for room in (dev, ops):
        assert room["teamId"] == team["_id"]
        assert "teamMain" not in room and "teamDefault" not in room
        assert await sub_roles(hub, room["_id"], str(alice.user_id)) == ["owner"]
    assert (await channel_doc(alice, dev["_id"]))["teamId"] == team["_id"]
    assert (await group_doc(alice, ops["_id"]))["teamId"] == team["_id"]
    assert names((await list_rooms(alice, teamId=team["_id"]))["rooms"]) == ["dev", "ops"]
    # the public one is announced in the main room
    kinds = [m["t"] for m in await room_messages(hub, team["roomId"])]
    assert kinds.count("user-added-room-to-team") == 1


async def test_create_in_team_needs_team_permission_not_create_c(hub: Hub, alice: RC, bob: RC) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob"])
    await set_permission(hub, "create-c", ["admin"])
    await set_permission(hub, "create-p", ["admin"])
    # the team owner holds create-team-channel / create-team-group in the main room
    assert (await create_channel(alice, "dev", extraData={"teamId": team["_id"]}))["teamId"] == team["_id"]
    assert (await create_group(alice, "ops", extraData={"teamId": team["_id"]}))["teamId"] == team["_id"]
    # and so does a team moderator
    await make_moderator(alice, team["_id"], bob)
    assert (await create_channel(bob, "bobs", extraData={"teamId": team["_id"]}))["teamId"] == team["_id"]


async def test_create_in_team_refused_to_plain_members_and_outsiders(alice: RC, bob: RC, carol: RC) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob"])
    extra = {"teamId": team["_id"]}
    for caller in (bob, carol):
        assert_error(await caller.post("channels.create", name="nope", extraData=extra), 403, "unauthorized")
        assert_error(
            await caller.post("groups.create", name="nope", extraData=extra),
            400,
            NOT_ALLOWED,
            "error-not-allowed",
        )
    assert_error(await alice.get("channels.info", roomName="nope"), 400, CHANNEL_NOT_FOUND)
    assert (await list_rooms(alice, teamId=team["_id"]))["total"] == 0


async def test_admin_not_in_team_may_create_inside_it_without_joining(hub: Hub, alice: RC, admin: RC) -> None:
    team = await create_team(alice, "hidden", PRIVATE)
    ops = await create_group(admin, "ops", extraData={"teamId": team["_id"]})
    assert ops["teamId"] == team["_id"]
    assert await sub_roles(hub, ops["_id"], str(admin.user_id)) == ["owner"]
    dev = await create_channel(admin, "dev", extraData={"teamId": team["_id"]})
    assert dev["teamId"] == team["_id"]
    # the creator is not made a team member
    assert set(await member_roles(alice, team["_id"])) == {"alice"}
    assert await sub_roles(hub, team["roomId"], str(admin.user_id)) is None


async def test_create_in_unknown_team(alice: RC) -> None:
    for route in ("channels.create", "groups.create"):
        assert_error(
            await alice.post(route, name="nope", extraData={"teamId": "no-such-team"}),
            400,
            TEAM_NOT_FOUND,
            "error-team-not-found",
        )
    assert_error(await alice.get("channels.info", roomName="nope"), 400, CHANNEL_NOT_FOUND)
    assert_error(await alice.get("groups.info", roomName="nope"), 400, GROUP_NOT_FOUND)


# -- common -------------------------------------------------------------------------------------------


async def test_anonymous_is_rejected(anon: RC) -> None:
    for route in ("teams.listRooms", "teams.listRoomsOfUser", "teams.autocomplete"):
        assert (await anon.get(route, teamName="x", name="x")).status_code == 401
    for route in (
        "teams.addRooms",
        "teams.removeRoom",
        "teams.updateRoom",
        "teams.update",
        "teams.convertToChannel",
        "channels.convertToTeam",
        "groups.convertToTeam",
    ):
        assert (await anon.post(route, teamName="x")).status_code == 401


async def test_delete_removes_the_rooms_asked_for_and_detaches_the_others(alice: RC) -> None:
    team = await create_team(alice, "demolition")
    doomed = await create_channel(alice, "doomed", extraData={"teamId": team["_id"]})
    kept = await create_channel(alice, "kept", extraData={"teamId": team["_id"]})
    assert_ok(await alice.post("teams.delete", teamId=team["_id"], roomsToRemove=[doomed["_id"]]))
    assert_error(await alice.get("channels.info", roomId=doomed["_id"]), 400, CHANNEL_NOT_FOUND)
    room = assert_ok(await alice.get("channels.info", roomId=kept["_id"]))["channel"]
    assert "teamId" not in room and "teamMain" not in room
    assert_error(await alice.get("teams.info", teamId=team["_id"]), 400, "Team not found")


async def test_delete_refuses_rooms_the_caller_may_not_delete_and_deletes_nothing(
    hub: Hub, alice: RC
) -> None:
    team = await create_team(alice, "guarded")
    child = await create_channel(alice, "guarded-child", extraData={"teamId": team["_id"]})
    await set_permission(hub, "delete-team-channel", ["admin"])
    refused = await alice.post("teams.delete", teamId=team["_id"], roomsToRemove=[child["_id"]])
    assert_error(refused, 400, "Not allowed [error-not-allowed]")
    assert assert_ok(await alice.get("teams.info", teamId=team["_id"]))["teamInfo"]["_id"] == team["_id"]
    child_now = assert_ok(await alice.get("channels.info", roomId=child["_id"]))["channel"]
    assert child_now["teamId"] == team["_id"]


async def test_an_incoming_hook_keeps_posting_to_its_rooms_that_remain(
    hub: Hub, http: httpx.AsyncClient, alice: RC
) -> None:
    """A team deleted with one of the rooms a hook posts to: the hook posts to the others and
    names the missing one; with none left it answers invalid-channel."""
    team = await create_team(alice, "hooked")
    gone = await create_channel(alice, "hooked-gone", extraData={"teamId": team["_id"]})
    await create_channel(alice, "hooked-kept")
    hook = await make_hook(hub, channel=["#hooked-gone", "#hooked-kept"])
    assert_ok(await http.post(url_of(hook), json={"text": "both rooms"}))
    assert await count_messages(hub, "both rooms") == 2

    assert_ok(await alice.post("teams.delete", teamId=team["_id"], roomsToRemove=[gone["_id"]]))
    r = await http.post(url_of(hook), json={"text": "one room left"})
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "missingChannels": ["#hooked-gone"]}
    assert await count_messages(hub, "one room left") == 1

    assert_ok(await alice.post("channels.delete", roomName="hooked-kept"))
    assert_error(await http.post(url_of(hook), json={"text": "no room left"}), 400, "invalid-channel")
    assert await count_messages(hub, "no room left") == 0


async def test_a_hook_destination_refused_for_another_reason_fails_the_whole_call(
    hub: Hub, http: httpx.AsyncClient, alice: RC
) -> None:
    await create_channel(alice, "open-room")
    ro = await create_channel(alice, "quiet-room", readOnly=True)
    hook = await make_hook(hub, channel=["#open-room", "#quiet-room"])
    r = await http.post(url_of(hook), json={"text": "all or nothing"})
    assert r.status_code == 400, r.text
    assert await count_messages(hub, "all or nothing") == 0
    assert ro["ro"] is True


async def test_leaving_or_being_kicked_from_the_main_room_leaves_the_team(
    alice: RC, bob: RC, carol: RC
) -> None:
    """Membership and the main-room subscription are one fact (teams.md §1.4), by whatever path
    the subscription goes."""
    team = await create_team(alice, "revolving", PUBLIC, members=["bob", "carol"])
    assert {"bob", "carol"} <= set(await member_roles(alice, team["_id"]))
    assert_ok(await bob.post("channels.leave", roomId=team["roomId"]))
    assert_ok(await alice.post("channels.kick", roomId=team["roomId"], userId=carol.user_id))
    left = await member_roles(alice, team["_id"])
    assert "bob" not in left and "carol" not in left
    listed = assert_ok(await bob.get("teams.list"))
    assert listed["total"] == 0
    # and joining again by channels.invite makes them a member again
    assert_ok(await alice.post("channels.invite", roomId=team["roomId"], userId=bob.user_id))
    assert "bob" in await member_roles(alice, team["_id"])
