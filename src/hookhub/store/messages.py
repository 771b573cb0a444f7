"""Messages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Text, delete, func, insert, not_, or_, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hookhub.store.rows import Row, all_rows, one_or_none
from hookhub.store.tables import messages


async def insert_message(conn: AsyncConnection, values: Row) -> None:
    await conn.execute(insert(messages).values(**values))


async def get_message(conn: AsyncConnection, message_id: str) -> Row | None:
    return one_or_none(await conn.execute(select(messages).where(messages.c.id == message_id)))


async def update_message(conn: AsyncConnection, message_id: str, values: Row) -> None:
    await conn.execute(update(messages).where(messages.c.id == message_id).values(**values))


async def delete_message(conn: AsyncConnection, message_id: str) -> None:
    await conn.execute(delete(messages).where(messages.c.id == message_id))


async def list_messages(
    conn: AsyncConnection,
    *,
    where: Sequence[ColumnElement[bool]] = (),
    order_by: Sequence[Any] = (),
    offset: int = 0,
    limit: int | None = None,
    with_total: bool = True,
) -> tuple[list[Row], int]:
    base = select(messages).where(*where)
    total = -1
    if with_total:
        total = int((await conn.execute(select(func.count()).select_from(base.subquery()))).scalar_one())
    stmt = base.order_by(*order_by, messages.c.id).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return all_rows(await conn.execute(stmt)), total


def _json_flag(key: str) -> ColumnElement[bool]:
    # extra is JSON kept as compact text (orjson), so a true flag reads exactly `"key":true`.
    return type_coerce(messages.c.extra, Text).like(f'%"{key}":true%')


def _visible_in(room_id: str) -> list[ColumnElement[bool]]:
    """What history-style reads show: the room's messages except hidden ones."""
    return [messages.c.rid == room_id, not_(_json_flag("_hidden"))]


async def room_history(
    conn: AsyncConnection,
    room_id: str,
    *,
    latest: datetime | None,
    oldest: datetime | None,
    inclusive: bool,
    offset: int,
    limit: int | None,
    show_thread_messages: bool,
) -> list[Row]:
    """A room's messages newest first, between `oldest` and `latest` (`*.history`)."""
    where = _visible_in(room_id)
    if latest is not None:
        where.append(messages.c.ts <= latest if inclusive else messages.c.ts < latest)
    if oldest is not None:
        where.append(messages.c.ts >= oldest if inclusive else messages.c.ts > oldest)
    if not show_thread_messages:
        # thread replies stay out of the main timeline unless also sent to the channel
        where.append(or_(messages.c.tmid.is_(None), _json_flag("tshow")))
    rows, _ = await list_messages(
        conn,
        where=where,
        order_by=[messages.c.ts.desc()],
        offset=offset,
        limit=limit,
        with_total=False,
    )
    return rows


async def count_since(conn: AsyncConnection, room_id: str, since: datetime) -> int:
    stmt = select(func.count()).select_from(messages).where(*_visible_in(room_id), messages.c.ts > since)
    return int((await conn.execute(stmt)).scalar_one())


async def first_since(conn: AsyncConnection, room_id: str, since: datetime) -> Row | None:
    stmt = (
        select(messages)
        .where(*_visible_in(room_id), messages.c.ts > since)
        .order_by(messages.c.ts, messages.c.id)
        .limit(1)
    )
    return one_or_none(await conn.execute(stmt))


_MESSAGE_SORT: dict[str, Any] = {
    "ts": messages.c.ts,
    "_updatedAt": messages.c.updated_at,
    "_id": messages.c.id,
    "msg": messages.c.msg,
    "t": messages.c.t,
    "tmid": messages.c.tmid,
}


async def room_messages(
    conn: AsyncConnection,
    room_id: str,
    *,
    sort: dict[str, int] | None,
    offset: int,
    limit: int | None,
) -> tuple[list[Row], int]:
    """A page of a room's messages (`*.messages`); unknown sort keys are ignored."""
    spec = sort or {"ts": -1}
    order = [
        _MESSAGE_SORT[k].asc() if v == 1 else _MESSAGE_SORT[k].desc()
        for k, v in spec.items()
        if k in _MESSAGE_SORT
    ]
    return await list_messages(
        conn, where=_visible_in(room_id), order_by=order or [messages.c.ts.desc()], offset=offset, limit=limit
    )
