"""The durable queue of outgoing deliveries (table `deliveries`).

A delivery is one HTTP call to make (an event for one URL of one integration, or a replay), kept
until it is done, failed for good or cancelled. Workers take due rows with a *lease*: `claim_due`
writes the worker's name and an expiry in the same statement that picks the rows, so two workers
never hold the same row, and a worker that dies only delays its rows until the lease runs out.
Every later change (`renew_lease`, `complete`, `reschedule`) is conditional on the caller still
holding the lease, so a worker that lost its lease (it stalled, another one took the row) cannot
overwrite the newer outcome.

Invariant the functions keep: a row with a lease has `lease_until > next_attempt_at` (a lease is only
taken on a due row and is cleared whenever the row is rescheduled or finished). `next_due_at` relies
on it.

SQL is plain SQLAlchemy Core. PostgreSQL claims with `FOR UPDATE SKIP LOCKED`, so several processes
can share one queue; on SQLite a claim runs inside the process's single write transaction
(`BEGIN IMMEDIATE`), which already makes it exclusive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, Insert, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from hookhub.ids import random_id
from hookhub.store.rows import Row, all_rows, one_or_none
from hookhub.store.tables import deliveries

_D = deliveries.c

PENDING: Final = "pending"
DONE: Final = "done"
FAILED: Final = "failed"
CANCELLED: Final = "cancelled"
FINISHED: Final = frozenset({DONE, FAILED, CANCELLED})

# What a caller must give `enqueue`; every other column has a default there.
_REQUIRED = frozenset({"dedupe_key", "integration_id", "url", "event", "payload", "created_at"})
_COLUMNS = frozenset(c.name for c in deliveries.columns)


def delivery_payload(
    event_type: str, snapshot: Mapping[str, Any], *, event_id: int | None = None
) -> dict[str, Any]:
    """The `payload` column of a delivery: the event type (an outbox type, or an integration event
    name for a replay), its id when it came from the outbox, and the documents it carries (the
    outbox event's `room`/`message`/`user`/`actor` snapshots)."""
    return {"eventId": event_id, "eventType": event_type, "snapshot": dict(snapshot)}


def replay_dedupe_key() -> str:
    """A replay is a new delivery every time it is asked for."""
    return f"replay:{random_id()}"


def event_dedupe_key(event_id: int, integration_id: str, url: str) -> str:
    """The key of the delivery of outbox event `event_id` to one URL of one integration: consuming
    the same event again produces the same key, so it is never enqueued twice."""
    return f"{event_id}:{integration_id}:{url}"


def _is_postgresql(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


def _insert_ignoring_duplicates(conn: AsyncConnection) -> Insert:
    # ON CONFLICT DO NOTHING has no dialect-neutral construct; both dialects we run on have one.
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(deliveries).on_conflict_do_nothing(index_elements=[_D.dedupe_key])
    if name == "sqlite":
        return sqlite.insert(deliveries).on_conflict_do_nothing(index_elements=[_D.dedupe_key])
    raise NotImplementedError(f"deliveries: unsupported database dialect {name!r}")


def complete_row(row: dict[str, Any]) -> dict[str, Any]:
    """Every column of a new delivery row: `row` (checked for the required columns and unknown
    ones) over the defaults."""
    missing = _REQUIRED - row.keys()
    if missing:
        raise ValueError(f"delivery row lacks {sorted(missing)}")
    unknown = row.keys() - _COLUMNS
    if unknown:
        raise ValueError(f"delivery row has unknown columns {sorted(unknown)}")
    created_at = row["created_at"]
    # Every row gets every column: an executemany takes its column list from the first row.
    values: dict[str, Any] = {
        "id": random_id(),
        "event_id": None,
        "trigger_word": None,
        "tries": 0,
        "status": PENDING,
        "next_attempt_at": created_at,
        "lease_owner": None,
        "lease_until": None,
        "depth": 0,
        "replay_of": None,
        "history_id": None,
        "last_error": None,
        "updated_at": created_at,
    }
    values.update(row)
    return values


async def enqueue(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> int:
    """Insert deliveries, skipping any whose `dedupe_key` is already queued (also within `rows`);
    returns how many were inserted. Rows need `dedupe_key`, `integration_id`, `url`, `event`,
    `payload` and `created_at`; `id` (the `webhook-id`) defaults to a new random id, `status` to
    pending and `next_attempt_at` to `created_at`."""
    return len(await enqueue_rows(conn, rows))


async def enqueue_rows(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """`enqueue`, returning the rows really inserted with every column filled in (the values as
    given, not read back), in the order of `rows`."""
    unique: dict[str, dict[str, Any]] = {}
    for row in rows:
        values = complete_row(row)
        unique.setdefault(values["dedupe_key"], values)
    if not unique:
        return []
    # RETURNING lists only the rows really inserted; an executemany's rowcount is not reliable
    # across drivers when some rows are skipped.
    stmt = _insert_ignoring_duplicates(conn).returning(_D.id)
    result = await conn.execute(stmt, list(unique.values()))
    inserted = {str(value) for value in result.scalars()}
    return [values for values in unique.values() if values["id"] in inserted]


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(
        _D.status == PENDING,
        _D.next_attempt_at <= now,
        or_(_D.lease_until.is_(None), _D.lease_until <= now),
    )


async def claim_due(
    conn: AsyncConnection, *, now: datetime, owner: str, lease_seconds: float, limit: int
) -> list[Row]:
    """Lease up to `limit` due deliveries to `owner` until `now + lease_seconds` and return them,
    oldest `next_attempt_at` first. Due: pending, `next_attempt_at <= now`, and no lease or an expired
    one (its worker died or stalled). One statement, so no other claimer can take the same rows."""
    if lease_seconds <= 0:
        # A lease that ends when it starts would let the next claimer take the row at once.
        raise ValueError("lease_seconds must be positive")
    if limit <= 0:
        return []
    pick = select(_D.id).where(_due(now)).order_by(_D.next_attempt_at, _D.id).limit(limit)
    if _is_postgresql(conn):
        # Concurrent claimers skip each other's rows instead of queueing behind them.
        pick = pick.with_for_update(skip_locked=True)
    # A materialised CTE runs the pick exactly once. As a plain `IN (subquery)` PostgreSQL may plan
    # it as a semi-join that re-runs the LIMIT subquery for every candidate row, leasing more than
    # `limit` rows.
    picked = pick.cte("picked").prefix_with("MATERIALIZED", dialect="postgresql")
    chosen: ColumnElement[bool] = _D.id.in_(select(picked.c.id))
    if _is_postgresql(conn):
        # The condition is repeated outside the pick so that a row changed since it was picked is
        # never leased by mistake, whatever plan PostgreSQL chooses. (SQLite runs the statement
        # under its single write lock with the pick evaluated once, so nothing can change between
        # them; there the repeated condition would only make its planner walk the status index
        # over every due row instead of looking the picked ids up.)
        chosen = and_(chosen, _due(now))
    stmt = (
        update(deliveries)
        .where(chosen)
        .values(lease_owner=owner, lease_until=now + timedelta(seconds=lease_seconds), updated_at=now)
        .returning(*deliveries.c)
    )
    rows = all_rows(await conn.execute(stmt))
    # RETURNING has no defined order.
    rows.sort(key=lambda r: (r["next_attempt_at"], r["id"]))
    return rows


def _held_by(delivery_id: str, owner: str) -> ColumnElement[bool]:
    return and_(_D.id == delivery_id, _D.lease_owner == owner, _D.status == PENDING)


async def renew_lease(
    conn: AsyncConnection, delivery_id: str, owner: str, *, now: datetime, lease_seconds: float
) -> bool:
    """Extend `owner`'s lease to `now + lease_seconds` (a long attempt); False when it is not theirs
    any more."""
    stmt = (
        update(deliveries)
        .where(_held_by(delivery_id, owner))
        .values(lease_until=now + timedelta(seconds=lease_seconds), updated_at=now)
    )
    return bool((await conn.execute(stmt)).rowcount)


async def complete(
    conn: AsyncConnection,
    delivery_id: str,
    owner: str,
    *,
    status: str,
    now: datetime,
    history_id: str | None = None,
) -> bool:
    """Finish a delivery as `done`, `failed` or `cancelled` and release the lease. Only the current
    lease holder may: returns False (and changes nothing) when `owner` lost the lease or the row is
    no longer pending."""
    if status not in FINISHED:
        raise ValueError(f"not a final delivery status: {status!r}")
    values: dict[str, Any] = {"status": status, "lease_owner": None, "lease_until": None, "updated_at": now}
    if history_id is not None:
        values["history_id"] = history_id
    stmt = update(deliveries).where(_held_by(delivery_id, owner)).values(**values)
    return bool((await conn.execute(stmt)).rowcount)


async def reschedule(
    conn: AsyncConnection,
    delivery_id: str,
    owner: str,
    *,
    tries: int,
    next_attempt_at: datetime,
    last_error: str | None,
    now: datetime,
    history_id: str | None = None,
) -> bool:
    """Plan the next attempt of a failed one: record `tries` and the error, set `next_attempt_at`
    and release the lease. Only the current lease holder may (False otherwise)."""
    values: dict[str, Any] = {
        "tries": tries,
        "next_attempt_at": next_attempt_at,
        "last_error": last_error,
        "lease_owner": None,
        "lease_until": None,
        "updated_at": now,
    }
    if history_id is not None:
        values["history_id"] = history_id
    stmt = update(deliveries).where(_held_by(delivery_id, owner)).values(**values)
    return bool((await conn.execute(stmt)).rowcount)


@dataclass(frozen=True, slots=True)
class Finish:
    """How one attempt ends, for `finish_many`: `status` (done, failed, cancelled) completes the
    delivery; `status=None` reschedules it to `next_attempt_at` with `tries` and `last_error`."""

    delivery_id: str
    history_id: str
    status: str | None = None
    tries: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None


def check_finishes(finishes: Sequence[Finish]) -> None:
    """Refuse (ValueError) a finish with neither a final status nor a next attempt, or with a
    status that is not final."""
    for finish in finishes:
        if finish.status is None and finish.next_attempt_at is None:
            raise ValueError(f"delivery {finish.delivery_id}: neither a final status nor a next attempt")
        if finish.status is not None and finish.status not in FINISHED:
            raise ValueError(f"not a final delivery status: {finish.status!r}")


async def finish_many(
    conn: AsyncConnection, owner: str, finishes: Sequence[Finish], *, now: datetime
) -> set[str]:
    """`complete` or `reschedule` several deliveries in three statements instead of one per row;
    returns the ids that `owner` still held (the others are left unchanged, as those functions
    would). The held rows are read first (locked on PostgreSQL), then updated by id."""
    if not finishes:
        return set()
    check_finishes(finishes)
    # By id alone, filtered here: with `status = ?` in the WHERE clause SQLite's planner prefers a
    # status index and walks every pending row instead of looking the ids up.
    pick = select(_D.id, _D.lease_owner, _D.status).where(_D.id.in_([f.delivery_id for f in finishes]))
    if _is_postgresql(conn):
        pick = pick.with_for_update()
    held = {
        str(row.id) for row in await conn.execute(pick) if row.lease_owner == owner and row.status == PENDING
    }
    released = {"lease_owner": None, "lease_until": None, "updated_at": now}
    done = [
        {"_id": f.delivery_id, "status": f.status, "history_id": f.history_id}
        for f in finishes
        if f.delivery_id in held and f.status is not None
    ]
    if done:
        stmt = update(deliveries).where(_D.id == bindparam("_id")).values(**released)
        await conn.execute(stmt, done)
    retried = [
        {
            "_id": f.delivery_id,
            "tries": f.tries,
            "next_attempt_at": f.next_attempt_at,
            "last_error": f.last_error,
            "history_id": f.history_id,
        }
        for f in finishes
        if f.delivery_id in held and f.status is None
    ]
    if retried:
        stmt = update(deliveries).where(_D.id == bindparam("_id")).values(**released)
        await conn.execute(stmt, retried)
    return held


async def cancel_for_integration(conn: AsyncConnection, integration_id: str, now: datetime) -> int:
    """Cancel every pending delivery of an integration (disabled or removed); returns how many.
    A worker in the middle of one of them finds its lease gone and its `complete` refused."""
    stmt = (
        update(deliveries)
        .where(_D.integration_id == integration_id, _D.status == PENDING)
        .values(status=CANCELLED, lease_owner=None, lease_until=None, updated_at=now)
    )
    return int((await conn.execute(stmt)).rowcount or 0)


async def get_delivery(conn: AsyncConnection, delivery_id: str) -> Row | None:
    """One delivery by id (its `webhook-id`), whatever its status."""
    return one_or_none(await conn.execute(select(deliveries).where(_D.id == delivery_id)))


async def next_due_at(conn: AsyncConnection) -> datetime | None:
    """When the next pending delivery becomes claimable (possibly in the past), or None when nothing
    is pending: the earliest `next_attempt_at` of a row without a lease, or the earliest expiry of a
    lease (a worker that died). The worker sleeps until then (or until new work is signalled)."""
    unleased = (
        select(_D.next_attempt_at)
        .where(_D.status == PENDING, _D.lease_until.is_(None))
        .order_by(_D.next_attempt_at)
        .limit(1)
    )
    leased = (
        select(_D.lease_until)
        .where(_D.status == PENDING, _D.lease_until.is_not(None))
        .order_by(_D.lease_until)
        .limit(1)
    )
    candidates = [
        value
        for value in [
            (await conn.execute(unleased)).scalar_one_or_none(),
            (await conn.execute(leased)).scalar_one_or_none(),
        ]
        if value is not None
    ]
    return min(candidates) if candidates else None


async def due_count(conn: AsyncConnection, now: datetime) -> int:
    """How many deliveries could be claimed right now (the backlog)."""
    stmt = select(func.count()).select_from(deliveries).where(_due(now))
    return int((await conn.execute(stmt)).scalar_one())


async def oldest_due_at(conn: AsyncConnection, now: datetime) -> datetime | None:
    """The `next_attempt_at` of the longest-waiting claimable delivery (how far behind the workers
    are), or None when nothing is due."""
    stmt = select(_D.next_attempt_at).where(_due(now)).order_by(_D.next_attempt_at).limit(1)
    value: datetime | None = (await conn.execute(stmt)).scalar_one_or_none()
    return value


async def prune_finished(conn: AsyncConnection, older_than: datetime, *, batch: int | None = None) -> int:
    """Delete done, failed and cancelled deliveries last changed before `older_than` (at most
    `batch` of them, so a background loop keeps each write transaction short); returns how many."""
    finished = and_(_D.status.in_(sorted(FINISHED)), _D.updated_at < older_than)
    if batch is None:
        stmt = delete(deliveries).where(finished)
    else:
        if batch <= 0:
            return 0
        stmt = delete(deliveries).where(_D.id.in_(select(_D.id).where(finished).limit(batch)))
    return int((await conn.execute(stmt)).rowcount or 0)
