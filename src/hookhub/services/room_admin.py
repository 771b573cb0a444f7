"""Rules `channels.*` and `groups.*` share (core-api.md §5, §6): lookups per family, listing,
join, invite, add-all, kick, room roles, archive, rename, delete, room settings and type,
hiding (close/open), and the history, messages, members, roles, counters and online reads.
Each rule is written once; where Rocket.Chat answers the two families differently (error
envelopes, check order), the rule branches on `Family.t`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from hookhub.ids import iso, parse_iso
from hookhub.services import outbox
from hookhub.services.context import Ctx
from hookhub.services.documents import message_doc
from hookhub.services.errors import Failure, FailureObject, Forbidden, InvalidParams, MeteorError
from hookhub.services.messages import insert_system_message
from hookhub.services.room_access import can_access_room, is_member
from hookhub.services.rooms import (
    LAST_OWNER_REASON,
    RoomType,
    add_member,
    check_room_name,
    create_room,
    find_channel,
    find_group,
    remove_member,
)
from hookhub.store import messages, rooms, users
from hookhub.store import teams as team_store
from hookhub.store.rows import Row
from hookhub.store.tables import users as users_table


@dataclass(frozen=True)
class Family:
    """A room family as its endpoints name it."""

    t: RoomType
    key: str  # the result key ({"channel": …} / {"group": …}) and the noun of lookup errors
    noun: str  # how failure texts name a room of the family ("The private group, x, is …")


CHANNELS = Family("c", "channel", "channel")
GROUPS = Family("p", "group", "private group")

_EDIT_NOT_ALLOWED = ("Editing room is not allowed", "error-action-not-allowed")


async def lookup(
    ctx: Ctx,
    family: Family,
    user: Row,
    room_id: str | None,
    room_name: str | None,
    *,
    allow_archived: bool = False,
    check_membership: bool = True,
) -> Row:
    """The family's room lookup with its own errors; private groups are only found by members
    unless `check_membership` is off (groups.invite resolves the room first, then checks rights)."""
    if family.t == "c":
        return await find_channel(ctx, room_id, room_name, allow_archived=allow_archived)
    return await find_group(
        ctx, user, room_id, room_name, allow_archived=allow_archived, check_membership=check_membership
    )


async def fresh(ctx: Ctx, room: Row) -> Row:
    """The room as stored now (after counters or settings changed)."""
    row = await rooms.get_room(ctx.conn, room["id"])
    return row if row is not None else room


async def _require_edit(ctx: Ctx, room: Row, actor: Row) -> None:
    if not await ctx.can(actor, "edit-room", room["id"]):
        raise MeteorError(*_EDIT_NOT_ALLOWED, {"method": "saveRoomSettings", "action": "Editing_room"})


# -- lists ------------------------------------------------------------------------------------


async def list_channels(
    ctx: Ctx, user: Row, *, sort: dict[str, int] | None, offset: int, limit: int | None
) -> tuple[list[Row], int]:
    """`channels.list`: every public channel for holders of `view-c-room`, otherwise the joined
    ones; team channels only for their members. The route checks the permissions first."""
    if await ctx.can(user, "view-c-room"):
        return await rooms.list_rooms_of_type(
            ctx.conn, "c", team_visible_to=user["id"], sort=sort, offset=offset, limit=limit
        )
    return await rooms.list_rooms_of_type(
        ctx.conn, "c", member_id=user["id"], sort=sort, offset=offset, limit=limit
    )


async def list_joined(
    ctx: Ctx, family: Family, user: Row, *, sort: dict[str, int] | None, offset: int, limit: int | None
) -> tuple[list[Row], int]:
    return await rooms.list_rooms_of_type(
        ctx.conn, family.t, member_id=user["id"], sort=sort, offset=offset, limit=limit
    )


async def list_all(
    ctx: Ctx, family: Family, *, sort: dict[str, int] | None, offset: int, limit: int | None
) -> tuple[list[Row], int]:
    return await rooms.list_rooms_of_type(ctx.conn, family.t, sort=sort, offset=offset, limit=limit)


# -- membership ---------------------------------------------------------------------------------


async def join(ctx: Ctx, room: Row, user: Row, code: str | None) -> None:
    """`channels.join` (core-api.md §5.1); joining twice is a quiet success."""
    if not await can_access_room(ctx, room, user):
        raise MeteorError("Not allowed", "error-not-allowed", {"method": "joinRoom"})
    if await is_member(ctx, room["id"], user["id"]):
        return
    if room["join_code"] is not None and not await ctx.can(user, "join-without-join-code"):
        if not code:
            raise MeteorError("Code required", "error-code-required", {"method": "joinRoom"})
        if code != room["join_code"]:
            raise MeteorError("Invalid code", "error-code-invalid", {"method": "joinRoom"})
    await add_member(ctx, room, user)


async def users_from_params(
    ctx: Ctx,
    user_id: str | None,
    username: str | None,
    user: str | None,
    user_ids: Sequence[str] | None,
    usernames: Sequence[str] | None,
) -> list[Row]:
    """Rocket.Chat's getUserListFromParams: ids when `userId`/`userIds` were sent, usernames
    otherwise; unknown entries are dropped (the caller decides what an empty list means)."""
    sole = user_id or username or user
    wanted = [v for v in [*(user_ids or usernames or []), sole or ""] if v]
    wanted = list(dict.fromkeys(wanted))
    if not wanted:
        raise MeteorError(
            'Please provide "userId" or "username" or "userIds" or "usernames" as param',
            "error-users-params-not-provided",
        )
    if user_ids or user_id:
        return await users.get_many_by_ids(ctx.conn, wanted)
    return await users.get_many_by_usernames(ctx.conn, wanted)


async def invite(ctx: Ctx, family: Family, room: Row, actor: Row, targets: Sequence[Row]) -> None:
    """`channels.invite` / `groups.invite` (core-api.md §5.2); members already in are skipped."""
    if not targets:
        if family.t == "c":
            raise Failure("invalid-user-invite-list", "Cannot invite if no users are provided")
        raise MeteorError("Cannot invite if no valid users are provided", "error-empty-invite-list")
    if room["t"] == "d":
        raise MeteorError(
            "Can't invite user to direct rooms",
            "error-cant-invite-for-direct-room",
            {"method": "addUsersToRoom"},
        )
    allowed = (
        await is_member(ctx, room["id"], actor["id"])
        and await ctx.can(actor, "add-user-to-joined-room", room["id"])
    ) or await ctx.can(actor, f"add-user-to-any-{room['t']}-room")
    if not allowed:
        raise MeteorError("Not allowed", "error-not-allowed", {"method": "addUsersToRoom"})
    for target in targets:
        await add_member(ctx, room, target, inviter=actor)


async def kick(ctx: Ctx, family: Family, room: Row, actor: Row, target: Row) -> None:
    """`channels.kick` / `groups.kick` (core-api.md §5.3)."""
    if not await ctx.can(actor, "remove-user", room["id"]):
        raise MeteorError("Not allowed", "error-not-allowed", {"method": "removeUserFromRoom"})
    kick_any = await ctx.can(actor, f"kick-user-from-any-{room['t']}-room")
    if not kick_any and not await can_access_room(ctx, room, actor):
        raise MeteorError(
            f'The required "roomId" or "roomName" param provided does not match any {family.key}',
            "error-room-not-found",
        )
    sub = await rooms.get_subscription(ctx.conn, room["id"], target["id"])
    if sub is None:
        raise MeteorError(
            "User is not in this room", "error-user-not-in-room", {"method": "removeUserFromRoom"}
        )
    if "owner" in sub["roles"] and await rooms.count_role_holders(ctx.conn, room["id"], "owner") == 1:
        raise MeteorError(LAST_OWNER_REASON, "error-you-are-last-owner", {"method": "removeUserFromRoom"})
    await remove_member(ctx, room, target, kicker=actor)


# -- room roles ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RoleRule:
    permission: str
    noun: str  # "an owner", "a moderator", "a leader"
    method: str  # the Meteor method name RC reports in `details`


_ROLE_RULES = {
    "owner": _RoleRule("set-owner", "an owner", "RoomOwner"),
    "moderator": _RoleRule("set-moderator", "a moderator", "RoomModerator"),
    "leader": _RoleRule("set-leader", "a leader", "RoomLeader"),
}


async def set_room_role(ctx: Ctx, room: Row, actor: Row, target: Row, role: str, *, grant: bool) -> None:
    """`*.addOwner`/`removeOwner`/`addModerator`/… : grant or revoke a room-scoped role."""
    rule = _ROLE_RULES[role]
    method = ("add" if grant else "remove") + rule.method
    if not await ctx.can(actor, rule.permission, room["id"]):
        raise MeteorError("Not allowed", "error-not-allowed", {"method": method})
    sub = await rooms.get_subscription(ctx.conn, room["id"], target["id"])
    if sub is None:
        raise MeteorError("User is not in this room", "error-user-not-in-room", {"method": method})
    roles = list(sub["roles"])
    if grant:
        if role in roles:
            raise MeteorError(
                f"User is already {rule.noun}", f"error-user-already-{role}", {"method": method}
            )
        roles.append(role)
    else:
        if role not in roles:
            raise MeteorError(f"User is not {rule.noun}", f"error-user-not-{role}", {"method": method})
        if role == "owner" and await rooms.count_role_holders(ctx.conn, room["id"], "owner") == 1:
            raise MeteorError(
                "This is the last owner. Please set a new owner before removing this one.",
                "error-remove-last-owner",
                {"method": method},
            )
        roles.remove(role)
    await rooms.update_subscription(
        ctx.conn, room["id"], target["id"], {"roles": roles, "updated_at": ctx.now()}
    )
    kind = "subscription-role-added" if grant else "subscription-role-removed"
    note = await insert_system_message(ctx, room, kind, actor=actor, text=target["username"] or "")
    await messages.update_message(ctx.conn, note["id"], {"extra": {**note["extra"], "role": role}})


# -- archive, rename, delete --------------------------------------------------------------------


async def archive(ctx: Ctx, room: Row, actor: Row) -> None:
    if not await ctx.can(actor, "archive-room", room["id"]):
        raise MeteorError("Not authorized", "error-not-authorized", {"method": "archiveRoom"})
    await rooms.update_room(ctx.conn, room["id"], {"archived": True, "updated_at": ctx.now()})
    await insert_system_message(ctx, room, "room-archived", actor=actor, text="")
    await outbox.record(ctx, outbox.ROOM_ARCHIVED, room=await fresh(ctx, room), actor=actor)


async def unarchive(ctx: Ctx, family: Family, room: Row, actor: Row) -> None:
    if not await ctx.can(actor, "unarchive-room", room["id"]):
        raise MeteorError("Not authorized", "error-not-authorized", {"method": "unarchiveRoom"})
    if not room["archived"]:
        # channels.unarchive refuses; groups.unarchive (RC) just re-saves the flag
        if family.t == "c":
            raise Failure(f"The channel, {room['name']}, is not archived")
        return
    await rooms.update_room(ctx.conn, room["id"], {"archived": False, "updated_at": ctx.now()})
    await insert_system_message(ctx, room, "room-unarchived", actor=actor, text="")


async def rename(ctx: Ctx, family: Family, room: Row, actor: Row, name: str) -> None:
    """`*.rename`: the name rules of creation; both `name` and `fname` follow, as do the
    members' subscriptions."""
    if name == room["name"]:
        if family.t == "c":
            raise Failure("The channel name is the same as what it would be renamed to.")
        return
    await _require_edit(ctx, room, actor)
    await check_room_name(ctx, name, exclude_id=room["id"])
    now = ctx.now()
    await rooms.update_room(ctx.conn, room["id"], {"name": name, "fname": name, "updated_at": now})
    await rooms.update_room_subscriptions(
        ctx.conn, room["id"], {"name": name, "fname": name, "updated_at": now}
    )
    await insert_system_message(ctx, room, "r", actor=actor, text=name)


