"""`roles.*` endpoints (core-api.md §10.3)."""

from __future__ import annotations

from starlette.responses import Response

from hookhub.api.deps import CallerDep, HubDep, PageDep, parse_updated_since
from hookhub.api.envelope import ok
from hookhub.api.routing import Body, make_router
from hookhub.services import roles as role_service
from hookhub.services.errors import MeteorError, PermissionRequired
from hookhub.store import access

router = make_router("roles")


@router.get("/api/v1/roles.list", summary="Every role")
async def list_roles(hub: HubDep, caller: CallerDep) -> Response:
    async with hub.tx(write=False) as ctx:
        rows = await access.all_roles(ctx.conn)
    return ok({"roles": [role_service.role_doc(r) for r in rows]})


@router.get("/api/v1/roles.sync", summary="Roles changed since a date")
async def sync(hub: HubDep, caller: CallerDep, updatedSince: str | None = None) -> Response:
    if not updatedSince:
        raise MeteorError('The "updatedSince" query parameter must be provided.', "error-param-not-provided")
    since = parse_updated_since(updatedSince)
    assert since is not None
    async with hub.tx(write=False) as ctx:
        rows = await access.roles_updated_since(ctx.conn, since)
    return ok({"roles": {"update": [role_service.role_doc(r) for r in rows], "remove": []}})


class AddUserToRoleBody(Body):
    roleId: str | None = None
    # roleName: the older clients' spelling (built-in roles' ids equal their names)
    roleName: str | None = None
    userId: str | None = None
    username: str | None = None
    user: str | None = None
    roomId: str | None = None


@router.post("/api/v1/roles.addUserToRole", summary="Give a user a role (globally or in a room)")
async def add_user_to_role(hub: HubDep, caller: CallerDep, body: AddUserToRoleBody) -> Response:
    async with hub.tx() as ctx:
        role = await role_service.add_user_to_role(
            ctx,
            caller.user,
            role_id=body.roleId or body.roleName,
            user_id=body.userId,
            username=body.username,
            user=body.user,
            room_id=body.roomId,
        )
    return ok({"role": role_service.role_doc(role)})


class RemoveUserFromRoleBody(Body):
    roleId: str | None = None
    roleName: str | None = None
    username: str | None = None
    scope: str | None = None


@router.post("/api/v1/roles.removeUserFromRole", summary="Take a role away from a user")
async def remove_user_from_role(hub: HubDep, caller: CallerDep, body: RemoveUserFromRoleBody) -> Response:
    async with hub.tx() as ctx:
        if not await ctx.can(caller.user, "access-permissions"):
            raise PermissionRequired()
        role = await role_service.remove_user_from_role(
            ctx, role_id=body.roleId or body.roleName, username=body.username, room_id=body.scope
        )
    return ok({"role": role_service.role_doc(role)})


@router.get("/api/v1/roles.getUsersInRole", summary="Users holding a role")
async def users_in_role(
    hub: HubDep, caller: CallerDep, page: PageDep, role: str | None = None, roomId: str | None = None
) -> Response:
    async with hub.tx(write=False) as ctx:
        rows, total = await role_service.users_in_role(
            ctx, caller.user, role, roomId, offset=page.offset, limit=page.count
        )
    return ok({"users": [role_service.role_holder_doc(r) for r in rows], "total": total})
