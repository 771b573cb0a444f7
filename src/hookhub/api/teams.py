"""`teams.*` endpoints (issue #9, teams.md §2): HTTP only; the rules are in `services.teams`.

Bodies are checked here the way Rocket.Chat checks them: `teams.create` with Meteor's `check`
("Match error: ..."), the others with the REST schemas (`... [invalid-params]`)."""

from __future__ import annotations

from typing import Any

from fastapi import Body as BodyParam
from fastapi import Query
from starlette.responses import Response

from hookhub.api.deps import CallerDep, HubDep, PageDep
from hookhub.api.envelope import ok
from hookhub.api.routing import json_body, make_router
from hookhub.services import room_admin, team_rooms, teams
from hookhub.services.errors import Failure, MeteorError

router = make_router("teams")


def _invalid(text: str) -> MeteorError:
    return MeteorError(text, "invalid-params")


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _invalid("must be object")
    return body


def _ref(body: dict[str, Any]) -> teams.TeamRef:
    """The team a body names (`teamId` | `teamName`, one of them)."""
    team_id, team_name = body.get("teamId"), body.get("teamName")
    if "teamId" in body and "teamName" in body:
        raise _invalid("must match exactly one schema in oneOf")
    for key, value in (("teamId", team_id), ("teamName", team_name)):
        if value is not None and not isinstance(value, str):
            raise _invalid(f"must have required property '{key}'")
    return teams.TeamRef(team_id or None, team_name or None)


def _rooms_param(body: dict[str, Any], key: str) -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _invalid(f"{key} must be array")
    if not value:
        raise _invalid(f"{key} must NOT have fewer than 1 items")
    return value


def _text(body: dict[str, Any], key: str) -> str | None:
    """A room id or name: a string or absent (a number or a list would reach the database)."""
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise _invalid(f"{key} must be string")
    return value


# -- the bodies' schemas, for the OpenAPI document (the routes check bodies themselves, with
# Rocket.Chat's wording; these say what the checks accept) -----------------------------------------

_STRINGS: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
_TEAM_TYPE: dict[str, Any] = {"enum": [teams.PUBLIC, teams.PRIVATE], "description": "0 public, 1 private"}
_TEAM_REF: dict[str, Any] = {
    "teamId": {"type": "string", "description": "The team's id (or give `teamName`)"},
    "teamName": {"type": "string"},
}
_MEMBER: dict[str, Any] = {
    "type": "object",
    "required": ["userId"],
    "properties": {"userId": {"type": "string"}, "roles": _STRINGS},
}


def _body(properties: dict[str, Any], *required: str, team: bool = True) -> dict[str, Any]:
    schema = {"type": "object", "properties": {**(_TEAM_REF if team else {}), **properties}}
    if required:
        schema["required"] = list(required)
    return json_body(schema, required=True)


def _match_error(text: str) -> Failure:
    return Failure(f"Match error: {text}")


@router.post(
    "/api/v1/teams.create",
    summary="Create a team with its main room",
    openapi_extra=_body(
        {
            "name": {"type": "string"},
            "type": _TEAM_TYPE,
            "members": _STRINGS,
            "owner": {"type": "string"},
            "room": {"type": "object", "properties": {"readOnly": {"type": "boolean"}}},
        },
        "name",
        "type",
        team=False,
    ),
)
async def create(hub: HubDep, caller: CallerDep, body: Any = BodyParam(default=None)) -> Response:
    """Body: `name`, `type` (0 public, 1 private), `members` (user ids or usernames), `owner`
    (a user id), `room` (`readOnly`)."""
    data = _object(body)
    name = data.get("name")
    if not isinstance(name, str):
        raise _match_error("Expected string, got " + ("undefined" if name is None else type(name).__name__))
    team_type = data.get("type")
    if team_type not in (teams.PUBLIC, teams.PRIVATE) or isinstance(team_type, bool):
        raise _match_error("Failed Match.OneOf, Match.Maybe or Match.Optional validation in field type")
    members = data.get("members") or []
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise _match_error("Expected array of strings in field members")
    owner = data.get("owner")
    if owner is not None and not isinstance(owner, str):
        raise _match_error("Expected string in field owner")
    room = data.get("room") or {}
    if not isinstance(room, dict):
        raise _match_error("Expected object in field room")
    async with hub.tx() as ctx:
        team = await teams.create(
            ctx,
            caller.user,
            name=name,
            team_type=int(team_type),
            members=members,
            owner_id=owner,
            read_only=bool(room.get("readOnly")),
        )
        doc = teams.team_doc(team)
    return ok({"team": doc})


