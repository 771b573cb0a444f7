"""`rooms.*` endpoints: type-agnostic room reads (core-api.md §8)."""

from __future__ import annotations

from sqlalchemy import ColumnElement
from starlette.responses import Response

from hookhub.api.deps import CallerDep, HubDep, parse_updated_since
from hookhub.api.envelope import ok
from hookhub.api.routing import make_router
from hookhub.ids import iso
from hookhub.services.documents import room_doc
from hookhub.services.errors import Failure
from hookhub.services.room_access import can_access_room
from hookhub.services.rooms import find_room
from hookhub.store import rooms
from hookhub.store.tables import rooms as rooms_table

router = make_router("rooms")


@router.get("/api/v1/rooms.info", summary="One room by id or name")
async def info(
    hub: HubDep, caller: CallerDep, roomId: str | None = None, roomName: str | None = None
) -> Response:
    async with hub.tx(write=False) as ctx:
        room = await find_room(
            ctx, (roomId or "").strip() or None, (roomName or "").strip() or None, allow_archived=False
        )
        if not await can_access_room(ctx, room, caller.user):
            # sic: Rocket.Chat passes the text as the type and the type as the text
            raise Failure("not-allowed", "Not Allowed")
    return ok({"room": room_doc(room)})


@router.get("/api/v1/rooms.get", summary="The caller's rooms, optionally only those changed since a date")
async def get(hub: HubDep, caller: CallerDep, updatedSince: str | None = None) -> Response:
    since = parse_updated_since(updatedSince)
    where: list[ColumnElement[bool]] = [rooms_table.c.id.in_(rooms.member_room_ids(caller.id))]
    if since is not None:
        where.append(rooms_table.c.updated_at > since)
    async with hub.tx(write=False) as ctx:
        rows, _ = await rooms.list_rooms(ctx.conn, where=where, order_by=[rooms_table.c.updated_at.desc()])
        removed = await rooms.removed_since(ctx.conn, since) if since is not None else []
    return ok(
        {
            "update": [room_doc(r) for r in rows],
            "remove": [{"_id": r["id"], "_deletedAt": iso(r["removed_at"])} for r in removed],
        }
    )
