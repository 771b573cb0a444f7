"""Column lists and value conversion for hand-written SQL on the hot paths.

`store.sqlite_rows`, `store.sqlite_deliveries` (plain `sqlite3`) and `store.pg_rows` (asyncpg)
bypass SQLAlchemy's statement machinery, not its types: values go in and come out through the
same type processors the general path uses, so a row written there is the row `store.*` would
have written, and a row read there equals theirs. On SQLite the two types bound most (dates and
JSON) skip the generic processor chain; tests/store/test_sqlite_rows.py compares them with
SQLAlchemy's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import Table
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import asyncpg
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

from hookhub.store.rows import Row
from hookhub.store.types import JSONText, UTCDateTime

SQLITE: Dialect = sqlite.dialect()
POSTGRESQL: Dialect = asyncpg.dialect()  # type: ignore[no-untyped-call]
_GENERIC_DATETIME_DECODER = UTCDateTime().dialect_impl(SQLITE).result_processor(SQLITE, None)


@lru_cache(maxsize=4096)
def _utc_text(value: datetime) -> str:
    """What `UTCDateTime` binds on SQLite (naive UTC, always with microseconds), without the
    generic processor chain: dates are most of what the fast path encodes."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _utc_text_or_null(value: datetime | None) -> str | None:
    return None if value is None else _utc_text(value)


def _utc_datetime(value: Any) -> datetime:
    """What `UTCDateTime` reads on SQLite from the text its binds store."""
    if not isinstance(value, str):
        # not text this module or SQLAlchemy wrote: whatever SQLAlchemy makes of it
        assert _GENERIC_DATETIME_DECODER is not None
        processed = _GENERIC_DATETIME_DECODER(value)
        assert isinstance(processed, datetime)
        return processed
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _encoder(column_type: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    # On SQLite, the two types the hot paths bind most without the generic processor chain (the
    # same values: tests/store/test_sqlite_rows.py compares them with SQLAlchemy's).
    if dialect is not SQLITE:
        return column_type.dialect_impl(dialect).bind_processor(dialect)
    if isinstance(column_type, UTCDateTime):
        return _utc_text_or_null
    if isinstance(column_type, JSONText):
        return _json_text
    return column_type.dialect_impl(SQLITE).bind_processor(SQLITE)


def _decoder(column_type: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    if dialect is not SQLITE:
        return column_type.dialect_impl(dialect).result_processor(dialect, None)
    if isinstance(column_type, UTCDateTime):
        return _utc_datetime
    if isinstance(column_type, JSONText):
        return orjson.loads
    return column_type.dialect_impl(SQLITE).result_processor(SQLITE, None)


class TableCodec:
    """Column lists and value conversion for one table, for hand-written statements on `dialect`
    (SQLite unless told)."""

    def __init__(self, table: Table, dialect: Dialect = SQLITE) -> None:
        self.table = table
        self.names = [column.name for column in table.columns]
        self.column_list = ", ".join(f'{table.name}."{name}"' for name in self.names)
        self._decoders: list[Callable[[Any], Any] | None] = [
            _decoder(column.type, dialect) for column in table.columns
        ]
        self._inserts: dict[tuple[str, ...], str] = {}
        self._encoders: dict[str, Callable[[Any], Any] | None] = {
            column.name: _encoder(column.type, dialect) for column in table.columns
        }

    def decode(self, values: Sequence[Any]) -> Row:
        """A result row (in `names` order) as the general path's Row."""
        return {
            name: decoder(value) if decoder is not None and value is not None else value
            for name, decoder, value in zip(self.names, self._decoders, values, strict=False)
        }

    def decode_value(self, name: str, value: Any) -> Any:
        """One value of column `name` as read."""
        decoder = self._decoders[self.names.index(name)]
        return decoder(value) if decoder is not None and value is not None else value

    def encode(self, name: str, value: Any) -> Any:
        """`value` as bound to column `name`."""
        encoder = self._encoders[name]
        return encoder(value) if encoder is not None else value

    def insert_sql(self, names: Sequence[str]) -> str:
        """An INSERT of `names` with SQLite's `?` placeholders."""
        key = tuple(names)
        sql = self._inserts.get(key)
        if sql is None:
            columns = ", ".join(f'"{name}"' for name in names)
            marks = ", ".join("?" for _ in names)
            sql = self._inserts[key] = f"INSERT INTO {self.table.name} ({columns}) VALUES ({marks})"
        return sql
