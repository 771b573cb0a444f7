"""History retention (store/history_retention.py): by age, by count per integration, in bounded
batches, through the (integration_id, updated_at, id) index. SQLite always; PostgreSQL too when
HOOKHUB_TEST_POSTGRES_URL names one (its `public` schema is dropped and rebuilt for every test)."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from hookhub.store.database import Database
from hookhub.store.history_retention import prune_history, prune_history_step
from hookhub.store.integrations import insert_history_many
from hookhub.store.tables import integration_history

T0 = datetime(2026, 1, 1, tzinfo=UTC)
_H = integration_history.c
_INDEX = "ix_integration_history_integration_id_updated_at_id"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


Record = tuple[str, str, datetime | None]  # (integration id, record id, _updatedAt)


def record_doc(integration_id: str, record_id: str, updated_at: datetime | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": record_id,
        "type": "outgoing",
        "step": "after-http-call",
        "integration": {"_id": integration_id, "_createdBy": {"_id": "owner"}},
        "event": "sendMessage",
        "_createdAt": updated_at or T0,
    }
    if updated_at is not None:
        doc["_updatedAt"] = updated_at
    return doc


async def store(db: Database, records: list[Record]) -> None:
    async with db.transaction() as conn:
        await insert_history_many(conn, [record_doc(*r) for r in records])


async def remaining(db: Database) -> dict[str, set[str]]:
    async with db.transaction(write=False) as conn:
        rows = (await conn.execute(select(_H.integration_id, _H.id))).all()
    left: dict[str, set[str]] = {}
    for integration_id, record_id in rows:
        left.setdefault(integration_id, set()).add(record_id)
    return left


async def prune(
    db: Database, *, older_than: datetime = at(-(10**6)), keep: int = 10_000, batch: int = 1000
) -> int:
    async with db.transaction() as conn:
        return await prune_history(conn, older_than=older_than, max_per_integration=keep, batch=batch)


def expected(records: list[Record], *, older_than: datetime, keep: int) -> dict[str, set[str]]:
    """An independent model: drop expired (or undated) records, then keep each integration's newest
    `keep` by (_updatedAt, _id)."""
    by_integration: dict[str, list[tuple[datetime, str]]] = {}
    for integration_id, record_id, updated_at in records:
        if updated_at is not None and updated_at >= older_than:
            by_integration.setdefault(integration_id, []).append((updated_at, record_id))
    left: dict[str, set[str]] = {}
    for integration_id, items in by_integration.items():
        newest = sorted(items)[-keep:] if keep else []
        if newest:
            left[integration_id] = {record_id for _, record_id in newest}
    return left


def three_by_fifty() -> list[Record]:
    # Two records per second, so equal dates are common and the id decides.
    return [(i, f"{i}-{n:03d}", at(n // 2)) for i in ("intA", "intB", "intC") for n in range(50)]


async def test_prunes_by_age(db: Database) -> None:
    records = [*three_by_fifty(), ("intD", "intD-old", at(-500))]
    await store(db, records)
    assert await prune(db, older_than=at(10)) == 3 * 20 + 1
    assert await remaining(db) == expected(records, older_than=at(10), keep=10_000)
    assert await remaining(db) == {
        i: {f"{i}-{n:03d}" for n in range(20, 50)} for i in ("intA", "intB", "intC")
    }
    assert await prune(db, older_than=at(10)) == 0


async def test_prunes_by_count_keeping_the_newest_of_each_integration(db: Database) -> None:
    records = three_by_fifty()
    await store(db, records)
    assert await prune(db, keep=10) == 120
    assert await remaining(db) == {
        i: {f"{i}-{n:03d}" for n in range(40, 50)} for i in ("intA", "intB", "intC")
    }
    assert await prune(db, keep=10) == 0


async def test_equal_dates_are_ordered_by_id(db: Database) -> None:
    await store(db, three_by_fifty())
    # 9 to keep: records 41..49; 40 shares its date with 41 and goes on its smaller id.
    assert await prune(db, keep=9) == 3 * 41
    assert (await remaining(db))["intB"] == {f"intB-{n:03d}" for n in range(41, 50)}


async def test_each_call_deletes_at_most_batch_records(db: Database) -> None:
    records = three_by_fifty()
    await store(db, records)
    done = [await prune(db, keep=10, batch=25) for _ in range(6)]
    assert done == [25, 25, 25, 25, 20, 0]
    assert await remaining(db) == expected(records, older_than=at(-(10**6)), keep=10)


async def test_age_and_count_together_in_small_batches(db: Database) -> None:
    rng = random.Random(5)
    records: list[Record] = []
    for i in range(12):
        for n in range(rng.randrange(0, 40)):
            updated = None if rng.random() < 0.05 else at(rng.randrange(0, 30))
            records.append((f"int{i:02d}", f"int{i:02d}-{n:03d}", updated))
    await store(db, records)
    total = 0
    while True:
        deleted = await prune(db, older_than=at(8), keep=7, batch=9)
        assert deleted <= 9
        total += deleted
        if deleted < 9:
            break
    want = expected(records, older_than=at(8), keep=7)
    assert await remaining(db) == want
    assert total == len(records) - sum(len(v) for v in want.values())


async def test_records_without_a_date_count_as_expired(db: Database) -> None:
    await store(db, [("intA", "undated", None), ("intA", "dated", at(0))])
    assert await prune(db, older_than=at(-100)) == 1
    assert await remaining(db) == {"intA": {"dated"}}


async def test_keeping_zero_deletes_everything(db: Database) -> None:
    await store(db, three_by_fifty())
    assert await prune(db, keep=0, batch=1000) == 150
    assert await remaining(db) == {}


async def test_nothing_to_prune(db: Database) -> None:
    assert await prune(db, older_than=at(0), keep=1) == 0


async def test_bad_limits_are_refused(db: Database) -> None:
    async with db.transaction() as conn:
        with pytest.raises(ValueError, match="batch must be positive"):
            await prune_history(conn, older_than=T0, max_per_integration=10, batch=0)
        with pytest.raises(ValueError, match="max_per_integration must not be negative"):
            await prune_history(conn, older_than=T0, max_per_integration=-1, batch=10)


async def test_steps_walk_the_integrations_with_a_cursor(db: Database) -> None:
    records = three_by_fifty()
    await store(db, records)
    seen: list[tuple[int, bool, str | None]] = []
    after: str | None = None
    while True:
        async with db.transaction() as conn:
            step = await prune_history_step(
                conn,
                older_than=at(-(10**6)),
                max_per_integration=45,
                batch=3,
                after=after,
                max_integrations=1,
            )
        seen.append((step.deleted, step.finished, step.resume_after))
        if step.finished:
            break
        after = step.resume_after
    # 5 records to go per integration, 3 per step: a step that fills its batch resumes on the same
    # integration, one that does not moves the cursor past it.
    assert seen == [
        (3, False, None),
        (2, False, "intA"),
        (3, False, "intA"),
        (2, False, "intB"),
        (3, False, "intB"),
        (2, False, "intC"),
        (0, True, None),
    ]
    assert await remaining(db) == expected(records, older_than=at(-(10**6)), keep=45)


async def test_sqlite_prunes_through_indexes(db: Database, db_url: str) -> None:
    """Every statement pruning issues reads integration_history through an index, never a scan."""
    if not db_url.startswith("sqlite"):
        pytest.skip("query plans are checked on SQLite")
    await store(db, three_by_fifty())
    statements: list[tuple[str, Any]] = []

    def remember(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", remember)
    try:
        assert await prune(db, older_than=at(5), keep=10, batch=1000) == 120
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", remember)

    queries = [(s, p) for s, p in statements if "integration_history" in s]
    assert any(s.lstrip().startswith("DELETE") for s, _ in queries)
    path = db_url.removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(path) as raw:
        for statement, parameters in queries:
            plan = [row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)]
            scans = [
                line for line in plan if line.startswith("SCAN integration_history") and "INDEX" not in line
            ]
            assert not scans, (statement, plan)
            if "updated_at" in statement:
                # The age cut, the count boundary and the count cut are ranges of the per-integration
                # (updated_at, id) index, not walks over all of an integration's records.
                ranged = f"USING COVERING INDEX {_INDEX} (integration_id=? AND updated_at"
                assert any(ranged in line for line in plan), (statement, plan)