async def delete(ctx: Ctx, room: Row, actor: Row) -> None:
    """`*.delete`: the room goes with its messages and subscriptions (foreign keys cascade);
    the removal is remembered for `rooms.get`."""
    if not await ctx.can(actor, f"delete-{room['t']}", room["id"]):
        raise MeteorError("Not allowed", "error-not-allowed", {"method": "eraseRoom"})
    await rooms.delete_room(ctx.conn, room["id"], room["t"], ctx.now())


# -- settings -----------------------------------------------------------------------------------

# room document field -> the system message Rocket.Chat writes when it changes
_TEXT_SETTINGS = {
    "topic": "room_changed_topic",
    "description": "room_changed_description",
    "announcement": "room_changed_announcement",
}


def text_setting(room: Row, key: str) -> Any:
    return (room.get("extra") or {}).get(key)


async def set_text(ctx: Ctx, room: Row, actor: Row, key: str, value: str) -> None:
    """Topic, description (also `purpose`) and announcement live in the room document."""
    await _require_edit(ctx, room, actor)
    extra = {**(room.get("extra") or {}), key: value}
    await rooms.update_room(ctx.conn, room["id"], {"extra": extra, "updated_at": ctx.now()})
    await insert_system_message(ctx, room, _TEXT_SETTINGS[key], actor=actor, text=value)


