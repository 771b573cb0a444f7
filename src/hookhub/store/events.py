"""The transactional outbox: events written in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hookhub.store.rows import Row, all_rows
from hookhub.store.tables import events


async def append(
    conn: AsyncConnection,
    *,
    type: str,
    payload: dict[str, Any],
    created_at: datetime,
    room_id: str | None = None,
    user_id: str | None = None,
    message_id: str | None = None,
) -> None:
    await conn.execute(
        insert(events).values(
            type=type,
            payload=payload,
            created_at=created_at,
            room_id=room_id,
            user_id=user_id,
            message_id=message_id,
        )
    )


async def list_events(conn: AsyncConnection, *, after_id: int = 0, limit: int = 1000) -> list[Row]:
    stmt = select(events).where(events.c.id > after_id).order_by(events.c.id).limit(limit)
    return all_rows(await conn.execute(stmt))
