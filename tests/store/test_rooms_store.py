"""Subscriptions under several writers: joining or leaving twice is a no-op, not an error (on
PostgreSQL two transactions can both find a user missing and insert)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hookhub.config import Settings
from hookhub.services.bootstrap import GENERAL_ID, bootstrap
from hookhub.services.context import Ctx
from hookhub.services.credentials import PasswordHashing
from hookhub.services.permissions import PermissionCache
from hookhub.store import rooms, users
from hookhub.store.database import Database

NOW = datetime(2026, 11, 23, 19, 30, tzinfo=UTC)


async def _general_and_bot(db: Database, tmp_settings: Settings) -> tuple[str, str]:
    async with db.transaction() as conn:
        ctx = Ctx(conn=conn, settings=tmp_settings, permissions=PermissionCache(), clock=lambda: NOW)
        await bootstrap(ctx, PasswordHashing(tmp_settings))
        bot = await users.get_by_username(conn, "rocket.cat")
    assert bot is not None
    return GENERAL_ID, str(bot["id"])


def _subscription(room_id: str, user_id: str) -> dict[str, object]:
    return {
        "id": f"s-{room_id}-{user_id}-{NOW.microsecond}",
        "rid": room_id,
        "user_id": user_id,
        "username": "rocket.cat",
        "t": "c",
        "name": "general",
        "fname": None,
        "open": True,
        "alert": False,
        "unread": 0,
        "favorite": False,
        "roles": [],
        "ts": NOW,
        "ls": NOW,
        "updated_at": NOW,
    }


async def test_subscribing_twice_is_refused_quietly(db: Database, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, argon2_time_cost=1, argon2_memory_kib=64)
    room_id, user_id = await _general_and_bot(db, settings)
    async with db.transaction() as conn:
        await rooms.delete_subscription(conn, room_id, user_id)
    async with db.transaction() as conn:
        assert await rooms.insert_subscription(conn, _subscription(room_id, user_id)) is True
        second = {**_subscription(room_id, user_id), "id": "another-id", "roles": ["owner"]}
        assert await rooms.insert_subscription(conn, second) is False
    async with db.transaction() as conn:
        kept = await rooms.get_subscription(conn, room_id, user_id)
        assert kept is not None and kept["roles"] == []
        assert await rooms.delete_subscription(conn, room_id, user_id) is True
        assert await rooms.delete_subscription(conn, room_id, user_id) is False
        assert await rooms.get_subscription(conn, room_id, user_id) is None