async def set_read_only(ctx: Ctx, room: Row, actor: Row, read_only: bool) -> None:
    await _require_edit(ctx, room, actor)
    if not await ctx.can(actor, "set-readonly", room["id"]):
        raise MeteorError(
            "Editing readOnly room is not allowed",
            "error-action-not-allowed",
            {"method": "saveRoomSettings", "action": "Editing_room"},
        )
    await rooms.update_room(ctx.conn, room["id"], {"ro": read_only, "updated_at": ctx.now()})


# The width of rooms.join_code.
MAX_JOIN_CODE = 255


async def set_join_code(ctx: Ctx, room: Row, actor: Row, code: str) -> None:
    await _require_edit(ctx, room, actor)
    if len(code) > MAX_JOIN_CODE:
        raise InvalidParams([f"/joinCode must NOT have more than {MAX_JOIN_CODE} characters"])
    await rooms.update_room(ctx.conn, room["id"], {"join_code": code, "updated_at": ctx.now()})


async def set_default(ctx: Ctx, room: Row, actor: Row, value: bool) -> None:
    await _require_edit(ctx, room, actor)
    await rooms.update_room(ctx.conn, room["id"], {"is_default": value, "updated_at": ctx.now()})


async def set_custom_fields(ctx: Ctx, room: Row, actor: Row, fields: dict[str, Any] | list[Any]) -> None:
    """`*.setCustomFields`: the object replaces the room's `customFields` as a whole."""
    await _require_edit(ctx, room, actor)
    if not isinstance(fields, dict):
        # RC's route lets arrays through (typeof [] is "object"); its saver then refuses them
        raise MeteorError(
            "Invalid roomCustomFields type",
            "invalid-roomCustomFields-type",
            {"function": "RocketChat.saveRoomCustomFields"},
        )
    extra = {**(room.get("extra") or {}), "customFields": fields}
    await rooms.update_room(ctx.conn, room["id"], {"extra": extra, "updated_at": ctx.now()})


