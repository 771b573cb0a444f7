"""Users: registration, creation, updates, deletion, activation, lookups (core-api.md §4)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy import update as sql_update

from hookhub.ids import random_id
from hookhub.services import outbox
from hookhub.services.context import Ctx
from hookhub.services.credentials import PasswordHashing
from hookhub.services.errors import Failure, MeteorError
from hookhub.services.rooms import join_default_rooms, remove_member
from hookhub.store import access, rooms, tables, users
from hookhub.store.rows import Row

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NAME_INVALID_RE = re.compile(r"[<>\\/\x00-\x1f]")

_INSERT_OR_UPDATE = "insertOrUpdateUser"


def valid_email(value: str) -> bool:
    return _EMAIL_RE.match(value) is not None


def valid_username(ctx: Ctx, value: str) -> bool:
    return re.fullmatch(ctx.settings.user_name_pattern, value) is not None


def name_has_invalid_chars(value: str) -> bool:
    return _NAME_INVALID_RE.search(value) is not None


async def find_user_param(
    ctx: Ctx, user_id: str | None, username: str | None, user: str | None = None
) -> Row:
    """The shared `userId`/`username`/`user` lookup of user-targeted routes."""
    if not user_id and not username and not user:
        raise MeteorError(
            'The required "userId" or "username" param was not provided', "error-user-param-not-provided"
        )
    row = await users.get_by_params(ctx.conn, user_id, username, user)
    if row is None:
        raise MeteorError(
            'The required "userId" or "username" param provided does not match any users',
            "error-invalid-user",
        )
    return row


async def insert_user(
    ctx: Ctx,
    *,
    username: str | None,
    name: str | None,
    email: str | None,
    email_verified: bool = False,
    password_hash: str | None,
    roles: list[str],
    user_type: str = "user",
    active: bool = True,
    extra: dict[str, Any] | None = None,
    join_default_channels: bool = True,
    user_id: str | None = None,
    admin_if_first: bool = True,
) -> Row:
    """Insert a user, apply the first-user-becomes-admin rule (core-api.md §11), join the
    default channels and write the `userCreated` event."""
    now = ctx.now()
    roles = list(dict.fromkeys(roles))
    if (
        admin_if_first
        and user_type == "user"
        and "admin" not in roles
        and not await users.any_with_role(ctx.conn, "admin", user_type="user")
    ):
        roles.append("admin")
    doc_extra: dict[str, Any] = {"utcOffset": 0, "statusDefault": "online", "statusConnection": "offline"}
    doc_extra.update(extra or {})
    if email:
        doc_extra["emails"] = [{"address": email, "verified": email_verified}]
    row: Row = {
        "id": user_id or random_id(),
        "username": username,
        "username_lower": username.lower() if username else None,
        "email_lower": email.lower() if email else None,
        "name": name,
        "type": user_type,
        "active": active,
        "roles": roles,
        "status": "offline",
        "password_hash": password_hash,
        "created_at": now,
        "updated_at": now,
        "last_login": None,
        "extra": doc_extra,
    }
    await users.insert_user(ctx.conn, row)
    # The creation event goes first: a listener must never see a user join before it exists.
    await outbox.record(ctx, outbox.USER_CREATED, user=row)
    if join_default_channels and username:
        await join_default_rooms(ctx, row)
    return row


async def register(ctx: Ctx, hashing: PasswordHashing, body: dict[str, Any]) -> Row:
    """Self sign-up (`users.register`)."""
    username: str = body["username"]
    email: str = body["email"]
    name: str | None = body.get("name")
    if name and name_has_invalid_chars(name):
        raise Failure("Name contains invalid characters")
    if not valid_username(ctx, username):
        raise Failure("The username provided is not valid")
    if await users.get_by_username(ctx.conn, username) is not None:
        raise Failure("Username is already in use")
    form = ctx.settings.registration_form
    if form == "Disabled":
        raise MeteorError("User registration is disabled", "error-user-registration-disabled")
    if form == "Secret URL" and (
        not body.get("secret") or body.get("secret") != ctx.settings.registration_secret
    ):
        raise MeteorError(
            "User registration is only allowed via Secret URL", "error-user-registration-secret"
        )
    if not valid_email(email):
        raise MeteorError(f"Invalid email {email}", "error-invalid-email")
    if await users.get_by_email(ctx.conn, email) is not None:
        # Meteor accounts' own error: a numeric code, which Rocket.Chat sends as a number
        raise MeteorError("Email already exists.", 403)
    extra: dict[str, Any] = {}
    if isinstance(body.get("customFields"), dict):
        extra["customFields"] = body["customFields"]
    if body.get("reason"):
        extra["reason"] = body["reason"]
    return await insert_user(
        ctx,
        username=username,
        name=name or username,
        email=email,
        password_hash=await hashing.hash(body["pass"]),
        roles=["user"],
        extra=extra,
    )


async def _check_roles(ctx: Ctx, actor: Row, roles: list[str], action: str) -> None:
    known = {r["id"] for r in await access.all_roles(ctx.conn)}
    if any(r not in known for r in roles):
        raise MeteorError(
            "The field Roles consist invalid role id",
            "error-action-not-allowed",
            {"method": _INSERT_OR_UPDATE, "action": action},
        )
    if "admin" in roles and not await ctx.can(actor, "assign-admin-role"):
        raise MeteorError(
            "Assigning admin is not allowed",
            "error-action-not-allowed",
            {"method": _INSERT_OR_UPDATE, "action": "Assign_admin"},
        )


async def create(ctx: Ctx, hashing: PasswordHashing, actor: Row, body: dict[str, Any]) -> Row:
    """Admin creation of a user (`users.create`)."""
    if not await ctx.can(actor, "create-user"):
        raise MeteorError(
            "Adding user is not allowed",
            "error-action-not-allowed",
            {"method": _INSERT_OR_UPDATE, "action": "Adding_user"},
        )
    name = body.get("name") or ""
    username = body.get("username") or ""
    email = body.get("email") or ""
    if name_has_invalid_chars(name):
        raise Failure("Name contains invalid characters")
    roles: list[str] = list(body.get("roles") or ["user"])
    await _check_roles(ctx, actor, roles, "Adding_user")
    for field, value in (("Name", name), ("Username", username), ("Password", body.get("password"))):
        if not value:
            raise MeteorError(
                f"The field {field} is required",
                "error-the-field-is-required",
                {"method": _INSERT_OR_UPDATE, "field": field},
            )
    if not valid_username(ctx, username):
        raise MeteorError(
            f"{username} is not a valid username",
            "error-input-is-not-a-valid-field",
            {"method": _INSERT_OR_UPDATE, "input": username, "field": "Username"},
        )
    if await users.get_by_username(ctx.conn, username) is not None:
        raise MeteorError(
            f"{username} is already in use :(",
            "error-field-unavailable",
            {"method": _INSERT_OR_UPDATE, "field": username},
        )
    if email and not valid_email(email):
        raise MeteorError(
            f"{email} is not a valid e-mail",
            "error-invalid-email",
            {"method": _INSERT_OR_UPDATE, "input": email, "field": "Email"},
        )
    if email and await users.get_by_email(ctx.conn, email) is not None:
        raise MeteorError(
            f"{email} is already in use :(",
            "error-field-unavailable",
            {"method": _INSERT_OR_UPDATE, "field": email},
        )
    extra: dict[str, Any] = {}
    for key in ("bio", "nickname", "statusText", "customFields", "settings"):
        if body.get(key) is not None:
            extra[key] = body[key]
    if body.get("requirePasswordChange"):
        extra["requirePasswordChange"] = True
    return await insert_user(
        ctx,
        username=username,
        name=name,
        email=email or None,
        email_verified=bool(body.get("verified", False)),
        password_hash=await hashing.hash(str(body["password"])),
        roles=roles,
        active=body.get("active", True) is not False,
        extra=extra,
        join_default_channels=body.get("joinDefaultChannels", True) is not False,
    )


async def update(
    ctx: Ctx,
    hashing: PasswordHashing,
    actor: Row,
    user_id: str,
    data: dict[str, Any],
    *,
    confirm_relinquish: bool = False,
) -> Row:
    """`users.update`: change profile fields, password, roles, activation."""
    target = await users.get_by_id(ctx.conn, user_id)
    is_self = actor["id"] == user_id
    if not is_self and not await ctx.can(actor, "edit-other-user-info"):
        raise MeteorError(
            "Editing user is not allowed",
            "error-action-not-allowed",
            {"method": _INSERT_OR_UPDATE, "action": "Editing_user"},
        )
    if target is None:
        raise MeteorError(
            'The required "userId" or "username" param provided does not match any users',
            "error-invalid-user",
        )
    if is_self and "verified" in data and not await ctx.can(actor, "edit-other-user-info"):
        raise MeteorError(
            "Editing email verification is not allowed",
            "error-action-not-allowed",
            {"method": _INSERT_OR_UPDATE, "action": "Editing_user"},
        )
    values: Row = {}
    extra = dict(target["extra"] or {})
    if "name" in data:
        name = data["name"] or ""
        if not name:
            raise MeteorError(
                "The field Name is required",
                "error-the-field-is-required",
                {"method": _INSERT_OR_UPDATE, "field": "Name"},
            )
        if name_has_invalid_chars(name):
            raise Failure("Name contains invalid characters")
        values["name"] = name
    if "username" in data and data["username"] != target["username"]:
        username = data["username"] or ""
        if not valid_username(ctx, username):
            raise MeteorError(
                f"{username} is not a valid username",
                "error-input-is-not-a-valid-field",
                {"method": _INSERT_OR_UPDATE, "input": username, "field": "Username"},
            )
        other = await users.get_by_username(ctx.conn, username)
        if other is not None and other["id"] != user_id:
            raise MeteorError(
                f"{username} is already in use :(",
                "error-field-unavailable",
                {"method": _INSERT_OR_UPDATE, "field": username},
            )
        values["username"] = username
        values["username_lower"] = username.lower()
    if data.get("email"):
        email = data["email"]
        if not valid_email(email):
            raise MeteorError(
                f"{email} is not a valid e-mail",
                "error-invalid-email",
                {"method": _INSERT_OR_UPDATE, "input": email, "field": "Email"},
            )
        other = await users.get_by_email(ctx.conn, email)
        if other is not None and other["id"] != user_id:
            raise MeteorError(
                f"{email} is already in use :(",
                "error-field-unavailable",
                {"method": _INSERT_OR_UPDATE, "field": email},
            )
        values["email_lower"] = email.lower()
        extra["emails"] = [{"address": email, "verified": bool(data.get("verified", False))}]
    elif "verified" in data and extra.get("emails"):
        extra["emails"] = [{**extra["emails"][0], "verified": bool(data["verified"])}, *extra["emails"][1:]]
    if data.get("password"):
        if not is_self and not await ctx.can(actor, "edit-other-user-password"):
            raise MeteorError(
                "Editing user is not allowed",
                "error-action-not-allowed",
                {"method": _INSERT_OR_UPDATE, "action": "Editing_user"},
            )
        values["password_hash"] = await hashing.hash(str(data["password"]))
    if "roles" in data and data["roles"] is not None:
        roles = list(dict.fromkeys(data["roles"]))
        if not await ctx.can(actor, "assign-roles") and set(roles) != set(target["roles"]):
            raise MeteorError(
                "Assigning roles is not allowed",
                "error-action-not-allowed",
                {"method": _INSERT_OR_UPDATE, "action": "Assign_role"},
            )
        await _check_roles(ctx, actor, roles, "Editing_user")
        if "admin" in target["roles"] and "admin" not in roles:
            await _ensure_other_admin(ctx, user_id, method=_INSERT_OR_UPDATE)
        values["roles"] = roles
    if "active" in data and data["active"] is not None:
        if not data["active"] and target["active"]:
            if "admin" in target["roles"]:
                await _ensure_other_active_admin(ctx, user_id)
            await relinquish_rooms(ctx, target, confirm=confirm_relinquish)
        values["active"] = bool(data["active"])
    for key in ("bio", "nickname", "statusText", "customFields"):
        if key in data:
            extra[key] = data[key]
    if "requirePasswordChange" in data:
        extra["requirePasswordChange"] = bool(data["requirePasswordChange"])
    if "status" in data and data["status"] in ("online", "away", "busy", "offline"):
        values["status"] = data["status"]
    values["extra"] = extra
    values["updated_at"] = ctx.now()
    await users.update_user(ctx.conn, user_id, values)
    if "username" in values and target["username"]:
        await _propagate_username(ctx, user_id, target["username"], values["username"])
    if values.get("active") is False:
        await users.delete_login_tokens(ctx.conn, user_id)
    updated = await users.get_by_id(ctx.conn, user_id)
    assert updated is not None
    return updated


async def _propagate_username(ctx: Ctx, user_id: str, old: str, new: str) -> None:
    """Rocket.Chat rewrites a renamed user's username wherever documents copy it (memberships,
    messages, rooms they created, direct-message names); otherwise history and memberships
    would keep showing, and integrations would receive, the old name."""
    conn = ctx.conn
    subs, msgs, room_table = tables.subscriptions, tables.messages, tables.rooms
    await conn.execute(sql_update(subs).where(subs.c.user_id == user_id).values(username=new))
    await conn.execute(sql_update(msgs).where(msgs.c.u_id == user_id).values(u_username=new))
    await conn.execute(sql_update(msgs).where(msgs.c.edited_by_id == user_id).values(edited_by_username=new))
    await conn.execute(
        sql_update(room_table).where(room_table.c.creator_id == user_id).values(creator_username=new)
    )
    for sub in await rooms.user_subscriptions(conn, user_id, types=["d"]):
        room = await rooms.get_room(conn, sub["rid"])
        if room is None:
            continue
        if room["usernames"]:
            renamed = [new if u == old else u for u in room["usernames"]]
            await rooms.update_room(conn, room["id"], {"usernames": renamed})
        # The other members' subscription is named after their peers' usernames.
        peers = await conn.execute(
            select(subs.c.user_id, subs.c.name).where(subs.c.rid == room["id"], subs.c.user_id != user_id)
        )
        for peer_id, name in peers.all():
            if name is None:
                continue
            parts = [new if part == old else part for part in name.split(", ")]
            await rooms.update_subscription(conn, room["id"], peer_id, {"name": ", ".join(parts)})


async def _ensure_other_admin(ctx: Ctx, user_id: str, *, method: str) -> None:
    """Rocket.Chat refuses to drop the last holder of `admin` (active or not) from the role."""
    if not [u for u in await users.list_with_role(ctx.conn, "admin") if u["id"] != user_id]:
        raise MeteorError(
            "Leaving the app without admins is not allowed",
            "error-action-not-allowed",
            {"method": method, "action": "Remove_last_admin"},
        )


async def _ensure_other_active_admin(ctx: Ctx, user_id: str) -> None:
    """Deactivation counts only active admins (RC's setUserActiveStatus, details included)."""
    admins = [u for u in await users.list_with_role(ctx.conn, "admin") if u["active"] and u["id"] != user_id]
    if not admins:
        raise MeteorError(
            "Leaving the app without an active admin is not allowed",
            "error-action-not-allowed",
            {"method": "removeUserFromRole", "action": "Remove_last_admin"},
        )


async def set_active_status(ctx: Ctx, target: Row, active: bool, *, confirm_relinquish: bool = False) -> Row:
    if not active and target["active"]:
        if "admin" in target["roles"]:
            await _ensure_other_active_admin(ctx, target["id"])
        await relinquish_rooms(ctx, target, confirm=confirm_relinquish)
    await users.update_user(ctx.conn, target["id"], {"active": active, "updated_at": ctx.now()})
    if not active:
        await users.delete_login_tokens(ctx.conn, target["id"])
    row = await users.get_by_id(ctx.conn, target["id"])
    assert row is not None
    return row


async def delete(ctx: Ctx, target: Row, *, confirm_relinquish: bool = False) -> None:
    """Remove a user and their memberships (RC's deleteUser). The last admin cannot be removed;
    the last owner of rooms must confirm handing them over (`confirmRelinquish`)."""
    if "admin" in target["roles"]:
        await _ensure_other_admin(ctx, target["id"], method="deleteUser")
    await relinquish_rooms(ctx, target, confirm=confirm_relinquish)
    for sub in await rooms.user_subscriptions(ctx.conn, target["id"]):
        room = await rooms.get_room(ctx.conn, sub["rid"])
        if room is not None and room["t"] in ("c", "p"):
            await remove_member(ctx, room, target)
    await users.delete_user(ctx.conn, target["id"])


async def _single_owned_rooms(ctx: Ctx, user: Row) -> tuple[list[Row], list[Row]]:
    """Rooms where `user` is the only owner: (those with other members, those without)."""
    change_owner: list[Row] = []
    remove: list[Row] = []
    for sub in await rooms.user_subscriptions(ctx.conn, user["id"], types=["c", "p"]):
        if "owner" not in sub["roles"]:
            continue
        owners = [
            s for s in await rooms.subscriptions_with_roles(ctx.conn, sub["rid"]) if "owner" in s["roles"]
        ]
        if len(owners) != 1:
            continue
        room = await rooms.get_room(ctx.conn, sub["rid"])
        if room is None:
            continue
        if await rooms.count_members(ctx.conn, room["id"]) > 1:
            change_owner.append(room)
        else:
            remove.append(room)
    return change_owner, remove


async def relinquish_rooms(ctx: Ctx, user: Row, *, confirm: bool) -> None:
    """RC's last-owner rule for deleting or deactivating a user: without confirmation refuse and
    name the rooms; with it, the longest-standing other member becomes owner, and rooms nobody
    else is in are deleted."""
    change_owner, remove = await _single_owned_rooms(ctx, user)
    if not change_owner and not remove:
        return
    if not confirm:
        raise MeteorError(
            None,
            "user-last-owner",
            {
                "shouldChangeOwner": [r["fname"] or r["name"] for r in change_owner],
                "shouldBeRemoved": [r["fname"] or r["name"] for r in remove],
            },
        )
    subs = tables.subscriptions
    for room in change_owner:
        heir = (
            await ctx.conn.execute(
                select(subs.c.user_id, subs.c.roles)
                .where(subs.c.rid == room["id"], subs.c.user_id != user["id"])
                .order_by(subs.c.ts, subs.c.id)
                .limit(1)
            )
        ).first()
        if heir is not None:
            roles = [*list(heir.roles or []), "owner"]
            await rooms.update_subscription(ctx.conn, room["id"], heir.user_id, {"roles": roles})
    for room in remove:
        await rooms.delete_room(ctx.conn, room["id"], room["t"], ctx.now())
