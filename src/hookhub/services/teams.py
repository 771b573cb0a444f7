"""Teams (issue #9, teams.md): a team with its main room and its members.

Membership and the main-room subscription are one fact: every path here that adds or removes a
member subscribes or unsubscribes them in the main room in the same transaction, and member roles
are written to both the member row and that subscription (team permissions are checked in the
main room's scope, §1.4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hookhub.ids import iso, random_id
from hookhub.services import rooms as room_service
from hookhub.services.context import Ctx
from hookhub.services.errors import Failure, Forbidden, HookhubError, MeteorError, PermissionRequired
from hookhub.services.messages import insert_system_message
from hookhub.services.room_access import can_access_room
from hookhub.services.rooms import RoomType
from hookhub.store import rooms, teams, users
from hookhub.store.rows import Row

PUBLIC, PRIVATE = teams.PUBLIC, teams.PRIVATE
NOT_FOUND = "team-does-not-exist"
INFO_NOT_FOUND = "Team not found"


@dataclass(frozen=True)
class TeamRef:
    """How a request names a team: `teamId` wins over `teamName`; both empty names none."""

    team_id: str | None
    team_name: str | None


async def find(ctx: Ctx, ref: TeamRef, *, missing: str = NOT_FOUND) -> Row:
    """The team the request names, else Failure(`missing`)."""
    team = None
    if ref.team_id:
        team = await teams.get_team(ctx.conn, ref.team_id)
    elif ref.team_name:
        team = await teams.get_team_by_name(ctx.conn, ref.team_name)
    if team is None:
        raise Failure(missing)
    return team


def team_doc(team: Row) -> dict[str, Any]:
    """The team document (§1.1)."""
    return {
        "_id": team["id"],
        "name": team["name"],
        "type": team["type"],
        "roomId": team["room_id"],
        "createdBy": {"_id": team["created_by_id"], "username": team["created_by_username"]},
        "createdAt": iso(team["created_at"]),
        "_updatedAt": iso(team["updated_at"]),
    }


def listed_doc(team: Row) -> dict[str, Any]:
    """A team of teams.list / teams.listAll: with its child-room and member counts."""
    return {**team_doc(team), "rooms": int(team["_rooms"]), "numberOfUsers": int(team["_members"])}


async def _main_room(ctx: Ctx, team: Row) -> Row:
    room = await rooms.get_room(ctx.conn, team["room_id"])
    if room is None:
        raise Failure("Room not found")
    return room


async def _can_in_main(ctx: Ctx, user: Row, permission: str, team: Row) -> bool:
    return await ctx.can(user, permission, team["room_id"])


# -- creation -------------------------------------------------------------------------------------


async def create(
    ctx: Ctx,
    caller: Row,
    *,
    name: str,
    team_type: int,
    members: Sequence[str],
    owner_id: str | None,
    read_only: bool,
) -> Row:
    """teams.create (§2.2): the main room (public channel or private group) and the team, with the
    owner (`owner_id`, else the caller) holding `owner` on both, and `members` (ids or usernames)
    as plain members. Nothing persists when any step fails (one transaction)."""
    if not await ctx.can(caller, "create-team"):
        raise PermissionRequired()
    if await teams.name_taken(ctx.conn, name):
        raise Failure("team-name-already-exists")
    if await rooms.get_room_by_name(ctx.conn, name) is not None:
        raise Failure("room-name-already-exists")
    owner = caller
    if owner_id:
        found = await users.get_by_id(ctx.conn, owner_id)
        if found is None:
            raise Failure("error-team-creation")
        owner = found
    member_rows = await _users_by_id_or_username(ctx, members)
    t: RoomType = "c" if team_type == PUBLIC else "p"
    if not await ctx.can(owner, "create-c" if t == "c" else "create-p"):
        raise Failure("error-team-creation")
    try:
        room = await room_service.create_room(
            ctx,
            owner,
            t,
            name,
            members=[m["username"] for m in member_rows if m["username"]],
            read_only=read_only,
        )
    except HookhubError as exc:
        raise Failure("error-team-creation") from exc
    team = await _insert_team(ctx, caller, name, team_type, room)
    for member in member_rows:
        if member["id"] != owner["id"]:
            await _insert_member(ctx, team, member, caller, roles=None)
    await _insert_member(ctx, team, owner, caller, roles=["owner"])
    await rooms.update_room(ctx.conn, room["id"], {"team_id": team["id"], "team_main": True})
    return team


async def _insert_team(ctx: Ctx, caller: Row, name: str, team_type: int, main_room: Row) -> Row:
    now = ctx.now()
    team: Row = {
        "id": random_id(),
        "name": name,
        "name_lower": name.lower(),
        "type": team_type,
        "room_id": main_room["id"],
        "created_by_id": caller["id"],
        "created_by_username": caller["username"],
        "created_at": now,
        "updated_at": now,
    }
    await teams.insert_team(ctx.conn, team)
    return team


async def create_from_room(ctx: Ctx, caller: Row, room: Row) -> Row:
    """A team whose main room is `room` (channels/groups.convertToTeam): named after it, public
    for a channel and private for a group, every subscriber a member, the caller its owner."""
    name = str(room["name"])
    if await teams.name_taken(ctx.conn, name):
        raise Failure("team-name-already-exists")
    team = await _insert_team(ctx, caller, name, PUBLIC if room["t"] == "c" else PRIVATE, room)
    subscribers, _ = await rooms.list_members(ctx.conn, room["id"])
    for member in subscribers:
        if member["id"] != caller["id"]:
            await _insert_member(ctx, team, member, caller, roles=None)
    if await rooms.get_subscription(ctx.conn, room["id"], caller["id"]) is None:
        await room_service.add_member(ctx, room, caller)
    await _insert_member(ctx, team, caller, caller, roles=["owner"])
    await _set_roles(ctx, team, caller, ["owner"])
    await rooms.update_room(ctx.conn, room["id"], {"team_id": team["id"], "team_main": True})
    await insert_system_message(ctx, room, "user-converted-to-team", actor=caller, text=name)
    return team


async def _users_by_id_or_username(ctx: Ctx, values: Sequence[str]) -> list[Row]:
    found: list[Row] = []
    for value in dict.fromkeys(v for v in values if isinstance(v, str) and v):
        user = await users.get_by_id(ctx.conn, value) or await users.get_by_username(ctx.conn, value)
        if user is not None and user["active"] and all(u["id"] != user["id"] for u in found):
            found.append(user)
    return found


async def _insert_member(ctx: Ctx, team: Row, user: Row, actor: Row, *, roles: list[str] | None) -> bool:
    now = ctx.now()
    return await teams.insert_member(
        ctx.conn,
        {
            "team_id": team["id"],
            "user_id": user["id"],
            "roles": roles,
            "created_by_id": actor["id"],
            "created_by_username": actor["username"],
            "created_at": now,
            "updated_at": now,
        },
    )


# -- reading ----------------------------------------------------------------------------------------


async def info(ctx: Ctx, caller: Row, ref: TeamRef) -> dict[str, Any]:
    """teams.info: the team when the caller may access its main room or sees all teams."""
    team = await find(ctx, ref, missing=INFO_NOT_FOUND)
    room = await _main_room(ctx, team)
    if not await can_access_room(ctx, room, caller) and not await ctx.can(caller, "view-all-teams"):
        raise Forbidden()
    return team_doc(team)


async def list_page(
    ctx: Ctx,
    caller: Row,
    *,
    everything: bool,
    offset: int,
    count: int | None,
    sort: dict[str, int] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """teams.list (the caller's teams) or teams.listAll (every team, `view-all-teams`)."""
    if everything and not await ctx.can(caller, "view-all-teams"):
        raise PermissionRequired()
    rows, total = await teams.list_teams(
        ctx.conn, member_id=None if everything else caller["id"], offset=offset, count=count, sort=sort
    )
    return [listed_doc(row) for row in rows], total


async def members_page(
    ctx: Ctx,
    caller: Row,
    ref: TeamRef,
    *,
    username: str | None,
    name: str | None,
    statuses: Sequence[str],
    offset: int,
    count: int | None,
) -> tuple[list[dict[str, Any]], int]:
    """teams.members: empty for a caller who is neither a member nor sees all teams."""
    team = await find(ctx, ref)
    if await teams.get_member(ctx.conn, team["id"], caller["id"]) is None and not await _can_in_main(
        ctx, caller, "view-all-teams", team
    ):
        return [], 0
    rows, total = await teams.members_page(
        ctx.conn, team["id"], username=username, name=name, statuses=statuses, offset=offset, count=count
    )
    return [_member_doc(row) for row in rows], total


def _member_doc(row: Row) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "user": {
            "_id": row["user_id"],
            "username": row["user_username"],
            "name": row["user_name"],
            "status": row["user_status"],
        },
        "createdBy": {"_id": row["created_by_id"], "username": row["created_by_username"]},
        "createdAt": iso(row["created_at"]),
    }
    if row["roles"] is not None:
        doc["roles"] = list(row["roles"])
    return doc


