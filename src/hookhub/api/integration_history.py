"""The history of outgoing integrations: `integrations.history`, `integrations.clearHistory`,
`integrations.replayOutgoing` (rest-integrations.md §3, §9)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body
from starlette.requests import Request
from starlette.responses import Response

from hookhub.api.deps import CallerDep, HubDep
from hookhub.api.envelope import ok
from hookhub.api.integration_listing import OptionalText, check_params, list_request
from hookhub.api.routing import json_body, make_router
from hookhub.services.errors import InvalidParams
from hookhub.services.integrations import history

router = make_router("integrations")

HISTORY_KEYS = frozenset({"id", "offset", "count", "sort", "fields", "query"})

JsonBody = Annotated[Any, Body()]


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidParams(["must be object"])
    return body


@router.get("/api/v1/integrations.history", summary="A page of an outgoing integration's history")
async def integration_history(
    request: Request,
    hub: HubDep,
    caller: CallerDep,
    id: OptionalText = None,
    offset: OptionalText = None,
    count: OptionalText = None,
    sort: OptionalText = None,
    fields: OptionalText = None,
    query: OptionalText = None,
) -> Response:
    """Needs `manage-outgoing-integrations` or `manage-own-outgoing-integrations` (403 otherwise);
    own-only callers see the history of their own integrations. Newest update first by default;
    an unknown id is an empty page. `fields` is a hookhub extension (allow-listed projection)."""
    params = request.query_params
    check_params(params, required=("id",), allowed=HISTORY_KEYS, non_empty=("id",))
    wanted = list_request(hub, params)
    async with hub.tx(write=False) as ctx:
        page = await history.list_history(ctx, caller.user, id or "", wanted)
    n = len(page.history)
    return ok({"history": page.history, "offset": wanted.offset, "items": n, "count": n, "total": page.total})


def _body_of(*keys: str) -> dict[str, Any]:
    """The document of a body of required non-empty strings (checked by `check_params`)."""
    return {
        "type": "object",
        "properties": {key: {"type": "string", "minLength": 1} for key in keys},
        "required": list(keys),
        "additionalProperties": False,
    }


@router.post(
    "/api/v1/integrations.clearHistory",
    summary="Delete an outgoing integration's history",
    openapi_extra=json_body(_body_of("integrationId"), required=True),
)
async def clear_history(hub: HubDep, caller: CallerDep, body: JsonBody = None) -> Response:
    """Body `{integrationId}`. Permission failures are 400 `not_authorized` (checked in the
    method, as in Rocket.Chat), not 403."""
    values = _object(body)
    check_params(
        values, required=("integrationId",), allowed=("integrationId",), non_empty=("integrationId",)
    )
    async with hub.tx() as ctx:
        await history.clear_history(ctx, caller.user, values["integrationId"])
    return ok()


@router.post(
    "/api/v1/integrations.replayOutgoing",
    summary="Re-send a recorded outgoing delivery",
    openapi_extra=json_body(_body_of("integrationId", "historyId"), required=True),
)
async def replay_outgoing(hub: HubDep, caller: CallerDep, body: JsonBody = None) -> Response:
    """Body `{integrationId, historyId}`. After every check (permission, integration, history
    entry, outgoing type, recorded data) the recorded event is queued again for the recorded URL
    as a new delivery (its own history record); 200 `{"success": true}`."""
    values = _object(body)
    keys = ("integrationId", "historyId")
    check_params(values, required=keys, allowed=keys, non_empty=keys)
    async with hub.tx() as ctx:
        await history.replay_outgoing(ctx, caller.user, values["integrationId"], values["historyId"])
    return ok()
