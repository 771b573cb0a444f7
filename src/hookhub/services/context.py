"""What every service call runs with: one transaction, the settings, and a clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from hookhub.config import Settings
from hookhub.ids import utcnow
from hookhub.services.permissions import PermissionCache, has_permission


@dataclass
class Ctx:
    conn: AsyncConnection
    settings: Settings
    permissions: PermissionCache
    clock: Callable[[], datetime] = field(default=utcnow)

    def now(self) -> datetime:
        return self.clock()

    async def can(self, user: dict[str, object], permission: str, room_id: str | None = None) -> bool:
        """Does `user` hold `permission` (globally, or in `room_id` through a room role)?"""
        return await has_permission(self.conn, self.permissions, user, permission, room_id)
