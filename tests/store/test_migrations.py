"""The Alembic migrations build exactly the schema `store.tables` declares."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from hookhub.store.migrate import upgrade
from hookhub.store.tables import metadata


def test_migrations_match_the_tables(tmp_path: Path) -> None:
    path = tmp_path / "schema.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    finally:
        engine.dispose()
