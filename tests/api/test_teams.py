"""Teams, first slice (teams.md §1, §2.0-§2.2, §5): create, info, list, listAll, delete, members,
addMembers, updateMember, removeMember, leave, and the default team permissions."""

from __future__ import annotations

from typing import Any

import pytest

from hookhub.hub import Hub
from tests.api.test_channels import NOT_FOUND as CHANNEL_NOT_FOUND
from tests.api.test_channels import TickingClock, set_permission, sub_roles
from tests.api.test_groups import NOT_FOUND as GROUP_NOT_FOUND
from tests.conftest import RC, assert_error, assert_ok

PUBLIC, PRIVATE = 0, 1
TEAM_KEYS = {"_id", "name", "type", "createdAt", "createdBy", "_updatedAt", "roomId"}
LISTED_TEAM_KEYS = TEAM_KEYS | {"rooms", "numberOfUsers"}
FORBIDDEN_ROUTE = "User does not have the permissions required for this action [error-unauthorized]"


@pytest.fixture(autouse=True)
def ticking(hub: Hub) -> TickingClock:
    clock = TickingClock()
    hub.clock = clock
    return clock


@pytest.fixture
async def carol(admin: RC) -> RC:
    return await admin.register_and_login("carol")


async def create_team(client: RC, name: str, type_: int = PUBLIC, **kwargs: Any) -> dict[str, Any]:
    team: dict[str, Any] = assert_ok(await client.post("teams.create", name=name, type=type_, **kwargs))[
        "team"
    ]
    return team


async def members_of(client: RC, **params: Any) -> dict[str, Any]:
    return assert_ok(await client.get("teams.members", **params))


async def member_roles(client: RC, team_id: str) -> dict[str, list[str] | None]:
    """username -> member-doc roles (None when the item has no `roles`)."""
    body = await members_of(client, teamId=team_id)
    return {m["user"]["username"]: m.get("roles") for m in body["members"]}


def assert_match_error(r: Any) -> None:
    """Meteor `check` failure (ME): 400, message starting with "Match error"."""
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["success"] is False, body
    assert body["error"].startswith("Match error"), body


def assert_invalid_params(r: Any) -> None:
    """Legacy AJV failure (IP): 400 `<ajv text> [invalid-params]`."""
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["success"] is False, body
    assert body["error"].endswith("[invalid-params]"), body
    assert body.get("errorType") == "invalid-params", body


# -- teams.create -------------------------------------------------------------------------------------


async def test_create_public_team_makes_public_main_channel(hub: Hub, alice: RC, bob: RC) -> None:
    team = await create_team(alice, "rockets", PUBLIC, members=["bob"])
    assert set(team) == TEAM_KEYS
    assert team["name"] == "rockets" and team["type"] == PUBLIC
    assert team["createdBy"] == {"_id": alice.user_id, "username": "alice"}
    assert isinstance(team["_id"], str) and isinstance(team["roomId"], str)
    assert isinstance(team["createdAt"], str) and isinstance(team["_updatedAt"], str)

    channel = assert_ok(await alice.get("channels.info", roomId=team["roomId"]))["channel"]
    assert channel["t"] == "c"
    assert channel["name"] == channel["fname"] == "rockets"
    assert channel["teamMain"] is True and channel["teamId"] == team["_id"]
    by_name = assert_ok(await alice.get("channels.info", roomName="rockets"))["channel"]
    assert by_name["_id"] == team["roomId"]

    roles = assert_ok(await alice.get("channels.roles", roomId=team["roomId"]))["roles"]
    assert [(r["u"]["username"], r["roles"]) for r in roles] == [("alice", ["owner"])]
    assert await sub_roles(hub, team["roomId"], str(alice.user_id)) == ["owner"]
    assert await sub_roles(hub, team["roomId"], str(bob.user_id)) == []


