"""First start, idempotent on every start (core-api.md §11)."""

from __future__ import annotations

import logging

from hookhub.services.context import Ctx
from hookhub.services.credentials import PasswordHashing
from hookhub.services.defaults import DEFAULT_PERMISSIONS, DEFAULT_ROLES
from hookhub.services.rooms import join_default_rooms
from hookhub.services.users import insert_user, valid_email, valid_username
from hookhub.store import access, rooms, users

log = logging.getLogger("hookhub.bootstrap")

GENERAL_ID = "GENERAL"
BOT_ID = "rocket.cat"


async def bootstrap(ctx: Ctx, hashing: PasswordHashing) -> None:
    now = ctx.now()
    for role in DEFAULT_ROLES:
        if await access.get_role(ctx.conn, role.id) is None:
            await access.insert_role(
                ctx.conn,
                {
                    "id": role.id,
                    "name": role.id,
                    "scope": role.scope,
                    "description": role.description,
                    "protected": True,
                    "mandatory2fa": False,
                    "updated_at": now,
                },
            )
    existing = {p["id"] for p in await access.all_permissions(ctx.conn)}
    for perm_id, role_ids in DEFAULT_PERMISSIONS.items():
        if perm_id not in existing:
            await access.insert_permission(ctx.conn, perm_id, list(role_ids), now)
    ctx.permissions.invalidate()

    if not await access.get_setting(ctx.conn, "Initial_Channel_Created"):
        if await rooms.get_room(ctx.conn, GENERAL_ID) is None:
            await rooms.insert_room(
                ctx.conn,
                {
                    "id": GENERAL_ID,
                    "t": "c",
                    "name": "general",
                    "fname": "general",
                    "creator_id": None,
                    "creator_username": None,
                    "ts": now,
                    "updated_at": now,
                    "msgs": 0,
                    "users_count": 0,
                    "ro": False,
                    "archived": False,
                    "is_default": True,
                    "broadcast": False,
                    "join_code": None,
                    "team_id": None,
                    "team_main": False,
                    "uids": None,
                    "usernames": None,
                    "lm": None,
                    "last_message": None,
                    "extra": {},
                },
            )
        await access.put_setting(ctx.conn, "Initial_Channel_Created", True, now)

    if await users.get_by_id(ctx.conn, BOT_ID) is None:
        await insert_user(
            ctx,
            user_id=BOT_ID,
            username="rocket.cat",
            name="Rocket.Cat",
            email=None,
            password_hash=None,
            roles=["bot"],
            user_type="bot",
            extra={"statusDefault": "online"},
            join_default_channels=False,
            admin_if_first=False,
        )
        await users.update_user(ctx.conn, BOT_ID, {"status": "online"})

    settings = ctx.settings
    if settings.admin_pass:
        if await users.any_with_role(ctx.conn, "admin"):
            log.info("ADMIN_PASS is set but an admin already exists; the ADMIN_* variables are ignored")
        else:
            username = settings.admin_username or "admin"
            if not valid_username(ctx, username) or await users.get_by_username(ctx.conn, username):
                username = "admin"
            email = settings.admin_email
            if email and (not valid_email(email) or await users.get_by_email(ctx.conn, email)):
                email = None
            admin = await insert_user(
                ctx,
                username=username,
                name=settings.admin_name or "Administrator",
                email=email,
                email_verified=settings.admin_email_verified,
                password_hash=await hashing.hash(settings.admin_pass),
                roles=["admin"],
                join_default_channels=False,
                admin_if_first=False,
            )
            # Unlike Rocket.Chat, the environment's admin joins the default channels too.
            await join_default_rooms(ctx, admin)
            log.info("created admin %r from ADMIN_PASS", username)

    if settings.test_mode:
        await _ensure_test_admin(ctx, hashing)

    if not await users.any_with_role(ctx.conn, "admin"):
        oldest = await users.oldest_user(ctx.conn)
        if oldest is not None:
            await users.update_user(ctx.conn, oldest["id"], {"roles": [*oldest["roles"], "admin"]})


TEST_ADMIN = "rocketchat.internal.admin.test"


async def _ensure_test_admin(ctx: Ctx, hashing: PasswordHashing) -> None:
    """TEST_MODE (core-api.md §11 step 8): the admin Rocket.Chat's REST tests use, whose
    password is its own id. Recreated on every start so a test run can rely on it."""
    password_hash = await hashing.hash(TEST_ADMIN)
    existing = await users.get_by_id(ctx.conn, TEST_ADMIN)
    if existing is not None:
        roles = existing["roles"] if "admin" in existing["roles"] else [*existing["roles"], "admin"]
        await users.update_user(
            ctx.conn, TEST_ADMIN, {"password_hash": password_hash, "roles": roles, "active": True}
        )
        return
    if await users.get_by_username(ctx.conn, TEST_ADMIN) is not None:
        log.warning("TEST_MODE: username %s is taken by another user; not created", TEST_ADMIN)
        return
    await insert_user(
        ctx,
        user_id=TEST_ADMIN,
        username=TEST_ADMIN,
        name="RocketChat Internal Admin Test",
        email=f"{TEST_ADMIN}@rocket.chat",
        email_verified=True,
        password_hash=password_hash,
        roles=["admin"],
        admin_if_first=False,
    )