# The system message text of a privacy change, per new type (RC's English `public`/`private`).
_PRIVACY_TEXT = {"c": "public", "p": "private"}


async def set_type(ctx: Ctx, family: Family, room: Row, actor: Row, new_type: str) -> None:
    """`*.setType`: turn a public channel into a private group or back. The members'
    subscriptions change type too, so each family's routes find the room only afterwards under
    its new family. Checks in RC's order: same type, edit-room, create right for the target,
    then the type itself."""
    if new_type == room["t"]:
        raise Failure(f"The {family.noun} type is the same as what it would be changed to.")
    await _require_edit(ctx, room, actor)
    details = {"method": "saveRoomSettings", "action": "Change_Room_Type"}
    if new_type == "c" and not await ctx.can(actor, "create-c"):
        raise MeteorError(
            "Changing a private group to a public channel is not allowed", "error-action-not-allowed", details
        )
    if new_type == "p" and not await ctx.can(actor, "create-p"):
        raise MeteorError(
            "Changing a public channel to a private room is not allowed", "error-action-not-allowed", details
        )
    if new_type not in _PRIVACY_TEXT:
        raise MeteorError(
            "error-invalid-room-type",
            "error-invalid-room-type",
            {"function": "RocketChat.saveRoomType", "type": new_type},
        )
    now = ctx.now()
    await rooms.update_room(ctx.conn, room["id"], {"t": new_type, "updated_at": now})
    await rooms.update_room_subscriptions(ctx.conn, room["id"], {"t": new_type, "updated_at": now})
    await insert_system_message(ctx, room, "room_changed_privacy", actor=actor, text=_PRIVACY_TEXT[new_type])