async def test_create_private_team_makes_private_main_group(hub: Hub, alice: RC, bob: RC) -> None:
    team = await create_team(alice, "secret-club", PRIVATE, members=[bob.user_id])
    assert set(team) == TEAM_KEYS and team["type"] == PRIVATE and team["name"] == "secret-club"

    group = assert_ok(await alice.get("groups.info", roomId=team["roomId"]))["group"]
    assert group["t"] == "p"
    assert group["name"] == group["fname"] == "secret-club"
    assert group["teamMain"] is True and group["teamId"] == team["_id"]
    # it is not a public channel
    assert_error(await alice.get("channels.info", roomId=team["roomId"]), 400, CHANNEL_NOT_FOUND)

    roles = assert_ok(await alice.get("groups.roles", roomId=team["roomId"]))["roles"]
    assert [(r["u"]["username"], r["roles"]) for r in roles] == [("alice", ["owner"])]
    assert await sub_roles(hub, team["roomId"], str(bob.user_id)) == []


async def test_create_creator_is_owner_and_members_by_id_or_username_have_no_roles(
    hub: Hub, alice: RC, bob: RC, carol: RC
) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=[bob.user_id, "carol", "ghost"])
    body = await members_of(alice, teamId=team["_id"])
    assert body["total"] == 3 and body["count"] == 3 and body["offset"] == 0
    by_name = {m["user"]["username"]: m for m in body["members"]}
    assert set(by_name) == {"alice", "bob", "carol"}
    assert by_name["alice"]["roles"] == ["owner"]
    assert "roles" not in by_name["bob"] and "roles" not in by_name["carol"]
    for item in body["members"]:
        assert item["createdBy"] == {"_id": alice.user_id, "username": "alice"}
    for user in (bob, carol):
        assert await sub_roles(hub, team["roomId"], str(user.user_id)) == []


async def test_create_rejects_names_taken_by_teams_users_or_rooms(alice: RC, admin: RC, bob: RC) -> None:
    await create_team(alice, "rockets")
    # team names are compared case-insensitively
    assert_error(
        await alice.post("teams.create", name="ROCKETS", type=PUBLIC), 400, "team-name-already-exists"
    )
    assert_error(
        await alice.post("teams.create", name="rockets", type=PRIVATE), 400, "team-name-already-exists"
    )
    # a username counts as a taken team name
    assert_error(await alice.post("teams.create", name="bob", type=PUBLIC), 400, "team-name-already-exists")
    assert_ok(await alice.post("channels.create", name="lobby"))
    assert_ok(await alice.post("groups.create", name="vault"))
    for name in ("lobby", "vault", "general"):
        assert_error(
            await alice.post("teams.create", name=name, type=PUBLIC), 400, "room-name-already-exists"
        )
    assert assert_ok(await admin.get("teams.listAll"))["total"] == 1


async def test_create_failure_leaves_no_main_room_behind(hub: Hub, alice: RC, admin: RC) -> None:
    assert_error(await alice.post("teams.create", name="no spaces", type=PUBLIC), 400, "error-team-creation")
    await set_permission(hub, "create-c", ["admin"])
    assert_error(await alice.post("teams.create", name="pub", type=PUBLIC), 400, "error-team-creation")
    assert_error(await alice.get("channels.info", roomName="pub"), 400, CHANNEL_NOT_FOUND)
    assert assert_ok(await admin.get("teams.listAll"))["total"] == 0
    # create-p is untouched: a private team still works, and the refused name is free
    await create_team(alice, "pub", PRIVATE)


async def test_create_needs_create_team_permission(hub: Hub, alice: RC, admin: RC) -> None:
    await set_permission(hub, "create-team", ["admin"])
    assert_error(await alice.post("teams.create", name="nope", type=PUBLIC), 403, FORBIDDEN_ROUTE)
    assert_error(await alice.get("teams.info", teamName="nope"), 400, "Team not found")
    await create_team(admin, "allowed")


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x"},
        {"name": "x", "type": 2},
        {"name": "x", "type": -1},
        {"name": "x", "type": "0"},
        {"name": "x", "type": True},
        {"name": "x", "type": None},
        {"type": 0},
        {"name": 5, "type": 0},
        {"name": "x", "type": 0, "members": "bob"},
    ],
)
async def test_create_bad_body_is_a_match_error(alice: RC, admin: RC, body: dict[str, Any]) -> None:
    assert_match_error(await alice.post("teams.create", body))
    assert assert_ok(await admin.get("teams.listAll"))["total"] == 0


# -- teams.info ---------------------------------------------------------------------------------------


