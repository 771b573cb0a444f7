"""`channels.*` endpoints (see ../shared/spec/core-api.md §5). The routes both families share
are built in `room_routes`; this module describes the public-channel family and adds the
routes only channels have."""

from __future__ import annotations

from starlette.responses import Response

from hookhub.api.deps import CallerDep, HubDep, PageDep
from hookhub.api.envelope import ok
from hookhub.api.room_routes import FamilyRoutes, RoomBody, family_router, room_list
from hookhub.services import room_admin as admin
from hookhub.services.errors import Failure, Forbidden, PermissionRequired
from hookhub.services.room_access import can_access_room, is_member

ROUTES = FamilyRoutes(
    family=admin.CHANNELS,
    prefix="channels",
    noun="public channel",
    other_noun="private group",
    joined_list="list.joined",
    reads_check_access=True,
    leave_answers_room=True,
    refuses_unchanged_text=True,
    counters_check_user_first=True,
    history_count=None,
    history_shows_threads=False,
)
router = family_router(ROUTES)


@router.get("/api/v1/channels.list", summary="Public channels the caller may see")
async def list_channels(hub: HubDep, caller: CallerDep, page: PageDep) -> Response:
    async with hub.tx(write=False) as ctx:
        if not (await ctx.can(caller.user, "view-c-room") or await ctx.can(caller.user, "view-joined-room")):
            raise PermissionRequired()
        rows, total = await admin.list_channels(
            ctx, caller.user, sort=page.sort, offset=page.offset, limit=page.count
        )
    return room_list("channels", rows, total, page.offset)


class JoinCodeBody(RoomBody):
    joinCode: str | None = None


@router.post("/api/v1/channels.join", summary="Join a public channel")
async def join(hub: HubDep, caller: CallerDep, body: JoinCodeBody) -> Response:
    async with hub.tx() as ctx:
        room = await ROUTES.find(ctx, caller.user, body)
        await admin.join(ctx, room, caller.user, body.joinCode)
        return await ROUTES.answer(ctx, room)


@router.get("/api/v1/channels.messages", summary="A page of a public channel's messages")
async def messages(
    hub: HubDep, caller: CallerDep, page: PageDep, roomId: str | None = None, roomName: str | None = None
) -> Response:
    async with hub.tx(write=False) as ctx:
        if not await ctx.can(caller.user, "view-c-room"):
            raise PermissionRequired()
        room = await admin.lookup(ctx, ROUTES.family, caller.user, roomId, roomName, allow_archived=True)
        member = await is_member(ctx, room["id"], caller.id)
        if not await can_access_room(ctx, room, caller.user) or (
            not member and await ctx.can(caller.user, "view-joined-room")
        ):
            raise Forbidden()
        body = await admin.messages_page(ctx, room, sort=page.sort, offset=page.offset, count=page.count)
    return ok(body)


@router.post("/api/v1/channels.delete", summary="Delete a public channel with its messages")
async def delete(hub: HubDep, caller: CallerDep, body: RoomBody) -> Response:
    async with hub.tx() as ctx:
        room = await ROUTES.find(ctx, caller.user, body, allow_archived=True)
        await admin.delete(ctx, room, caller.user)
    return ok()


@router.post("/api/v1/channels.setJoinCode", summary="Require a code to join a public channel")
async def set_join_code(hub: HubDep, caller: CallerDep, body: JoinCodeBody) -> Response:
    if not body.joinCode or not body.joinCode.strip():
        raise Failure('The bodyParam "joinCode" is required')
    async with hub.tx() as ctx:
        room = await ROUTES.find(ctx, caller.user, body)
        await admin.set_join_code(ctx, room, caller.user, body.joinCode)
        return await ROUTES.answer(ctx, room)


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
        room = await ROUTES.find(ctx, caller.user, body)
        if room["is_default"] == value:
            raise Failure(
                "The channel default setting is the same as what it would be changed to.",
                "error-channels-setdefault-missing-default-param",
            )
        await admin.set_default(ctx, room, caller.user, value)
        return await ROUTES.answer(ctx, room)