# -- the caller's own view: close (hide) and open -------------------------------------------------


async def set_open(ctx: Ctx, family: Family, room: Row, user: Row, *, open_: bool) -> None:
    """`*.close` / `*.open`: hide the room from the caller's list or show it again. Only the
    caller's subscription changes; membership stays."""
    sub = await rooms.get_subscription(ctx.conn, room["id"], user["id"])
    if sub is None:
        # only channels get here: the group lookup already refused non-members
        raise Failure(f'The user/callee is not in the channel "{room["name"]}".')
    if open_ and sub["open"]:
        preposition = "to" if family.t == "c" else "for"
        raise Failure(f"The {family.noun}, {room['name']}, is already open {preposition} the sender")
    if not open_ and not sub["open"]:
        raise Failure(f"The {family.noun}, {room['name']}, is already closed to the sender")
    values: Row = {"open": open_, "updated_at": ctx.now()}
    if not open_:
        values["alert"] = False  # RC's hideRoom also clears the unread highlight
    await rooms.update_subscription(ctx.conn, room["id"], user["id"], values)


# -- add everyone ---------------------------------------------------------------------------------

# RC's `API_User_Limit` default: addAll refuses servers with more users than this.
API_USER_LIMIT = 500


async def add_all(ctx: Ctx, room: Row, actor: Row, *, active_only: bool) -> None:
    """`*.addAll`: subscribe every user (only active ones when asked) who is not yet a member;
    each new member gets the `uj` system message, as in RC's addAllUserToRoom."""
    if not await ctx.can(actor, "add-all-to-room"):
        # RC throws Meteor.Error(403, …): a numeric error type in a 400 envelope
        raise FailureObject(
            {
                "error": "Access to Method Forbidden [403]",
                "errorType": 403,
                "details": {"method": "addAllToRoom"},
            }
        )
    where = [users_table.c.active.is_(True)] if active_only else []
    everyone, total = await users.list_users(ctx.conn, where=where, limit=API_USER_LIMIT + 1)
    if total > API_USER_LIMIT:
        raise MeteorError("User Limit Exceeded", "error-user-limit-exceeded", {"method": "addAllToRoom"})
    for user in everyone:
        # an account without a username cannot be a member (nothing to show or mention)
        if user["username"]:
            await add_member(ctx, room, user)


