"""Roles, permissions and key/value settings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, func, insert, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hookhub.store.rows import Row, all_rows, one_or_none
from hookhub.store.tables import permissions, roles, settings, subscriptions, users


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


async def roles_by_ids(conn: AsyncConnection, role_ids: Sequence[str]) -> list[Row]:
    return all_rows(await conn.execute(select(roles).where(roles.c.id.in_(list(role_ids)))))


async def roles_updated_since(conn: AsyncConnection, since: datetime) -> list[Row]:
    stmt = select(roles).where(roles.c.updated_at > since).order_by(roles.c.id)
    return all_rows(await conn.execute(stmt))


async def permissions_by_ids(conn: AsyncConnection, perm_ids: Sequence[str]) -> list[Row]:
    stmt = select(permissions).where(permissions.c.id.in_(list(perm_ids)))
    return all_rows(await conn.execute(stmt))


def _holds(column: Any, role_id: str) -> ColumnElement[bool]:
    # role lists are JSON kept as text: '"owner"' matches one whole element only
    return type_coerce(column, Text).like(f'%"{_escape_like(role_id)}"%', escape="\\")


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def _page(
    conn: AsyncConnection, base: Select[Any], offset: int, limit: int | None
) -> tuple[list[Row], int]:
    total = int((await conn.execute(select(func.count()).select_from(base.subquery()))).scalar_one())
    stmt = base.order_by(users.c.username_lower, users.c.id).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return all_rows(await conn.execute(stmt)), total


async def users_in_role(
    conn: AsyncConnection, role_id: str, *, offset: int = 0, limit: int | None = None
) -> tuple[list[Row], int]:
    """Users holding a global role, by username."""
    return await _page(conn, select(users).where(_holds(users.c.roles, role_id)), offset, limit)


async def room_users_in_role(
    conn: AsyncConnection, role_id: str, room_id: str, *, offset: int = 0, limit: int | None = None
) -> tuple[list[Row], int]:
    """Members holding a room-scoped role on `room_id`'s subscription, by username."""
    base = (
        select(users)
        .join(subscriptions, subscriptions.c.user_id == users.c.id)
        .where(subscriptions.c.rid == room_id, _holds(subscriptions.c.roles, role_id))
    )
    return await _page(conn, base, offset, limit)
