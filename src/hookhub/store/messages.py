"""Messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, select, update
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