# -- reads ----------------------------------------------------------------------------------------


async def history(
    ctx: Ctx,
    room: Row,
    user: Row,
    *,
    latest: datetime | None,
    oldest: datetime | None,
    inclusive: bool,
    offset: int,
    count: int | None,
    unreads: bool,
    show_thread_messages: bool,
) -> dict[str, Any]:
    """`*.history`: messages newest first; no totals (core-api.md §5)."""
    rows = await messages.room_history(
        ctx.conn,
        room["id"],
        latest=latest,
        oldest=oldest,
        inclusive=inclusive,
        offset=offset,
        limit=count,
        show_thread_messages=show_thread_messages,
    )
    body: dict[str, Any] = {"messages": [message_doc(r) for r in rows]}
    if unreads:
        sub = await rooms.get_subscription(ctx.conn, room["id"], user["id"])
        last_seen = sub["ls"] if sub is not None else None
        first = await messages.first_since(ctx.conn, room["id"], last_seen) if last_seen else None
        if first is not None and last_seen is not None:
            body["firstUnread"] = message_doc(first)
            loaded = sum(1 for r in rows if r["ts"] > last_seen)
            body["unreadNotLoaded"] = max(
                await messages.count_since(ctx.conn, room["id"], last_seen) - loaded, 0
            )
        else:
            body["unreadNotLoaded"] = 0
    return body


async def messages_page(
    ctx: Ctx, room: Row, *, sort: dict[str, int] | None, offset: int, count: int | None
) -> dict[str, Any]:
    rows, total = await messages.room_messages(ctx.conn, room["id"], sort=sort, offset=offset, limit=count)
    return {"messages": [message_doc(r) for r in rows], "count": len(rows), "offset": offset, "total": total}


def member_doc(row: Row) -> dict[str, Any]:
    """A member as `*.members` lists it."""
    extra = row.get("extra") or {}
    doc: dict[str, Any] = {
        "_id": row["id"],
        "username": row["username"],
        "name": row["name"],
        "status": row["status"],
        "_updatedAt": iso(row["updated_at"]),
    }
    for key in ("avatarETag", "nickname", "federated"):
        if key in extra:
            doc[key] = extra[key]
    return doc


async def members_page(
    ctx: Ctx,
    room: Row,
    user: Row,
    *,
    text: str | None,
    statuses: Sequence[str],
    sort: dict[str, int] | None,
    offset: int,
    count: int | None,
) -> dict[str, Any]:
    """`*.members`; the caller's access was checked by the lookup. Broadcast rooms hide their
    audience from those without `view-broadcast-member-list`."""
    if room["broadcast"] and not await ctx.can(user, "view-broadcast-member-list", room["id"]):
        raise Forbidden()
    descending = (sort or {}).get("username") == -1
    rows, total = await rooms.room_members(
        ctx.conn, room["id"], text=text, statuses=statuses, descending=descending, offset=offset, limit=count
    )
    return {"members": [member_doc(r) for r in rows], "count": len(rows), "offset": offset, "total": total}


async def room_roles(ctx: Ctx, room: Row, user: Row) -> list[dict[str, Any]]:
    """`*.roles`: the subscriptions holding room roles (owner, moderator, leader), as RC's
    getRoomRoles returns them; the caller must be able to read the room."""
    if not await can_access_room(ctx, room, user):
        raise MeteorError("Not allowed", "error-not-allowed", {"method": "getRoomRoles"})
    return [
        {
            "_id": sub["id"],
            "rid": sub["rid"],
            "u": {"_id": sub["user_id"], "username": sub["username"], "name": sub["user_name"]},
            "roles": list(sub["roles"]),
        }
        for sub in await rooms.role_holders(ctx.conn, room["id"])
    ]


