"""`groups.*` endpoints (see ../shared/spec/core-api.md §6). The routes both families share
are built in `room_routes`; this module describes the private-group family and adds the routes
only groups have. Private groups are only found by their members (non-members get
`error-room-not-found`)."""

from __future__ import annotations

from starlette.responses import Response

from hookhub.api.deps import CallerDep, HubDep, PageDep
from hookhub.api.envelope import ok
from hookhub.api.room_routes import FamilyRoutes, RoomBody, family_router, room_list
from hookhub.services import room_admin as admin
from hookhub.services.errors import PermissionRequired

ROUTES = FamilyRoutes(
    family=admin.GROUPS,
    prefix="groups",
    noun="private group",
    other_noun="public channel",
    joined_list="list",
    reads_check_access=False,
    leave_answers_room=False,
    # unlike channels.*, the group setters accept an unchanged value
    refuses_unchanged_text=False,
    counters_check_user_first=False,
    history_count=20,
    history_shows_threads=True,
)
router = family_router(ROUTES)


@router.get("/api/v1/groups.listAll", summary="Every private group (room administrators)")
async def list_all(hub: HubDep, caller: CallerDep, page: PageDep) -> Response:
    async with hub.tx(write=False) as ctx:
        if not await ctx.can(caller.user, "view-room-administration"):
            raise PermissionRequired()
        rows, total = await admin.list_all(
            ctx, ROUTES.family, sort=page.sort, offset=page.offset, limit=page.count
        )
    return room_list("groups", rows, total, page.offset)


@router.get("/api/v1/groups.messages", summary="A page of a private group's messages")
async def messages(
    hub: HubDep, caller: CallerDep, page: PageDep, roomId: str | None = None, roomName: str | None = None
) -> Response:
    async with hub.tx(write=False) as ctx:
        room = await admin.lookup(ctx, ROUTES.family, caller.user, roomId, roomName, allow_archived=True)
        body = await admin.messages_page(ctx, room, sort=page.sort, offset=page.offset, count=page.count)
    return ok(body)


class DeleteBody(RoomBody):
    # RC's own deleteGroup test helper sends `groupId` (core-api.md §14.1 item 6)
    groupId: str | None = None


@router.post("/api/v1/groups.delete", summary="Delete a private group with its messages")
async def delete(hub: HubDep, caller: CallerDep, body: DeleteBody) -> Response:
    if not body.roomId and body.groupId:
        body.roomId = body.groupId
    async with hub.tx() as ctx:
        room = await ROUTES.find(ctx, caller.user, body, allow_archived=True)
        await admin.delete(ctx, room, caller.user)
    return ok()
