"""The transactional outbox: events written in the same transaction as the change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
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


async def claim_events(conn: AsyncConnection, *, limit: int) -> list[Row]:
    """The oldest unprocessed events, by id, for the delivery worker to consume in this transaction
    (then `mark_events_processed`). On PostgreSQL the rows stay locked until the transaction ends and
    other processes' workers skip them, so each event is consumed by one worker at a time."""
    if limit <= 0:
        return []
    stmt = select(events).where(events.c.processed_at.is_(None)).order_by(events.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return all_rows(await conn.execute(stmt))


async def mark_events_processed(conn: AsyncConnection, ids: Sequence[int], now: datetime) -> int:
    """Stamp events as consumed (ones already stamped keep their first stamp); returns how many."""
    if not ids:
        return 0
    stmt = (
        update(events)
        .where(events.c.id.in_(list(ids)), events.c.processed_at.is_(None))
        .values(processed_at=now)
    )
    return int((await conn.execute(stmt)).rowcount or 0)


async def mark_all_processed(conn: AsyncConnection, now: datetime) -> int:
    """Stamp every unconsumed event as consumed in one statement (nothing listens to them: no
    payload is read); returns how many. On PostgreSQL the events another process is stamping at
    the same moment are skipped, not waited for: they are being stamped."""
    unstamped = events.c.processed_at.is_(None)
    if conn.dialect.name == "postgresql":
        free = select(events.c.id).where(unstamped).with_for_update(skip_locked=True)
        stmt = update(events).where(events.c.id.in_(free.scalar_subquery()), unstamped)
    else:
        stmt = update(events).where(unstamped)
    return int((await conn.execute(stmt.values(processed_at=now))).rowcount or 0)


async def prune_processed(conn: AsyncConnection, older_than: datetime, *, batch: int) -> int:
    """Delete up to `batch` events consumed before `older_than` (oldest first, along the
    (processed_at, id) index); returns how many. Unconsumed events are never deleted."""
    doomed = (
        select(events.c.id)
        .where(events.c.processed_at.is_not(None), events.c.processed_at < older_than)
        .order_by(events.c.processed_at, events.c.id)
        .limit(batch)
    )
    return int((await conn.execute(delete(events).where(events.c.id.in_(doomed)))).rowcount or 0)
