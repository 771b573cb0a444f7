"""Rooms and memberships: lookups with each family's errors, creation, join/leave/kick, direct
messages. Endpoint modules build on these; nothing here knows about HTTP."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from hookhub.ids import random_id
from hookhub.services import outbox
from hookhub.services.context import Ctx
from hookhub.services.errors import Failure, MeteorError
from hookhub.services.messages import insert_system_message
from hookhub.services.room_access import can_access_room
from hookhub.store import rooms, teams, users
from hookhub.store.rows import Row

RoomType = Literal["c", "p"]
LAST_OWNER_REASON = "You are the last owner. Please set new owner before leaving the room."


# -- lookups ------------------------------------------------------------------------------------


async def find_channel(
    ctx: Ctx, room_id: str | None, room_name: str | None, *, allow_archived: bool = False
) -> Row:
    """`channels.*` lookup: a public channel by id or name (core-api.md §5)."""
    room = None
    if room_id:
        room = await rooms.get_room(ctx.conn, room_id)
    elif room_name:
        room = await rooms.get_room_by_name(ctx.conn, room_name.lstrip("#"))
    if room is None or room["t"] != "c":
        raise MeteorError(
            'The required "roomId" or "roomName" param provided does not match any channel',
            "error-room-not-found",
        )
    if room["archived"] and not allow_archived:
        raise MeteorError(f"The channel, {room['name']}, is archived", "error-room-archived")
    return room


async def find_group(
    ctx: Ctx,
    user: Row,
    room_id: str | None,
    room_name: str | None,
    *,
    allow_archived: bool = False,
    check_membership: bool = True,
) -> Row:
    """`groups.*` lookup: a private group the caller belongs to (core-api.md §6)."""
    if not room_id and not room_name:
        raise MeteorError('The parameter "roomId" or "roomName" is required', "error-room-param-not-provided")
    room = None
    if room_id:
        room = await rooms.get_room(ctx.conn, room_id)
    elif room_name:
        room = await rooms.get_room_by_name(ctx.conn, room_name.lstrip("#"))
    if (
        room is None
        or room["t"] != "p"
        # the one access rule (for a group: its members), so groups.* hide what it refuses
        or (check_membership and not await can_access_room(ctx, room, user))
    ):
        raise MeteorError(
            'The required "roomId" or "roomName" param provided does not match any group',
            "error-room-not-found",
        )
    if room["archived"] and not allow_archived:
        raise MeteorError(f"The private group, {room['name']}, is archived", "error-room-archived")
    return room


async def find_room(
    ctx: Ctx, room_id: str | None, room_name: str | None, *, allow_archived: bool = True
) -> Row:
    """`rooms.*` lookup: any room type by id or name (core-api.md §8)."""
    if not room_id and not room_name:
        raise MeteorError(
            'The parameter "roomId" or "roomName" is required', "error-roomid-param-not-provided"
        )
    room = None
    if room_id:
        room = await rooms.get_room(ctx.conn, room_id)
    elif room_name:
        room = await rooms.get_room_by_name(ctx.conn, room_name.lstrip("#"))
    if room is None:
        raise MeteorError(
            'The required "roomId" or "roomName" param provided does not match any channel',
            "error-room-not-found",
        )
    if room["archived"] and not allow_archived:
        raise MeteorError(f"The channel, {room['name']}, is archived", "error-room-archived")
    return room


# -- creation ---------------------------------------------------------------------------------


# The width of rooms.name; a longer name must be refused before PostgreSQL does it with a 500.
MAX_ROOM_NAME = 255


def _valid_room_name(ctx: Ctx, name: str) -> bool:
    return len(name) <= MAX_ROOM_NAME and re.fullmatch(ctx.settings.channel_name_pattern, name) is not None


async def check_room_name(ctx: Ctx, name: str, *, exclude_id: str | None = None) -> None:
    """The name rules of creation and rename: the configured pattern, unique across c and p
    (an archived holder gets its own error so the user knows why the name looks free)."""
    if not _valid_room_name(ctx, name):
        raise MeteorError(
            f"{name} is not a valid room name.",
            "error-invalid-room-name",
            {"function": "RocketChat.getValidRoomName", "channel_name": name},
        )
    existing = await rooms.get_room_by_name(ctx.conn, name)
    if existing is not None and existing["id"] != exclude_id:
        if existing["archived"]:
            raise MeteorError(
                f"There's an archived channel with name {name}", "error-archived-duplicate-name"
            )
        raise MeteorError(f"A channel with name '{name}' exists", "error-duplicate-channel-name")


async def create_room(
    ctx: Ctx,
    owner: Row,
    t: RoomType,
    name: str,
    *,
    members: Sequence[str] = (),
    read_only: bool = False,
    exclude_self: bool = False,
    extra: dict[str, Any] | None = None,
) -> Row:
    """Create a public channel or private group; the creator becomes owner (core-api.md §5.5)."""
    await check_room_name(ctx, name)

    extra = dict(extra or {})
    broadcast = bool(extra.pop("broadcast", False))
    now = ctx.now()
    row: Row = {
        "id": random_id(),
        "t": t,
        "name": name,
        "fname": name,
        "creator_id": owner["id"],
        "creator_username": owner["username"],
        "ts": now,
        "updated_at": now,
        "msgs": 0,
        "users_count": 0,
        "ro": bool(read_only or broadcast),
        "archived": False,
        "is_default": False,
        "broadcast": broadcast,
        "join_code": None,
        "team_id": None,
        "team_main": False,
        "uids": None,
        "usernames": None,
        "lm": None,
        "last_message": None,
        "extra": extra,
    }
    await rooms.insert_room(ctx.conn, row)

    member_rows: list[Row] = []
    if not exclude_self:
        member_rows.append(owner)
    wanted = [m for m in dict.fromkeys(members) if m and m != owner["username"]]
    if wanted:
        found = {u["username_lower"]: u for u in await users.get_many_by_usernames(ctx.conn, wanted)}
        member_rows.extend(found[m.lower()] for m in wanted if m.lower() in found)
    for member in member_rows:
        roles = ["owner"] if member["id"] == owner["id"] else []
        await _subscribe(ctx, row, member, roles=roles)
    await rooms.update_room(ctx.conn, row["id"], {"users_count": len(member_rows)})
    created = await rooms.get_room(ctx.conn, row["id"])
    assert created is not None
    await outbox.record(ctx, outbox.ROOM_CREATED, room=created, user=owner, actor=owner)
    return created


async def _subscribe(
    ctx: Ctx,
    room: Row,
    user: Row,
    *,
    roles: list[str],
    open: bool = True,
    name: str | None = None,
    fname: str | None = None,
) -> bool:
    """Subscribe `user` to `room`; False when they already were."""
    now = ctx.now()
    return await rooms.insert_subscription(
        ctx.conn,
        {
            "id": random_id(),
            "rid": room["id"],
            "user_id": user["id"],
            "username": user["username"],
            "t": room["t"],
            "name": name if name is not None else room["name"],
            "fname": fname if fname is not None else room["fname"],
            "open": open,
            "alert": False,
            "unread": 0,
            "favorite": False,
            "roles": roles,
            "ts": now,
            "ls": now,
            "updated_at": now,
        },
    )


# -- membership -------------------------------------------------------------------------------


async def add_member(ctx: Ctx, room: Row, user: Row, *, inviter: Row | None = None) -> bool:
    """Subscribe `user`; `uj` when they joined themselves, `au` when `inviter` added them.
    Returns False (and changes nothing) when they already are a member."""
    if await rooms.get_subscription(ctx.conn, room["id"], user["id"]) is not None:
        return False
    if not await _subscribe(ctx, room, user, roles=[]):
        return False  # joined meanwhile by a concurrent transaction (several writers)
    room["users_count"] = await rooms.adjust_users_count(ctx.conn, room["id"], 1, ctx.now())
    if inviter is None or inviter["id"] == user["id"]:
        await insert_system_message(ctx, room, "uj", actor=user, text=user["username"] or "")
    else:
        await insert_system_message(ctx, room, "au", actor=inviter, text=user["username"] or "")
    await outbox.record(ctx, outbox.ROOM_JOINED, room=room, user=user, actor=inviter or user)
    if room.get("team_main") and room.get("team_id"):
        await _joined_team(ctx, str(room["team_id"]), user, inviter or user)
    return True


async def _joined_team(ctx: Ctx, team_id: str, user: Row, actor: Row) -> None:
    """A subscription to a team's main room is team membership (teams.md §1.4), by whatever path
    it came: the member row, and the team's default rooms."""
    now = ctx.now()
    await teams.insert_member(
        ctx.conn,
        {
            "team_id": team_id,
            "user_id": user["id"],
            "roles": None,
            "created_by_id": actor["id"],
            "created_by_username": actor["username"],
            "created_at": now,
            "updated_at": now,
        },
    )
    for room in await teams.team_rooms(ctx.conn, team_id):
        if room.get("team_default") and not room["team_main"] and not room["archived"]:
            await add_member(ctx, room, user, inviter=actor)


