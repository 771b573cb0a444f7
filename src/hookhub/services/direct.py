"""Direct messages (core-api.md §7): creation by usernames and the `im.*` room lookup."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hookhub.services import room_admin
from hookhub.services.context import Ctx
from hookhub.services.errors import Failure, Forbidden, MeteorError
from hookhub.services.room_access import can_access_room
from hookhub.services.rooms import get_or_create_direct
from hookhub.store import rooms, users
from hookhub.store.rows import Row

_CREATE_METHOD = {"method": "createDirectMessage"}
NOT_A_DIRECT_MESSAGE = 'The required "roomId" param provided does not match any direct message'


async def create_direct_message(ctx: Ctx, me: Row, usernames: Sequence[str], *, exclude_self: bool) -> Row:
    """RC's createDirectMessage: the DM between the caller (unless `exclude_self`) and the named
    users; without `create-d` only an existing one can be opened (with `view-d-room`)."""
    others: list[Row] = []
    for name in usernames:
        if name == me["username"]:
            continue
        other = await users.get_by_username(ctx.conn, name)
        if other is None:
            raise MeteorError("Invalid user", "error-invalid-user", _CREATE_METHOD)
        others.append(other)
    members = others if exclude_self else [me, *others]
    # a DM with yourself is allowed; one with a single *other* user and not yourself is not
    if not members or (len(members) == 1 and members[0]["id"] != me["id"]):
        raise MeteorError("Invalid user", "error-invalid-user", _CREATE_METHOD)
    if not await ctx.can(me, "create-d"):
        if await ctx.can(me, "view-d-room"):
            existing = await rooms.get_room(ctx.conn, "".join(sorted({u["id"] for u in members})))
            if existing is not None and existing["t"] == "d":
                return existing
        raise MeteorError("Not allowed", "error-not-allowed", _CREATE_METHOD)
    return await get_or_create_direct(ctx, me, others, exclude_self=exclude_self)


async def find_direct(ctx: Ctx, me: Row, room_id: str | None, username: str | None) -> Row:
    """The `im.*` lookup: a DM by room id, or the caller's DM with a user (created when it does
    not exist yet, as Rocket.Chat does). The caller must be able to read it."""
    if not room_id and not username:
        raise MeteorError('Query param "roomId" or "username" is required', "error-room-param-not-provided")
    room = None
    if room_id:
        room = await rooms.get_room(ctx.conn, room_id)
        if room is None:
            # RC resolves `roomId` like a `@` target: a user id or username works too
            other = await users.get_by_id_or_username(ctx.conn, room_id)
            room = await get_or_create_direct(ctx, me, [other]) if other is not None else None
    else:
        other = await users.get_by_username(ctx.conn, username or "")
        room = await get_or_create_direct(ctx, me, [other]) if other is not None else None
    if room is None or room["t"] != "d":
        raise MeteorError(NOT_A_DIRECT_MESSAGE, "error-room-not-found")
    if not await can_access_room(ctx, room, me):
        raise Forbidden()
    return room


def _room_param_required(where: str) -> MeteorError:
    return MeteorError(f'{where} param "roomId" is required', "error-room-param-not-provided")


async def close(ctx: Ctx, me: Row, room_id: str | None) -> None:
    """`im.close`: hide the DM from the caller's sidebar (the subscription stays)."""
    if not room_id:
        raise _room_param_required("Body")
    if await rooms.get_room(ctx.conn, room_id) is not None:
        await find_direct(ctx, me, room_id, None)
    # a subscription may outlive its room: closing it is still allowed
    sub = await rooms.get_subscription(ctx.conn, room_id, me["id"])
    if sub is None:
        raise Failure("The user is not subscribed to the room")
    if not sub["open"]:
        raise Failure("The direct message room, is already closed to the sender")
    await rooms.update_subscription(ctx.conn, room_id, me["id"], {"open": False, "updated_at": ctx.now()})


async def open_(ctx: Ctx, me: Row, room_id: str | None) -> None:
    """`im.open`: show the DM in the caller's sidebar again."""
    if not room_id:
        raise _room_param_required("Body")
    room = await find_direct(ctx, me, room_id, None)
    sub = await rooms.get_subscription(ctx.conn, room["id"], me["id"])
    if sub is not None and not sub["open"]:
        await rooms.update_subscription(
            ctx.conn, room["id"], me["id"], {"open": True, "updated_at": ctx.now()}
        )


async def counters(ctx: Ctx, me: Row, room_id: str | None, user_id: str | None) -> dict[str, Any]:
    """`im.counters`: message and unread counts of a DM, for the caller or (admins) anyone."""
    if not room_id:
        raise _room_param_required("Query")
    admin = await ctx.can(me, "view-room-administration")
    subject = me
    if user_id:
        if not admin:
            raise Forbidden()
        other = await users.get_by_id(ctx.conn, user_id)
        if other is None:
            raise Forbidden()
        subject = other
    room = await find_direct(ctx, subject, room_id, None)
    # the figures are computed as for channels and groups: one formula for every room type
    return await room_admin.counters(ctx, room, subject["id"], admin=admin)


def member_doc(row: Row) -> dict[str, Any]:
    """How `im.members` shows a member."""
    extra = row.get("extra") or {}
    doc: dict[str, Any] = {
        "_id": row["id"],
        "username": row["username"],
        "name": row["name"],
        "status": row["status"],
        "utcOffset": extra.get("utcOffset", 0),
    }
    for key in ("statusText", "federated"):
        if key in extra:
            doc[key] = extra[key]
    return doc
