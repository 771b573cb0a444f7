"""`groups.*` endpoints (see ../shared/spec/core-api.md §6). The rules live in
`services.room_admin`, shared with `channels.*`; this module maps parameters and results.
Private groups are only found by their members (non-members get `error-room-not-found`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Query
from starlette.requests import Request
from starlette.responses import Response

from hookhub.api.channels import (
    AddAllBody,
    CreateBody,
    CustomFieldsBody,
    InviteBody,
    ReadOnlyBody,
    RenameBody,
    RoomBody,
    TextSettingBody,
    TypeBody,
    UserTargetBody,
    active_only_param,
    custom_fields_param,
)
from hookhub.api.deps import CallerDep, HubDep, PageDep
from hookhub.api.envelope import ok
from hookhub.api.routing import make_router
from hookhub.services import room_admin as admin
from hookhub.services.context import Ctx
from hookhub.services.documents import room_doc
from hookhub.services.errors import Failure, PermissionRequired
from hookhub.services.rooms import leave_room
from hookhub.services.users import find_user_param
from hookhub.store.rows import Row

router = make_router("groups")
FAMILY = admin.GROUPS

# groups.history's own default page size (channels.history uses the API default)
HISTORY_DEFAULT_COUNT = 20


async def _find(
    ctx: Ctx, caller: Row, body: RoomBody, *, allow_archived: bool = False, check_membership: bool = True
) -> Row:
    return await admin.lookup(
        ctx,
        FAMILY,
        caller,
        body.roomId,
        body.roomName,
        allow_archived=allow_archived,
        check_membership=check_membership,
    )


async def _answer(ctx: Ctx, room: Row) -> Response:
    return ok({FAMILY.key: room_doc(await admin.fresh(ctx, room))})


@router.post("/api/v1/groups.create", summary="Create a private group")
async def create(hub: HubDep, caller: CallerDep, body: CreateBody) -> Response:
    async with hub.tx() as ctx:
        room = await admin.create(
            ctx,
            FAMILY,
            caller.user,
            body.name,
            members=body.members,
            read_only=bool(body.readOnly),
            exclude_self=bool(body.excludeSelf),
            custom_fields=body.customFields,
            extra_data=body.extraData,
        )
    return ok({FAMILY.key: room_doc(room)})


@router.get("/api/v1/groups.info", summary="One private group the caller belongs to")
async def info(
    hub: HubDep, caller: CallerDep, roomId: str | None = None, roomName: str | None = None
) -> Response:
    async with hub.tx(write=False) as ctx:
        room = await admin.lookup(ctx, FAMILY, caller.user, roomId, roomName, allow_archived=True)
    return ok({FAMILY.key: room_doc(room)})


def _listing(rows: list[Row], total: int, offset: int) -> Response:
    return ok({"groups": [room_doc(r) for r in rows], "count": len(rows), "offset": offset, "total": total})


@router.get("/api/v1/groups.list", summary="Private groups the caller belongs to")
async def list_groups(hub: HubDep, caller: CallerDep, page: PageDep) -> Response:
    async with hub.tx(write=False) as ctx:
        rows, total = await admin.list_joined(
            ctx, FAMILY, caller.user, sort=page.sort, offset=page.offset, limit=page.count
        )
    return _listing(rows, total, page.offset)


@router.get("/api/v1/groups.listAll", summary="Every private group (room administrators)")
async def list_all(hub: HubDep, caller: CallerDep, page: PageDep) -> Response:
    async with hub.tx(write=False) as ctx:
        if not await ctx.can(caller.user, "view-room-administration"):
            raise PermissionRequired()
        rows, total = await admin.list_all(ctx, FAMILY, sort=page.sort, offset=page.offset, limit=page.count)
    return _listing(rows, total, page.offset)


@router.post("/api/v1/groups.leave", summary="Leave a private group")
async def leave(hub: HubDep, caller: CallerDep, body: RoomBody) -> Response:
    async with hub.tx() as ctx:
        room = await _find(ctx, caller.user, body)
        await leave_room(ctx, room, caller.user)
    return ok()


@router.post("/api/v1/groups.invite", summary="Add users to a private group")
async def invite(hub: HubDep, caller: CallerDep, body: InviteBody) -> Response:
    async with hub.tx() as ctx:
        # RC resolves the group without a membership check here; the invite rights decide
        room = await _find(ctx, caller.user, body, check_membership=False)
        targets = await admin.users_from_params(
            ctx, body.userId, body.username, body.user, body.userIds, body.usernames
        )
        await admin.invite(ctx, FAMILY, room, caller.user, targets)
        return await _answer(ctx, room)


@router.post("/api/v1/groups.kick", summary="Remove a user from a private group")
async def kick(hub: HubDep, caller: CallerDep, body: UserTargetBody) -> Response:
    async with hub.tx() as ctx:
        room = await _find(ctx, caller.user, body)
        target = await find_user_param(ctx, body.userId, body.username, body.user)
        await admin.kick(ctx, FAMILY, room, caller.user, target)
        return await _answer(ctx, room)


def _role_route(role: str, grant: bool) -> Callable[..., Awaitable[Response]]:
    async def endpoint(hub: HubDep, caller: CallerDep, body: UserTargetBody) -> Response:
        async with hub.tx() as ctx:
            room = await _find(ctx, caller.user, body)
            target = await find_user_param(ctx, body.userId, body.username, body.user)
            await admin.set_room_role(ctx, room, caller.user, target, role, grant=grant)
        return ok()

    return endpoint


for _role in ("owner", "moderator", "leader"):
    for _grant, _verb in ((True, "add"), (False, "remove")):
        router.add_api_route(
            f"/api/v1/groups.{_verb}{_role.title()}",
            _role_route(_role, _grant),
            methods=["POST"],
            summary=f"{_verb.title()} the room role {_role}",
        )


@router.get("/api/v1/groups.members", summary="Members of a private group")
async def members(
    request: Request,
    hub: HubDep,
    caller: CallerDep,
    page: PageDep,
    roomId: str | None = None,
    roomName: str | None = None,
    filter: str | None = None,
) -> Response:
    statuses = request.query_params.getlist("status[]") + request.query_params.getlist("status")
    async with hub.tx(write=False) as ctx:
        room = await admin.lookup(ctx, FAMILY, caller.user, roomId, roomName, allow_archived=True)
        body = await admin.members_page(
            ctx,
            room,
            caller.user,
            text=filter,
            statuses=statuses,
            sort=page.sort,
            offset=page.offset,
            count=page.count,
        )
    return ok(body)


@router.get("/api/v1/groups.messages", summary="A page of a private group's messages")
async def messages(
    hub: HubDep, caller: CallerDep, page: PageDep, roomId: str | None = None, roomName: str | None = None
) -> Response:
    async with hub.tx(write=False) as ctx:
        room = await admin.lookup(ctx, FAMILY, caller.user, roomId, roomName, allow_archived=True)
        body = await admin.messages_page(ctx, room, sort=page.sort, offset=page.offset, count=page.count)
    return ok(body)


@router.get("/api/v1/groups.history", summary="A private group's messages, newest first")
async def history(
    hub: HubDep,
    caller: CallerDep,
    page: PageDep,
    roomId: str | None = None,
    roomName: str | None = None,
    latest: str | None = None,
    oldest: str | None = None,
    inclusive: str | None = None,
    unreads: str | None = None,
    showThreadMessages: str | None = None,
    count: str | None = None,
) -> Response:
    latest_at = admin.date_param(latest, "latest")
    oldest_at = admin.date_param(oldest, "oldest")
    async with hub.tx(write=False) as ctx:
        room = await admin.lookup(ctx, FAMILY, caller.user, roomId, roomName, allow_archived=True)
        body = await admin.history(
            ctx,
            room,
            caller.user,
            latest=latest_at,
            oldest=oldest_at,
            inclusive=inclusive == "true",
            offset=page.offset,
            count=page.count if count is not None else HISTORY_DEFAULT_COUNT,
            unreads=unreads == "true",
            # unlike channels.history, thread replies show unless explicitly hidden
            show_thread_messages=showThreadMessages != "false",
        )
    return ok(body)


@router.post("/api/v1/groups.archive", summary="Archive a private group")
async def archive(hub: HubDep, caller: CallerDep, body: RoomBody) -> Response:
    async with hub.tx() as ctx:
        room = await _find(ctx, caller.user, body)
        await admin.archive(ctx, room, caller.user)
    return ok()


@router.post("/api/v1/groups.unarchive", summary="Unarchive a private group")
async def unarchive(hub: HubDep, caller: CallerDep, body: RoomBody) -> Response:
    async with hub.tx() as ctx:
        room = await _find(ctx, caller.user, body, allow_archived=True)
        await admin.unarchive(ctx, FAMILY, room, caller.user)
    return ok()


@router.post("/api/v1/groups.rename", summary="Rename a private group")
async def rename(hub: HubDep, caller: CallerDep, body: RenameBody) -> Response:
    if not body.name or not body.name.strip():
        raise Failure('The bodyParam "name" is required')
    async with hub.tx() as ctx:
        room = await _find(ctx, caller.user, body)
        await admin.rename(ctx, FAMILY, room, caller.user, body.name)
        return await _answer(ctx, room)


class DeleteBody(RoomBody):
    # RC's own deleteGroup test helper sends `groupId` (core-api.md §14.1 item 6)
    groupId: str | None = None


@router.post("/api/v1/groups.delete", summary="Delete a private group with its messages")
async def delete(hub: HubDep, caller: CallerDep, body: DeleteBody) -> Response:
    if not body.roomId and body.groupId:
        body.roomId = body.groupId
    async with hub.tx() as ctx:
        room = await _find(ctx, caller.user, body, allow_archived=True)
        await admin.delete(ctx, room, caller.user)
    return ok()


# -- settings ---------------------------------------------------------------------------------------


def _text_route(param: str, stored_as: str) -> Callable[..., Awaitable[Response]]:
    async def endpoint(hub: HubDep, caller: CallerDep, body: TextSettingBody) -> Response:
        value = getattr(body, param)
        if value is None:
            raise Failure(f'The bodyParam "{param}" is required')
        async with hub.tx() as ctx:
            room = await _find(ctx, caller.user, body)
            # unlike channels.*, the group setters accept an unchanged value
            await admin.set_text(ctx, room, caller.user, stored_as, value)
        return ok({param: value})

    return endpoint


for _param, _stored in (
    ("topic", "topic"),
    ("description", "description"),
    ("announcement", "announcement"),
    ("purpose", "description"),
):
    router.add_api_route(
        f"/api/v1/groups.set{_param.title()}",
        _text_route(_param, _stored),
        methods=["POST"],
        summary=f"Set a private group's {_param}",
    )


@router.post("/api/v1/groups.setReadOnly", summary="Make a private group read-only or not")
async def set_read_only(hub: HubDep, caller: CallerDep, body: ReadOnlyBody) -> Response:
    if body.readOnly is None:
        raise Failure('The bodyParam "readOnly" is required')
    async with hub.tx() as ctx:
        room = await _find(ctx, caller.user, body)
        if room["ro"] == body.readOnly:
            raise Failure("The private group read only setting is the same as what it would be changed to.")
        await admin.set_read_only(ctx, room, caller.user, body.readOnly)
        return await _answer(ctx, room)


@router.post("/api/v1/groups.setType", summary="Turn a private group into a public channel")
async def set_type(hub: HubDep, caller: CallerDep, body: TypeBody) -> Response:
    if not body.type or not body.type.strip():
        raise Failure('The bodyParam "type" is required')
    async with hub.tx() as ctx:
        room = await _find(ctx, caller.user, body)
        await admin.set_type(ctx, FAMILY, room, caller.user, body.type)
        return await _answer(ctx, room)


@router.post("/api/v1/groups.setCustomFields", summary="Replace a private group's custom fields")
async def set_custom_fields(hub: HubDep, caller: CallerDep, body: CustomFieldsBody) -> Response:
    fields = custom_fields_param(body)
    async with hub.tx() as ctx:
        room = await _find(ctx, caller.user, body)
        await admin.set_custom_fields(ctx, room, caller.user, fields)
        return await _answer(ctx, room)


# -- the caller's view: close / open ----------------------------------------------------------------


def _open_route(open_: bool) -> Callable[..., Awaitable[Response]]:
    async def endpoint(hub: HubDep, caller: CallerDep, body: RoomBody) -> Response:
        async with hub.tx() as ctx:
            room = await _find(ctx, caller.user, body, allow_archived=True)
            await admin.set_open(ctx, FAMILY, room, caller.user, open_=open_)
        return ok()

    return endpoint


router.add_api_route(
    "/api/v1/groups.close",
    _open_route(False),
    methods=["POST"],
    summary="Hide a private group from the caller's list",
)
router.add_api_route(
    "/api/v1/groups.open",
    _open_route(True),
    methods=["POST"],
    summary="Show a hidden private group in the caller's list again",
)


@router.post("/api/v1/groups.addAll", summary="Add every user to a private group")
async def add_all(hub: HubDep, caller: CallerDep, body: AddAllBody) -> Response:
    active_only = active_only_param(body)
    async with hub.tx() as ctx:
        room = await _find(ctx, caller.user, body)
        await admin.add_all(ctx, room, caller.user, active_only=active_only)
        return await _answer(ctx, room)


# -- reads about members ----------------------------------------------------------------------------


@router.get("/api/v1/groups.roles", summary="Members holding room roles in a private group")
async def roles(
    hub: HubDep, caller: CallerDep, roomId: str | None = None, roomName: str | None = None
) -> Response:
    async with hub.tx(write=False) as ctx:
        room = await admin.lookup(ctx, FAMILY, caller.user, roomId, roomName)
        return ok({"roles": await admin.room_roles(ctx, room, caller.user)})


@router.get("/api/v1/groups.moderators", summary="Moderators of a private group")
async def moderators(
    hub: HubDep, caller: CallerDep, roomId: str | None = None, roomName: str | None = None
) -> Response:
    async with hub.tx(write=False) as ctx:
        room = await admin.lookup(ctx, FAMILY, caller.user, roomId, roomName)
        return ok({"moderators": await admin.moderators(ctx, room)})


@router.get("/api/v1/groups.counters", summary="Message, member and unread counts of a private group")
async def counters(
    hub: HubDep,
    caller: CallerDep,
    roomId: str | None = None,
    roomName: str | None = None,
    userId: str | None = None,
) -> Response:
    async with hub.tx(write=False) as ctx:
        # RC finds the group here without the membership check: room administrators read the
        # counters of groups they are not in, other non-members get `joined: false` and nulls
        room = await admin.lookup(ctx, FAMILY, caller.user, roomId, roomName, check_membership=False)
        subject, is_admin = await admin.counters_subject(ctx, caller.user, userId)
        return ok(await admin.counters(ctx, room, subject, admin=is_admin))


@router.get("/api/v1/groups.online", summary="Members of a private group who are not offline")
async def online(
    hub: HubDep,
    caller: CallerDep,
    room_id: Annotated[str | None, Query(alias="_id")] = None,
    query: str | None = None,
) -> Response:
    async with hub.tx(write=False) as ctx:
        room = await admin.online_room(ctx, FAMILY, room_id, query)
        return ok({"online": await admin.online(ctx, room, caller.user)})


@router.get("/api/v1/groups.files", summary="Files uploaded to a private group (none: no uploads)")
async def files(
    hub: HubDep, caller: CallerDep, page: PageDep, roomId: str | None = None, roomName: str | None = None
) -> Response:
    """hookhub does not support file uploads, so the list is empty; the group lookup still
    refuses non-members, as for any read."""
    async with hub.tx(write=False) as ctx:
        await admin.lookup(ctx, FAMILY, caller.user, roomId, roomName, allow_archived=True)
    return ok(admin.files_page(page.offset))
