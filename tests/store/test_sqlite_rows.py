"""The fast path's codecs (store.sqlite_rows) write exactly what SQLAlchemy writes."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from hookhub.store import sqlite_rows
from hookhub.store.types import JSONText, UTCDateTime

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


_SQLALCHEMY_READ = UTCDateTime().dialect_impl(_DIALECT).result_processor(_DIALECT, None)
_SQLALCHEMY_JSON_BIND = JSONText().dialect_impl(_DIALECT).bind_processor(_DIALECT)
_SQLALCHEMY_JSON_READ = JSONText().dialect_impl(_DIALECT).result_processor(_DIALECT, None)


@given(
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)),
    offsets,
    st.sampled_from(["microseconds", "seconds", "milliseconds"]),
)
def test_dates_are_read_as_sqlalchemy_reads_them(value: datetime, tz: timezone | None, spec: str) -> None:
    if tz is not None:
        value = value.replace(tzinfo=tz)
    assert _SQLALCHEMY_BIND is not None and _SQLALCHEMY_READ is not None
    stored = _SQLALCHEMY_BIND(value)
    # what this module and SQLAlchemy write, and shorter forms another writer might have left
    texts = {stored, datetime.fromisoformat(stored).isoformat(sep=" ", timespec=spec)}
    for text in texts:
        ours = sqlite_rows.MESSAGES.decode_value("ts", text)
        theirs = _SQLALCHEMY_READ(text)
        assert ours == theirs
        assert ours.tzinfo == theirs.tzinfo == UTC


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_json_is_written_and_read_as_sqlalchemy_does(value: object) -> None:
    assert _SQLALCHEMY_JSON_BIND is not None and _SQLALCHEMY_JSON_READ is not None
    stored = sqlite_rows.EVENTS.encode("payload", value)
    assert stored == _SQLALCHEMY_JSON_BIND(value)
    assert sqlite_rows.EVENTS.decode_value("payload", stored) == _SQLALCHEMY_JSON_READ(stored)


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


def test_events_are_stamped_in_bounded_chunks_oldest_first(tmp_path: Path, template_db: Path) -> None:
    path = tmp_path / "hookhub.sqlite3"
    shutil.copy(template_db, path)
    created = sqlite_rows.EVENTS.encode("created_at", datetime(2026, 1, 1, tzinfo=UTC))
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE events SET processed_at = created_at")  # what bootstrap left pending
        conn.executemany(
            "INSERT INTO events (type, payload, created_at) VALUES ('messageSent', '{}', ?)",
            [(created,)] * 600,
        )
        now = datetime(2026, 1, 2, tzinfo=UTC)
        assert [sqlite_rows.stamp_events(conn, now=now, limit=256) for _ in range(4)] == [256, 256, 88, 0]
        rows = conn.execute("SELECT processed_at FROM events WHERE created_at = ?", (created,)).fetchall()
    assert {row[0] for row in rows} == {sqlite_rows.EVENTS.encode("processed_at", now)}
