"""`im.*` / `dm.*` endpoints: direct messages (core-api.md §7)."""

from __future__ import annotations

from typing import Any

from fastapi import Body as BodyParam
from fastapi import Request
from starlette.responses import Response

from hookhub.api.deps import CallerDep, HubDep, PageDep
from hookhub.api.envelope import ok
from hookhub.api.routing import Body, json_body, make_router
from hookhub.services import direct, room_admin
from hookhub.services.documents import room_doc
from hookhub.services.errors import InvalidParams, MeteorError
from hookhub.store import rooms

router = make_router("im")

_CREATE_KEYS = ({"username", "excludeSelf"}, {"usernames", "excludeSelf"})


def _create_usernames(body: Any) -> tuple[list[str], bool]:
    """The body is exactly one of `{username}` / `{usernames: "a,b"}`, plus `excludeSelf`."""
    if not isinstance(body, dict):
        raise InvalidParams(["must be object"])
    has_one, has_many = "username" in body, "usernames" in body
    if has_one == has_many:
        raise InvalidParams(
            [
                "must have required property 'username'"
                if not has_one
                else "must NOT have additional properties",
                "must have required property 'usernames'"
                if not has_many
                else "must NOT have additional properties",
                "must match exactly one schema in oneOf",
            ]
        )
    allowed = _CREATE_KEYS[0] if has_one else _CREATE_KEYS[1]
    extra = [k for k in body if k not in allowed]
    if extra:
        raise InvalidParams([f"must NOT have additional properties ('{extra[0]}')"])
    key = "username" if has_one else "usernames"
    value, exclude_self = body[key], body.get("excludeSelf", False)
    if not isinstance(value, str):
        raise InvalidParams([f"/{key} must be string"])
    if not isinstance(exclude_self, bool):
        raise InvalidParams(["/excludeSelf must be boolean"])
    names = [value] if has_one else [n.strip() for n in value.split(",")]
    return [n for n in names if n], exclude_self


@router.post(
    "/api/v1/im.create",
    summary="Open a direct message with one or more users",
    openapi_extra=json_body(
        {
            "type": "object",
            "description": "Exactly one of `username` and `usernames` (comma-separated)",
            "properties": {
                "username": {"type": "string"},
                "usernames": {"type": "string"},
                "excludeSelf": {"type": "boolean"},
            },
        },
        required=True,
    ),
)
@router.post("/api/v1/dm.create", include_in_schema=False)
async def create(hub: HubDep, caller: CallerDep, body: Any = BodyParam(default=None)) -> Response:
    usernames, exclude_self = _create_usernames(body)
    async with hub.tx() as ctx:
        room = await direct.create_direct_message(ctx, caller.user, usernames, exclude_self=exclude_self)
    return ok(
        {"room": {"_id": room["id"], "rid": room["id"], "t": "d", "usernames": room["usernames"] or []}}
    )


@router.get("/api/v1/im.list", summary="The caller's direct messages")
@router.get("/api/v1/dm.list", include_in_schema=False)
async def list_ims(hub: HubDep, caller: CallerDep, page: PageDep) -> Response:
    async with hub.tx(write=False) as ctx:
        rows, total = await rooms.list_rooms_of_type(
            ctx.conn, "d", member_id=caller.id, sort=page.sort, offset=page.offset, limit=page.count
        )
    return ok({"ims": [room_doc(r) for r in rows], "offset": page.offset, "count": len(rows), "total": total})


@router.get("/api/v1/im.messages", summary="A page of a direct message's messages")
@router.get("/api/v1/dm.messages", include_in_schema=False)
async def messages(
    hub: HubDep, caller: CallerDep, page: PageDep, roomId: str | None = None, username: str | None = None
) -> Response:
    # a write transaction: asking by username opens the DM when it does not exist yet
    async with hub.tx() as ctx:
        room = await direct.find_direct(ctx, caller.user, roomId, username)
        body = await room_admin.messages_page(ctx, room, sort=page.sort, offset=page.offset, count=page.count)
    return ok(body)