async def remove_member(ctx: Ctx, room: Row, user: Row, *, kicker: Row | None = None) -> None:
    """Unsubscribe `user`: `ul` when they left, `ru` when `kicker` removed them (nothing when a
    concurrent transaction removed them first)."""
    if not await rooms.delete_subscription(ctx.conn, room["id"], user["id"]):
        return
    room["users_count"] = await rooms.adjust_users_count(ctx.conn, room["id"], -1, ctx.now())
    if kicker is None or kicker["id"] == user["id"]:
        await insert_system_message(ctx, room, "ul", actor=user, text=user["username"] or "")
    else:
        await insert_system_message(ctx, room, "ru", actor=kicker, text=user["username"] or "")
    await outbox.record(ctx, outbox.ROOM_LEFT, room=room, user=user, actor=kicker or user)
    if room.get("team_main") and room.get("team_id"):
        # leaving a team's main room is leaving the team (teams.md §1.4)
        await teams.delete_member(ctx.conn, str(room["team_id"]), str(user["id"]))


async def is_last_owner(ctx: Ctx, room: Row, user: Row) -> bool:
    holders = await rooms.subscriptions_with_roles(ctx.conn, room["id"])
    owners = [s for s in holders if "owner" in s["roles"]]
    return len(owners) == 1 and owners[0]["user_id"] == user["id"]


