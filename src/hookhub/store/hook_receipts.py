"""Idempotency receipts of incoming webhooks (table `hook_receipts`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hookhub.store.rows import Row
from hookhub.store.tables import hook_receipts

_R = hook_receipts.c


class DuplicateReceipt(Exception):
    """Another transaction stored a receipt for the same integration and key first. The current
    transaction is unusable afterwards (PostgreSQL aborts it): let it roll back."""


async def get_receipt(conn: AsyncConnection, integration_id: str, key_hash: str) -> Row | None:
    """The receipt for this key, whatever its age (the caller decides whether it expired)."""
    stmt = select(_R.id, _R.status, _R.body, _R.created_at).where(
        _R.integration_id == integration_id, _R.key_hash == key_hash
    )
    row = (await conn.execute(stmt)).mappings().first()
    return dict(row) if row is not None else None


async def insert_receipt(
    conn: AsyncConnection,
    integration_id: str,
    key_hash: str,
    *,
    status: int,
    body: dict[str, Any],
    created_at: datetime,
) -> None:
    """Store the answer given for this key; raises DuplicateReceipt when one already exists."""
    try:
        await conn.execute(
            insert(hook_receipts).values(
                integration_id=integration_id,
                key_hash=key_hash,
                status=status,
                body=body,
                created_at=created_at,
            )
        )
    except IntegrityError as exc:
        raise DuplicateReceipt(integration_id) from exc


async def delete_receipt(conn: AsyncConnection, receipt_id: int) -> None:
    await conn.execute(delete(hook_receipts).where(_R.id == receipt_id))


async def prune_receipts(conn: AsyncConnection, before: datetime) -> int:
    """Delete every receipt created before `before`; returns how many went."""
    result = await conn.execute(delete(hook_receipts).where(_R.created_at < before))
    return int(result.rowcount or 0)
