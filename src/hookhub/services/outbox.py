"""Writing outbox events: one row per change an outgoing webhook can listen to, in the same
transaction as the change, carrying snapshots of the documents involved."""

from __future__ import annotations

from typing import Any

from hookhub.services.context import Ctx
from hookhub.services.documents import message_doc, reply_depth, room_doc, user_doc
from hookhub.store import events
from hookhub.store.rows import Row

MESSAGE_SENT = "messageSent"
MESSAGE_EDITED = "messageEdited"
MESSAGE_DELETED = "messageDeleted"
ROOM_CREATED = "roomCreated"
ROOM_ARCHIVED = "roomArchived"
ROOM_JOINED = "roomJoined"
ROOM_LEFT = "roomLeft"
USER_CREATED = "userCreated"

EVENT_TYPES = frozenset(
    {
        MESSAGE_SENT,
        MESSAGE_EDITED,
        MESSAGE_DELETED,
        ROOM_CREATED,
        ROOM_ARCHIVED,
        ROOM_JOINED,
        ROOM_LEFT,
        USER_CREATED,
    }
)


def event_payload(
    *,
    room: Row | None = None,
    user: Row | None = None,
    message: Row | None = None,
    actor: Row | None = None,
) -> dict[str, Any]:
    """An event's snapshots: the documents as they are at the change (pure)."""
    payload: dict[str, Any] = {}
    if room is not None:
        payload["room"] = room_doc(room)
    if user is not None:
        payload["user"] = user_doc(user, full=True)
    if message is not None:
        payload["message"] = message_doc(message)
        if depth := reply_depth(message):
            payload["replyDepth"] = depth
    if actor is not None:
        payload["actor"] = user_doc(actor, full=True)
    return payload


def subject_id(user: Row | None, actor: Row | None) -> str | None:
    """The event's `user_id` column: the subject, else whoever acted."""
    if user is not None:
        return str(user["id"])
    return str(actor["id"]) if actor is not None else None


async def record(
    ctx: Ctx,
    type: str,
    *,
    room: Row | None = None,
    user: Row | None = None,
    message: Row | None = None,
    actor: Row | None = None,
) -> None:
    """Append one event. `user` is the subject (joined, left, created, owner); `actor` who did it."""
    assert type in EVENT_TYPES, type
    await events.append(
        ctx.conn,
        type=type,
        payload=event_payload(room=room, user=user, message=message, actor=actor),
        created_at=ctx.now(),
        room_id=room["id"] if room is not None else None,
        user_id=subject_id(user, actor),
        message_id=message["id"] if message is not None else None,
    )
