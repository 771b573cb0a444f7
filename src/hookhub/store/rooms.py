"""Rooms (channels, private groups, direct messages) and their subscriptions (memberships)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Text, and_, case, delete, func, insert, or_, select, type_coerce, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from hookhub.store.rows import Row, all_rows, one_or_none
from hookhub.store.tables import room_removals, rooms, subscriptions, users


@dataclass(frozen=True)
class RoomForPost:
    """What the fast path needs to know of a destination before posting to it."""

    id: str
    archived: bool
    read_only: bool
    member: bool


async def insert_room(conn: AsyncConnection, values: Row) -> None:
    await conn.execute(insert(rooms).values(**values))


async def get_room(conn: AsyncConnection, room_id: str) -> Row | None:
    return one_or_none(await conn.execute(select(rooms).where(rooms.c.id == room_id)))


async def get_room_by_name(conn: AsyncConnection, name: str) -> Row | None:
    return one_or_none(await conn.execute(select(rooms).where(rooms.c.name == name)))


async def get_room_by_id_or_name(conn: AsyncConnection, value: str) -> Row | None:
    stmt = (
        select(rooms)
        .where(or_(rooms.c.id == value, rooms.c.name == value))
        .order_by(
            # an exact id match wins over a name that happens to equal another room's id
            (rooms.c.id == value).desc()
        )
    )
    return one_or_none(await conn.execute(stmt.limit(1)))


async def get_room_by_id_or_name_for(
    conn: AsyncConnection, value: str, user_id: str
) -> tuple[Row | None, bool]:
    """`get_room_by_id_or_name`, plus whether `user_id` is subscribed to that room, in one
    statement (the subscription is unique per room and user, so the join adds no rows)."""
    member = subscriptions.c.id.label("_member_subscription")
    stmt = (
        select(rooms, member)
        .outerjoin(subscriptions, and_(subscriptions.c.rid == rooms.c.id, subscriptions.c.user_id == user_id))
        .where(or_(rooms.c.id == value, rooms.c.name == value))
        .order_by((rooms.c.id == value).desc())
        .limit(1)
    )
    row = one_or_none(await conn.execute(stmt))
    if row is None:
        return None, False
    return row, row.pop("_member_subscription") is not None


async def update_room(conn: AsyncConnection, room_id: str, values: Row) -> None:
    await conn.execute(update(rooms).where(rooms.c.id == room_id).values(**values))


async def bump_message_count(
    conn: AsyncConnection, room_id: str, last_message: Row, when: datetime
) -> Row | None:
    """Count one more message and set the last one; returns the updated room (None if it is
    gone). RETURNING (SQLite >= 3.35, PostgreSQL) saves re-reading the row the event needs."""
    stmt = (
        update(rooms)
        .where(rooms.c.id == room_id)
        .values(msgs=rooms.c.msgs + 1, lm=when, last_message=last_message, updated_at=when)
        .returning(*rooms.c)
    )
    return one_or_none(await conn.execute(stmt))


async def delete_room(conn: AsyncConnection, room_id: str, t: str, when: datetime) -> None:
    await conn.execute(delete(rooms).where(rooms.c.id == room_id))
    await conn.execute(insert(room_removals).values(id=room_id, t=t, removed_at=when))


async def removed_since(conn: AsyncConnection, since: datetime) -> list[Row]:
    stmt = select(room_removals).where(room_removals.c.removed_at > since)
    return all_rows(await conn.execute(stmt))


async def list_rooms(
    conn: AsyncConnection,
    *,
    where: Sequence[ColumnElement[bool]] = (),
    order_by: Sequence[Any] = (),
    offset: int = 0,
    limit: int | None = None,
) -> tuple[list[Row], int]:
    base = select(rooms).where(*where)
    total = int((await conn.execute(select(func.count()).select_from(base.subquery()))).scalar_one())
    stmt = base.order_by(*order_by, rooms.c.id).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return all_rows(await conn.execute(stmt)), total


async def default_rooms(conn: AsyncConnection) -> list[Row]:
    stmt = select(rooms).where(rooms.c.is_default.is_(True), rooms.c.t.in_(("c", "p")))
    return all_rows(await conn.execute(stmt.order_by(rooms.c.id)))


# -- subscriptions ---------------------------------------------------------------------------


async def insert_subscription(conn: AsyncConnection, values: Row) -> bool:
    """Subscribe a user to a room; False (and nothing written) when a subscription of that user to
    that room exists already. With several writers (PostgreSQL) two transactions may both find the
    user missing and insert: the second waits for the first and then skips, instead of failing on
    the unique (rid, user_id) constraint."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(subscriptions)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[subscriptions.c.rid, subscriptions.c.user_id])
        .returning(subscriptions.c.id)
    )
    return (await conn.execute(stmt)).first() is not None


