"""The rooms of a team (issue #9, teams.md §2.2, §3): moving rooms in and out, default rooms,
listings, renaming or retyping a team, and turning rooms into teams and back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hookhub.services import rooms as room_service
from hookhub.services import teams
from hookhub.services.context import Ctx
from hookhub.services.documents import room_doc
from hookhub.services.errors import Failure, Forbidden, MeteorError, PermissionRequired
from hookhub.services.messages import insert_system_message
from hookhub.services.room_access import can_access_room
from hookhub.store import rooms, users
from hookhub.store import teams as team_store
from hookhub.store.rows import Row

AUTOCOMPLETE_LIMIT = 10


async def _room(ctx: Ctx, room_id: str) -> Row:
    room = await rooms.get_room(ctx.conn, room_id)
    if room is None:
        raise Failure("invalid-room")
    return room


async def add_rooms(
    ctx: Ctx, caller: Row, ref: teams.TeamRef, room_ids: Sequence[str]
) -> list[dict[str, Any]]:
    """teams.addRooms: every check passes for every room first, then all move in."""
    team = await teams.find(ctx, ref)
    if not await ctx.can(caller, "move-room-to-team", team["room_id"]):
        raise Forbidden("error-no-permission-team-channel")
    found = [await _room(ctx, room_id) for room_id in room_ids]
    for room in found:
        if not await can_access_room(ctx, room, caller):
            raise Failure("invalid-room")
    for room in found:
        if room["team_id"] is not None:
            raise Failure("room-already-on-team")
    for room in found:
        subscription = await rooms.get_subscription(ctx.conn, room["id"], caller["id"])
        if subscription is None or "owner" not in (subscription["roles"] or []):
            raise Failure("error-no-owner-channel")
    main = await rooms.get_room(ctx.conn, team["room_id"])
    docs = []
    for room in found:
        await rooms.update_room(ctx.conn, room["id"], {"team_id": team["id"]})
        moved = dict(room, team_id=team["id"])
        if room["t"] == "c" and main is not None:
            await insert_system_message(
                ctx, main, "user-added-room-to-team", actor=caller, text=room["name"] or ""
            )
        docs.append(room_doc(moved))
    return docs


async def remove_room(ctx: Ctx, caller: Row, ref: teams.TeamRef, room_id: str) -> dict[str, Any]:
    """teams.removeRoom: the room is a normal room again."""
    team = await teams.find(ctx, ref)
    if not await ctx.can(caller, "remove-team-channel", team["room_id"]):
        raise Forbidden()
    room = await _room(ctx, room_id)
    if not await ctx.can(caller, "view-all-team-channels", team["room_id"]) and not await can_access_room(
        ctx, room, caller
    ):
        raise Failure("invalid-room")
    if room["team_id"] != team["id"] or room["team_main"]:
        raise Failure("room-not-on-that-team")
    await rooms.update_room(ctx.conn, room["id"], {"team_id": None, "team_default": None})
    main = await rooms.get_room(ctx.conn, team["room_id"])
    if room["t"] == "c" and main is not None:
        await insert_system_message(
            ctx, main, "user-removed-room-from-team", actor=caller, text=room["name"] or ""
        )
    return room_doc(dict(room, team_id=None, team_default=None))


async def update_room(ctx: Ctx, caller: Row, room_id: str, is_default: bool) -> dict[str, Any]:
    """teams.updateRoom: a default room is joined by every member, now and later."""
    room = await _room(ctx, room_id)
    if room["team_id"] is None:
        raise Failure("room-not-on-team")
    team = await team_store.get_team(ctx.conn, room["team_id"])
    if team is None:
        raise Failure("team-does-not-exist")
    if not await ctx.can(caller, "edit-team-channel", team["room_id"]):
        raise Forbidden()
    if not await ctx.can(caller, "view-all-team-channels", team["room_id"]) and not await can_access_room(
        ctx, room, caller
    ):
        raise Failure("invalid-room")
    await rooms.update_room(ctx.conn, room["id"], {"team_default": is_default})
    room = dict(room, team_default=is_default)
    if is_default:
        members, _ = await team_store.members_page(
            ctx.conn, team["id"], username=None, name=None, statuses=(), offset=0, count=None
        )
        for member in members:
            if member["user_id"] == room["creator_id"]:
                continue
            user = await users.get_by_id(ctx.conn, member["user_id"])
            if user is not None:
                await room_service.add_member(ctx, room, user, inviter=caller)
    fresh = await rooms.get_room(ctx.conn, room["id"])
    return room_doc(fresh or room)


async def _may_see_team_rooms(ctx: Ctx, caller: Row, team: Row) -> None:
    if team["type"] == teams.PRIVATE:
        member = await team_store.get_member(ctx.conn, team["id"], caller["id"])
        if member is None and not await ctx.can(caller, "view-all-teams", team["room_id"]):
            raise Failure("user-not-on-private-team")


async def list_rooms(
    ctx: Ctx,
    caller: Row,
    ref: teams.TeamRef,
    *,
    name_filter: str | None,
    auto_join: bool,
    offset: int,
    count: int | None,
) -> tuple[list[dict[str, Any]], int]:
    """teams.listRooms: the child rooms the caller may see (all of them with
    `view-all-team-channels`, else public ones and the caller's own)."""
    team = await teams.find(ctx, ref)
    await _may_see_team_rooms(ctx, caller, team)
    see_all = await ctx.can(caller, "view-all-team-channels", team["room_id"])
    listed = []
    for room in await team_store.team_rooms(ctx.conn, team["id"]):
        if room["team_main"]:
            continue
        if name_filter and name_filter.lower() not in (room["name"] or "").lower():
            continue
        if auto_join and not room["team_default"]:
            continue
        if (
            not see_all
            and room["t"] != "c"
            and await rooms.get_subscription(ctx.conn, room["id"], caller["id"]) is None
        ):
            continue
        listed.append(room)
    listed.sort(key=lambda r: (r["ts"], r["id"]))
    end = None if count is None else offset + count
    return [room_doc(r) for r in listed[offset:end]], len(listed)


async def list_rooms_of_user(
    ctx: Ctx,
    caller: Row,
    ref: teams.TeamRef,
    user_id: str,
    *,
    can_user_delete: bool,
    offset: int,
    count: int | None,
) -> tuple[list[dict[str, Any]], int]:
    """teams.listRoomsOfUser: the child rooms `user_id` is subscribed to, with `isLastOwner`."""
    team = await teams.find(ctx, ref)
    await _may_see_team_rooms(ctx, caller, team)
    if caller["id"] != user_id and not await ctx.can(caller, "view-all-team-channels", team["room_id"]):
        raise Forbidden()
    target = await users.get_by_id(ctx.conn, user_id)
    if target is None:
        return [], 0
    listed = []
    for room in await team_store.team_rooms(ctx.conn, team["id"]):
        if room["team_main"] or room["t"] not in ("c", "p"):
            continue
        if await rooms.get_subscription(ctx.conn, room["id"], user_id) is None:
            continue
        if can_user_delete:
            kind = "channel" if room["t"] == "c" else "group"
            if not (
                await ctx.can(target, f"delete-team-{kind}", team["room_id"])
                and await ctx.can(target, f"delete-{room['t']}", room["id"])
            ):
                continue
        doc = room_doc(room)
        doc["isLastOwner"] = await room_service.is_last_owner(ctx, room, target)
        listed.append(doc)
    end = None if count is None else offset + count
    return listed[offset:end], len(listed)


async def update_team(
    ctx: Ctx, caller: Row, ref: teams.TeamRef, name: str | None, team_type: int | None
) -> None:
    """teams.update: rename the team and its main room, and/or make it public or private."""
    team = await teams.find(ctx, ref)
    if not await ctx.can(caller, "edit-team", team["room_id"]):
        raise Forbidden()
    main = await rooms.get_room(ctx.conn, team["room_id"])
    if main is None:
        raise Failure("Room not found")
    values: Row = {"updated_at": ctx.now()}
    if name is not None and name != team["name"]:
        await room_service.check_room_name(ctx, name, exclude_id=main["id"])
        if name.lower() != team["name_lower"] and await team_store.name_taken(ctx.conn, name):
            raise Failure("team-name-already-exists")
        await rooms.update_room(ctx.conn, main["id"], {"name": name, "fname": name, "updated_at": ctx.now()})
        await rooms.update_room_subscriptions(ctx.conn, main["id"], {"name": name, "fname": name})
        values.update(name=name, name_lower=name.lower())
    if team_type is not None and team_type != team["type"]:
        t = "c" if team_type == teams.PUBLIC else "p"
        await rooms.update_room(ctx.conn, main["id"], {"t": t, "updated_at": ctx.now()})
        await rooms.update_room_subscriptions(ctx.conn, main["id"], {"t": t})
        values["type"] = team_type
    await team_store.update_team(ctx.conn, team["id"], values)


async def autocomplete(ctx: Ctx, caller: Row, prefix: str) -> list[dict[str, Any]]:
    """teams.autocomplete: main rooms whose name or fname starts with `prefix`, public or the
    caller's, by name."""
    lowered = prefix.lower()
    found = []
    for room in await team_store.main_rooms(ctx.conn):
        names = [n for n in (room["name"], room["fname"]) if n]
        if not any(n.lower().startswith(lowered) for n in names):
            continue
        if room["t"] != "c" and await rooms.get_subscription(ctx.conn, room["id"], caller["id"]) is None:
            continue
        found.append(room)
    found.sort(key=lambda r: ((r["name"] or "").lower(), (r["fname"] or "").lower()))
    out = []
    for room in found[:AUTOCOMPLETE_LIMIT]:
        doc = {"_id": room["id"], "name": room["name"], "fname": room["fname"], "t": room["t"]}
        doc["teamId"] = room["team_id"]
        out.append({k: v for k, v in doc.items() if v is not None})
    return out


async def convert_to_channel(ctx: Ctx, caller: Row, ref: teams.TeamRef, remove: Sequence[str]) -> None:
    """teams.convertToChannel: the team goes; its rooms, the main one included, stay as normal
    rooms (those in `remove` are deleted)."""
    team = await teams.find(ctx, ref)
    if not await ctx.can(caller, "convert-team", team["room_id"]):
        raise Forbidden()
    await teams.erase_rooms(ctx, caller, team, remove)
    for room in await team_store.team_rooms(ctx.conn, team["id"]):
        await rooms.update_room(
            ctx.conn, room["id"], {"team_id": None, "team_main": False, "team_default": None}
        )
        if room["team_main"]:
            await insert_system_message(
                ctx, room, "user-converted-to-channel", actor=caller, text=team["name"]
            )
    await team_store.delete_team(ctx.conn, team["id"])


async def convert_room(ctx: Ctx, caller: Row, room: Row) -> Row:
    """channels.convertToTeam / groups.convertToTeam: a team named after the room, with the room
    as its main room, every subscriber a member and the caller its owner."""
    if not await ctx.can(caller, "create-team"):
        # channels.* checks it on the route (403 with the permission text), groups.* with
        # edit-room in the handler (plain 403)
        raise PermissionRequired() if room["t"] == "c" else Forbidden()
    if not await ctx.can(caller, "edit-room", room["id"]):
        raise Forbidden()
    if room["team_id"] is not None:
        raise MeteorError("Room is already a team", "error-room-already-team")
    return await teams.create_from_room(ctx, caller, room)