# -- members ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberChange:
    user_id: str
    roles: list[str] | None


async def add_members(ctx: Ctx, caller: Row, ref: TeamRef, members: Sequence[MemberChange]) -> None:
    """teams.addMembers: each user joins the main room (and so the team); given roles are merged
    into the member row and the main-room subscription."""
    team = await find(ctx, ref)
    if not (
        await _can_in_main(ctx, caller, "add-team-member", team)
        or await _can_in_main(ctx, caller, "edit-team-member", team)
    ):
        raise Forbidden()
    room = await _main_room(ctx, team)
    for change in members:
        user = await users.get_by_id(ctx.conn, change.user_id)
        if user is None:
            raise Failure("invalid-user")
        await join(ctx, team, room, user, actor=caller)
        if change.roles:
            member = await teams.get_member(ctx.conn, team["id"], user["id"])
            current = list((member or {}).get("roles") or [])
            merged = current + [r for r in change.roles if r not in current]
            await _set_roles(ctx, team, user, merged)


async def join(ctx: Ctx, team: Row, room: Row, user: Row, *, actor: Row) -> None:
    """`user` becomes a member: subscribed to the main room, which records the membership and
    joins the default rooms (`services.rooms.add_member`); the member row is written here too
    for a subscriber who had none (a no-op for what already holds)."""
    await room_service.add_member(ctx, room, user, inviter=actor)
    await _insert_member(ctx, team, user, actor, roles=None)