async def test_info_by_team_id_and_team_name(alice: RC) -> None:
    team = await create_team(alice, "rockets")
    by_id = assert_ok(await alice.get("teams.info", teamId=team["_id"]))["teamInfo"]
    assert set(by_id) == TEAM_KEYS
    assert {k: v for k, v in by_id.items() if k != "_updatedAt"} == {
        k: v for k, v in team.items() if k != "_updatedAt"
    }
    by_name = assert_ok(await alice.get("teams.info", teamName="rockets"))["teamInfo"]
    assert by_name["_id"] == team["_id"]
    # a non-empty teamId wins over teamName; an empty one falls back to teamName
    assert_error(await alice.get("teams.info", teamId="nope", teamName="rockets"), 400, "Team not found")
    fallback = assert_ok(await alice.get("teams.info", teamId="", teamName="rockets"))["teamInfo"]
    assert fallback["_id"] == team["_id"]


async def test_info_unknown_or_empty_team_is_team_not_found(alice: RC) -> None:
    await create_team(alice, "rockets")
    assert_error(await alice.get("teams.info", teamId="nope"), 400, "Team not found")
    assert_error(await alice.get("teams.info", teamName="nope"), 400, "Team not found")
    assert_error(await alice.get("teams.info", teamName=""), 400, "Team not found")
    assert_error(await alice.get("teams.info", teamId=""), 400, "Team not found")
    assert_error(await alice.get("teams.info", teamId="", teamName=""), 400, "Team not found")
    # neither key at all fails the `check` (ME)
    assert_match_error(await alice.get("teams.info"))


async def test_info_access_private_team_members_and_view_all_teams_only(
    alice: RC, bob: RC, carol: RC, admin: RC
) -> None:
    private = await create_team(alice, "hidden", PRIVATE, members=["carol"])
    assert_error(await bob.get("teams.info", teamId=private["_id"]), 403, "unauthorized")
    assert_error(await bob.get("teams.info", teamName="hidden"), 403, "unauthorized")
    assert (
        assert_ok(await carol.get("teams.info", teamId=private["_id"]))["teamInfo"]["_id"] == private["_id"]
    )
    # admins are not members but hold view-all-teams
    assert assert_ok(await admin.get("teams.info", teamName="hidden"))["teamInfo"]["_id"] == private["_id"]
    # a public team's main room is readable by anyone with view-c-room
    public = await create_team(alice, "open")
    assert assert_ok(await bob.get("teams.info", teamId=public["_id"]))["teamInfo"]["_id"] == public["_id"]


# -- teams.list, teams.listAll ------------------------------------------------------------------------


async def test_list_shows_only_the_callers_teams_with_counts(alice: RC, bob: RC) -> None:
    alpha = await create_team(alice, "alpha", PUBLIC, members=["bob"])
    await create_team(alice, "beta", PRIVATE)
    await create_team(bob, "gamma")

    body = assert_ok(await alice.get("teams.list"))
    assert body["total"] == 2 and body["count"] == 2 and body["offset"] == 0
    by_name = {t["name"]: t for t in body["teams"]}
    assert set(by_name) == {"alpha", "beta"}
    for item in body["teams"]:
        assert set(item) == LISTED_TEAM_KEYS
    assert by_name["alpha"]["_id"] == alpha["_id"] and by_name["alpha"]["roomId"] == alpha["roomId"]
    assert by_name["alpha"]["numberOfUsers"] == 2 and by_name["beta"]["numberOfUsers"] == 1
    # the main room is not counted
    assert by_name["alpha"]["rooms"] == 0 and by_name["beta"]["rooms"] == 0

    mine = assert_ok(await bob.get("teams.list"))
    assert {t["name"] for t in mine["teams"]} == {"alpha", "gamma"} and mine["total"] == 2


async def test_list_paging(alice: RC) -> None:
    for name in ("alpha", "beta", "gamma"):
        await create_team(alice, name)
    seen: list[str] = []
    for offset in range(3):
        page = assert_ok(await alice.get("teams.list", count=1, offset=offset))
        assert page["count"] == 1 and page["offset"] == offset and page["total"] == 3
        seen += [t["name"] for t in page["teams"]]
    assert sorted(seen) == ["alpha", "beta", "gamma"]
    past = assert_ok(await alice.get("teams.list", count=2, offset=3))
    assert past["teams"] == [] and past["count"] == 0 and past["total"] == 3