@router.get("/api/v1/teams.info", summary="A team")
async def info(
    hub: HubDep, caller: CallerDep, teamId: str | None = None, teamName: str | None = None
) -> Response:
    if teamId is None and teamName is None:
        raise _match_error("Failed Match.OneOf, Match.Maybe or Match.Optional validation")
    async with hub.tx(write=False) as ctx:
        doc = await teams.info(ctx, caller.user, teams.TeamRef(teamId or None, teamName or None))
    return ok({"teamInfo": doc})


@router.get("/api/v1/teams.list", summary="The teams the caller belongs to")
async def list_mine(hub: HubDep, caller: CallerDep, page: PageDep) -> Response:
    async with hub.tx(write=False) as ctx:
        docs, total = await teams.list_page(
            ctx, caller.user, everything=False, offset=page.offset, count=page.count, sort=page.sort
        )
    return ok({"teams": docs, "total": total, "count": len(docs), "offset": page.offset})


@router.get("/api/v1/teams.listAll", summary="Every team (view-all-teams)")
async def list_all(hub: HubDep, caller: CallerDep, page: PageDep) -> Response:
    async with hub.tx(write=False) as ctx:
        docs, total = await teams.list_page(
            ctx, caller.user, everything=True, offset=page.offset, count=page.count
        )
    return ok({"teams": docs, "total": total, "count": len(docs), "offset": page.offset})


@router.get("/api/v1/teams.members", summary="A page of a team's members")
async def members(
    hub: HubDep,
    caller: CallerDep,
    page: PageDep,
    teamId: str | None = None,
    teamName: str | None = None,
    username: str | None = None,
    name: str | None = None,
    status: list[str] | None = Query(default=None, alias="status[]"),
) -> Response:
    async with hub.tx(write=False) as ctx:
        docs, total = await teams.members_page(
            ctx,
            caller.user,
            teams.TeamRef(teamId or None, teamName or None),
            username=username,
            name=name,
            statuses=status or [],
            offset=page.offset,
            count=page.count,
        )
    return ok({"members": docs, "total": total, "count": len(docs), "offset": page.offset})


def _member(value: Any, where: str) -> teams.MemberChange:
    if not isinstance(value, dict) or not isinstance(value.get("userId"), str):
        raise _invalid(f"{where} must have required property 'userId'")
    roles = value.get("roles")
    if roles is not None and (not isinstance(roles, list) or not all(isinstance(r, str) for r in roles)):
        raise _invalid(f"{where}/roles must be array")
    return teams.MemberChange(value["userId"], roles)


@router.post(
    "/api/v1/teams.addMembers",
    summary="Add members to a team",
    openapi_extra=_body({"members": {"type": "array", "items": _MEMBER, "minItems": 1}}, "members"),
)
async def add_members(hub: HubDep, caller: CallerDep, body: Any = BodyParam(default=None)) -> Response:
    data = _object(body)
    ref = _ref(data)
    listed = data.get("members")
    if not isinstance(listed, list) or not listed:
        raise _invalid("must have required property 'members'")
    changes = [_member(m, f"/members/{i}") for i, m in enumerate(listed)]
    async with hub.tx() as ctx:
        await teams.add_members(ctx, caller.user, ref, changes)
    return ok()


@router.post(
    "/api/v1/teams.updateMember",
    summary="Replace a team member's roles",
    openapi_extra=_body({"member": _MEMBER}, "member"),
)
async def update_member(hub: HubDep, caller: CallerDep, body: Any = BodyParam(default=None)) -> Response:
    data = _object(body)
    ref = _ref(data)
    change = _member(data.get("member"), "/member")
    async with hub.tx() as ctx:
        await teams.update_member(ctx, caller.user, ref, change)
    return ok()


@router.post(
    "/api/v1/teams.removeMember",
    summary="Remove a member from a team",
    openapi_extra=_body({"userId": {"type": "string"}, "rooms": _STRINGS}, "userId"),
)
async def remove_member(hub: HubDep, caller: CallerDep, body: Any = BodyParam(default=None)) -> Response:
    data = _object(body)
    ref = _ref(data)
    user_id = data.get("userId")
    if not isinstance(user_id, str):
        raise _invalid("must have required property 'userId'")
    _rooms_param(data, "rooms")
    async with hub.tx() as ctx:
        await teams.remove_member(ctx, caller.user, ref, user_id)
    return ok()


