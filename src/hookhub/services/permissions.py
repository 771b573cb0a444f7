"""Permission checks: a user holds P (in room R) when one of their global roles, or one of their
room-scoped roles on R's subscription, is in P's role list (core-api.md §2.5)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncConnection

from hookhub.store import access, rooms
from hookhub.store.rows import Row


class PermissionCache:
    """Permission -> roles, read once and kept for `ttl` seconds.

    The TTL bounds how long another process's `permissions.update` takes to be seen here;
    changes made by this process invalidate the cache at once.
    """

    def __init__(self, ttl: float = 1.0) -> None:
        self.ttl = ttl
        self._table: dict[str, frozenset[str]] | None = None
        self._loaded_at = 0.0

    def invalidate(self) -> None:
        self._table = None

    async def table(self, conn: AsyncConnection) -> dict[str, frozenset[str]]:
        if self._table is None or time.monotonic() - self._loaded_at > self.ttl:
            rows = await access.all_permissions(conn)
            self._table = {r["id"]: frozenset(r["roles"]) for r in rows}
            self._loaded_at = time.monotonic()
        return self._table


async def user_roles_in(conn: AsyncConnection, user: Row, room_id: str | None) -> set[str]:
    roles = set(user["roles"])
    if room_id is not None:
        sub = await rooms.get_subscription(conn, room_id, user["id"])
        if sub is not None:
            roles.update(sub["roles"])
    return roles


async def has_permission(
    conn: AsyncConnection, cache: PermissionCache, user: Row, permission: str, room_id: str | None = None
) -> bool:
    table = await cache.table(conn)
    allowed = table.get(permission, frozenset())
    if not allowed:
        return False
    if allowed.intersection(user["roles"]):
        return True
    if room_id is None:
        return False
    return bool(allowed.intersection(await user_roles_in(conn, user, room_id)))


async def has_any_permission(
    conn: AsyncConnection,
    cache: PermissionCache,
    user: Row,
    permissions: Iterable[str],
    room_id: str | None = None,
) -> bool:
    for permission in permissions:
        if await has_permission(conn, cache, user, permission, room_id):
            return True
    return False
