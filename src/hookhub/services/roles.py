"""Roles and permissions administration (core-api.md §10): permission edits, role assignment
to users (global) and to memberships (room-scoped), and who holds a role."""

from __future__ import annotations

from typing import Any

from hookhub.ids import iso
from hookhub.services.context import Ctx
from hookhub.services.errors import Failure, MeteorError
from hookhub.store import access, rooms, users
from hookhub.store.rows import Row

ROOM_SCOPE = "Subscriptions"
_ADD_METHOD = "authorization:addUserToRole"


def role_doc(row: Row) -> dict[str, Any]:
    return {
        "_id": row["id"],
        "name": row["name"],
        "scope": row["scope"],
        "description": row["description"],
        "protected": row["protected"],
        "mandatory2fa": row["mandatory2fa"],
    }


def permission_doc(row: Row) -> dict[str, Any]:
    return {"_id": row["id"], "roles": list(row["roles"]), "_updatedAt": iso(row["updated_at"])}


# -- permissions ---------------------------------------------------------------------------------


def _parse_permission_update(body: Any) -> list[tuple[str, list[str]]]:
    """The body must be exactly `{permissions: [{_id, roles: [unique strings]}]}`."""
    invalid = Failure("Invalid body params", "error-invalid-body-params")
    if (
        not isinstance(body, dict)
        or set(body) != {"permissions"}
        or not isinstance(body["permissions"], list)
    ):
        raise invalid
    out: list[tuple[str, list[str]]] = []
    for item in body["permissions"]:
        if not isinstance(item, dict) or set(item) != {"_id", "roles"}:
            raise invalid
        perm_id, role_ids = item["_id"], item["roles"]
        if not isinstance(perm_id, str) or not isinstance(role_ids, list):
            raise invalid
        if not all(isinstance(r, str) for r in role_ids) or len(set(role_ids)) != len(role_ids):
            raise invalid
        out.append((perm_id, role_ids))
    return out


async def update_permissions(ctx: Ctx, body: Any) -> list[Row]:
    """`permissions.update`: every listed permission's roles are replaced, after all of them
    were validated. Returns every permission."""
    changes = _parse_permission_update(body)
    perm_ids = [p for p, _ in changes]
    if len(await access.permissions_by_ids(ctx.conn, perm_ids)) != len(perm_ids):
        # a permission listed twice counts as unknown, as in Rocket.Chat
        raise Failure("Invalid permission", "error-invalid-permission")
    role_ids = list(dict.fromkeys(r for _, roles in changes for r in roles))
    if len(await access.roles_by_ids(ctx.conn, role_ids)) != len(role_ids):
        raise Failure("Invalid role", "error-invalid-role")
    now = ctx.now()
    for perm_id, roles in changes:
        await access.set_permission_roles(ctx.conn, perm_id, roles, now)
    ctx.permissions.invalidate()
    return await access.all_permissions(ctx.conn)


# -- role assignment -------------------------------------------------------------------------------


async def user_has_role(ctx: Ctx, user: Row, role: Row, room_id: str | None) -> bool:
    """RC's isUserInRoles: room-scoped roles live on the subscription, the rest on the user."""
    if role["scope"] == ROOM_SCOPE:
        if not room_id:
            return False
        sub = await rooms.get_subscription(ctx.conn, room_id, user["id"])
        return sub is not None and role["id"] in sub["roles"]
    return role["id"] in user["roles"]


async def _set_roles(ctx: Ctx, user: Row, role: Row, room_id: str | None, *, grant: bool) -> None:
    now = ctx.now()
    if role["scope"] == ROOM_SCOPE:
        # a room-scoped role without a room has nowhere to live; RC quietly does nothing
        if not room_id:
            return
        sub = await rooms.get_subscription(ctx.conn, room_id, user["id"])
        if sub is None:
            return
        held = [r for r in sub["roles"] if r != role["id"]]
        await rooms.update_subscription(
            ctx.conn,
            room_id,
            user["id"],
            {"roles": [*held, role["id"]] if grant else held, "updated_at": now},
        )
        return
    held = [r for r in user["roles"] if r != role["id"]]
    await users.update_user(
        ctx.conn, user["id"], {"roles": [*held, role["id"]] if grant else held, "updated_at": now}
    )