async def test_list_sort(alice: RC) -> None:
    for name in ("beta", "alpha", "gamma"):
        await create_team(alice, name)
    desc = assert_ok(await alice.get("teams.list", sort='{"name":-1}'))
    assert [t["name"] for t in desc["teams"]] == ["gamma", "beta", "alpha"]


async def test_list_all_shows_every_team_to_admins_only(alice: RC, bob: RC, admin: RC) -> None:
    await create_team(alice, "alpha", PUBLIC, members=["bob"])
    await create_team(alice, "beta", PRIVATE)
    await create_team(bob, "gamma", PRIVATE)
    body = assert_ok(await admin.get("teams.listAll"))
    assert body["total"] == 3 and body["count"] == 3 and body["offset"] == 0
    by_name = {t["name"]: t for t in body["teams"]}
    assert set(by_name) == {"alpha", "beta", "gamma"}
    for item in body["teams"]:
        assert set(item) == LISTED_TEAM_KEYS and item["rooms"] == 0
    assert by_name["alpha"]["numberOfUsers"] == 2
    page = assert_ok(await admin.get("teams.listAll", count=1, offset=1))
    assert page["count"] == 1 and len(page["teams"]) == 1 and page["offset"] == 1 and page["total"] == 3

    assert_error(await alice.get("teams.listAll"), 403, FORBIDDEN_ROUTE)


# -- teams.members ------------------------------------------------------------------------------------


async def test_members_items(alice: RC, bob: RC) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob"])
    for params in ({"teamId": team["_id"]}, {"teamName": "crew"}):
        body = await members_of(alice, **params)
        assert body["total"] == 2 and body["count"] == 2 and body["offset"] == 0
        by_name = {m["user"]["username"]: m for m in body["members"]}
        owner = by_name["alice"]
        assert {"_id", "username", "name", "status"} <= set(owner["user"])
        assert set(owner["user"]) <= {"_id", "username", "name", "status", "settings"}
        assert owner["user"]["_id"] == alice.user_id and owner["user"]["name"] == "Alice"
        assert owner["roles"] == ["owner"]
        assert owner["createdBy"] == {"_id": alice.user_id, "username": "alice"}
        assert isinstance(owner["createdAt"], str)
        assert set(owner) == {"user", "roles", "createdBy", "createdAt"}
        plain = by_name["bob"]
        assert plain["user"]["_id"] == bob.user_id and plain["user"]["name"] == "Bob"
        assert set(plain) == {"user", "createdBy", "createdAt"}


async def test_members_are_listed_in_insertion_order_owner_last(alice: RC, bob: RC, carol: RC) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob"])
    assert_ok(await alice.post("teams.addMembers", teamId=team["_id"], members=[{"userId": carol.user_id}]))
    body = await members_of(alice, teamId=team["_id"])
    assert [m["user"]["username"] for m in body["members"]] == ["bob", "alice", "carol"]


async def test_members_filters(alice: RC, bob: RC, carol: RC, admin: RC) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob", "carol"])
    tid = team["_id"]

    def names(body: dict[str, Any]) -> set[str]:
        return {m["user"]["username"] for m in body["members"]}

    # what rocketchat_API sends: empty filters mean no filter
    everyone = await members_of(alice, teamId=tid, name="", username="")
    assert names(everyone) == {"alice", "bob", "carol"} and everyone["total"] == 3
    assert names(await members_of(alice, teamId=tid, username="ALI")) == {"alice"}
    assert names(await members_of(alice, teamId=tid, username="o")) == {"bob", "carol"}
    assert names(await members_of(alice, teamId=tid, name="ob")) == {"bob"}
    # the filter is a literal substring, not a regular expression
    dotted = await members_of(alice, teamId=tid, username=".")
    assert dotted["members"] == [] and dotted["total"] == 0
    page = await members_of(alice, teamId=tid, count=1, offset=1)
    assert page["count"] == 1 and page["offset"] == 1 and page["total"] == 3

    # deactivated users are neither listed nor counted
    assert_ok(await admin.post("users.setActiveStatus", userId=bob.user_id, activeStatus=False))
    after = await members_of(alice, teamId=tid)
    assert names(after) == {"alice", "carol"} and after["total"] == 2