async def join_default_rooms(ctx: Ctx, user: Row) -> None:
    for room in await rooms.default_rooms(ctx.conn):
        if not room["archived"]:
            await add_member(ctx, room, user)


async def leave_room(ctx: Ctx, room: Row, user: Row) -> None:
    """The shared leave rule of `channels.leave`, `groups.leave`, `rooms.leave` (core-api.md §5.4)."""
    permission = {"c": "leave-c", "p": "leave-p"}.get(room["t"])
    if permission is None or not await ctx.can(user, permission):
        raise MeteorError("Not allowed", "error-not-allowed", {"method": "leaveRoom"})
    if await rooms.get_subscription(ctx.conn, room["id"], user["id"]) is None:
        raise MeteorError("You are not in this room", "error-user-not-in-room", {"method": "leaveRoom"})
    if await is_last_owner(ctx, room, user):
        raise MeteorError(LAST_OWNER_REASON, "error-you-are-last-owner", {"method": "leaveRoom"})
    await remove_member(ctx, room, user)


# -- direct messages --------------------------------------------------------------------------


async def get_or_create_direct(
    ctx: Ctx, creator: Row, others: Sequence[Row], *, exclude_self: bool = False
) -> Row:
    """The direct-message room between `creator` and `others` (idempotent: the id is the sorted
    member ids concatenated, as in Rocket.Chat)."""
    members: dict[str, Row] = {} if exclude_self else {creator["id"]: creator}
    for other in others:
        members[other["id"]] = other
    if not members:
        raise MeteorError("Invalid user", "error-invalid-user")
    if len(members) > ctx.settings.dm_max_users:
        raise MeteorError(
            f"You cannot add more than {ctx.settings.dm_max_users} users, "
            "including yourself to a direct message",
            "error-direct-message-max-user-exceeded",
        )
    uids = sorted(members)
    room_id = "".join(uids)
    existing = await rooms.get_room(ctx.conn, room_id)
    if existing is not None:
        sub = await rooms.get_subscription(ctx.conn, room_id, creator["id"])
        if sub is not None and not sub["open"]:
            await rooms.update_subscription(ctx.conn, room_id, creator["id"], {"open": True})
        return existing
    ordered = sorted(members.values(), key=lambda u: (u["name"] or u["username"] or "").lower())
    now = ctx.now()
    row: Row = {
        "id": room_id,
        "t": "d",
        "name": None,
        "fname": None,
        "creator_id": None,
        "creator_username": None,
        "ts": now,
        "updated_at": now,
        "msgs": 0,
        "users_count": len(members),
        "ro": False,
        "archived": False,
        "is_default": False,
        "broadcast": False,
        "join_code": None,
        "team_id": None,
        "team_main": False,
        "uids": uids,
        "usernames": [u["username"] for u in ordered],
        "lm": None,
        "last_message": None,
        "extra": {},
    }
    await rooms.insert_room(ctx.conn, row)
    for member in members.values():
        peers = [u for u in ordered if u["id"] != member["id"]] or [member]
        await _subscribe(
            ctx,
            row,
            member,
            roles=[],
            open=member["id"] == creator["id"] or len(members) > 2,
            name=", ".join(u["username"] or "" for u in peers),
            fname=", ".join(u["name"] or u["username"] or "" for u in peers),
        )
    return row


async def require_access(ctx: Ctx, room: Row, user: Row, error: Exception) -> None:
    if not await can_access_room(ctx, room, user):
        raise error


def failure_for_missing(name: str) -> Failure:
    return Failure(f'The bodyParam "{name}" is required')
