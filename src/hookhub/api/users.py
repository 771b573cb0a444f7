"""`users.*` (core-api.md §4)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import func
from starlette.responses import Response

from hookhub.api.deps import CallerDep, HubDep, OptionalCallerDep, PageDep
from hookhub.api.envelope import ok
from hookhub.api.routing import Body, StrictBody, make_router
from hookhub.ids import iso
from hookhub.services import auth
from hookhub.services import users as user_service
from hookhub.services.documents import user_doc, user_list_doc
from hookhub.services.errors import Failure, PermissionRequired
from hookhub.store import rooms, users
from hookhub.store.tables import users as users_table

router = make_router("users")

# Beyond Rocket.Chat: what the database columns hold (PostgreSQL refuses a longer value); the
# answer is ajv's "must NOT have more than N characters".
Name = Annotated[str, Field(max_length=255)]
Email = Annotated[str, Field(max_length=320)]


class RegisterBody(StrictBody):
    username: Name
    email: Email
    pass_: str = Field(alias="pass")
    name: Name | None = None
    secret: str | None = None
    reason: str | None = None
    customFields: dict[str, Any] | None = None


@router.post("/api/v1/users.register", summary="Self sign-up")
async def register(hub: HubDep, caller: OptionalCallerDep, body: RegisterBody) -> Response:
    if caller is not None:
        raise Failure("Logged in users can not register again.")
    data = body.model_dump(by_alias=True)
    async with hub.tx() as ctx:
        user = await user_service.register(ctx, hub.hashing, data)
    return ok({"user": user_doc(user, full=False)})


class CreateBody(StrictBody):
    email: Email
    name: Name
    password: str
    username: Name
    active: bool | None = None
    bio: str | None = None
    nickname: str | None = None
    statusText: str | None = None
    roles: list[str] | None = None
    joinDefaultChannels: bool | None = None
    requirePasswordChange: bool | None = None
    setRandomPassword: bool | None = None
    sendWelcomeEmail: bool | None = None
    verified: bool | None = None
    customFields: dict[str, Any] | None = None
    settings: dict[str, Any] | None = None
    fields: str | dict[str, Any] | None = None


@router.post("/api/v1/users.create", summary="Create a user (admin)")
async def create(hub: HubDep, caller: CallerDep, body: CreateBody) -> Response:
    async with hub.tx() as ctx:
        user = await user_service.create(ctx, hub.hashing, caller.user, body.model_dump(exclude_none=True))
    return ok({"user": user_doc(user, full=True)})


@router.get("/api/v1/users.info", summary="One user by id or username")
async def info(
    hub: HubDep,
    caller: CallerDep,
    userId: str | None = None,
    username: str | None = None,
    includeUserRooms: str | None = None,
) -> Response:
    if not userId and not username:
        raise Failure("Invalid search query.")
    async with hub.tx(write=False) as ctx:
        user = await (
            users.get_by_id(ctx.conn, userId) if userId else users.get_by_username(ctx.conn, username or "")
        )
        if user is None:
            raise Failure("User not found.")
        is_self = user["id"] == caller.id
        privileged = is_self or await ctx.can(caller.user, "view-full-other-user-info")
        doc = user_doc(user, full=privileged)
        if includeUserRooms == "true" and (is_self or await ctx.can(caller.user, "view-other-user-channels")):
            subs = await rooms.user_subscriptions(ctx.conn, user["id"])
            doc["rooms"] = [
                {
                    "rid": s["rid"],
                    "name": s["name"],
                    "t": s["t"],
                    "roles": list(s["roles"]),
                    "unread": s["unread"],
                }
                for s in subs
            ]
    return ok({"user": doc, "canViewAllInfo": privileged})


_USER_SORT = {
    "username": users_table.c.username_lower,
    "name": func.lower(users_table.c.name),
    "createdAt": users_table.c.created_at,
    "lastLogin": users_table.c.last_login,
    "status": users_table.c.status,
    "active": users_table.c.active,
    "type": users_table.c.type,
    "_id": users_table.c.id,
}


def user_order(sort: dict[str, int] | None) -> list[Any]:
    spec = sort or {"username": 1}
    return [
        (_USER_SORT[k].asc() if v == 1 else _USER_SORT[k].desc()) for k, v in spec.items() if k in _USER_SORT
    ]


@router.get("/api/v1/users.list", summary="All users (needs view-d-room)")
async def list_users(hub: HubDep, caller: CallerDep, page: PageDep) -> Response:
    async with hub.tx(write=False) as ctx:
        if not await ctx.can(caller.user, "view-d-room"):
            raise PermissionRequired()
        rows, total = await users.list_users(
            ctx.conn, order_by=user_order(page.sort), offset=page.offset, limit=page.count
        )
    return ok(
        {"users": [user_list_doc(r) for r in rows], "count": len(rows), "offset": page.offset, "total": total}
    )


class UpdateData(StrictBody):
    email: Email | None = None
    name: Name | None = None
    password: str | None = None
    username: Name | None = None
    bio: str | None = None
    nickname: str | None = None
    statusText: str | None = None
    active: bool | None = None
    roles: list[str] | None = None
    requirePasswordChange: bool | None = None
    setRandomPassword: bool | None = None
    sendWelcomeEmail: bool | None = None
    verified: bool | None = None
    customFields: dict[str, Any] | None = None
    status: str | None = None
    settings: dict[str, Any] | None = None
    language: str | None = None


class UpdateBody(StrictBody):
    userId: str = Field(min_length=1)
    data: UpdateData
    confirmRelinquish: bool | None = None


@router.post("/api/v1/users.update", summary="Change a user's profile, password, roles or activation")
async def update(hub: HubDep, caller: CallerDep, body: UpdateBody) -> Response:
    async with hub.tx() as ctx:
        user = await user_service.update(
            ctx,
            hub.hashing,
            caller.user,
            body.userId,
            body.data.model_dump(exclude_unset=True),
            confirm_relinquish=body.confirmRelinquish is True,
        )
    return ok({"user": user_doc(user, full=True)})


class UserTargetBody(Body):
    userId: str | None = None
    username: str | None = None
    user: str | None = None
    confirmRelinquish: bool | None = None


@router.post("/api/v1/users.delete", summary="Delete a user (needs delete-user)")
async def delete(hub: HubDep, caller: CallerDep, body: UserTargetBody) -> Response:
    async with hub.tx() as ctx:
        if not await ctx.can(caller.user, "delete-user"):
            raise PermissionRequired()
        target = await user_service.find_user_param(ctx, body.userId, body.username, body.user)
        await user_service.delete(ctx, target, confirm_relinquish=body.confirmRelinquish is True)
    return ok()


class CreateTokenBody(Body):
    userId: str | None = None
    username: str | None = None
    user: str | None = None
    secret: str | None = None


@router.post("/api/v1/users.createToken", summary="Issue a login token for a user (needs the server secret)")
async def create_token(hub: HubDep, caller: CallerDep, body: CreateTokenBody) -> Response:
    async with hub.tx() as ctx:
        target = await user_service.find_user_param(ctx, body.userId, body.username, body.user)
        token = await auth.create_token_for(ctx, caller.user, target, body.secret)
    return ok({"data": {"userId": target["id"], "authToken": token}})


class ActiveStatusBody(StrictBody):
    userId: str = Field(min_length=1)
    activeStatus: bool
    confirmRelinquish: bool | None = None


@router.post("/api/v1/users.setActiveStatus", summary="Activate or deactivate a user")
async def set_active_status(hub: HubDep, caller: CallerDep, body: ActiveStatusBody) -> Response:
    async with hub.tx() as ctx:
        if not await ctx.can(caller.user, "edit-other-user-active-status"):
            raise PermissionRequired()
        target = await user_service.find_user_param(ctx, body.userId, None)
        user = await user_service.set_active_status(
            ctx, target, body.activeStatus, confirm_relinquish=body.confirmRelinquish is True
        )
    return ok({"user": {"_id": user["id"], "active": user["active"]}})


class TokenNameBody(Body):
    tokenName: str | None = None
    bypassTwoFactor: bool = False


# the size of the personal token's name column (store.tables)
TOKEN_NAME_MAX = 255


def _token_name(body: TokenNameBody) -> str:
    if not body.tokenName:
        raise Failure("The 'tokenName' param is required")
    return body.tokenName


@router.post("/api/v1/users.generatePersonalAccessToken", summary="Create a personal access token")
async def generate_pat(hub: HubDep, caller: CallerDep, body: TokenNameBody) -> Response:
    name = _token_name(body)
    if len(name) > TOKEN_NAME_MAX:
        # beyond Rocket.Chat: the name must fit its column (PostgreSQL refuses a longer one)
        raise Failure(f"The 'tokenName' param must not be longer than {TOKEN_NAME_MAX} characters")
    async with hub.tx() as ctx:
        token = await auth.generate_personal_token(ctx, caller.user, name, body.bypassTwoFactor)
    return ok({"token": token})


@router.post("/api/v1/users.regeneratePersonalAccessToken", summary="Replace a personal access token")
async def regenerate_pat(hub: HubDep, caller: CallerDep, body: TokenNameBody) -> Response:
    name = _token_name(body)
    async with hub.tx() as ctx:
        token = await auth.regenerate_personal_token(ctx, caller.user, name)
    return ok({"token": token})


@router.post("/api/v1/users.removePersonalAccessToken", summary="Revoke a personal access token")
async def remove_pat(hub: HubDep, caller: CallerDep, body: TokenNameBody) -> Response:
    name = _token_name(body)
    async with hub.tx() as ctx:
        await auth.remove_personal_token(ctx, caller.user, name)
    return ok()


@router.get("/api/v1/users.getPersonalAccessTokens", summary="The caller's personal access tokens")
async def list_pats(hub: HubDep, caller: CallerDep) -> Response:
    async with hub.tx(write=False) as ctx:
        if not await ctx.can(caller.user, "create-personal-access-tokens"):
            raise PermissionRequired()
        rows = await users.personal_tokens(ctx.conn, caller.id)
    tokens = [
        {
            "name": r["name"],
            "createdAt": iso(r["created_at"]),
            "lastTokenPart": r["last_token_part"],
            "bypassTwoFactor": r["bypass_two_factor"],
        }
        for r in rows
    ]
    return ok({"tokens": tokens})