async def test_members_of_a_foreign_team_is_empty_without_view_all_teams(
    alice: RC, bob: RC, admin: RC
) -> None:
    for team in (await create_team(alice, "open"), await create_team(alice, "closed", PRIVATE)):
        outsider = await members_of(bob, teamId=team["_id"])
        assert outsider["members"] == [] and outsider["total"] == 0 and outsider["count"] == 0
        seen = await members_of(admin, teamId=team["_id"])
        assert [m["user"]["username"] for m in seen["members"]] == ["alice"] and seen["total"] == 1


async def test_members_unknown_or_missing_team(alice: RC) -> None:
    await create_team(alice, "crew")
    assert_error(await alice.get("teams.members", teamId="nope"), 400, "team-does-not-exist")
    assert_error(await alice.get("teams.members", teamName="nope"), 400, "team-does-not-exist")
    assert_error(await alice.get("teams.members", teamId="", teamName=""), 400, "team-does-not-exist")
    # §2.0: absent is "not found" (teams.info alone documents a Match error for that)
    assert_error(await alice.get("teams.members"), 400, "team-does-not-exist")


# -- teams.addMembers, teams.updateMember -------------------------------------------------------------


async def test_add_members_with_and_without_roles(hub: Hub, alice: RC, bob: RC, carol: RC) -> None:
    team = await create_team(alice, "crew")
    body = assert_ok(
        await alice.post(
            "teams.addMembers",
            teamId=team["_id"],
            members=[{"userId": bob.user_id, "roles": ["member"]}, {"userId": carol.user_id}],
        )
    )
    assert body == {"success": True}
    assert await member_roles(alice, team["_id"]) == {"alice": ["owner"], "bob": ["member"], "carol": None}
    # roles go to the main-room subscription too
    assert await sub_roles(hub, team["roomId"], str(bob.user_id)) == ["member"]
    assert await sub_roles(hub, team["roomId"], str(carol.user_id)) == []
    members = assert_ok(await alice.get("channels.members", roomId=team["roomId"]))["members"]
    assert {m["username"] for m in members} == {"alice", "bob", "carol"}

    # adding again merges roles (by name this time)
    assert_ok(
        await alice.post(
            "teams.addMembers", teamName="crew", members=[{"userId": bob.user_id, "roles": ["moderator"]}]
        )
    )
    roles = await member_roles(alice, team["_id"])
    assert roles["bob"] == ["member", "moderator"]
    assert (await members_of(alice, teamId=team["_id"]))["total"] == 3


async def test_add_members_to_private_team_subscribes_to_main_group(hub: Hub, alice: RC, bob: RC) -> None:
    team = await create_team(alice, "hidden", PRIVATE)
    assert_ok(await alice.post("teams.addMembers", teamId=team["_id"], members=[{"userId": bob.user_id}]))
    assert await sub_roles(hub, team["roomId"], str(bob.user_id)) == []
    assert assert_ok(await bob.get("groups.info", roomId=team["roomId"]))["group"]["_id"] == team["roomId"]
    assert assert_ok(await bob.get("teams.info", teamId=team["_id"]))["teamInfo"]["_id"] == team["_id"]


async def test_add_members_errors(alice: RC, bob: RC, carol: RC) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob"])
    other = await create_team(carol, "other")
    new = [{"userId": carol.user_id}]
    assert_error(await alice.post("teams.addMembers", teamId="nope", members=new), 400, "team-does-not-exist")
    assert_error(await alice.post("teams.addMembers", teamName="", members=new), 400, "team-does-not-exist")
    # a plain member and an outsider lack add-team-member / edit-team-member in the main room
    assert_error(await bob.post("teams.addMembers", teamId=team["_id"], members=new), 403, "unauthorized")
    assert_error(
        await bob.post("teams.addMembers", teamId=other["_id"], members=[{"userId": bob.user_id}]),
        403,
        "unauthorized",
    )
    r = await alice.post("teams.addMembers", teamId=team["_id"], members=[{"userId": "no-such-user"}])
    assert r.status_code == 400 and r.json()["success"] is False, r.text
    assert_invalid_params(await alice.post("teams.addMembers", teamId=team["_id"], members=[]))
    assert set(await member_roles(alice, team["_id"])) == {"alice", "bob"}