async def moderators(ctx: Ctx, room: Row) -> list[dict[str, Any]]:
    """`*.moderators`: the members holding the room role `moderator`."""
    return [
        {"_id": sub["user_id"], "username": sub["username"], "name": sub["user_name"]}
        for sub in await rooms.role_holders(ctx.conn, room["id"])
        if "moderator" in sub["roles"]
    ]


async def counters_subject(ctx: Ctx, caller: Row, user_id: str | None) -> tuple[str, bool]:
    """Whose counters `*.counters` reads and whether the caller administers rooms: another
    user's (`userId`) only for holders of `view-room-administration`."""
    admin = await ctx.can(caller, "view-room-administration")
    if user_id:
        if not admin:
            raise Forbidden()
        return user_id, admin
    return str(caller["id"]), admin


async def counters(ctx: Ctx, room: Row, subject_id: str, *, admin: bool) -> dict[str, Any]:
    """`*.counters`. Room figures are shown to members and room administrators only, the
    unread figures to members only. Unreads are the visible messages since the member last read
    the room, system ones included (RC's own formula); the subscription's stored `unread` is not
    kept up to date, so it is not used. Mentions are not tracked: a member has 0."""
    sub = await rooms.get_subscription(ctx.conn, room["id"], subject_id)
    body: dict[str, Any] = {
        "joined": sub is not None,
        "members": None,
        "unreads": None,
        "unreadsFrom": None,
        "msgs": None,
        "latest": None,
        "userMentions": None,
    }
    if sub is not None:
        since = sub["ls"] if sub["ls"] is not None else sub["ts"]
        body["unreads"] = await messages.count_since(ctx.conn, room["id"], since)
        body["unreadsFrom"] = iso(since)
        body["userMentions"] = 0
    if admin or sub is not None:
        body["members"] = room["users_count"]
        body["msgs"] = room["msgs"]
        # RC answers the room's last change when nothing was posted yet
        body["latest"] = iso(room["lm"] if room["lm"] is not None else room["updated_at"])
    return body


# The filter keys `*.online` understands in its `query` parameter (RC takes any Mongo filter).
_ONLINE_QUERY_KEYS = {"_id": "id", "name": "name"}


async def online_room(ctx: Ctx, family: Family, room_id: str | None, query: str | None) -> Row:
    """The room `*.online` asks about: by `_id`, or by a JSON `query` on `_id`/`name`."""
    wanted: dict[str, str] = {}
    if query:
        try:
            parsed = orjson.loads(query)
        except orjson.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict) or any(
            k not in _ONLINE_QUERY_KEYS or not isinstance(v, str) for k, v in parsed.items()
        ):
            raise MeteorError(
                f'Invalid query parameter provided: "{query}"',
                "error-invalid-query",
                {"helperMethod": "parseJsonQuery"},
            )
        wanted = {_ONLINE_QUERY_KEYS[k]: v for k, v in parsed.items()}
    if room_id:
        wanted["id"] = room_id
    if not wanted:
        raise Failure("Invalid query")
    room = None
    if "id" in wanted:
        room = await rooms.get_room(ctx.conn, wanted["id"])
    else:
        room = await rooms.get_room_by_name(ctx.conn, wanted["name"])
    if room is None or room["t"] != family.t or any(room[col] != v for col, v in wanted.items()):
        raise Failure("Channel does not exists" if family.t == "c" else "Group does not exists")
    return room


async def online(ctx: Ctx, room: Row, user: Row) -> list[dict[str, Any]]:
    """`*.online`: the members whose presence is not offline."""
    if not await can_access_room(ctx, room, user):
        raise MeteorError("Not Allowed", "error-not-allowed")
    return [
        {"_id": u["id"], "username": u["username"]} for u in await rooms.online_members(ctx.conn, room["id"])
    ]


def files_page(offset: int) -> dict[str, Any]:
    """`*.files`: hookhub does not support file uploads, so no room has files; this is the
    true answer in the documented shape, not a placeholder."""
    return {"files": [], "count": 0, "offset": offset, "total": 0}


