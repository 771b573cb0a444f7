"""Writing integration documents: the stamps and the storage rules incoming and outgoing share."""

from __future__ import annotations

from typing import Any

from hookhub.ids import iso
from hookhub.services.context import Ctx
from hookhub.store import integrations as store
from hookhub.store.rows import Row


def author(user: Row) -> dict[str, Any]:
    """`_createdBy` / `_updatedBy`: who made the change."""
    return {"_id": user["id"], "username": user["username"]}


def _without_nulls(document: dict[str, Any]) -> dict[str, Any]:
    """Stored documents never hold explicit nulls (a null in the body means "not set")."""
    return {k: v for k, v in document.items() if v is not None}


async def save_new(ctx: Ctx, document: dict[str, Any]) -> dict[str, Any]:
    """Store a new integration; returns it as stored (what create answers)."""
    await store.insert_integration(ctx.conn, _without_nulls(document))
    stored = await store.get_integration(ctx.conn, document["_id"])
    assert stored is not None
    return stored


async def save_update(ctx: Ctx, caller: Row, document: dict[str, Any]) -> dict[str, Any]:
    """Stamp `_updatedAt`/`_updatedBy` and store the new version; returns it as re-read."""
    document["_updatedAt"] = iso(ctx.now())
    document["_updatedBy"] = author(caller)
    await store.replace_integration(ctx.conn, _without_nulls(document))
    stored = await store.get_integration(ctx.conn, document["_id"])
    assert stored is not None
    return stored
