"""The SQL of the incoming-hook fast path, as plain `sqlite3` calls for `store.sqlite_batches` jobs.

Values go in and come out through the same SQLAlchemy type processors the general path uses
(`TableCodec`), so a row written here is byte for byte the row `store.messages`/`store.rooms`/
`store.events` would have written, and a row read here equals theirs.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from hookhub.store.rooms import RoomForPost
from hookhub.store.rows import Row
from hookhub.store.table_codecs import TableCodec
from hookhub.store.tables import events, integrations, messages, rooms, users

USERS = TableCodec(users)
ROOMS = TableCodec(rooms)
MESSAGES = TableCodec(messages)
EVENTS = TableCodec(events)
_INTEGRATIONS = TableCodec(integrations)

_USER_BY_ID = f"SELECT {USERS.column_list} FROM users WHERE users.id = ?"
# One statement for the room (by id, else by name; an id match wins) and the poster's membership,
# as `store.rooms.get_room_by_id_or_name_for`; only what decides whether the fast path may post.
_ROOM_FOR_POST = (
    "SELECT rooms.id, rooms.archived, rooms.ro, subscriptions.id FROM rooms "
    "LEFT OUTER JOIN subscriptions ON subscriptions.rid = rooms.id AND subscriptions.user_id = ? "
    "WHERE rooms.id = ? OR rooms.name = ? ORDER BY rooms.id = ? DESC LIMIT 1"
)
_BUMP_ROOM = (
    "UPDATE rooms SET msgs = msgs + 1, lm = ?, last_message = ?, updated_at = ? "
    f"WHERE rooms.id = ? RETURNING {ROOMS.column_list}"
)
_EVENT_COLUMNS = ("type", "room_id", "user_id", "message_id", "payload", "created_at")
_INSERT_EVENT = EVENTS.insert_sql(_EVENT_COLUMNS)


def integration_doc(conn: sqlite3.Connection, integration_id: str) -> dict[str, Any] | None:
    """The stored integration document (`store.integrations.get_integration`)."""
    row = conn.execute("SELECT doc FROM integrations WHERE id = ?", (integration_id,)).fetchone()
    if row is None:
        return None
    doc: dict[str, Any] = _INTEGRATIONS.decode_value("doc", row[0])
    return doc


def user_by_id(conn: sqlite3.Connection, user_id: str) -> Row | None:
    row = conn.execute(_USER_BY_ID, (user_id,)).fetchone()
    return USERS.decode(row) if row is not None else None


def room_for_post(conn: sqlite3.Connection, value: str, user_id: str) -> RoomForPost | None:
    """The room whose id (else name) is `value`, and whether `user_id` is subscribed to it."""
    row = conn.execute(_ROOM_FOR_POST, (user_id, value, value, value)).fetchone()
    if row is None:
        return None
    return RoomForPost(
        id=row[0],
        archived=bool(ROOMS.decode_value("archived", row[1])),
        read_only=bool(ROOMS.decode_value("ro", row[2])),
        member=row[3] is not None,
    )


def insert_message(conn: sqlite3.Connection, row: Row) -> None:
    names = list(row)
    conn.execute(MESSAGES.insert_sql(names), [MESSAGES.encode(name, row[name]) for name in names])


def bump_message_count(
    conn: sqlite3.Connection, room_id: str, last_message: Row, when: datetime
) -> Row | None:
    """`store.rooms.bump_message_count`: one more message, the last one set; the updated room."""
    row = conn.execute(
        _BUMP_ROOM,
        (
            ROOMS.encode("lm", when),
            ROOMS.encode("last_message", last_message),
            ROOMS.encode("updated_at", when),
            room_id,
        ),
    ).fetchone()
    return ROOMS.decode(row) if row is not None else None


def append_event(
    conn: sqlite3.Connection,
    *,
    type: str,
    payload: dict[str, Any],
    created_at: datetime,
    room_id: str | None,
    user_id: str | None,
    message_id: str | None,
) -> None:
    """`store.events.append`."""
    values = {
        "type": type,
        "room_id": room_id,
        "user_id": user_id,
        "message_id": message_id,
        "payload": payload,
        "created_at": created_at,
    }
    conn.execute(_INSERT_EVENT, [EVENTS.encode(name, values[name]) for name in _EVENT_COLUMNS])


_STAMP_EVENTS = (
    "UPDATE events SET processed_at = ? WHERE events.id IN "
    "(SELECT id FROM events WHERE processed_at IS NULL ORDER BY id LIMIT ?)"
)


def stamp_events(conn: sqlite3.Connection, *, now: datetime, limit: int) -> int:
    """`store.events.mark_all_processed` for at most `limit` events (oldest first), so that one
    job holds the write lock only briefly; returns how many were stamped."""
    return conn.execute(_STAMP_EVENTS, (EVENTS.encode("processed_at", now), limit)).rowcount