async def get_subscription(conn: AsyncConnection, room_id: str, user_id: str) -> Row | None:
    stmt = select(subscriptions).where(subscriptions.c.rid == room_id, subscriptions.c.user_id == user_id)
    return one_or_none(await conn.execute(stmt))


async def update_subscription(conn: AsyncConnection, room_id: str, user_id: str, values: Row) -> None:
    await conn.execute(
        update(subscriptions)
        .where(subscriptions.c.rid == room_id, subscriptions.c.user_id == user_id)
        .values(**values)
    )


async def update_room_subscriptions(conn: AsyncConnection, room_id: str, values: Row) -> None:
    await conn.execute(update(subscriptions).where(subscriptions.c.rid == room_id).values(**values))


async def delete_subscription(conn: AsyncConnection, room_id: str, user_id: str) -> bool:
    """Unsubscribe; False when there was no subscription (another writer removed it first)."""
    result = await conn.execute(
        delete(subscriptions).where(subscriptions.c.rid == room_id, subscriptions.c.user_id == user_id)
    )
    return bool(result.rowcount)


async def subscriptions_with_roles(conn: AsyncConnection, room_id: str) -> list[Row]:
    stmt = (
        select(subscriptions)
        .where(subscriptions.c.rid == room_id, type_coerce(subscriptions.c.roles, Text) != "[]")
        .order_by(subscriptions.c.ts)
    )
    return all_rows(await conn.execute(stmt))


async def role_holders(conn: AsyncConnection, room_id: str) -> list[Row]:
    """Subscriptions holding room roles, with the member's display name as `user_name`, by
    username."""
    stmt = (
        select(subscriptions, users.c.name.label("user_name"))
        .join(users, users.c.id == subscriptions.c.user_id)
        .where(subscriptions.c.rid == room_id, type_coerce(subscriptions.c.roles, Text) != "[]")
        .order_by(subscriptions.c.username, subscriptions.c.id)
    )
    return all_rows(await conn.execute(stmt))


async def online_members(conn: AsyncConnection, room_id: str) -> list[Row]:
    """Members whose presence is anything but offline, as user rows, by username."""
    rows, _ = await list_members(
        conn, room_id, where=[users.c.status != "offline"], order_by=[users.c.username_lower]
    )
    return rows


async def count_members(conn: AsyncConnection, room_id: str) -> int:
    stmt = select(func.count()).select_from(subscriptions).where(subscriptions.c.rid == room_id)
    return int((await conn.execute(stmt)).scalar_one())


async def user_subscriptions(
    conn: AsyncConnection, user_id: str, *, types: Sequence[str] | None = None
) -> list[Row]:
    stmt = select(subscriptions).where(subscriptions.c.user_id == user_id)
    if types is not None:
        stmt = stmt.where(subscriptions.c.t.in_(list(types)))
    return all_rows(await conn.execute(stmt.order_by(subscriptions.c.t, subscriptions.c.name)))


def member_room_ids(user_id: str) -> Any:
    """A subquery of the ids of rooms `user_id` is subscribed to."""
    return select(subscriptions.c.rid).where(subscriptions.c.user_id == user_id).scalar_subquery()


