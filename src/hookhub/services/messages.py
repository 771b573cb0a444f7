"""Storing messages and the "may this user post here?" rule (core-api.md §9.1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hookhub.ids import random_id
from hookhub.services import outbox
from hookhub.services.context import Ctx
from hookhub.services.documents import message_doc
from hookhub.services.errors import Failure
from hookhub.services.room_access import can_access_room
from hookhub.store import messages, rooms
from hookhub.store.rows import Row


async def check_can_post(ctx: Ctx, room: Row | None, user: Row, *, member: bool | None = None) -> Row:
    """Raise the plain Rocket.Chat error when `user` may not post in `room`; return the room.
    `member`: the user's membership when the caller already knows it (see `can_access_room`)."""
    if room is None:
        raise Failure("error-invalid-room")
    if user["type"] != "app" and not await can_access_room(ctx, room, user, member=member):
        raise Failure("error-not-allowed")
    if room["archived"]:
        raise Failure("error-room-archived")
    if room["ro"] and not await ctx.can(user, "post-readonly", room["id"]):
        raise Failure("You can't send messages because the room is readonly.")
    return room


def check_size(ctx: Ctx, text: str) -> None:
    if len(text) > ctx.settings.message_max_size:
        raise Failure("error-message-size-exceeded")


def message_row(
    room: Row,
    author: Row,
    *,
    text: str,
    now: datetime,
    extra: dict[str, Any] | None = None,
    tmid: str | None = None,
    message_id: str | None = None,
) -> Row:
    """The stored row of a new user message (pure: the incoming-hook fast path builds the same)."""
    return {
        "id": message_id or random_id(),
        "rid": room["id"],
        "ts": now,
        "updated_at": now,
        "u_id": author["id"],
        "u_username": author["username"],
        "u_name": author["name"],
        "msg": text,
        "t": None,
        "tmid": tmid,
        "edited_at": None,
        "edited_by_id": None,
        "edited_by_username": None,
        "extra": extra or {},
    }


async def insert_message(
    ctx: Ctx,
    room: Row,
    author: Row,
    *,
    text: str,
    extra: dict[str, Any] | None = None,
    tmid: str | None = None,
    message_id: str | None = None,
) -> Row:
    """Store a user message, update the room's counters and write its `messageSent` event."""
    now = ctx.now()
    row = message_row(room, author, text=text, now=now, extra=extra, tmid=tmid, message_id=message_id)
    await messages.insert_message(ctx.conn, row)
    # the counter update hands back the room as it now stands (for the event's snapshot), so
    # the room is not read again
    room_after = await rooms.bump_message_count(ctx.conn, room["id"], message_doc(row), now)
    await outbox.record(ctx, outbox.MESSAGE_SENT, room=room_after or room, message=row, actor=author)
    return row


async def insert_system_message(ctx: Ctx, room: Row, kind: str, *, actor: Row, text: str) -> Row:
    """A system message (`uj`, `ul`, `au`, `ru`, `r`, ...). It does not count as a room message
    and fires no `messageSent` event, as in Rocket.Chat."""
    now = ctx.now()
    row: Row = {
        "id": random_id(),
        "rid": room["id"],
        "ts": now,
        "updated_at": now,
        "u_id": actor["id"],
        "u_username": actor["username"],
        "u_name": actor["name"],
        "msg": text,
        "t": kind,
        "tmid": None,
        "edited_at": None,
        "edited_by_id": None,
        "edited_by_username": None,
        "extra": {"groupable": False},
    }
    await messages.insert_message(ctx.conn, row)
    return row
