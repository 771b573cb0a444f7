"""`channels.*` endpoints (see ../shared/spec/core-api.md §5). The rules live in
`services.room_admin`, shared with `groups.*`; this module maps parameters and results."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Query
from starlette.requests import Request
from starlette.responses import Response

from hookhub.api.deps import CallerDep, HubDep, PageDep
from hookhub.api.envelope import ok
from hookhub.api.routing import Body, make_router
from hookhub.services import room_admin as admin
from hookhub.services.context import Ctx
from hookhub.services.documents import room_doc
from hookhub.services.errors import Failure, Forbidden, PermissionRequired
from hookhub.services.room_access import can_access_room, is_member
from hookhub.services.rooms import leave_room
from hookhub.services.users import find_user_param
from hookhub.store.rows import Row

router = make_router("channels")
FAMILY = admin.CHANNELS


# The request bodies below are shared with `groups.*`, whose parameters are the same.


class RoomBody(Body):
    roomId: str | None = None
    roomName: str | None = None


class UserTargetBody(RoomBody):
    userId: str | None = None
    username: str | None = None
    user: str | None = None


class InviteBody(UserTargetBody):
    userIds: list[str] | None = None
    usernames: list[str] | None = None


class CreateBody(Body):
    name: str | None = None
    members: list[str] | None = None
    readOnly: bool | None = None
    excludeSelf: bool | None = None
    customFields: dict[str, Any] | None = None
    extraData: dict[str, Any] | None = None


async def _find(ctx: Ctx, caller: Row, body: RoomBody, *, allow_archived: bool = False) -> Row:
    return await admin.lookup(ctx, FAMILY, caller, body.roomId, body.roomName, allow_archived=allow_archived)


async def _answer(ctx: Ctx, room: Row) -> Response:
    return ok({FAMILY.key: room_doc(await admin.fresh(ctx, room))})


@router.post("/api/v1/channels.create", summary="Create a public channel")
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


@router.get("/api/v1/channels.info", summary="One channel")
async def info(
    hub: HubDep, caller: CallerDep, roomId: str | None = None, roomName: str | None = None
) -> Response:
    async with hub.tx(write=False) as ctx:
        room = await admin.lookup(ctx, FAMILY, caller.user, roomId, roomName, allow_archived=True)
        if not await can_access_room(ctx, room, caller.user):
            raise Forbidden()
        return ok({FAMILY.key: room_doc(room)})


def _listing(key: str, rows: list[Row], total: int, offset: int) -> Response:
    return ok({key: [room_doc(r) for r in rows], "count": len(rows), "offset": offset, "total": total})


@router.get("/api/v1/channels.list", summary="Public channels the caller may see")
async def list_channels(hub: HubDep, caller: CallerDep, page: PageDep) -> Response:
    async with hub.tx(write=False) as ctx:
        if not (await ctx.can(caller.user, "view-c-room") or await ctx.can(caller.user, "view-joined-room")):
            raise PermissionRequired()
        rows, total = await admin.list_channels(
            ctx, caller.user, sort=page.sort, offset=page.offset, limit=page.count
        )
    return _listing("channels", rows, total, page.offset)


@router.get("/api/v1/channels.list.joined", summary="Public channels the caller belongs to")
async def list_joined(hub: HubDep, caller: CallerDep, page: PageDep) -> Response:
    async with hub.tx(write=False) as ctx:
        rows, total = await admin.list_joined(
            ctx, FAMILY, caller.user, sort=page.sort, offset=page.offset, limit=page.count
        )
    return _listing("channels", rows, total, page.offset)


class JoinBody(RoomBody):
    joinCode: str | None = None


@router.post("/api/v1/channels.join", summary="Join a public channel")
async def join(hub: HubDep, caller: CallerDep, body: JoinBody) -> Response:
    async with hub.tx() as ctx:
        room = await _find(ctx, caller.user, body)
        await admin.join(ctx, room, caller.user, body.joinCode)
        return await _answer(ctx, room)


@router.post("/api/v1/channels.leave", summary="Leave a public channel")
async def leave(hub: HubDep, caller: CallerDep, body: RoomBody) -> Response:
    async with hub.tx() as ctx:
        room = await _find(ctx, caller.user, body)
        await leave_room(ctx, room, caller.user)
        return await _answer(ctx, room)


@router.post("/api/v1/channels.invite", summary="Add users to a public channel")
async def invite(hub: HubDep, caller: CallerDep, body: InviteBody) -> Response:
    async with hub.tx() as ctx:
        room = await _find(ctx, caller.user, body)
        targets = await admin.users_from_params(
            ctx, body.userId, body.username, body.user, body.userIds, body.usernames
        )
        await admin.invite(ctx, FAMILY, room, caller.user, targets)
        return await _answer(ctx, room)


@router.post("/api/v1/channels.kick", summary="Remove a user from a public channel")
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
            f"/api/v1/channels.{_verb}{_role.title()}",
            _role_route(_role, _grant),
            methods=["POST"],
            summary=f"{_verb.title()} the room role {_role}",
        )


@router.get("/api/v1/channels.members", summary="Members of a public channel")
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
        if not await can_access_room(ctx, room, caller.user):
            raise Forbidden()
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


@router.get("/api/v1/channels.messages", summary="A page of a public channel's messages")
async def messages(
    hub: HubDep, caller: CallerDep, page: PageDep, roomId: str | None = None, roomName: str | None = None
) -> Response:
    async with hub.tx(write=False) as ctx:
        if not await ctx.can(caller.user, "view-c-room"):
            raise PermissionRequired()
        room = await admin.lookup(ctx, FAMILY, caller.user, roomId, roomName, allow_archived=True)
        member = await is_member(ctx, room["id"], caller.id)
        if not await can_access_room(ctx, room, caller.user) or (
            not member and await ctx.can(caller.user, "view-joined-room")
        ):
            raise Forbidden()
        body = await admin.messages_page(ctx, room, sort=page.sort, offset=page.offset, count=page.count)
    return ok(body)


@router.get("/api/v1/channels.history", summary="A public channel's messages, newest first")
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
) -> Response:
    latest_at = admin.date_param(latest, "latest")
    oldest_at = admin.date_param(oldest, "oldest")
    async with hub.tx(write=False) as ctx:
        room = await admin.lookup(ctx, FAMILY, caller.user, roomId, roomName, allow_archived=True)
        if not await can_access_room(ctx, room, caller.user):
            raise Forbidden()
        body = await admin.history(
            ctx,
            room,
            caller.user,
            latest=latest_at,
            oldest=oldest_at,
            inclusive=inclusive == "true",
            offset=page.offset,
            count=page.count,
            unreads=unreads == "true",
            show_thread_messages=showThreadMessages == "true",
        )
    return ok(body)


@router.post("/api/v1/channels.archive", summary="Archive a public channel")
async def archive(hub: HubDep, caller: CallerDep, body: RoomBody) -> Response:
    async with hub.tx() as ctx:
        room = await _find(ctx, caller.user, body)
        await admin.archive(ctx, room, caller.user)
    return ok()


@router.post("/api/v1/channels.unarchive", summary="Unarchive a public channel")
async def unarchive(hub: HubDep, caller: CallerDep, body: RoomBody) -> Response:
    async with hub.tx() as ctx:
        room = await _find(ctx, caller.user, body, allow_archived=True)
        await admin.unarchive(ctx, FAMILY, room, caller.user)
    return ok()


class RenameBody(RoomBody):
    name: str | None = None


@router.post("/api/v1/channels.rename", summary="Rename a public channel")
async def rename(hub: HubDep, caller: CallerDep, body: RenameBody) -> Response:
    if not body.name or not body.name.strip():
        raise Failure('The bodyParam "name" is required')
    async with hub.tx() as ctx:
        room = await _find(ctx, caller.user, body)
        await admin.rename(ctx, FAMILY, room, caller.user, body.name)
        return await _answer(ctx, room)


@router.post("/api/v1/channels.delete", summary="Delete a public channel with its messages")
async def delete(hub: HubDep, caller: CallerDep, body: RoomBody) -> Response:
    async with hub.tx() as ctx:
        room = await _find(ctx, caller.user, body, allow_archived=True)
        await admin.delete(ctx, room, caller.user)
    return ok()


# -- settings ---------------------------------------------------------------------------------------


class TextSettingBody(RoomBody):
    topic: str | None = None
    description: str | None = None
    announcement: str | None = None
    purpose: str | None = None


def _text_route(param: str, stored_as: str, label: str) -> Callable[..., Awaitable[Response]]:
    async def endpoint(hub: HubDep, caller: CallerDep, body: TextSettingBody) -> Response:
        value = getattr(body, param)
        if value is None:
            raise Failure(f'The bodyParam "{param}" is required')
        async with hub.tx() as ctx:
            room = await _find(ctx, caller.user, body)
            if admin.text_setting(room, stored_as) == value:
                raise Failure(f"The channel {label} is the same as what it would be changed to.")
            await admin.set_text(ctx, room, caller.user, stored_as, value)
        return ok({param: value})

    return endpoint


for _param, _stored, _label in (
    ("topic", "topic", "topic"),
    ("description", "description", "description"),
    ("announcement", "announcement", "announcement"),
    # RC's purpose is the description under another name
    ("purpose", "description", "purpose (description)"),
):
    router.add_api_route(
        f"/api/v1/channels.set{_param.title()}",
        _text_route(_param, _stored, _label),
        methods=["POST"],
        summary=f"Set a public channel's {_param}",
    )


class ReadOnlyBody(RoomBody):
    readOnly: bool | None = None


@router.post("/api/v1/channels.setReadOnly", summary="Make a public channel read-only or not")
async def set_read_only(hub: HubDep, caller: CallerDep, body: ReadOnlyBody) -> Response:
    if body.readOnly is None:
        raise Failure('The bodyParam "readOnly" is required')
    async with hub.tx() as ctx:
        room = await _find(ctx, caller.user, body)
        if room["ro"] == body.readOnly:
            raise Failure("The channel read only setting is the same as what it would be changed to.")
        await admin.set_read_only(ctx, room, caller.user, body.readOnly)
        return await _answer(ctx, room)


class JoinCodeBody(RoomBody):
    joinCode: str | None = None


@router.post("/api/v1/channels.setJoinCode", summary="Require a code to join a public channel")
async def set_join_code(hub: HubDep, caller: CallerDep, body: JoinCodeBody) -> Response:
    if not body.joinCode or not body.joinCode.strip():
        raise Failure('The bodyParam "joinCode" is required')
    async with hub.tx() as ctx:
        room = await _find(ctx, caller.user, body)
        await admin.set_join_code(ctx, room, caller.user, body.joinCode)
        return await _answer(ctx, room)


class DefaultBody(RoomBody):
    default: bool | str | int | None = None


@router.post("/api/v1/channels.setDefault", summary="Make new users join a public channel or not")
async def set_default(hub: HubDep, caller: CallerDep, body: DefaultBody) -> Response:
    if body.default is None:
        # RC's two error types for this route are swapped; kept as the wire shows them
        raise Failure('The bodyParam "default" is required', "error-channels-setdefault-is-same")
    # RC accepts the flag as a boolean or as "true"/"1" (form-style clients)
    value = body.default if isinstance(body.default, bool) else str(body.default).lower() in ("true", "1")
    async with hub.tx() as ctx:
        room = await _find(ctx, caller.user, body)
        if room["is_default"] == value:
            raise Failure(
                "The channel default setting is the same as what it would be changed to.",
                "error-channels-setdefault-missing-default-param",
            )
        await admin.set_default(ctx, room, caller.user, value)
        return await _answer(ctx, room)


class TypeBody(RoomBody):
    type: str | None = None


@router.post("/api/v1/channels.setType", summary="Turn a public channel into a private group")
async def set_type(hub: HubDep, caller: CallerDep, body: TypeBody) -> Response:
    if not body.type or not body.type.strip():
        raise Failure('The bodyParam "type" is required')
    async with hub.tx() as ctx:
        room = await _find(ctx, caller.user, body)
        await admin.set_type(ctx, FAMILY, room, caller.user, body.type)
        # the room keeps its result key: the answer describes what the caller changed
        return await _answer(ctx, room)


class CustomFieldsBody(RoomBody):
    customFields: Any = None


def custom_fields_param(body: CustomFieldsBody) -> dict[str, Any] | list[Any]:
    """The `customFields` object (RC's route check: anything JavaScript calls an object)."""
    if not isinstance(body.customFields, dict | list):
        raise Failure('The bodyParam "customFields" is required with a type like object.')
    return body.customFields


@router.post("/api/v1/channels.setCustomFields", summary="Replace a public channel's custom fields")
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
    "/api/v1/channels.close",
    _open_route(False),
    methods=["POST"],
    summary="Hide a public channel from the caller's list",
)
router.add_api_route(
    "/api/v1/channels.open",
    _open_route(True),
    methods=["POST"],
    summary="Show a hidden public channel in the caller's list again",
)