async def test_update_member_replaces_roles(hub: Hub, alice: RC, bob: RC, carol: RC) -> None:
    team = await create_team(alice, "crew")
    assert_ok(
        await alice.post(
            "teams.addMembers",
            teamId=team["_id"],
            members=[{"userId": bob.user_id, "roles": ["member"]}, {"userId": carol.user_id}],
        )
    )
    body = assert_ok(
        await alice.post(
            "teams.updateMember", teamId=team["_id"], member={"userId": bob.user_id, "roles": ["owner"]}
        )
    )
    assert body == {"success": True}
    roles = await member_roles(alice, team["_id"])
    assert roles["bob"] == ["owner"]
    assert await sub_roles(hub, team["roomId"], str(bob.user_id)) == ["owner"]
    # team permissions come from the main-room subscription: bob may now manage members
    assert_ok(await bob.post("teams.removeMember", teamId=team["_id"], userId=carol.user_id))
    assert set(await member_roles(alice, team["_id"])) == {"alice", "bob"}

    # by name too
    assert_ok(
        await alice.post(
            "teams.updateMember", teamName="crew", member={"userId": bob.user_id, "roles": ["moderator"]}
        )
    )
    assert (await member_roles(alice, team["_id"]))["bob"] == ["moderator"]
    assert await sub_roles(hub, team["roomId"], str(bob.user_id)) == ["moderator"]


async def test_update_member_of_a_non_member_is_silently_ok(alice: RC, bob: RC) -> None:
    team = await create_team(alice, "crew")
    assert_ok(
        await alice.post(
            "teams.updateMember", teamId=team["_id"], member={"userId": bob.user_id, "roles": ["owner"]}
        )
    )
    assert set(await member_roles(alice, team["_id"])) == {"alice"}


async def test_update_member_errors(alice: RC, bob: RC, carol: RC) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob", "carol"])
    promote = {"userId": carol.user_id, "roles": ["owner"]}
    assert_error(
        await bob.post("teams.updateMember", teamId=team["_id"], member=promote), 403, "unauthorized"
    )
    assert_error(
        await alice.post("teams.updateMember", teamId="nope", member=promote), 400, "team-does-not-exist"
    )
    assert_error(
        await alice.post("teams.updateMember", teamName="", member=promote), 400, "team-does-not-exist"
    )
    assert (await member_roles(alice, team["_id"]))["carol"] is None


# -- teams.removeMember, teams.leave ------------------------------------------------------------------


async def test_remove_member(hub: Hub, alice: RC, bob: RC, carol: RC) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob", "carol"])
    body = assert_ok(await alice.post("teams.removeMember", teamId=team["_id"], userId=bob.user_id))
    assert body == {"success": True}
    assert set(await member_roles(alice, team["_id"])) == {"alice", "carol"}
    assert await sub_roles(hub, team["roomId"], str(bob.user_id)) is None
    assert assert_ok(await bob.get("teams.list"))["total"] == 0
    # by name
    assert_ok(await alice.post("teams.removeMember", teamName="crew", userId=carol.user_id))
    assert set(await member_roles(alice, team["_id"])) == {"alice"}
    assert await sub_roles(hub, team["roomId"], str(carol.user_id)) is None


async def test_remove_member_errors(hub: Hub, alice: RC, bob: RC, carol: RC, admin: RC) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob"])
    tid = team["_id"]
    assert_error(
        await alice.post("teams.removeMember", teamId=tid, userId=carol.user_id), 400, "member-does-not-exist"
    )
    assert_error(
        await alice.post("teams.removeMember", teamId=tid, userId="no-such-user"), 400, "invalid-user"
    )
    assert_error(
        await alice.post("teams.removeMember", teamId=tid, userId=alice.user_id),
        400,
        "last-owner-can-not-be-removed",
    )
    assert_error(
        await alice.post("teams.removeMember", teamId="nope", userId=bob.user_id), 400, "team-does-not-exist"
    )
    assert_error(
        await alice.post("teams.removeMember", teamName="", userId=bob.user_id), 400, "team-does-not-exist"
    )
    # a plain member lacks edit-team-member in the main room
    assert_error(await bob.post("teams.removeMember", teamId=tid, userId=alice.user_id), 403, "unauthorized")
    assert_error(await carol.post("teams.removeMember", teamId=tid, userId=bob.user_id), 403, "unauthorized")
    # a deactivated member is not a valid user any more
    assert_ok(await admin.post("users.setActiveStatus", userId=bob.user_id, activeStatus=False))
    assert_error(await alice.post("teams.removeMember", teamId=tid, userId=bob.user_id), 400, "invalid-user")
    assert await sub_roles(hub, team["roomId"], str(alice.user_id)) == ["owner"]


