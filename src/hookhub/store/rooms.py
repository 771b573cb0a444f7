"""Rooms (channels, private groups, direct messages) and their subscriptions (memberships)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Text, delete, func, insert, or_, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hookhub.store.rows import Row, all_rows, one_or_none
from hookhub.store.tables import room_removals, rooms, subscriptions, users


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


async def update_room(conn: AsyncConnection, room_id: str, values: Row) -> None:
    await conn.execute(update(rooms).where(rooms.c.id == room_id).values(**values))


async def bump_message_count(conn: AsyncConnection, room_id: str, last_message: Row, when: datetime) -> None:
    await conn.execute(
        update(rooms)
        .where(rooms.c.id == room_id)
        .values(msgs=rooms.c.msgs + 1, lm=when, last_message=last_message, updated_at=when)
    )


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


async def insert_subscription(conn: AsyncConnection, values: Row) -> None:
    await conn.execute(insert(subscriptions).values(**values))


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


async def delete_subscription(conn: AsyncConnection, room_id: str, user_id: str) -> None:
    await conn.execute(
        delete(subscriptions).where(subscriptions.c.rid == room_id, subscriptions.c.user_id == user_id)
    )


async def subscriptions_with_roles(conn: AsyncConnection, room_id: str) -> list[Row]:
    stmt = (
        select(subscriptions)
        .where(subscriptions.c.rid == room_id, type_coerce(subscriptions.c.roles, Text) != "[]")
        .order_by(subscriptions.c.ts)
    )
    return all_rows(await conn.execute(stmt))


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
