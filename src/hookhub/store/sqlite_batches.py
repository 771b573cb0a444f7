"""Group commit on SQLite: short write jobs run on one dedicated connection and thread, many per
transaction.

The general write path (SQLAlchemy over aiosqlite) pays a thread round trip for every statement,
each one waiting its turn on a busy event loop, while the process's single SQLite write lock is
held; under a burst the lock hold time, not SQLite, sets the throughput. A job here is a plain
function over a `sqlite3.Connection`, run synchronously on the writer thread: a whole request's
writes cost one round trip, and the jobs that queued up meanwhile share one transaction and one
commit. Each job runs inside its own savepoint, so a job that raises leaves nothing behind and the
others still commit. A job's caller is answered only after the commit: durability is unchanged.

The writer takes the same asyncio lock as `Database.transaction(write=True)`, so it never
competes with this process's other writers inside SQLite's busy handler.

Checkpoints: SQLite normally copies the WAL back into the database file inside the commit that
crosses 1,000 pages, on the committing thread, fsync included; under load that commit (and
every job queued behind it) waits tens of milliseconds. The writer's connection turns automatic
checkpoints off and a second thread runs a PASSIVE checkpoint (which never blocks writers) at
most once a second while writes happen. A checkpoint can only let the WAL start over when no
write comes in meanwhile, so under sustained load the WAL would grow without end: when it holds
more than `WAL_SIZE_LIMIT_BYTES`, the checkpointer takes the writer lock for a second pass, which
only copies what arrived during the first, and the next transaction starts the WAL over.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

Job = Callable[[sqlite3.Connection], Any]

# A bigger batch amortises the commit further but makes every job in it wait for the slowest.
MAX_BATCH = 16
# How often (at most) the WAL is copied back into the database file, off the writer thread.
CHECKPOINT_INTERVAL_SECONDS = 1.0
# Past this much WAL, a checkpoint under the writer lock lets the WAL start over. That pass ends
# with an fsync, which stalls every writer for its duration (tens of ms on a slow disk); a larger
# WAL makes the stall rarer (at ~30 MB/s of hook posts, every ~17 s) at the price of disk space.
WAL_SIZE_LIMIT_BYTES = 512 * 1024 * 1024
# A WAL frame: one page (SQLite's default 4 KiB) and its 24-byte header.
_FRAME_BYTES = 4096 + 24
# SQLite keeps the WAL file when the WAL starts over and writes it again from its start;
# cutting it back would cost the writer a truncate of the whole excess at that moment.
WAL_FILE_KEEP_BYTES = WAL_SIZE_LIMIT_BYTES


def configure(connection: Any) -> None:
    """Set up a DB-API SQLite connection (sqlite3's, or aiosqlite's adapter) as every hookhub
    connection runs: transactions under our control, WAL, foreign keys, a busy timeout."""
    # BEGIN/COMMIT are ours to emit, not the driver's
    connection.isolation_level = None
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class BatchWriter:
    """Runs write jobs on a dedicated connection to the SQLite file at `path`, in batches."""

    def __init__(self, path: str, lock: asyncio.Lock, *, max_batch: int = MAX_BATCH) -> None:
        self._path = path
        self._lock = lock
        self._max_batch = max_batch
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hookhub-sqlite-batches")
        self._connection: sqlite3.Connection | None = None
        self._checkpointer = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="hookhub-sqlite-checkpoints"
        )
        self._checkpoint_connection: sqlite3.Connection | None = None
        self._checkpointing: asyncio.Task[None] | None = None
        self._last_checkpoint = 0.0
        self._pending: list[tuple[Job, asyncio.Future[Any]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self._closed = False

    async def run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run `job` in a write transaction and return its result once that transaction has
        committed; if it raises, its writes are rolled back and the exception is raised here.
        The job runs on another thread: it must only touch the connection and its arguments."""
        if self._closed:
            raise RuntimeError("the SQLite batch writer is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((job, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = loop.create_task(self._drain())
        return await future

    async def close(self) -> None:
        """Finish the queued jobs, then close the connection and stop the thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._drainer is not None:
            with suppress(Exception):
                await self._drainer
        loop = asyncio.get_running_loop()
        if self._checkpointing is not None:
            with suppress(Exception):
                await self._checkpointing
        await loop.run_in_executor(self._checkpointer, self._checkpoint_sync)  # leave a short WAL
        await loop.run_in_executor(self._checkpointer, self._disconnect_checkpointer)
        await loop.run_in_executor(self._thread, self._disconnect)
        self._checkpointer.shutdown(wait=True)
        self._thread.shutdown(wait=True)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: len(batch)]
            jobs = [job for job, _ in batch]
            try:
                async with self._lock:
                    outcomes = await loop.run_in_executor(self._thread, self._run_batch, jobs)
            except Exception as exc:  # the commit failed: nothing of this batch is stored
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self._maybe_checkpoint(loop)
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():  # the caller went away; its job ran (and committed) anyway
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _maybe_checkpoint(self, loop: asyncio.AbstractEventLoop) -> None:
        now = time.monotonic()
        running = self._checkpointing is not None and not self._checkpointing.done()
        if running or now - self._last_checkpoint < CHECKPOINT_INTERVAL_SECONDS:
            return
        self._last_checkpoint = now
        self._checkpointing = loop.create_task(self._checkpoint())

    async def _checkpoint(self) -> None:
        loop = asyncio.get_running_loop()
        frames = await loop.run_in_executor(self._checkpointer, self._checkpoint_sync)
        if frames * _FRAME_BYTES > WAL_SIZE_LIMIT_BYTES:
            # no write can come in now: this pass completes, and the next write restarts the WAL
            async with self._lock:
                await loop.run_in_executor(self._checkpointer, self._checkpoint_sync)

    def _checkpoint_sync(self) -> int:
        """One PASSIVE checkpoint; returns how many frames the WAL holds (0 when unknown)."""
        if self._checkpoint_connection is None:
            self._checkpoint_connection = sqlite3.connect(self._path, timeout=30)
            configure(self._checkpoint_connection)
        try:
            busy, frames, _copied = self._checkpoint_connection.execute(
                "PRAGMA wal_checkpoint(PASSIVE)"
            ).fetchone()
        except sqlite3.Error:  # a later checkpoint catches up; the WAL stays valid meanwhile
            log.warning("SQLite WAL checkpoint failed", exc_info=True)
            return 0
        return int(frames) if not busy and frames > 0 else 0

    def _disconnect_checkpointer(self) -> None:
        if self._checkpoint_connection is not None:
            self._checkpoint_connection.close()
            self._checkpoint_connection = None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(self._path, timeout=30)
            configure(connection)
            connection.execute("PRAGMA wal_autocheckpoint=0")
            connection.execute(f"PRAGMA journal_size_limit={WAL_FILE_KEEP_BYTES}")
            self._connection = connection
        return self._connection

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _run_batch(self, jobs: list[Job]) -> list[tuple[bool, Any]]:
        connection = self._connect()
        outcomes: list[tuple[bool, Any]] = []
        connection.execute("BEGIN IMMEDIATE")
        try:
            for job in jobs:
                connection.execute("SAVEPOINT batch_job")
                try:
                    value = job(connection)
                except Exception as exc:
                    connection.execute("ROLLBACK TO batch_job")
                    connection.execute("RELEASE batch_job")
                    outcomes.append((False, exc))
                else:
                    connection.execute("RELEASE batch_job")
                    outcomes.append((True, value))
            connection.execute("COMMIT")
        except BaseException:
            with suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
            raise
        return outcomes