@router.post("/api/v1/teams.leave", summary="Leave a team", openapi_extra=_body({"rooms": _STRINGS}))
async def leave(hub: HubDep, caller: CallerDep, body: Any = BodyParam(default=None)) -> Response:
    data = _object(body)
    ref = _ref(data)
    _rooms_param(data, "rooms")
    async with hub.tx() as ctx:
        await teams.remove_member(ctx, caller.user, ref, str(caller.user["id"]), check_permission=False)
    return ok()


@router.post(
    "/api/v1/teams.delete",
    summary="Delete a team and its main room",
    openapi_extra=_body({"roomsToRemove": _STRINGS}),
)
async def delete(hub: HubDep, caller: CallerDep, body: Any = BodyParam(default=None)) -> Response:
    data = _object(body)
    ref = _ref(data)
    remove = _rooms_param(data, "roomsToRemove") or []
    async with hub.tx() as ctx:
        await teams.delete(ctx, caller.user, ref, remove)
    return ok()


# -- the team's rooms ------------------------------------------------------------------------------


@router.post(
    "/api/v1/teams.addRooms",
    summary="Move rooms into a team",
    openapi_extra=_body({"rooms": _STRINGS}, "rooms"),
)
async def add_rooms(hub: HubDep, caller: CallerDep, body: Any = BodyParam(default=None)) -> Response:
    data = _object(body)
    ref = _ref(data)
    room_ids = data.get("rooms")
    if not isinstance(room_ids, list) or not all(isinstance(r, str) for r in room_ids):
        raise _match_error("Expected array of strings in field rooms")
    async with hub.tx() as ctx:
        docs = await team_rooms.add_rooms(ctx, caller.user, ref, room_ids)
    return ok({"rooms": docs})


@router.post(
    "/api/v1/teams.removeRoom",
    summary="Take a room out of a team",
    openapi_extra=_body({"roomId": {"type": "string"}}, "roomId"),
)
async def remove_room(hub: HubDep, caller: CallerDep, body: Any = BodyParam(default=None)) -> Response:
    data = _object(body)
    ref = _ref(data)
    room_id = data.get("roomId")
    if not isinstance(room_id, str) or not room_id:
        raise _invalid("must have required property 'roomId'")
    async with hub.tx() as ctx:
        doc = await team_rooms.remove_room(ctx, caller.user, ref, room_id)
    return ok({"room": doc})


@router.post(
    "/api/v1/teams.updateRoom",
    summary="Make a team room a default room, or not",
    openapi_extra=_body(
        {"roomId": {"type": "string"}, "isDefault": {"type": "boolean"}}, "roomId", "isDefault", team=False
    ),
)
async def update_room(hub: HubDep, caller: CallerDep, body: Any = BodyParam(default=None)) -> Response:
    data = _object(body)
    room_id, is_default = data.get("roomId"), data.get("isDefault")
    if not isinstance(room_id, str):
        raise _match_error(
            "Expected string, got " + ("undefined" if room_id is None else type(room_id).__name__)
        )
    if not isinstance(is_default, bool):
        raise _match_error("Expected boolean in field isDefault")
    async with hub.tx() as ctx:
        doc = await team_rooms.update_room(ctx, caller.user, room_id, is_default)
    return ok({"room": doc})


@router.get("/api/v1/teams.listRooms", summary="A page of a team's rooms")
async def list_rooms(
    hub: HubDep,
    caller: CallerDep,
    page: PageDep,
    teamId: str | None = None,
    teamName: str | None = None,
    filter: str | None = None,
    type: str | None = None,
) -> Response:
    async with hub.tx(write=False) as ctx:
        docs, total = await team_rooms.list_rooms(
            ctx,
            caller.user,
            teams.TeamRef(teamId or None, teamName or None),
            name_filter=filter or None,
            auto_join=type == "autoJoin",
            offset=page.offset,
            count=page.count,
        )
    return ok({"rooms": docs, "total": total, "count": len(docs), "offset": page.offset})