async def list_members(
    conn: AsyncConnection,
    room_id: str,
    *,
    where: Sequence[ColumnElement[bool]] = (),
    order_by: Sequence[Any] = (),
    offset: int = 0,
    limit: int | None = None,
) -> tuple[list[Row], int]:
    """Users subscribed to a room, as user rows."""
    base = (
        select(users)
        .join(subscriptions, subscriptions.c.user_id == users.c.id)
        .where(subscriptions.c.rid == room_id, *where)
    )
    total = int((await conn.execute(select(func.count()).select_from(base.subquery()))).scalar_one())
    stmt = base.order_by(*order_by, users.c.id).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return all_rows(await conn.execute(stmt)), total


# Rocket.Chat room field -> column, for the `sort` query parameter of room lists.
_ROOM_SORT: dict[str, Any] = {
    "name": rooms.c.name,
    "fname": rooms.c.fname,
    "ts": rooms.c.ts,
    "_updatedAt": rooms.c.updated_at,
    "usersCount": rooms.c.users_count,
    "msgs": rooms.c.msgs,
    "lm": rooms.c.lm,
    "_id": rooms.c.id,
    "t": rooms.c.t,
    "ro": rooms.c.ro,
    "default": rooms.c.is_default,
    "archived": rooms.c.archived,
}


def room_order(sort: dict[str, int] | None) -> list[Any]:
    """ORDER BY for an RC sort object (default `{name: 1}`); unknown fields are ignored."""
    spec = sort or {"name": 1}
    order = [
        _ROOM_SORT[k].asc() if v == 1 else _ROOM_SORT[k].desc() for k, v in spec.items() if k in _ROOM_SORT
    ]
    return order or [rooms.c.name.asc()]


async def list_rooms_of_type(
    conn: AsyncConnection,
    t: str,
    *,
    member_id: str | None = None,
    team_visible_to: str | None = None,
    sort: dict[str, int] | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> tuple[list[Row], int]:
    """Rooms of type `t`; with `member_id` only those that user belongs to; with
    `team_visible_to` team rooms only when that user is a member of them."""
    where: list[ColumnElement[bool]] = [rooms.c.t == t]
    if member_id is not None:
        where.append(rooms.c.id.in_(member_room_ids(member_id)))
    if team_visible_to is not None:
        where.append(or_(rooms.c.team_id.is_(None), rooms.c.id.in_(member_room_ids(team_visible_to))))
    return await list_rooms(conn, where=where, order_by=room_order(sort), offset=offset, limit=limit)


async def room_members(
    conn: AsyncConnection,
    room_id: str,
    *,
    text: str | None = None,
    statuses: Sequence[str] = (),
    descending: bool = False,
    offset: int = 0,
    limit: int | None = None,
) -> tuple[list[Row], int]:
    """A page of a room's members ordered by username; `text` filters on username or name
    (case-insensitive substring), `statuses` on presence."""
    where: list[ColumnElement[bool]] = []
    if text:
        pattern = f"%{_escape_like(text.lower())}%"
        where.append(
            or_(
                users.c.username_lower.like(pattern, escape="\\"),
                func.lower(users.c.name).like(pattern, escape="\\"),
            )
        )
    if statuses:
        where.append(users.c.status.in_(list(statuses)))
    column = users.c.username_lower
    return await list_members(
        conn,
        room_id,
        where=where,
        order_by=[column.desc() if descending else column.asc()],
        offset=offset,
        limit=limit,
    )


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def count_role_holders(conn: AsyncConnection, room_id: str, role: str) -> int:
    return sum(1 for s in await subscriptions_with_roles(conn, room_id) if role in s["roles"])


async def adjust_users_count(conn: AsyncConnection, room_id: str, delta: int, when: datetime) -> int:
    """Add `delta` members in SQL (not read-modify-write, so concurrent joins all count);
    returns the new count."""
    added = rooms.c.users_count + delta
    stmt = (
        update(rooms)
        .where(rooms.c.id == room_id)
        # CASE rather than max()/greatest(): one spelling for SQLite and PostgreSQL
        .values(users_count=case((added < 0, 0), else_=added), updated_at=when)
        # the new count in the same statement instead of a second SELECT
        .returning(rooms.c.users_count)
    )
    return int((await conn.execute(stmt)).scalar_one_or_none() or 0)
