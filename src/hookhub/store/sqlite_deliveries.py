"""The SQL of the outgoing engine's hot path, as plain `sqlite3` calls for `store.sqlite_batches` jobs.

Each function is the SQLite twin of the `store.deliveries` / `store.events` / `store.integrations`
function of the same name, with the same contract: the engine runs a whole consume, claim or
batch of outcomes as one job on the batch writer (one thread hop, one transaction shared with
whatever else queued) instead of a SQLAlchemy statement per step over aiosqlite, which cost it
more CPU than sending the requests. Values are converted by the same type processors as the
general path (`table_codecs.TableCodec`), so rows written here equal the rows that path writes;
`tests/store/test_sqlite_deliveries.py` holds each pair to that.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from hookhub.store import deliveries as delivery_store
from hookhub.store.integrations import history_values, integration_terms_of, integration_values
from hookhub.store.rows import Row
from hookhub.store.sqlite_rows import EVENTS
from hookhub.store.table_codecs import TableCodec
from hookhub.store.tables import deliveries, integration_history, integration_terms, integrations

DELIVERIES = TableCodec(deliveries)
HISTORY = TableCodec(integration_history)
INTEGRATIONS = TableCodec(integrations)
TERMS = TableCodec(integration_terms)

_PENDING = delivery_store.PENDING
_HISTORY_ID_LAST = [name for name in HISTORY.names if name != "id"]

_CLAIM_EVENTS = f"SELECT {EVENTS.column_list} FROM events WHERE processed_at IS NULL ORDER BY id LIMIT ?"
_ANY_ENABLED = "SELECT 1 FROM integrations WHERE type = ? AND enabled = 1 LIMIT 1"
_ENABLED_DOCS = "SELECT doc FROM integrations WHERE type = ? AND enabled = 1 ORDER BY created_at, id"
_INSERT_DELIVERY = DELIVERIES.insert_sql(DELIVERIES.names) + " ON CONFLICT (dedupe_key) DO NOTHING"
_INSERT_HISTORY = HISTORY.insert_sql(HISTORY.names)
_REPLACE_HISTORY = (
    "UPDATE integration_history SET "
    + ", ".join(f'"{name}" = ?' for name in _HISTORY_ID_LAST)
    + " WHERE id = ?"
)
# By primary key, without `status = ?` in the outer statement: SQLite evaluates the pick once
# under its single write lock, and the extra condition would make its planner walk the status
# index (see `store.deliveries.claim_due`).
_CLAIM_DUE = (
    "UPDATE deliveries SET lease_owner = ?, lease_until = ?, updated_at = ? WHERE id IN ("
    "SELECT id FROM deliveries WHERE status = ? AND next_attempt_at <= ? "
    "AND (lease_until IS NULL OR lease_until <= ?) ORDER BY next_attempt_at, id LIMIT ?"
    f") RETURNING {DELIVERIES.column_list}"
)
_HELD = "UPDATE deliveries SET {values} WHERE id = ? AND lease_owner = ? AND status = ?"
_COMPLETE = _HELD.format(values="status = ?, lease_owner = NULL, lease_until = NULL, updated_at = ?")
_COMPLETE_WITH_HISTORY = _HELD.format(
    values="status = ?, lease_owner = NULL, lease_until = NULL, updated_at = ?, history_id = ?"
)
_RENEW = _HELD.format(values="lease_until = ?, updated_at = ?")
_FINISH_DONE = (
    "UPDATE deliveries SET status = ?, history_id = ?, lease_owner = NULL, lease_until = NULL, "
    "updated_at = ? WHERE id = ?"
)
_FINISH_RETRY = (
    "UPDATE deliveries SET tries = ?, next_attempt_at = ?, last_error = ?, history_id = ?, "
    "lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE id = ?"
)
_NEXT_UNLEASED = (
    "SELECT next_attempt_at FROM deliveries WHERE status = ? AND lease_until IS NULL "
    "ORDER BY next_attempt_at LIMIT 1"
)
_NEXT_LEASE_END = (
    "SELECT lease_until FROM deliveries WHERE status = ? AND lease_until IS NOT NULL "
    "ORDER BY lease_until LIMIT 1"
)


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def _date(value: datetime) -> Any:
    return DELIVERIES.encode("updated_at", value)


# -- outbox events -----------------------------------------------------------------------------------


def claim_events(conn: sqlite3.Connection, *, limit: int) -> list[Row]:
    """`store.events.claim_events`: the oldest unprocessed events."""
    if limit <= 0:
        return []
    return [EVENTS.decode(row) for row in conn.execute(_CLAIM_EVENTS, (limit,))]


def mark_events_processed(conn: sqlite3.Connection, ids: Sequence[int], now: datetime) -> int:
    """`store.events.mark_events_processed`."""
    if not ids:
        return 0
    stamp = EVENTS.encode("processed_at", now)
    sql = f"UPDATE events SET processed_at = ? WHERE id IN ({_marks(len(ids))}) AND processed_at IS NULL"
    return conn.execute(sql, (stamp, *ids)).rowcount


# -- integrations -------------------------------------------------------------------------------------


def any_enabled(conn: sqlite3.Connection, integration_type: str) -> bool:
    """`store.integrations.any_enabled`."""
    return conn.execute(_ANY_ENABLED, (integration_type,)).fetchone() is not None


def enabled_integrations(conn: sqlite3.Connection, integration_type: str) -> list[dict[str, Any]]:
    """The documents of the enabled integrations of a type, in creation order (what the engine
    gets from `store.integrations.list_integrations` filtered on `enabled is True`)."""
    docs = [
        INTEGRATIONS.decode_value("doc", row[0]) for row in conn.execute(_ENABLED_DOCS, (integration_type,))
    ]
    # the shadow column follows the document; the document is what counts
    return [doc for doc in docs if doc.get("enabled") is True]


def get_integrations(conn: sqlite3.Connection, integration_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """`store.integrations.get_integrations`."""
    ids = sorted(set(integration_ids))
    if not ids:
        return {}
    sql = f"SELECT id, doc FROM integrations WHERE id IN ({_marks(len(ids))})"
    return {str(row[0]): INTEGRATIONS.decode_value("doc", row[1]) for row in conn.execute(sql, ids)}


def get_integration(conn: sqlite3.Connection, integration_id: str) -> dict[str, Any] | None:
    """`store.integrations.get_integration`."""
    row = conn.execute("SELECT doc FROM integrations WHERE id = ?", (integration_id,)).fetchone()
    return INTEGRATIONS.decode_value("doc", row[0]) if row is not None else None


def replace_integration(conn: sqlite3.Connection, document: dict[str, Any]) -> None:
    """`store.integrations.replace_integration`."""
    owner_id = document["_id"]
    values = integration_values(document)
    # the columns the general path sets (the others keep their value there too)
    names = [name for name in INTEGRATIONS.names if name != "id" and name in values]
    assignments = ", ".join(f'"{name}" = ?' for name in names)
    conn.execute(
        f"UPDATE integrations SET {assignments} WHERE id = ?",
        [*(INTEGRATIONS.encode(name, values[name]) for name in names), owner_id],
    )
    conn.execute("DELETE FROM integration_terms WHERE owner_id = ?", (owner_id,))
    terms = integration_terms_of(owner_id, document)
    if terms:
        columns = list(terms[0])
        conn.executemany(
            TERMS.insert_sql(columns),
            [[TERMS.encode(name, term[name]) for name in columns] for term in terms],
        )


def insert_history_many(conn: sqlite3.Connection, documents: Sequence[dict[str, Any]]) -> None:
    """`store.integrations.insert_history_many`."""
    if documents:
        conn.executemany(_INSERT_HISTORY, [_history_row(doc, HISTORY.names) for doc in documents])


def replace_history_many(conn: sqlite3.Connection, documents: Sequence[dict[str, Any]]) -> None:
    """`store.integrations.replace_history_many`."""
    if documents:
        conn.executemany(
            _REPLACE_HISTORY, [_history_row(doc, [*_HISTORY_ID_LAST, "id"]) for doc in documents]
        )


def _history_row(document: dict[str, Any], names: Sequence[str]) -> list[Any]:
    values = history_values(document)
    return [HISTORY.encode(name, values[name]) for name in names]


# -- deliveries ----------------------------------------------------------------------------------------


def enqueue_rows(conn: sqlite3.Connection, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """`store.deliveries.enqueue_rows`: the rows really inserted (duplicates of a queued
    `dedupe_key`, or of an earlier row of `rows`, are skipped), with every column filled in."""
    inserted: list[dict[str, Any]] = []
    # every row is checked before any is written, as the general path's one statement does
    for values in [delivery_store.complete_row(row) for row in rows]:
        encoded = [DELIVERIES.encode(name, values[name]) for name in DELIVERIES.names]
        if conn.execute(_INSERT_DELIVERY, encoded).rowcount:
            inserted.append(values)
    return inserted


def claim_due(
    conn: sqlite3.Connection, *, now: datetime, owner: str, lease_seconds: float, limit: int
) -> list[Row]:
    """`store.deliveries.claim_due`."""
    if lease_seconds <= 0:
        raise ValueError("lease_seconds must be positive")
    if limit <= 0:
        return []
    stamp = _date(now)
    until = _date(now + timedelta(seconds=lease_seconds))
    rows = [
        DELIVERIES.decode(row)
        for row in conn.execute(_CLAIM_DUE, (owner, until, stamp, _PENDING, stamp, stamp, limit)).fetchall()
    ]
    rows.sort(key=lambda r: (r["next_attempt_at"], r["id"]))
    return rows


def renew_lease(
    conn: sqlite3.Connection, delivery_id: str, owner: str, *, now: datetime, lease_seconds: float
) -> bool:
    """`store.deliveries.renew_lease`."""
    until = _date(now + timedelta(seconds=lease_seconds))
    return bool(conn.execute(_RENEW, (until, _date(now), delivery_id, owner, _PENDING)).rowcount)


def complete(
    conn: sqlite3.Connection,
    delivery_id: str,
    owner: str,
    *,
    status: str,
    now: datetime,
    history_id: str | None = None,
) -> bool:
    """`store.deliveries.complete`."""
    if status not in delivery_store.FINISHED:
        raise ValueError(f"not a final delivery status: {status!r}")
    if history_id is None:
        cursor = conn.execute(_COMPLETE, (status, _date(now), delivery_id, owner, _PENDING))
    else:
        cursor = conn.execute(
            _COMPLETE_WITH_HISTORY, (status, _date(now), history_id, delivery_id, owner, _PENDING)
        )
    return bool(cursor.rowcount)


def finish_many(
    conn: sqlite3.Connection, owner: str, finishes: Sequence[delivery_store.Finish], *, now: datetime
) -> set[str]:
    """`store.deliveries.finish_many`."""
    if not finishes:
        return set()
    delivery_store.check_finishes(finishes)
    ids = [f.delivery_id for f in finishes]
    sql = f"SELECT id, lease_owner, status FROM deliveries WHERE id IN ({_marks(len(ids))})"
    held = {str(row[0]) for row in conn.execute(sql, ids) if row[1] == owner and row[2] == _PENDING}
    stamp = _date(now)
    done = [
        (f.status, f.history_id, stamp, f.delivery_id) for f in finishes if f.delivery_id in held and f.status
    ]
    if done:
        conn.executemany(_FINISH_DONE, done)
    retried = [
        (
            f.tries,
            _date(f.next_attempt_at) if f.next_attempt_at is not None else None,
            f.last_error,
            f.history_id,
            stamp,
            f.delivery_id,
        )
        for f in finishes
        if f.delivery_id in held and f.status is None
    ]
    if retried:
        conn.executemany(_FINISH_RETRY, retried)
    return held


def cancel_for_integration(conn: sqlite3.Connection, integration_id: str, now: datetime) -> int:
    """`store.deliveries.cancel_for_integration`."""
    sql = (
        "UPDATE deliveries SET status = ?, lease_owner = NULL, lease_until = NULL, updated_at = ? "
        "WHERE integration_id = ? AND status = ?"
    )
    return conn.execute(sql, (delivery_store.CANCELLED, _date(now), integration_id, _PENDING)).rowcount


def next_due_at(conn: sqlite3.Connection) -> datetime | None:
    """`store.deliveries.next_due_at`."""
    candidates = [
        DELIVERIES.decode_value(column, row[0])
        for column, sql in (("next_attempt_at", _NEXT_UNLEASED), ("lease_until", _NEXT_LEASE_END))
        if (row := conn.execute(sql, (_PENDING,)).fetchone()) is not None and row[0] is not None
    ]
    return min(candidates) if candidates else None