async def _set_roles(ctx: Ctx, team: Row, user: Row, roles: list[str]) -> None:
    await teams.set_member_roles(ctx.conn, team["id"], user["id"], roles, ctx.now())
    if await rooms.get_subscription(ctx.conn, team["room_id"], user["id"]) is not None:
        await rooms.update_subscription(ctx.conn, team["room_id"], user["id"], {"roles": roles})


async def update_member(ctx: Ctx, caller: Row, ref: TeamRef, change: MemberChange) -> None:
    """teams.updateMember: the member's roles become `roles` (or none), in the team and the main
    room; a user who is not a member is quietly left alone."""
    team = await find(ctx, ref)
    if not await _can_in_main(ctx, caller, "edit-team-member", team):
        raise Forbidden()
    if await teams.get_member(ctx.conn, team["id"], change.user_id) is None:
        return
    user = await users.get_by_id(ctx.conn, change.user_id)
    if user is not None:
        await _set_roles(ctx, team, user, list(change.roles or []))


async def remove_member(
    ctx: Ctx, caller: Row, ref: TeamRef, user_id: str, *, check_permission: bool = True
) -> None:
    """teams.removeMember (and, for the caller, teams.leave)."""
    team = await find(ctx, ref)
    if check_permission and not await _can_in_main(ctx, caller, "edit-team-member", team):
        raise Forbidden()
    user = await users.get_by_id(ctx.conn, user_id)
    if user is None or not user["active"]:
        raise Failure("invalid-user")
    member = await teams.get_member(ctx.conn, team["id"], user["id"])
    subscribed = await rooms.get_subscription(ctx.conn, team["room_id"], user["id"])
    if member is None and subscribed is None:
        raise Failure("member-does-not-exist")
    owners = await teams.owners(ctx.conn, team["id"])
    if [o["user_id"] for o in owners] == [user["id"]]:
        raise Failure("last-owner-can-not-be-removed")
    await teams.delete_member(ctx.conn, team["id"], user["id"])
    room = await _main_room(ctx, team)
    kicker = None if caller["id"] == user["id"] else caller
    await room_service.remove_member(ctx, room, user, kicker=kicker)


# -- deletion ---------------------------------------------------------------------------------------


async def erase_rooms(ctx: Ctx, caller: Row, team: Row, room_ids: Sequence[str]) -> None:
    """Delete the team's rooms among `room_ids` (never its main room; ids of other rooms are
    ignored). Each needs `delete-c`/`delete-p` on the room and `delete-team-channel`/`-group` in
    the main room; all are checked before any goes."""
    wanted = set(room_ids)
    doomed = [
        room
        for room in await teams.team_rooms(ctx.conn, team["id"])
        if room["id"] in wanted and not room["team_main"]
    ]
    for room in doomed:
        kind = "channel" if room["t"] == "c" else "group"
        if not (
            await ctx.can(caller, f"delete-{room['t']}", room["id"])
            and await ctx.can(caller, f"delete-team-{kind}", team["room_id"])
        ):
            raise MeteorError("Not allowed", "error-not-allowed")
    for room in doomed:
        await rooms.delete_room(ctx.conn, room["id"], room["t"], ctx.now())


async def delete(ctx: Ctx, caller: Row, ref: TeamRef, rooms_to_remove: Sequence[str] = ()) -> None:
    """teams.delete: `rooms_to_remove` are deleted, the other child rooms become normal rooms
    again, the main room and the team go."""
    team = await find(ctx, ref)
    if not await _can_in_main(ctx, caller, "delete-team", team):
        raise Forbidden()
    await erase_rooms(ctx, caller, team, rooms_to_remove)
    for room in await teams.team_rooms(ctx.conn, team["id"]):
        if room["id"] != team["room_id"]:
            await rooms.update_room(ctx.conn, room["id"], {"team_id": None, "team_default": None})
    main = await rooms.get_room(ctx.conn, team["room_id"])
    if main is not None:
        await rooms.delete_room(ctx.conn, main["id"], main["t"], ctx.now())
    await teams.delete_team(ctx.conn, team["id"])
