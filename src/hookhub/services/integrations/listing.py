"""Reading integrations: `integrations.list`, `integrations.get`, `channels.getIntegrations` and
`groups.getIntegrations` (rest-integrations.md §1, §2, §7, §8, §10).

Every list is the caller's visibility filter (§10.2) AND-ed with whatever the request narrows it
with (`name`, `type`, the room's channel entries, the compiled `query`): a request can only ever
see less than its permissions allow, never more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement

from hookhub.services.context import Ctx
from hookhub.services.errors import Failure, Forbidden, MeteorError, PermissionRequired
from hookhub.services.integrations.permissions import Rights, kind_of, rights_of, visibility_filter
from hookhub.services.list_query import compile_list_params
from hookhub.services.room_access import can_access_room
from hookhub.store import integrations as store
from hookhub.store import rooms
from hookhub.store.rows import Row

CHANNEL_NOT_FOUND = 'The required "roomId" or "roomName" param provided does not match any channel'
GROUP_NOT_FOUND = 'The required "roomId" or "roomName" param provided does not match any group'
GROUP_PARAM_MISSING = 'The parameter "roomId" or "roomName" is required'
ALL_PUBLIC_CHANNELS = "all_public_channels"
ALL_PRIVATE_GROUPS = "all_private_groups"


@dataclass(frozen=True)
class ListRequest:
    """What a list request asks for beyond its filters: the raw `sort`/`fields`/`query` strings
    and the page (`limit` None: no limit)."""

    sort: str | None = None
    fields: str | None = None
    query: str | None = None
    offset: int = 0
    limit: int | None = None


@dataclass(frozen=True)
class IntegrationPage:
    """One page of (projected) integration documents and the number of all matches."""

    integrations: list[dict[str, Any]]
    total: int


async def require_any_permission(ctx: Ctx, user: Row) -> Rights:
    """The route gate of list, remove and getIntegrations: any of the four integration
    permissions, else 403 `error-unauthorized`."""
    rights = await rights_of(ctx, user)
    if not rights.any:
        raise PermissionRequired()
    return rights


async def _page(
    ctx: Ctx,
    rights: Rights,
    user: Row,
    request: ListRequest,
    narrowing: list[ColumnElement[bool]],
    *,
    default_order: list[Any] | None = None,
) -> IntegrationPage:
    params = compile_list_params(
        store.INTEGRATIONS, sort=request.sort, fields=request.fields, query=request.query
    )
    # the permission filter first and always: everything else can only narrow it
    where = [visibility_filter(rights, str(user["id"])), *params.where, *narrowing]
    docs, total = await store.list_integrations(
        ctx.conn,
        where=where,
        order_by=params.order_by or default_order or [],
        offset=request.offset,
        limit=request.limit,
    )
    return IntegrationPage([params.project(d) for d in docs], total)


async def list_integrations(
    ctx: Ctx, user: Row, request: ListRequest, *, name: str | None = None, type_: str | None = None
) -> IntegrationPage:
    """`integrations.list`: the integrations the caller may see, optionally those whose name
    contains `name` (case-insensitive, taken literally) and whose type is exactly `type_`.
    Without `sort`, creation order (Rocket.Chat sorts on a field integrations lack)."""
    rights = await require_any_permission(ctx, user)
    narrowing: list[ColumnElement[bool]] = []
    if name:
        narrowing.append(store.name_contains(name))
    if type_:
        narrowing.append(store.of_type(type_))
    return await _page(ctx, rights, user, request, narrowing)


async def get_integration(
    ctx: Ctx, user: Row, integration_id: str, *, created_by: str | None = None, fields: str | None = None
) -> dict[str, Any]:
    """`integrations.get`: one integration by id (and creator, when `created_by` is given),
    if the caller manages all integrations of its kind or owns it with the "own" permission."""
    if not integration_id:
        raise Failure('The query parameter "integrationId" is required.')
    params = compile_list_params(store.INTEGRATIONS, fields=fields)
    where = [store.with_id(integration_id)]
    if created_by:
        where.append(store.created_by(created_by))
    document = await store.find_integration(ctx.conn, where)
    if document is None:
        raise Failure("The integration does not exists.")
    rights = await rights_of(ctx, user)
    if not rights.may_manage(kind_of(document), document, str(user["id"])):
        raise Failure("not-authorized")
    return params.project(document)


def _matching_name(room: Row) -> str:
    """The name integrations address a room by: `fname` for discussions, else `name`."""
    extra = room["extra"] if isinstance(room["extra"], dict) else {}
    if extra.get("prid") and room["fname"]:
        return str(room["fname"])
    return str(room["name"])


async def _find_channel(ctx: Ctx, user: Row, room_id: str | None, room_name: str | None) -> Row:
    # the `roomId` key wins when present, even empty; archived channels are found too
    if room_id is not None:
        room = await rooms.get_room(ctx.conn, room_id) if room_id else None
    elif room_name:
        room = await rooms.get_room_by_name(ctx.conn, room_name)
    else:
        room = None
    if room is None or room["t"] != "c":
        raise MeteorError(CHANNEL_NOT_FOUND, "error-room-not-found")
    if not await can_access_room(ctx, room, user):
        raise Forbidden()
    return room


async def _find_group(ctx: Ctx, user: Row, room_id: str | None, room_name: str | None) -> Row:
    if (room_id is None and room_name is None) or (room_id == "" and room_name == ""):
        raise MeteorError(GROUP_PARAM_MISSING, "error-room-param-not-provided")
    if room_id is not None:
        room = await rooms.get_room(ctx.conn, room_id) if room_id else None
    else:
        room = await rooms.get_room_by_name(ctx.conn, room_name) if room_name else None
    # a group the caller cannot read answers exactly like a missing one
    if room is None or room["t"] != "p" or not await can_access_room(ctx, room, user):
        raise MeteorError(GROUP_NOT_FOUND, "error-room-not-found")
    return room


async def channel_integrations(
    ctx: Ctx,
    user: Row,
    request: ListRequest,
    *,
    room_id: str | None,
    room_name: str | None,
    include_all: bool,
) -> IntegrationPage:
    """`channels.getIntegrations`: the visible integrations addressed to the public channel
    (`#<name>`) or, with `include_all`, to `all_public_channels`; oldest first by default."""
    rights = await require_any_permission(ctx, user)
    room = await _find_channel(ctx, user, room_id, room_name)
    targets = [f"#{_matching_name(room)}"]
    if include_all:
        targets.append(ALL_PUBLIC_CHANNELS)
    return await _page(
        ctx,
        rights,
        user,
        request,
        [store.has_term("channel", targets)],
        default_order=[store.INTEGRATION_FIELDS["_createdAt"].column.asc()],
    )


async def group_integrations(
    ctx: Ctx,
    user: Row,
    request: ListRequest,
    *,
    room_id: str | None,
    room_name: str | None,
    include_all: bool,
) -> IntegrationPage:
    """`groups.getIntegrations`: the visible integrations addressed to the private group
    (`#<name>`) or, with `include_all`, to `all_private_groups`; oldest first by default.
    Groups the caller cannot read are reported as not found."""
    rights = await require_any_permission(ctx, user)
    room = await _find_group(ctx, user, room_id, room_name)
    targets = [f"#{_matching_name(room)}"]
    if include_all:
        targets.append(ALL_PRIVATE_GROUPS)
    return await _page(
        ctx,
        rights,
        user,
        request,
        [store.has_term("channel", targets)],
        default_order=[store.INTEGRATION_FIELDS["_createdAt"].column.asc()],
    )
