"""Engine and transactions. Every request runs in exactly one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from hookhub.store.query import REGEXP_FUNCTION, sqlite_regexp
from hookhub.store.sqlite_batches import BatchWriter, configure

_READ_ONLY = "hookhub_read_only"


# Connections the PostgreSQL pool may open beyond its size under a burst (closed when returned).
POOL_OVERFLOW = 10


def make_engine(url: str, pool_size: int = 20) -> AsyncEngine:
    """An async engine; on SQLite: WAL, foreign keys, a busy timeout, and BEGIN IMMEDIATE for writes.
    On PostgreSQL a pool of `pool_size` connections, each checked before use (a database restart
    costs no failed request)."""
    if not url.startswith("sqlite"):
        # hide_parameters: see the SQLite engine below
        return create_async_engine(
            url,
            pool_pre_ping=True,
            pool_size=pool_size,
            max_overflow=POOL_OVERFLOW,
            hide_parameters=True,
        )

    # hide_parameters: a database error's text (logged with its traceback) would otherwise carry
    # the statement's values: password hashes, tokens, message text.
    engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        configure(dbapi_connection)
        # `$regex` filters (store.query) run through RE2 here; PostgreSQL uses its own `~`.
        dbapi_connection.create_function(REGEXP_FUNCTION, 3, sqlite_regexp, deterministic=True)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A deferred transaction that later writes can fail with SQLITE_BUSY without waiting;
        # writers take the lock up front instead and queue behind the busy timeout.
        if conn.get_execution_options().get(_READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Database:
    """Owns the engine; hands out transactions."""

    def __init__(self, url: str, pool_size: int = 20) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size)
        # SQLite has one writer at a time. Writers that find its lock taken wait in SQLite's busy
        # handler, which sleeps in growing steps and serves nobody in order: under a burst latency
        # explodes and throughput drops. This process's writers queue here instead, in arrival
        # order, so at most one of them waits inside SQLite (other processes still meet the busy
        # timeout). Write transactions must therefore never nest.
        self._writers: asyncio.Lock | None = asyncio.Lock() if url.startswith("sqlite") else None
        self._batches: BatchWriter | None = None

    @property
    def batch_writer(self) -> BatchWriter | None:
        """Group-committed raw writes (`store.sqlite_batches`), on a SQLite file database only
        (None on PostgreSQL, which has no single write lock to queue on, and in memory, where a
        second connection would not see the same database). Created on first use."""
        if self._batches is None and self._writers is not None:
            path = make_url(self.url).database
            if path and path != ":memory:" and not path.startswith("file:"):
                self._batches = BatchWriter(path, self._writers)
        return self._batches

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @asynccontextmanager
    async def driver_connection(self) -> AsyncIterator[Any]:
        """A pooled connection's own driver connection (asyncpg's on PostgreSQL) with no
        transaction open, so each statement commits by itself; for the hand-written SQL of
        `store.pg_rows`. The connection goes back to the pool afterwards."""
        async with self.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            yield raw.driver_connection

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[AsyncConnection]:
        """One transaction: committed when the block exits normally, rolled back on an exception."""
        if write and self._writers is not None:
            async with self._writers, self._connection(write=True) as conn:
                yield conn
            return
        async with self._connection(write=write) as conn:
            yield conn

    @asynccontextmanager
    async def _connection(self, *, write: bool) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            if not write:
                conn = await conn.execution_options(**{_READ_ONLY: True})
            async with conn.begin():
                yield conn

    async def dispose(self) -> None:
        batches, self._batches = self._batches, None
        if batches is not None:
            await batches.close()
        await self.engine.dispose()
