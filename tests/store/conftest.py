"""Store fixtures: a migrated database per test, on SQLite and (when HOOKHUB_TEST_POSTGRES_URL
names a server) on PostgreSQL."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from hookhub.store.database import Database
from hookhub.store.migrate import upgrade

POSTGRES_URL = os.environ.get("HOOKHUB_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path, template_db: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "hookhub.sqlite3"
        shutil.copy(template_db, path)
        return f"sqlite+aiosqlite:///{path}"
    if not POSTGRES_URL:
        pytest.skip("HOOKHUB_TEST_POSTGRES_URL is not set")
    fresh = Database(POSTGRES_URL)
    async with fresh.transaction() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await fresh.dispose()
    upgrade(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    yield database
    await database.dispose()