async def add_user_to_role(
    ctx: Ctx,
    actor: Row,
    *,
    role_id: str | None,
    user_id: str | None,
    username: str | None,
    user: str | None,
    room_id: str | None,
) -> Row:
    """`roles.addUserToRole` (core-api.md §10.3). Returns the role."""
    if not role_id:
        raise Failure("error-invalid-role-properties")
    role = await access.get_role(ctx.conn, role_id)
    if role is None:
        raise Failure("error-role-not-found", "Role not found")
    if not await ctx.can(actor, "access-permissions"):
        raise MeteorError(
            "Accessing permissions is not allowed",
            "error-action-not-allowed",
            {"method": _ADD_METHOD, "action": "Accessing_permissions"},
        )
    if role["id"] == "admin" and not await ctx.can(actor, "assign-admin-role"):
        raise MeteorError(
            "Assigning admin is not allowed",
            "error-action-not-allowed",
            {"method": _ADD_METHOD, "action": "Assign_admin"},
        )
    target = await users.get_by_params(ctx.conn, user_id, username, user)
    if target is None:
        raise MeteorError("User not found", "error-user-not-found", {"method": _ADD_METHOD})
    if room_id and await rooms.get_subscription(ctx.conn, room_id, target["id"]) is None:
        raise MeteorError("User is not part of given room", "error-invalid-user", {"method": _ADD_METHOD})
    if await user_has_role(ctx, target, role, room_id):
        raise MeteorError("User already in role", "error-user-already-in-role")
    await _set_roles(ctx, target, role, room_id, grant=True)
    return role


async def remove_user_from_role(
    ctx: Ctx, *, role_id: str | None, username: str | None, room_id: str | None
) -> Row:
    """`roles.removeUserFromRole` (core-api.md §10.3); the route checked `access-permissions`."""
    if not role_id:
        raise Failure("error-invalid-role-properties")
    target = await users.get_by_username(ctx.conn, username) if username else None
    if target is None:
        raise MeteorError("There is no user with this username", "error-invalid-user")
    role = await access.get_role(ctx.conn, role_id)
    if role is None:
        raise MeteorError("This role does not exist", "error-invalid-roleId")
    if not await user_has_role(ctx, target, role, room_id):
        raise MeteorError("User is not in this role", "error-user-not-in-role")
    if role["id"] == "admin" and await users.count_with_role(ctx.conn, "admin") == 1:
        raise MeteorError("You need to have at least one admin", "error-admin-required")
    await _set_roles(ctx, target, role, room_id, grant=False)
    return role


async def users_in_role(
    ctx: Ctx, actor: Row, role_name: str | None, room_id: str | None, *, offset: int, limit: int | None
) -> tuple[list[Row], int]:
    """`roles.getUsersInRole`: holders of a global role, or of a room role in `room_id`."""
    if not role_name:
        raise MeteorError('Query param "role" is required', "error-param-not-provided")
    if not await ctx.can(actor, "access-permissions"):
        raise MeteorError("Not allowed", "error-not-allowed")
    if room_id and not await ctx.can(actor, "view-other-user-channels"):
        raise MeteorError("Not allowed", "error-not-allowed")
    role = await access.get_role(ctx.conn, role_name)
    if role is None:
        raise MeteorError(None, "error-invalid-roleId")
    if role["scope"] == ROOM_SCOPE and room_id:
        return await access.room_users_in_role(ctx.conn, role["id"], room_id, offset=offset, limit=limit)
    return await access.users_in_role(ctx.conn, role["id"], offset=offset, limit=limit)


def role_holder_doc(row: Row) -> dict[str, Any]:
    """How `roles.getUsersInRole` shows a user."""
    extra = row.get("extra") or {}
    doc: dict[str, Any] = {
        "_id": row["id"],
        "name": row["name"],
        "username": row["username"],
        "emails": extra.get("emails", []),
        "createdAt": iso(row["created_at"]),
        "_updatedAt": iso(row["updated_at"]),
    }
    if "avatarETag" in extra:
        doc["avatarETag"] = extra["avatarETag"]
    return doc
