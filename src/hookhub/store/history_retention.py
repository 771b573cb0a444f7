"""Retention of outgoing-integration history: by age and by count per integration.

Rocket.Chat only expires history after 30 days (a MongoDB TTL index) and an integration firing often
can pile up millions of records before that. hookhub also keeps at most `max_per_integration`
records per integration, the newest by (`_updatedAt`, `_id`).

All work goes through the index (integration_id, updated_at, id): integrations are visited one at
a time with a cursor over that index (works for records of removed integrations too), the age cut is
a range of it, and the count cut finds the oldest record to keep by skipping `max_per_integration`
entries from its newest end. Each call deletes at most `batch` rows, so a background task can loop
over short write transactions instead of holding one long lock.

Records without `_updatedAt` (never written by hookhub itself) count as expired: otherwise nothing
would ever remove them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from hookhub.store.tables import integration_history

_H = integration_history.c


@dataclass(frozen=True)
class PruneStep:
    """What one `prune_history_step` did: rows deleted, whether the walk reached the last
    integration, and otherwise the `after` to continue with (None: from the first integration)."""

    deleted: int
    finished: bool
    resume_after: str | None


async def _next_integration(conn: AsyncConnection, after: str | None) -> str | None:
    stmt = select(_H.integration_id).order_by(_H.integration_id).limit(1)
    if after is not None:
        stmt = stmt.where(_H.integration_id > after)
    value: str | None = (await conn.execute(stmt)).scalar_one_or_none()
    return value


async def _delete_ids(
    conn: AsyncConnection, integration_id: str, condition: ColumnElement[bool], limit: int
) -> int:
    picked = select(_H.id).where(_H.integration_id == integration_id, condition).limit(limit)
    result = await conn.execute(delete(integration_history).where(_H.id.in_(picked)))
    return int(result.rowcount or 0)


async def _prune_integration(
    conn: AsyncConnection, integration_id: str, *, older_than: datetime, keep: int, budget: int
) -> int:
    """Delete up to `budget` records of one integration that are expired or beyond the newest `keep`."""
    deleted = 0
    # Two statements rather than one OR, so each is a single range of the index.
    for expired in (_H.updated_at.is_(None), _H.updated_at < older_than):
        deleted += await _delete_ids(conn, integration_id, expired, budget - deleted)
        if deleted >= budget:
            return deleted
    if keep == 0:
        return deleted + await _delete_ids(conn, integration_id, true(), budget - deleted)
    # The oldest record to keep: skip `keep - 1` entries from the newest end of the index. NULL
    # dates are gone by now, so both databases order the rest alike.
    boundary_stmt = (
        select(_H.updated_at, _H.id)
        .where(_H.integration_id == integration_id, _H.updated_at.is_not(None))
        .order_by(_H.updated_at.desc(), _H.id.desc())
        .offset(keep - 1)
        .limit(1)
    )
    boundary = (await conn.execute(boundary_stmt)).first()
    if boundary is None:
        return deleted
    kept_at, kept_id = boundary
    # (updated_at, id) < boundary, written so the index sees the range `updated_at <= kept_at`.
    older = and_(_H.updated_at <= kept_at, or_(_H.updated_at < kept_at, _H.id < kept_id))
    return deleted + await _delete_ids(conn, integration_id, older, budget - deleted)


def _check(max_per_integration: int, batch: int) -> None:
    if max_per_integration < 0:
        raise ValueError("max_per_integration must not be negative")
    if batch <= 0:
        raise ValueError("batch must be positive")


async def prune_history_step(
    conn: AsyncConnection,
    *,
    older_than: datetime,
    max_per_integration: int,
    batch: int,
    after: str | None = None,
    max_integrations: int = 100,
) -> PruneStep:
    """Prune the integrations following `after` (from the first when None), visiting at most
    `max_integrations` of them and deleting at most `batch` records. Feed `resume_after` back in as
    `after` until a step is `finished` to cover every integration with bounded work per
    transaction."""
    _check(max_per_integration, batch)
    deleted = 0
    cursor = after
    for _ in range(max_integrations):
        integration_id = await _next_integration(conn, cursor)
        if integration_id is None:
            return PruneStep(deleted, finished=True, resume_after=None)
        deleted += await _prune_integration(
            conn, integration_id, older_than=older_than, keep=max_per_integration, budget=batch - deleted
        )
        if deleted >= batch:
            # This integration may have more to delete: the next step starts with it again.
            return PruneStep(deleted, finished=False, resume_after=cursor)
        cursor = integration_id
    return PruneStep(deleted, finished=False, resume_after=cursor)


async def prune_history(
    conn: AsyncConnection, *, older_than: datetime, max_per_integration: int, batch: int
) -> int:
    """Delete history records last updated before `older_than`, and beyond the newest
    `max_per_integration` (by `_updatedAt`, then `_id`) of each integration; at most `batch` per
    call. Returns how many went: fewer than `batch` means nothing more is due right now."""
    _check(max_per_integration, batch)
    deleted = 0
    after: str | None = None
    while True:
        step = await prune_history_step(
            conn,
            older_than=older_than,
            max_per_integration=max_per_integration,
            batch=batch - deleted,
            after=after,
        )
        deleted += step.deleted
        if deleted >= batch or step.finished:
            return deleted
        after = step.resume_after
