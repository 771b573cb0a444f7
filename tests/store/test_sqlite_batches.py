"""Group commit on SQLite (store.sqlite_batches): results, isolation of a failing job, batching,
the shared writer lock, and shutdown."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from hookhub.store import sqlite_batches
from hookhub.store.database import Database
from hookhub.store.sqlite_batches import BatchWriter


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    path = tmp_path / "batches.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE)")
    database = Database(f"sqlite+aiosqlite:///{path}")
    yield database
    await database.dispose()


def writer_of(db: Database) -> BatchWriter:
    writer = db.batch_writer
    assert writer is not None
    return writer


def add(note: str) -> Callable[[sqlite3.Connection], int]:
    def job(conn: sqlite3.Connection) -> int:
        cursor = conn.execute("INSERT INTO notes (text) VALUES (?)", (note,))
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    return job


def stored(path: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT text FROM notes ORDER BY id")]


def db_path(db: Database) -> str:
    return db.url.split("///", 1)[1]


async def test_a_job_returns_its_result_after_the_commit(db: Database) -> None:
    row_id = await writer_of(db).run(add("one"))
    assert row_id == 1
    # visible to another connection: committed, not just written
    assert stored(db_path(db)) == ["one"]


async def test_a_failing_job_leaves_nothing_and_the_others_commit(db: Database) -> None:
    writer = writer_of(db)

    def half_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO notes (text) VALUES ('half')")
        raise ValueError("refused")

    results = await asyncio.gather(
        writer.run(add("before")),
        writer.run(half_then_fail),
        writer.run(add("after")),
        return_exceptions=True,
    )
    assert isinstance(results[1], ValueError) and str(results[1]) == "refused"
    assert stored(db_path(db)) == ["before", "after"]


async def test_a_constraint_violation_is_raised_to_its_caller(db: Database) -> None:
    writer = writer_of(db)
    await writer.run(add("same"))
    with pytest.raises(sqlite3.IntegrityError):
        await writer.run(add("same"))
    assert stored(db_path(db)) == ["same"]


async def test_jobs_that_queue_together_share_transactions(db: Database) -> None:
    writer = writer_of(db)
    trace: list[str] = []
    await writer.run(lambda conn: conn.set_trace_callback(trace.append))
    trace.clear()
    await asyncio.gather(*(writer.run(add(f"note {n}")) for n in range(40)))
    begins = [s for s in trace if s.startswith("BEGIN")]
    commits = [s for s in trace if s == "COMMIT"]
    assert 1 <= len(begins) == len(commits) < 40
    assert len(stored(db_path(db))) == 40


async def test_a_broken_transaction_fails_its_whole_batch(db: Database) -> None:
    """A job that ends the transaction itself makes the batch's commit impossible: every caller
    of that batch gets the error, and nothing of the batch is reported as stored."""
    writer = writer_of(db)

    def rollback(conn: sqlite3.Connection) -> None:
        conn.execute("ROLLBACK")

    results = await asyncio.gather(
        writer.run(add("lost")),
        writer.run(rollback),
        return_exceptions=True,
    )
    assert all(isinstance(r, sqlite3.Error) for r in results), results
    assert stored(db_path(db)) == []
    # the writer recovers: the next job is in a fresh transaction
    await writer.run(add("next"))
    assert stored(db_path(db)) == ["next"]


async def test_the_writer_waits_for_the_process_s_other_writers(db: Database) -> None:
    writer = writer_of(db)
    order: list[str] = []
    async with db.transaction() as conn:
        pending = asyncio.create_task(writer.run(lambda c: order.append("batch")))
        await asyncio.sleep(0.05)
        await conn.execute(text("INSERT INTO notes (text) VALUES ('sqlalchemy')"))
        order.append("transaction")
    await pending
    assert order == ["transaction", "batch"]


async def test_close_finishes_queued_jobs_then_refuses(db: Database) -> None:
    writer = writer_of(db)
    tasks = [asyncio.create_task(writer.run(add(f"queued {n}"))) for n in range(5)]
    await asyncio.sleep(0)
    await writer.close()
    assert [t.result() for t in tasks] == [1, 2, 3, 4, 5]
    with pytest.raises(RuntimeError, match="closed"):
        await writer.run(add("late"))


async def test_no_batch_writer_for_memory_or_postgresql() -> None:
    assert Database("sqlite+aiosqlite:///:memory:").batch_writer is None
    assert Database("postgresql+asyncpg://u:p@127.0.0.1:1/db").batch_writer is None


def file_size(path: str) -> int:
    return os.path.getsize(path)


def in_database_file(path: str) -> list[str]:
    """The notes in the database file itself, ignoring the WAL: what checkpoints copied."""
    with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as conn:
        return [row[0] for row in conn.execute("SELECT text FROM notes ORDER BY id")]


async def test_writes_are_checkpointed_off_the_writer_thread(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_batches, "CHECKPOINT_INTERVAL_SECONDS", 0.0)
    writer = writer_of(db)
    await writer.run(add("first"))
    await writer.run(add("second"))  # its batch starts a checkpoint covering at least "first"
    for _ in range(100):
        if "first" in in_database_file(db_path(db)):
            break
        await asyncio.sleep(0.02)
    assert "first" in in_database_file(db_path(db))


@pytest.mark.parametrize(("limit", "locked_pass"), [(1, True), (10**12, False)])
async def test_a_long_wal_is_checkpointed_under_the_writer_lock(
    db: Database, monkeypatch: pytest.MonkeyPatch, limit: int, locked_pass: bool
) -> None:
    """Past the size limit a second checkpoint pass runs while the writer lock is held (no write
    can come in, so it completes and the WAL starts over); below it, checkpoints never block."""
    monkeypatch.setattr(sqlite_batches, "CHECKPOINT_INTERVAL_SECONDS", 0.0)
    monkeypatch.setattr(sqlite_batches, "WAL_SIZE_LIMIT_BYTES", limit)
    writer = writer_of(db)
    lock_held: list[bool] = []
    checkpoint = writer._checkpoint_sync

    def observed() -> int:
        lock_held.append(writer._lock.locked())
        return checkpoint()

    monkeypatch.setattr(writer, "_checkpoint_sync", observed)
    wal = f"{db_path(db)}-wal"
    sizes = []
    for n in range(20):
        await writer.run(add(f"note {n}" + "x" * 3000))
        await asyncio.sleep(0.02)  # lets the checkpoint task run between batches
        sizes.append(file_size(wal))
    assert lock_held and (True in lock_held) is locked_pass
    assert max(sizes) < 20 * 4096, sizes  # the WAL started over: a note needs at least a page
    assert len(stored(db_path(db))) == 20