async def test_remove_an_owner_when_another_owner_remains(hub: Hub, alice: RC, bob: RC) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob"])
    assert_ok(
        await alice.post(
            "teams.updateMember", teamId=team["_id"], member={"userId": bob.user_id, "roles": ["owner"]}
        )
    )
    assert_ok(await bob.post("teams.removeMember", teamId=team["_id"], userId=alice.user_id))
    assert await member_roles(bob, team["_id"]) == {"bob": ["owner"]}
    assert await sub_roles(hub, team["roomId"], str(alice.user_id)) is None
    assert_error(
        await bob.post("teams.removeMember", teamId=team["_id"], userId=bob.user_id),
        400,
        "last-owner-can-not-be-removed",
    )


async def test_leave(hub: Hub, alice: RC, bob: RC, carol: RC) -> None:
    team = await create_team(alice, "crew", PRIVATE, members=["bob", "carol"])
    body = assert_ok(await bob.post("teams.leave", teamId=team["_id"]))
    assert body == {"success": True}
    assert set(await member_roles(alice, team["_id"])) == {"alice", "carol"}
    assert await sub_roles(hub, team["roomId"], str(bob.user_id)) is None
    assert assert_ok(await bob.get("teams.list"))["total"] == 0
    # by name
    assert_ok(await carol.post("teams.leave", teamName="crew"))
    assert await member_roles(alice, team["_id"]) == {"alice": ["owner"]}


async def test_leave_errors(hub: Hub, alice: RC, bob: RC) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob"])
    assert_error(await alice.post("teams.leave", teamId=team["_id"]), 400, "last-owner-can-not-be-removed")
    assert await sub_roles(hub, team["roomId"], str(alice.user_id)) == ["owner"]
    assert_error(await alice.post("teams.leave", teamId="nope"), 400, "team-does-not-exist")
    assert_error(await alice.post("teams.leave", teamName=""), 400, "team-does-not-exist")
    assert_ok(await bob.post("teams.leave", teamId=team["_id"]))
    assert_error(await bob.post("teams.leave", teamId=team["_id"]), 400, "member-does-not-exist")


async def test_last_owner_may_leave_once_another_owner_exists(alice: RC, bob: RC) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob"])
    assert_ok(
        await alice.post(
            "teams.updateMember", teamId=team["_id"], member={"userId": bob.user_id, "roles": ["owner"]}
        )
    )
    assert_ok(await alice.post("teams.leave", teamId=team["_id"]))
    assert await member_roles(bob, team["_id"]) == {"bob": ["owner"]}


# -- teams.delete -------------------------------------------------------------------------------------


async def test_delete_by_name_removes_team_and_main_channel(hub: Hub, alice: RC, bob: RC) -> None:
    team = await create_team(alice, "rockets", PUBLIC, members=["bob"])
    body = assert_ok(await alice.post("teams.delete", teamName="rockets"))
    assert body == {"success": True}
    assert_error(await alice.get("teams.info", teamId=team["_id"]), 400, "Team not found")
    assert_error(await alice.get("teams.info", teamName="rockets"), 400, "Team not found")
    assert_error(await alice.get("channels.info", roomId=team["roomId"]), 400, CHANNEL_NOT_FOUND)
    assert await sub_roles(hub, team["roomId"], str(bob.user_id)) is None
    assert assert_ok(await bob.get("teams.list"))["total"] == 0
    assert assert_ok(await alice.get("teams.list"))["total"] == 0
    # the name is free again
    await create_team(alice, "rockets")


async def test_delete_by_id_removes_team_and_main_group(alice: RC, admin: RC) -> None:
    team = await create_team(alice, "hidden", PRIVATE)
    assert_ok(await alice.post("teams.delete", teamId=team["_id"]))
    assert_error(await alice.get("teams.info", teamId=team["_id"]), 400, "Team not found")
    assert_error(await alice.get("groups.info", roomId=team["roomId"]), 400, GROUP_NOT_FOUND)
    assert assert_ok(await admin.get("teams.listAll"))["total"] == 0


