"""First start and every later start (core-api.md §11): idempotent defaults, GENERAL, rocket.cat,
the admin from ADMIN_* variables, and permission edits that survive restarts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from hookhub.config import Settings
from hookhub.hub import Hub
from hookhub.services import auth
from hookhub.services.defaults import DEFAULT_PERMISSIONS, DEFAULT_ROLES
from hookhub.services.users import register
from hookhub.store import access, rooms, users
from hookhub.store import tables as t
from hookhub.store.rows import Row

ADMIN_ENV = {"admin_username": "chief", "admin_pass": "Chief-pw-1", "admin_email": "chief@example.com"}


async def snapshot(hub: Hub) -> dict[str, Any]:
    """Everything bootstrap writes, in a comparable form."""
    async with hub.tx(write=False) as ctx:
        conn = ctx.conn
        out: dict[str, Any] = {}
        for table in (t.roles, t.permissions, t.rooms, t.users, t.subscriptions, t.messages, t.events):
            out[f"{table.name}_count"] = (
                await conn.execute(select(func.count()).select_from(table))
            ).scalar_one()
        out["roles"] = sorted((r["id"], r["scope"], r["protected"]) for r in await access.all_roles(conn))
        out["permissions"] = sorted((p["id"], tuple(p["roles"])) for p in await access.all_permissions(conn))
        out["users"] = sorted(
            (u["id"], u["username"], tuple(u["roles"])) for u in (await users.list_users(conn))[0]
        )
        return out


async def restart(settings: Settings) -> Hub:
    hub = Hub(settings)
    await hub.start()
    return hub


@pytest.fixture
async def second_start(hub: Hub, settings: Settings) -> AsyncIterator[Hub]:
    """The same database started again, as after a process restart."""
    again = await restart(settings)
    yield again
    await again.close()


async def general(hub: Hub) -> Row:
    async with hub.tx(write=False) as ctx:
        room = await rooms.get_room(ctx.conn, "GENERAL")
    assert room is not None
    return room


async def user_named(hub: Hub, username: str) -> Row | None:
    async with hub.tx(write=False) as ctx:
        return await users.get_by_username(ctx.conn, username)


async def is_member(hub: Hub, room_id: str, user_id: str) -> bool:
    async with hub.tx(write=False) as ctx:
        return await rooms.get_subscription(ctx.conn, room_id, user_id) is not None


async def can_log_in(hub: Hub, username: str, password: str) -> bool:
    async with hub.tx() as ctx:
        try:
            await auth.login(ctx, hub.hashing, {"user": username, "password": password})
        except Exception:
            return False
    return True


# -- defaults -----------------------------------------------------------------------------------


async def test_first_start_creates_defaults(hub: Hub) -> None:
    state = await snapshot(hub)
    assert state["roles"] == sorted((r.id, r.scope, True) for r in DEFAULT_ROLES)
    assert state["permissions"] == sorted((k, v) for k, v in DEFAULT_PERMISSIONS.items())

    room = await general(hub)
    assert (room["t"], room["name"], room["is_default"], room["archived"]) == ("c", "general", True, False)

    bot = await user_named(hub, "rocket.cat")
    assert bot is not None
    assert (bot["id"], bot["type"], bot["roles"], bot["status"]) == ("rocket.cat", "bot", ["bot"], "online")
    assert bot["password_hash"] is None
    # the bot is not an admin, is not in GENERAL, and nobody else exists yet
    assert state["users"] == [("rocket.cat", "rocket.cat", ("bot",))]
    assert not await is_member(hub, "GENERAL", "rocket.cat")


async def test_bootstrap_is_idempotent(hub: Hub, settings: Settings) -> None:
    before = await snapshot(hub)
    await hub.start()
    again = await restart(settings)
    try:
        after = await snapshot(again)
    finally:
        await again.close()
    assert after == before
    assert after["rooms_count"] == 1
    assert after["users_count"] == 1


async def test_deleted_general_is_not_recreated(hub: Hub, settings: Settings) -> None:
    async with hub.tx() as ctx:
        await rooms.delete_room(ctx.conn, "GENERAL", "c", ctx.now())
    again = await restart(settings)
    try:
        async with again.tx(write=False) as ctx:
            assert await rooms.get_room(ctx.conn, "GENERAL") is None
    finally:
        await again.close()


async def test_edited_permission_survives_restart(hub: Hub, settings: Settings) -> None:
    async with hub.tx() as ctx:
        await access.set_permission_roles(ctx.conn, "create-c", ["admin"], ctx.now())
    again = await restart(settings)
    try:
        async with again.tx(write=False) as ctx:
            perms = {p["id"]: p["roles"] for p in await access.all_permissions(ctx.conn)}
            assert await ctx.can({"roles": ["user"]}, "create-c") is False
    finally:
        await again.close()
    assert perms["create-c"] == ["admin"]
    # untouched permissions keep their defaults
    assert perms["create-p"] == list(DEFAULT_PERMISSIONS["create-p"])


async def test_missing_permission_is_restored_on_restart(hub: Hub, settings: Settings) -> None:
    async with hub.tx() as ctx:
        await ctx.conn.execute(t.permissions.delete().where(t.permissions.c.id == "create-c"))
    again = await restart(settings)
    try:
        async with again.tx(write=False) as ctx:
            perms = {p["id"]: p["roles"] for p in await access.all_permissions(ctx.conn)}
    finally:
        await again.close()
    assert perms["create-c"] == list(DEFAULT_PERMISSIONS["create-c"])


async def test_without_admin_pass_no_admin_is_created(hub: Hub) -> None:
    assert await user_named(hub, "admin") is None
    async with hub.tx(write=False) as ctx:
        assert not await users.any_with_role(ctx.conn, "admin")


# -- ADMIN_* ------------------------------------------------------------------------------------


@pytest.mark.parametrize("settings_overrides", [ADMIN_ENV])
async def test_admin_from_environment(hub: Hub) -> None:
    chief = await user_named(hub, "chief")
    assert chief is not None
    assert chief["roles"] == ["admin"]
    assert chief["name"] == "Administrator"
    assert chief["type"] == "user" and chief["active"] is True
    assert chief["extra"]["emails"] == [{"address": "chief@example.com", "verified": False}]
    assert await can_log_in(hub, "chief", "Chief-pw-1")
    assert await can_log_in(hub, "chief@example.com", "Chief-pw-1")
    assert not await can_log_in(hub, "chief", "wrong")
    assert await is_member(hub, "GENERAL", chief["id"])


@pytest.mark.parametrize("settings_overrides", [ADMIN_ENV])
async def test_admin_from_environment_is_created_once(hub: Hub, second_start: Hub) -> None:
    state = await snapshot(second_start)
    admins = [u for u in state["users"] if "admin" in u[2]]
    assert [a[1] for a in admins] == ["chief"]


@pytest.mark.parametrize(
    "settings_overrides",
    [
        {
            "admin_username": "not valid!",
            "admin_pass": "pw-123456",
            "admin_email": "broken",
            "admin_name": "Root",
        }
    ],
)
async def test_admin_environment_fallbacks(hub: Hub) -> None:
    admin = await user_named(hub, "admin")
    assert admin is not None
    assert admin["name"] == "Root"
    assert "emails" not in admin["extra"]
    assert await can_log_in(hub, "admin", "pw-123456")


@pytest.mark.parametrize("settings_overrides", [{"admin_username": "chief"}])
async def test_admin_username_without_pass_creates_nothing(hub: Hub) -> None:
    assert await user_named(hub, "chief") is None


async def test_admin_environment_ignored_when_an_admin_exists(hub: Hub, settings: Settings) -> None:
    async with hub.tx() as ctx:
        first = await register(
            ctx, hub.hashing, {"username": "founder", "email": "f@example.com", "pass": "pw-123456"}
        )
    assert "admin" in first["roles"]
    again = await restart(settings.model_copy(update=ADMIN_ENV))
    try:
        assert await user_named(again, "chief") is None
        state = await snapshot(again)
    finally:
        await again.close()
    assert [u[1] for u in state["users"] if "admin" in u[2]] == ["founder"]


async def test_oldest_user_becomes_admin_when_none_is_left(hub: Hub, settings: Settings) -> None:
    async with hub.tx() as ctx:
        first = await register(
            ctx, hub.hashing, {"username": "one", "email": "1@example.com", "pass": "pw-1"}
        )
        second = await register(
            ctx, hub.hashing, {"username": "two", "email": "2@example.com", "pass": "pw-2"}
        )
        # both may carry the same millisecond; make "one" unambiguously the oldest
        await users.update_user(
            ctx.conn, second["id"], {"created_at": first["created_at"] + timedelta(seconds=1)}
        )
        await users.update_user(ctx.conn, first["id"], {"roles": ["user"]})
    again = await restart(settings)
    try:
        one, two = await user_named(again, "one"), await user_named(again, "two")
    finally:
        await again.close()
    assert one is not None and two is not None
    assert one["roles"] == ["user", "admin"]
    assert two["roles"] == ["user"]


@pytest.mark.parametrize("settings_overrides", [{"test_mode": True}])
async def test_test_mode_creates_rocketchat_test_admin(hub: Hub, settings: Settings) -> None:
    # Rocket.Chat's own REST suite logs in as this user with its id as the password
    async with hub.tx() as ctx:
        user, _token = await auth.login(
            ctx,
            hub.hashing,
            {"user": "rocketchat.internal.admin.test", "password": "rocketchat.internal.admin.test"},
        )
    assert user["id"] == "rocketchat.internal.admin.test"
    assert "admin" in user["roles"]
    async with hub.tx(write=False) as ctx:
        assert await rooms.get_subscription(ctx.conn, "GENERAL", user["id"]) is not None
    # a later start restores the password and the role even after they were changed
    async with hub.tx() as ctx:
        await users.update_user(ctx.conn, user["id"], {"roles": ["user"], "password_hash": None})
    again = await restart(settings)
    try:
        async with again.tx() as ctx:
            user, _token = await auth.login(
                ctx,
                again.hashing,
                {"user": "rocketchat.internal.admin.test", "password": "rocketchat.internal.admin.test"},
            )
        assert "admin" in user["roles"]
    finally:
        await again.close()


async def test_without_test_mode_there_is_no_test_admin(hub: Hub) -> None:
    async with hub.tx(write=False) as ctx:
        assert await users.get_by_id(ctx.conn, "rocketchat.internal.admin.test") is None
