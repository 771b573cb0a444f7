"""Which database the tests run on.

SQLite by default. With `HOOKHUB_TEST_DATABASE=postgresql` every test that runs a hub or a server
gets a database of its own on the PostgreSQL server named by `HOOKHUB_TEST_POSTGRES_URL` (a
`postgresql+asyncpg://` URL of a role that may create databases; `.ci/run` starts a throw-away
cluster and sets both): in-process hubs a copy of a migrated, bootstrapped template
(`CREATE DATABASE ... TEMPLATE`, a file copy on the server), servers an empty database they
migrate themselves, as a fresh installation does. Tests of SQLite-only machinery (the batch
writer, its codecs) keep using SQLite files either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
from collections.abc import Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import make_url

T = TypeVar("T")

POSTGRES_URL = os.environ.get("HOOKHUB_TEST_POSTGRES_URL") or None
ON_POSTGRES = os.environ.get("HOOKHUB_TEST_DATABASE", "sqlite") == "postgresql"
if ON_POSTGRES and POSTGRES_URL is None:
    raise RuntimeError("HOOKHUB_TEST_DATABASE=postgresql needs HOOKHUB_TEST_POSTGRES_URL")

TEMPLATE = "hookhub_test_template"


def url_of(database: str) -> str:
    """The URL of `database` on the test server."""
    assert POSTGRES_URL is not None
    return make_url(POSTGRES_URL).set(database=database).render_as_string(hide_password=False)


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    # Fixtures call this with and without a running event loop; a thread of its own has none.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _admin(statements: list[str]) -> None:
    import asyncpg  # only present with the PostgreSQL driver installed (the test extra has it)

    assert POSTGRES_URL is not None
    url = make_url(POSTGRES_URL).set(drivername="postgresql")
    connection = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def create_database(name: str, *, template: str | None = None) -> str:
    """Create database `name` (dropping one of that name first); returns its URL."""
    create = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
    _run(_admin([f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', create]))
    return url_of(name)


def ensure_database(name: str) -> str:
    """Database `name`, created empty unless it exists (a server restarted on the same data)."""

    async def create_missing() -> None:
        import asyncpg

        with contextlib.suppress(asyncpg.DuplicateDatabaseError):
            await _admin([f'CREATE DATABASE "{name}"'])

    _run(create_missing())
    _ensured.add(name)
    return url_of(name)


_ensured: set[str] = set()


def drop_ensured() -> None:
    """Drop the servers' databases of this session (their servers are stopped by now)."""
    while _ensured:
        drop_database(_ensured.pop())


def drop_database(name: str) -> None:
    _run(_admin([f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)']))


class TemplateCopies:
    """Copies of the template for one test each, made one ahead and dropped afterwards on a
    thread of their own, so that neither the copy nor the drop (~0.1 s each) is on a test's
    critical path."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hookhub-test-databases")
        self._next: Future[str] | None = None

    def take(self) -> str:
        """The name of a fresh copy of the template."""
        if self._next is None:
            self._next = self._thread.submit(self._copy)
        taken = self._next.result()
        self._next = self._thread.submit(self._copy)
        return taken

    def give_back(self, name: str) -> None:
        self._thread.submit(drop_database, name)

    @staticmethod
    def _copy() -> str:
        name = fresh_name()
        create_database(name, template=TEMPLATE)
        return name

    def close(self) -> None:
        """Drop the copy made ahead and wait for the drops under way (at the end of the session,
        while threads can still be started)."""
        spare, self._next = self._next, None
        if spare is not None:
            with contextlib.suppress(Exception):
                drop_database(spare.result())
        self._thread.shutdown(wait=True)


def fresh_name(prefix: str = "hookhub_test") -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


def name_for(key: str, prefix: str = "hookhub_e2e") -> str:
    """A database name that stays the same for the same key (a server's data directory)."""
    return f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:16]}"