async def test_delete_errors(alice: RC, bob: RC, carol: RC, admin: RC) -> None:
    team = await create_team(alice, "crew", PUBLIC, members=["bob"])
    assert_error(await bob.post("teams.delete", teamId=team["_id"]), 403, "unauthorized")
    assert_error(await carol.post("teams.delete", teamName="crew"), 403, "unauthorized")
    assert_error(await alice.post("teams.delete", teamId="nope"), 400, "team-does-not-exist")
    assert_error(await alice.post("teams.delete", teamName="nope"), 400, "team-does-not-exist")
    assert_error(await alice.post("teams.delete", teamName=""), 400, "team-does-not-exist")
    assert assert_ok(await alice.get("teams.info", teamId=team["_id"]))["teamInfo"]["_id"] == team["_id"]
    # admins hold delete-team globally
    assert_ok(await admin.post("teams.delete", teamId=team["_id"]))
    assert_error(await alice.get("teams.info", teamId=team["_id"]), 400, "Team not found")


# -- common rules -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "extra"),
    [
        ("teams.delete", {}),
        ("teams.addMembers", {"members": [{"userId": "x"}]}),
        ("teams.updateMember", {"member": {"userId": "x", "roles": []}}),
        ("teams.removeMember", {"userId": "x"}),
    ],
)
async def test_post_body_needs_exactly_one_of_team_id_and_team_name(
    alice: RC, route: str, extra: dict[str, Any]
) -> None:
    team = await create_team(alice, "crew")
    # both keys: neither oneOf branch matches (IP)
    assert_invalid_params(await alice.post(route, {"teamId": team["_id"], "teamName": "crew", **extra}))
    # no key at all: the schema (IP) or the lookup (team-does-not-exist) refuses it (spec allows both)
    r = await alice.post(route, extra)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["success"] is False, body
    assert body["error"] == "team-does-not-exist" or body["error"].endswith("[invalid-params]"), body
    assert assert_ok(await alice.get("teams.info", teamId=team["_id"]))["teamInfo"]["_id"] == team["_id"]


async def test_leave_without_team_is_rejected(alice: RC) -> None:
    await create_team(alice, "crew")
    r = await alice.post("teams.leave", {})
    assert r.status_code == 400 and r.json()["success"] is False, r.text


async def test_anonymous_is_rejected(anon: RC) -> None:
    for route in ("teams.info", "teams.list", "teams.listAll", "teams.members"):
        assert (await anon.get(route, teamName="x")).status_code == 401
    for route in (
        "teams.create",
        "teams.delete",
        "teams.addMembers",
        "teams.updateMember",
        "teams.removeMember",
        "teams.leave",
    ):
        assert (await anon.post(route, name="x", type=0, teamName="x")).status_code == 401


TEAM_PERMISSIONS = {
    "create-team": {"admin", "user"},
    "delete-team": {"admin", "owner"},
    "convert-team": {"admin", "owner"},
    "edit-team": {"admin", "owner"},
    "add-team-member": {"admin", "owner", "moderator"},
    "edit-team-member": {"admin", "owner", "moderator"},
    "move-room-to-team": {"admin", "owner", "moderator"},
    "create-team-channel": {"admin", "owner", "moderator"},
    "create-team-group": {"admin", "owner", "moderator"},
    "delete-team-channel": {"admin", "owner", "moderator"},
    "delete-team-group": {"admin", "owner", "moderator"},
    "edit-team-channel": {"admin", "owner", "moderator"},
    "remove-team-channel": {"admin", "owner", "moderator"},
    "view-all-team-channels": {"admin", "owner"},
    "view-all-teams": {"admin"},
}


async def test_default_team_permissions(alice: RC) -> None:
    listed = {p["_id"]: set(p["roles"]) for p in assert_ok(await alice.get("permissions.listAll"))["update"]}
    assert {perm: listed.get(perm) for perm in TEAM_PERMISSIONS} == TEAM_PERMISSIONS
    # pre-7.0 permission, removed by migration 315
    assert "add-team-channel" not in listed
