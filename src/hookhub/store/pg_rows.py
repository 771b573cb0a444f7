"""The SQL of the incoming-hook fast path on PostgreSQL, as asyncpg calls.

Two reads and one write per post. The write is a single statement (message INSERT, room counter
UPDATE, outbox event INSERT as data-modifying CTEs) run outside any explicit transaction, so it
commits by itself and the room's row lock is held only while the server runs that statement:
posts to one room from several processes queue for microseconds, not for the client round trips
and event-loop turns of a multi-statement transaction.

Values go in and come out through the asyncpg dialect's SQLAlchemy type processors
(`table_codecs.TableCodec`), so rows written here are the rows `store.messages`/`store.rooms`/
`store.events` write (tests/store/test_pg_rows.py compares them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol

from sqlalchemy import Table

from hookhub.store.rooms import RoomForPost
from hookhub.store.rows import Row
from hookhub.store.table_codecs import POSTGRESQL, TableCodec
from hookhub.store.tables import events, integrations, messages, rooms, users


class Driver(Protocol):
    """The part of an `asyncpg.Connection` used here (asyncpg ships no type information)."""

    async def fetchrow(self, query: str, *args: Any) -> Sequence[Any] | None: ...


USERS = TableCodec(users, POSTGRESQL)
ROOMS = TableCodec(rooms, POSTGRESQL)
MESSAGES = TableCodec(messages, POSTGRESQL)
EVENTS = TableCodec(events, POSTGRESQL)
_INTEGRATIONS = TableCodec(integrations, POSTGRESQL)

# The user joined through the integration's `user_id` column, the shadow of its document's
# `userId` (store.integrations keeps them equal; `integration_and_user` checks it anyway).
_INTEGRATION_AND_USER = (
    f"SELECT integrations.doc, {USERS.column_list} FROM integrations "
    "LEFT OUTER JOIN users ON users.id = integrations.user_id WHERE integrations.id = $1"
)
# as `store.rooms.get_room_by_id_or_name_for`: by id, else by name (an id match wins)
_ROOM_FOR_POST = (
    f"SELECT {ROOMS.column_list}, subscriptions.id FROM rooms "
    "LEFT OUTER JOIN subscriptions ON subscriptions.rid = rooms.id AND subscriptions.user_id = $1 "
    "WHERE rooms.id = $2 OR rooms.name = $2 ORDER BY rooms.id = $2 DESC LIMIT 1"
)
_EVENT_COLUMNS = ("type", "room_id", "user_id", "message_id", "payload", "created_at")


def _cast(table: Table, name: str, number: int) -> str:
    # INSERT ... SELECT gives its parameters no type from the target columns: say it
    return f"CAST(${number} AS {table.c[name].type.compile(dialect=POSTGRESQL)})"


@lru_cache(maxsize=16)
def _post_sql(message_columns: tuple[str, ...]) -> str:
    """The post statement for a message row with these columns. Parameters: $1 lm, $2
    last_message, $3 updated_at, $4 room id, $5 the poster's id, then the message's values, then
    the event's with its payload in two parts around the room's new message count."""
    first = 6
    message_values = ", ".join(_cast(messages, name, first + i) for i, name in enumerate(message_columns))
    n = first + len(message_columns)
    event_values = [
        _cast(events, "type", n),
        "room.id",
        _cast(events, "user_id", n + 1),
        _cast(events, "message_id", n + 2),
        f"CAST(${n + 3} AS TEXT) || room.msgs || CAST(${n + 4} AS TEXT)",
        _cast(events, "created_at", n + 5),
    ]
    columns = ", ".join(f'"{name}"' for name in message_columns)
    return (
        "WITH room AS ("
        "UPDATE rooms SET msgs = msgs + 1, lm = $1, last_message = $2, updated_at = $3 "
        # what the post was admitted on still holds when the row is locked (it may have changed
        # since it was read): otherwise nothing is written and the general path decides
        "WHERE rooms.id = $4 AND NOT rooms.archived AND NOT rooms.ro AND EXISTS "
        "(SELECT 1 FROM subscriptions WHERE subscriptions.rid = $4 AND subscriptions.user_id = $5) "
        "RETURNING rooms.id, rooms.msgs"
        f"), message AS (INSERT INTO messages ({columns}) SELECT {message_values} FROM room) "
        f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) SELECT {', '.join(event_values)} FROM room "
        "RETURNING events.id"
    )


async def integration_and_user(conn: Driver, integration_id: str) -> tuple[dict[str, Any] | None, Row | None]:
    """The stored integration document (`store.integrations.get_integration`) and its user
    (`store.users.get_by_id` of the document's `userId`), None where missing."""
    row = await conn.fetchrow(_INTEGRATION_AND_USER, integration_id)
    if row is None:
        return None, None
    doc: dict[str, Any] = _INTEGRATIONS.decode_value("doc", row[0])
    if row[1] is None:
        return doc, None
    user = USERS.decode(row[1:])
    return doc, user if user["id"] == doc.get("userId") else None


async def room_for_post(conn: Driver, value: str, user_id: str) -> tuple[RoomForPost, Row] | None:
    """The room whose id (else name) is `value`, whether `user_id` is subscribed to it, and the
    room's row."""
    row = await conn.fetchrow(_ROOM_FOR_POST, user_id, value)
    if row is None:
        return None
    room = ROOMS.decode(row[:-1])
    summary = RoomForPost(
        id=room["id"], archived=bool(room["archived"]), read_only=bool(room["ro"]), member=row[-1] is not None
    )
    return summary, room


class EventPayload:
    """An outbox event payload (`services.outbox.event_payload`) whose `room.msgs` the post
    statement fills in: the serialised payload split around that number."""

    def __init__(self, text: str) -> None:
        # the room snapshot comes first and `msgs` is its third key, after an id and a type:
        # the first `"msgs":` of the text is the room's
        if not text.startswith('{"room":{"_id":'):
            raise ValueError("the payload does not start with its room snapshot")
        cut = text.index('"msgs":') + len('"msgs":')
        end = cut
        while text[end].isdigit():
            end += 1
        if end == cut:
            raise ValueError("the room snapshot's msgs is not a number")
        self.head, self.tail = text[:cut], text[end:]


async def post_message(
    conn: Driver,
    *,
    message: Row,
    last_message: dict[str, Any],
    when: datetime,
    event_type: str,
    event_user_id: str | None,
    payload: EventPayload,
) -> int | None:
    """`store.messages.insert_message`, `store.rooms.bump_message_count` and `store.events.append`
    of a `messageSent` event, as one statement that commits by itself. Returns the event's id, or
    None (and writes nothing) when the room no longer exists, or has been archived or made
    read-only, or the message's author has left it since it was read."""
    names = tuple(message)
    row = await conn.fetchrow(
        _post_sql(names),
        ROOMS.encode("lm", when),
        ROOMS.encode("last_message", last_message),
        ROOMS.encode("updated_at", when),
        message["rid"],
        message["u_id"],
        *(MESSAGES.encode(name, message[name]) for name in names),
        event_type,
        event_user_id,
        message["id"],
        payload.head,
        payload.tail,
        EVENTS.encode("created_at", when),
    )
    return None if row is None else int(row[0])