@router.get("/api/v1/teams.listRoomsOfUser", summary="A team's rooms a user belongs to")
async def list_rooms_of_user(
    hub: HubDep,
    caller: CallerDep,
    page: PageDep,
    teamId: str | None = None,
    teamName: str | None = None,
    userId: str | None = None,
    canUserDelete: str | None = None,
) -> Response:
    if not userId:
        raise _match_error("Expected string, got undefined")
    async with hub.tx(write=False) as ctx:
        docs, total = await team_rooms.list_rooms_of_user(
            ctx,
            caller.user,
            teams.TeamRef(teamId or None, teamName or None),
            userId,
            can_user_delete=canUserDelete == "true",
            offset=page.offset,
            count=page.count,
        )
    # Rocket.Chat answers offset 0 whatever was asked (teams.md §2.2)
    return ok({"rooms": docs, "total": total, "count": len(docs), "offset": 0})


@router.post(
    "/api/v1/teams.update",
    summary="Rename a team or change its type",
    openapi_extra=_body(
        {"data": {"type": "object", "properties": {"name": {"type": "string"}, "type": _TEAM_TYPE}}}, "data"
    ),
)
async def update(hub: HubDep, caller: CallerDep, body: Any = BodyParam(default=None)) -> Response:
    data = _object(body)
    ref = _ref(data)
    changes = data.get("data")
    if not isinstance(changes, dict) or not changes:
        raise _invalid("must have required property 'data'")
    unknown = set(changes) - {"name", "type"}
    if unknown:
        raise _invalid("data must NOT have additional properties")
    name, team_type = changes.get("name"), changes.get("type")
    if name is not None and (not isinstance(name, str) or not name):
        raise _invalid("data/name must be string")
    if team_type is not None and (
        team_type not in (teams.PUBLIC, teams.PRIVATE) or isinstance(team_type, bool)
    ):
        raise _invalid("data/type must be equal to one of the allowed values")
    async with hub.tx() as ctx:
        await team_rooms.update_team(ctx, caller.user, ref, name, team_type)
    return ok()


@router.get("/api/v1/teams.autocomplete", summary="Teams whose name starts with a text")
async def autocomplete(hub: HubDep, caller: CallerDep, name: str | None = None) -> Response:
    if name is None:
        raise _match_error("Expected string, got undefined")
    async with hub.tx(write=False) as ctx:
        found = await team_rooms.autocomplete(ctx, caller.user, name)
    return ok({"teams": found})


@router.post(
    "/api/v1/teams.convertToChannel",
    summary="Turn a team back into a channel",
    openapi_extra=_body({"roomsToRemove": _STRINGS}),
)
async def convert_to_channel(hub: HubDep, caller: CallerDep, body: Any = BodyParam(default=None)) -> Response:
    data = _object(body)
    ref = _ref(data)
    remove = data.get("roomsToRemove") or []
    if not isinstance(remove, list) or not all(isinstance(r, str) for r in remove):
        raise _invalid("roomsToRemove must be array")
    async with hub.tx() as ctx:
        await team_rooms.convert_to_channel(ctx, caller.user, ref, remove)
    return ok()


# -- rooms into teams ----------------------------------------------------------------------------


@router.post(
    "/api/v1/channels.convertToTeam",
    summary="Turn a public channel into a team",
    openapi_extra=_body({"channelId": {"type": "string"}, "channelName": {"type": "string"}}, team=False),
)
async def channel_to_team(hub: HubDep, caller: CallerDep, body: Any = BodyParam(default=None)) -> Response:
    data = _object(body)
    async with hub.tx() as ctx:
        room = await room_admin.lookup(
            ctx, room_admin.CHANNELS, caller.user, _text(data, "channelId"), _text(data, "channelName")
        )
        team = await team_rooms.convert_room(ctx, caller.user, room)
        doc = teams.team_doc(team)
    return ok({"team": doc})


@router.post(
    "/api/v1/groups.convertToTeam",
    summary="Turn a private group into a team",
    openapi_extra=_body({"roomId": {"type": "string"}, "roomName": {"type": "string"}}, team=False),
)
async def group_to_team(hub: HubDep, caller: CallerDep, body: Any = BodyParam(default=None)) -> Response:
    data = _object(body)
    async with hub.tx() as ctx:
        room = await room_admin.lookup(
            ctx, room_admin.GROUPS, caller.user, _text(data, "roomId"), _text(data, "roomName")
        )
        team = await team_rooms.convert_room(ctx, caller.user, room)
        doc = teams.team_doc(team)
    return ok({"team": doc})
