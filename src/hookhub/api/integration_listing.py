"""Reading integrations: `integrations.list`, `integrations.get`, `channels.getIntegrations`,
`groups.getIntegrations` (rest-integrations.md §1, §2, §7, §8).

Query strings are validated here the way Rocket.Chat's legacy `validateParams` does it (bare ajv
messages, the first failure only, `[invalid-params]`), before any permission is looked at.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Annotated, Any

from fastapi import Query
from starlette.requests import Request
from starlette.responses import Response

from hookhub.api.deps import CallerDep, HubDep, page_bounds
from hookhub.api.envelope import ok
from hookhub.api.routing import make_router
from hookhub.hub import Hub
from hookhub.services.errors import InvalidParams
from hookhub.services.integrations import listing
from hookhub.services.integrations.listing import IntegrationPage, ListRequest

router = make_router("integrations")

LIST_KEYS = frozenset({"offset", "count", "sort", "fields", "query", "name", "type"})

OptionalText = Annotated[str | None, Query()]


def check_params(
    values: Mapping[str, Any],
    *,
    required: tuple[str, ...] = (),
    allowed: Collection[str] | None = None,
    non_empty: tuple[str, ...] = (),
) -> None:
    """ajv's keyword order with `allErrors` off: `required`, then `additionalProperties`, then
    the properties' own rules (`type: string`, `minLength: 1`); the first failure is reported.
    Values with a NUL character are refused too."""
    for key in required:
        if key not in values:
            raise InvalidParams([f"must have required property '{key}'"])
    if allowed is not None and any(key not in allowed for key in values):
        raise InvalidParams(["must NOT have additional properties"])
    for key in non_empty:
        if key not in values:
            continue
        if not isinstance(values[key], str):
            raise InvalidParams(["must be string"])
        if values[key] == "":
            raise InvalidParams(["must NOT have fewer than 1 characters"])
    # a NUL character can be neither stored nor compared by PostgreSQL (and SQLite cuts strings at
    # it): refused here rather than failing, or matching wrongly, in the database
    for key, value in values.items():
        if isinstance(value, str) and "\x00" in value:
            raise InvalidParams([f"/{key} must not contain NUL characters"])


def paging(hub: Hub, params: Mapping[str, str]) -> tuple[int, int | None]:
    """`offset` and the page size (None: no limit), by the core's pagination rules."""
    offset, limit, _requested = page_bounds(hub.settings, params)
    return offset, limit


def list_request(hub: Hub, params: Mapping[str, str]) -> ListRequest:
    offset, limit = paging(hub, params)
    return ListRequest(
        sort=params.get("sort"),
        fields=params.get("fields"),
        query=params.get("query"),
        offset=offset,
        limit=limit,
    )


@router.get("/api/v1/integrations.list", summary="The integrations the caller may see")
async def list_integrations(
    request: Request,
    hub: HubDep,
    caller: CallerDep,
    offset: OptionalText = None,
    count: OptionalText = None,
    sort: OptionalText = None,
    fields: OptionalText = None,
    query: OptionalText = None,
    name: OptionalText = None,
    type: OptionalText = None,
) -> Response:
    """`name`: case-insensitive substring of the name; `type`: exact type. `fields` is accepted
    (a hookhub extension: an allow-listed projection)."""
    params = request.query_params
    check_params(params, allowed=LIST_KEYS)
    wanted = list_request(hub, params)
    async with hub.tx(write=False) as ctx:
        page = await listing.list_integrations(ctx, caller.user, wanted, name=name, type_=type)
    n = len(page.integrations)
    return ok(
        {
            "integrations": page.integrations,
            "offset": wanted.offset,
            "items": n,
            "count": n,
            "total": page.total,
        }
    )


@router.get("/api/v1/integrations.get", summary="One integration by id")
async def get_integration(
    request: Request,
    hub: HubDep,
    caller: CallerDep,
    integrationId: OptionalText = None,
    createdBy: OptionalText = None,
    fields: OptionalText = None,
) -> Response:
    """No route permission: the caller must manage all integrations of the document's kind, or
    own it and hold the "own" permission. Unknown query keys are tolerated."""
    check_params(request.query_params, required=("integrationId",))
    async with hub.tx(write=False) as ctx:
        document = await listing.get_integration(
            ctx, caller.user, integrationId or "", created_by=createdBy, fields=fields
        )
    return ok({"integration": document})


def _room_page(page: IntegrationPage, offset: int) -> Response:
    return ok(
        {
            "integrations": page.integrations,
            "count": len(page.integrations),
            "offset": offset,
            "total": page.total,
        }
    )


@router.get("/api/v1/channels.getIntegrations", summary="The integrations addressed to a public channel")
async def channel_integrations(
    request: Request,
    hub: HubDep,
    caller: CallerDep,
    roomId: OptionalText = None,
    roomName: OptionalText = None,
    includeAllPublicChannels: OptionalText = None,
    offset: OptionalText = None,
    count: OptionalText = None,
    sort: OptionalText = None,
    fields: OptionalText = None,
    query: OptionalText = None,
) -> Response:
    """`includeAllPublicChannels` defaults to true; when sent, only the exact string `true`
    keeps it. A channel the caller cannot read answers 403 `unauthorized`."""
    check_params(request.query_params)
    wanted = list_request(hub, request.query_params)
    include_all = includeAllPublicChannels == "true" if includeAllPublicChannels is not None else True
    async with hub.tx(write=False) as ctx:
        page = await listing.channel_integrations(
            ctx, caller.user, wanted, room_id=roomId, room_name=roomName, include_all=include_all
        )
    return _room_page(page, wanted.offset)


@router.get("/api/v1/groups.getIntegrations", summary="The integrations addressed to a private group")
async def group_integrations(
    request: Request,
    hub: HubDep,
    caller: CallerDep,
    roomId: OptionalText = None,
    roomName: OptionalText = None,
    includeAllPrivateGroups: OptionalText = None,
    offset: OptionalText = None,
    count: OptionalText = None,
    sort: OptionalText = None,
    fields: OptionalText = None,
    query: OptionalText = None,
) -> Response:
    """`includeAllPrivateGroups` defaults to true; a non-empty value keeps it only if it is
    `true`. A group the caller cannot read answers like a missing one (400)."""
    check_params(request.query_params)
    wanted = list_request(hub, request.query_params)
    include_all = includeAllPrivateGroups == "true" if includeAllPrivateGroups else True
    async with hub.tx(write=False) as ctx:
        page = await listing.group_integrations(
            ctx, caller.user, wanted, room_id=roomId, room_name=roomName, include_all=include_all
        )
    return _room_page(page, wanted.offset)
