"""Roles, permissions and key/value settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hookhub.store.rows import Row, all_rows, one_or_none
from hookhub.store.tables import permissions, roles, settings


async def all_roles(conn: AsyncConnection) -> list[Row]:
    return all_rows(await conn.execute(select(roles).order_by(roles.c.id)))


async def get_role(conn: AsyncConnection, role_id: str) -> Row | None:
    return one_or_none(await conn.execute(select(roles).where(roles.c.id == role_id)))


async def insert_role(conn: AsyncConnection, values: Row) -> None:
    await conn.execute(insert(roles).values(**values))


async def all_permissions(conn: AsyncConnection, *, updated_since: datetime | None = None) -> list[Row]:
    stmt = select(permissions).order_by(permissions.c.id)
    if updated_since is not None:
        stmt = stmt.where(permissions.c.updated_at > updated_since)
    return all_rows(await conn.execute(stmt))


async def insert_permission(conn: AsyncConnection, perm_id: str, role_ids: list[str], now: datetime) -> None:
    await conn.execute(insert(permissions).values(id=perm_id, roles=role_ids, updated_at=now))


async def set_permission_roles(
    conn: AsyncConnection, perm_id: str, role_ids: list[str], now: datetime
) -> None:
    stmt = update(permissions).where(permissions.c.id == perm_id).values(roles=role_ids, updated_at=now)
    await conn.execute(stmt)


async def get_setting(conn: AsyncConnection, key: str) -> Any:
    row = one_or_none(await conn.execute(select(settings.c.value).where(settings.c.id == key)))
    return None if row is None else row["value"]


async def put_setting(conn: AsyncConnection, key: str, value: Any, now: datetime) -> None:
    result = await conn.execute(
        update(settings).where(settings.c.id == key).values(value=value, updated_at=now)
    )
    if result.rowcount == 0:
        await conn.execute(insert(settings).values(id=key, value=value, updated_at=now))