class AddAllBody(RoomBody):
    activeUsersOnly: bool | str | int | None = None


def active_only_param(body: AddAllBody) -> bool:
    # RC's route only honours "true" and 1 and drops a JSON true, which is what the Python
    # client sends; every spelling of yes counts here
    value = body.activeUsersOnly
    if isinstance(value, bool):
        return value
    return value is not None and str(value).lower() in ("true", "1")


@router.post("/api/v1/channels.addAll", summary="Add every user to a public channel")
async def add_all(hub: HubDep, caller: CallerDep, body: AddAllBody) -> Response:
    active_only = active_only_param(body)
    async with hub.tx() as ctx:
        room = await _find(ctx, caller.user, body)
        await admin.add_all(ctx, room, caller.user, active_only=active_only)
        return await _answer(ctx, room)


# -- reads about members ----------------------------------------------------------------------------


@router.get("/api/v1/channels.roles", summary="Members holding room roles in a public channel")
async def roles(
    hub: HubDep, caller: CallerDep, roomId: str | None = None, roomName: str | None = None
) -> Response:
    async with hub.tx(write=False) as ctx:
        room = await admin.lookup(ctx, FAMILY, caller.user, roomId, roomName)
        return ok({"roles": await admin.room_roles(ctx, room, caller.user)})


