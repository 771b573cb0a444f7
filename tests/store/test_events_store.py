"""Outbox events under several consumers: stamping skips what another process is stamping."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from hookhub.store import events
from hookhub.store.database import Database

NOW = datetime(2026, 12, 7, 22, 0, tzinfo=UTC)


async def _append(db: Database, count: int) -> None:
    """`count` new events, the only unconsumed ones (the template's bootstrap events are stamped)."""
    async with db.transaction() as conn:
        await events.mark_all_processed(conn, NOW)
        for n in range(count):
            await events.append(conn, type="messageSent", payload={"n": n}, created_at=NOW)


async def _unstamped(db: Database) -> int:
    async with db.transaction(write=False) as conn:
        return len([e for e in await events.list_events(conn) if e["processed_at"] is None])


async def test_stamping_everything_stamps_every_unconsumed_event(db: Database) -> None:
    await _append(db, 5)
    async with db.transaction() as conn:
        assert await events.mark_all_processed(conn, NOW) == 5
    assert await _unstamped(db) == 0
    async with db.transaction() as conn:
        assert await events.mark_all_processed(conn, NOW) == 0


async def test_stamping_skips_events_another_process_holds(db: Database, db_url: str) -> None:
    """Two processes' consumers stamp at once: the second does not wait for the first's row
    locks (it used to, on PostgreSQL), and stamps only what is free."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time: there is no second stamper to meet")
    await _append(db, 6)
    other = Database(db_url)
    try:
        async with other.transaction() as held:
            claimed = await events.claim_events(held, limit=2)
            assert len(claimed) == 2
            async with db.transaction() as conn:
                stamped = await asyncio.wait_for(events.mark_all_processed(conn, NOW), timeout=5)
            assert stamped == 4
        assert await _unstamped(db) == 2
    finally:
        await other.dispose()
