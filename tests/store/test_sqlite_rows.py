"""The fast path's codecs (store.sqlite_rows) write exactly what SQLAlchemy writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from hookhub.store import sqlite_rows
from hookhub.store.types import UTCDateTime

_DIALECT = sqlite.dialect()
_SQLALCHEMY_BIND = UTCDateTime().dialect_impl(_DIALECT).bind_processor(_DIALECT)

offsets = st.one_of(
    st.none(),
    st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m))),
)


@given(
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)),
    offsets,
)
def test_dates_are_bound_as_sqlalchemy_binds_them(value: datetime, tz: timezone | None) -> None:
    if tz is not None:
        value = value.replace(tzinfo=tz)
    assert _SQLALCHEMY_BIND is not None
    assert sqlite_rows.MESSAGES.encode("ts", value) == _SQLALCHEMY_BIND(value)


def test_every_column_round_trips() -> None:
    when = datetime(2026, 11, 23, 14, 0, 0, 123000, tzinfo=UTC)
    row = {
        "id": "m1",
        "rid": "GENERAL",
        "ts": when,
        "updated_at": when,
        "u_id": "u1",
        "u_username": "alice",
        "u_name": "Alice",
        "msg": "hi",
        "t": None,
        "tmid": None,
        "edited_at": None,
        "edited_by_id": None,
        "edited_by_username": None,
        "extra": {"alias": "CI", "attachments": [{"text": "ü"}]},
    }
    encoded = [sqlite_rows.MESSAGES.encode(name, row[name]) for name in sqlite_rows.MESSAGES.names]
    assert sqlite_rows.MESSAGES.decode(encoded) == row