@router.get("/api/v1/channels.moderators", summary="Moderators of a public channel")
async def moderators(
    hub: HubDep, caller: CallerDep, roomId: str | None = None, roomName: str | None = None
) -> Response:
    async with hub.tx(write=False) as ctx:
        room = await admin.lookup(ctx, FAMILY, caller.user, roomId, roomName)
        return ok({"moderators": await admin.moderators(ctx, room)})


@router.get("/api/v1/channels.counters", summary="Message, member and unread counts of a public channel")
async def counters(
    hub: HubDep,
    caller: CallerDep,
    roomId: str | None = None,
    roomName: str | None = None,
    userId: str | None = None,
) -> Response:
    async with hub.tx(write=False) as ctx:
        # channels check the `userId` right before looking the room up (groups after)
        subject, is_admin = await admin.counters_subject(ctx, caller.user, userId)
        room = await admin.lookup(ctx, FAMILY, caller.user, roomId, roomName)
        return ok(await admin.counters(ctx, room, subject, admin=is_admin))


@router.get("/api/v1/channels.online", summary="Members of a public channel who are not offline")
async def online(
    hub: HubDep,
    caller: CallerDep,
    room_id: Annotated[str | None, Query(alias="_id")] = None,
    query: str | None = None,
) -> Response:
    async with hub.tx(write=False) as ctx:
        room = await admin.online_room(ctx, FAMILY, room_id, query)
        return ok({"online": await admin.online(ctx, room, caller.user)})


@router.get("/api/v1/channels.files", summary="Files uploaded to a public channel (none: no uploads)")
async def files(
    hub: HubDep, caller: CallerDep, page: PageDep, roomId: str | None = None, roomName: str | None = None
) -> Response:
    """hookhub does not support file uploads, so the list is empty; the room is still looked up
    and the caller's access checked, as for any read."""
    async with hub.tx(write=False) as ctx:
        room = await admin.lookup(ctx, FAMILY, caller.user, roomId, roomName, allow_archived=True)
        if not await can_access_room(ctx, room, caller.user):
            raise Forbidden()
    return ok(admin.files_page(page.offset))