def date_param(raw: str | None, name: str) -> datetime | None:
    """An ISO date query parameter (`latest`, `oldest`); garbage is a 400, not a 500."""
    if raw is None or raw == "":
        return None
    try:
        return parse_iso(raw)
    except ValueError:
        raise InvalidParams([f'/{name} must match format "date-time"']) from None


# -- creation -------------------------------------------------------------------------------------


# Fields of the room document `extraData` may not overwrite: identity, counters and the flags
# that have their own columns or endpoints.
async def _create_in_team(
    ctx: Ctx,
    family: Family,
    owner: Row,
    name: str | None,
    team_id: str,
    *,
    members: Sequence[str] | None,
    read_only: bool,
    exclude_self: bool,
) -> Row:
    """A room of a team: `create-team-channel` / `create-team-group` in the team's main room
    instead of `create-c` / `create-p`; the creator owns the room but does not join the team."""
    team = await team_store.get_team(ctx.conn, team_id)
    if team is None:
        raise MeteorError('The "teamId" param provided does not match any team', "error-team-not-found")
    permission = "create-team-channel" if family.t == "c" else "create-team-group"
    if not await ctx.can(owner, permission, team["room_id"]):
        if family.t == "c":
            raise Forbidden()
        raise MeteorError("Not allowed", "error-not-allowed", {"method": "createPrivateGroup"})
    if not name:
        raise Failure('Param "name" is required' if family.t == "c" else 'Body param "name" is required')
    room = await create_room(
        ctx, owner, family.t, name, members=members or (), read_only=read_only, exclude_self=exclude_self
    )
    await rooms.update_room(ctx.conn, room["id"], {"team_id": team["id"]})
    main = await rooms.get_room(ctx.conn, team["room_id"])
    if family.t == "c" and main is not None:
        await insert_system_message(ctx, main, "user-added-room-to-team", actor=owner, text=name)
    return dict(room, team_id=team["id"])


_RESERVED_EXTRA = frozenset(
    {
        "_id",
        "t",
        "name",
        "fname",
        "u",
        "ts",
        "msgs",
        "usersCount",
        "ro",
        "default",
        "archived",
        "joinCode",
        "joinCodeRequired",
        "_updatedAt",
        "lm",
        "lastMessage",
        "teamId",
        "teamMain",
        "uids",
        "usernames",
        "sysMes",
    }
)


async def create(
    ctx: Ctx,
    family: Family,
    owner: Row,
    name: str | None,
    *,
    members: Sequence[str] | None,
    read_only: bool,
    exclude_self: bool,
    custom_fields: dict[str, Any] | None,
    extra_data: dict[str, Any] | None,
) -> Row:
    """`channels.create` / `groups.create` (core-api.md §5.5): the families check permission
    and name in opposite orders and refuse with different envelopes. With `extraData.teamId`
    the room is created inside that team, under the team's own permissions (teams.md §3)."""
    team_id = (extra_data or {}).get("teamId")
    if isinstance(team_id, str) and team_id:
        return await _create_in_team(
            ctx, family, owner, name, team_id, members=members, read_only=read_only, exclude_self=exclude_self
        )
    if family.t == "c":
        if not await ctx.can(owner, "create-c"):
            raise Forbidden()
        if not name:
            raise Failure('Param "name" is required')
    else:
        if not name:
            raise Failure('Body param "name" is required')
        if not await ctx.can(owner, "create-p"):
            raise MeteorError("Not allowed", "error-not-allowed", {"method": "createPrivateGroup"})
    extra = {k: v for k, v in (extra_data or {}).items() if k not in _RESERVED_EXTRA}
    if custom_fields is not None:
        extra["customFields"] = custom_fields
    return await create_room(
        ctx,
        owner,
        family.t,
        name,
        members=members or (),
        read_only=read_only,
        exclude_self=exclude_self,
        extra=extra,
    )