# RC's getChannelHistory default page size for DMs
_HISTORY_COUNT = 20


@router.get("/api/v1/im.history", summary="A direct message's messages, newest first")
@router.get("/api/v1/dm.history", include_in_schema=False)
async def history(
    hub: HubDep,
    caller: CallerDep,
    page: PageDep,
    roomId: str | None = None,
    latest: str | None = None,
    oldest: str | None = None,
    inclusive: str | None = None,
    unreads: str | None = None,
    showThreadMessages: str | None = None,
    count: str | None = None,
) -> Response:
    if not roomId:
        raise MeteorError('Query param "roomId" is required', "error-room-param-not-provided")
    latest_at = room_admin.date_param(latest, "latest")
    oldest_at = room_admin.date_param(oldest, "oldest")
    async with hub.tx() as ctx:
        room = await direct.find_direct(ctx, caller.user, roomId, None)
        body = await room_admin.history(
            ctx,
            room,
            caller.user,
            latest=latest_at or ctx.now(),
            oldest=oldest_at,
            inclusive=inclusive == "true",
            offset=page.offset,
            count=page.count if count is not None else _HISTORY_COUNT,
            unreads=unreads == "true",
            show_thread_messages=showThreadMessages == "true",
        )
    return ok(body)


@router.get("/api/v1/im.members", summary="The members of a direct message")
@router.get("/api/v1/dm.members", include_in_schema=False)
async def members(
    request: Request,
    hub: HubDep,
    caller: CallerDep,
    page: PageDep,
    roomId: str | None = None,
    username: str | None = None,
    filter: str | None = None,
) -> Response:
    statuses = request.query_params.getlist("status[]") or request.query_params.getlist("status")
    async with hub.tx() as ctx:
        room = await direct.find_direct(ctx, caller.user, roomId, username)
        descending = (page.sort or {}).get("username") == -1
        rows, total = await rooms.room_members(
            ctx.conn,
            room["id"],
            text=filter,
            statuses=statuses,
            descending=descending,
            offset=page.offset,
            limit=page.count,
        )
    return ok(
        {
            "members": [direct.member_doc(r) for r in rows],
            "count": len(rows),
            "offset": page.offset,
            "total": total,
        }
    )


class RoomIdBody(Body):
    roomId: str | None = None


@router.post("/api/v1/im.close", summary="Hide a direct message from the caller's list")
@router.post("/api/v1/dm.close", include_in_schema=False)
async def close(hub: HubDep, caller: CallerDep, body: RoomIdBody) -> Response:
    async with hub.tx() as ctx:
        await direct.close(ctx, caller.user, body.roomId)
    return ok()


@router.post("/api/v1/im.open", summary="Show a hidden direct message again")
@router.post("/api/v1/dm.open", include_in_schema=False)
async def open_dm(hub: HubDep, caller: CallerDep, body: RoomIdBody) -> Response:
    async with hub.tx() as ctx:
        await direct.open_(ctx, caller.user, body.roomId)
    return ok()


@router.get("/api/v1/im.counters", summary="Message and unread counts of a direct message")
@router.get("/api/v1/dm.counters", include_in_schema=False)
async def counters(
    hub: HubDep, caller: CallerDep, roomId: str | None = None, userId: str | None = None
) -> Response:
    async with hub.tx() as ctx:
        body = await direct.counters(ctx, caller.user, roomId, userId)
    return ok(body)


class TopicBody(Body):
    roomId: str | None = None
    topic: str | None = None


@router.post("/api/v1/im.setTopic", summary="Set a direct message's topic")
@router.post("/api/v1/dm.setTopic", include_in_schema=False)
async def set_topic(hub: HubDep, caller: CallerDep, body: TopicBody) -> Response:
    if not body.roomId:
        raise MeteorError('Body param "roomId" is required', "error-room-param-not-provided")
    async with hub.tx() as ctx:
        room = await direct.find_direct(ctx, caller.user, body.roomId, None)
        await room_admin.set_text(ctx, room, caller.user, "topic", body.topic or "")
    return ok({"topic": body.topic})
