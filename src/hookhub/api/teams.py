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
from hookhub.api.routing import make_router
from hookhub.services import teams
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


def _match_error(text: str) -> Failure:
    return Failure(f"Match error: {text}")


@router.post("/api/v1/teams.create", summary="Create a team with its main room")
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


@router.post("/api/v1/teams.addMembers", summary="Add members to a team")
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


@router.post("/api/v1/teams.updateMember", summary="Replace a team member's roles")
async def update_member(hub: HubDep, caller: CallerDep, body: Any = BodyParam(default=None)) -> Response:
    data = _object(body)
    ref = _ref(data)
    change = _member(data.get("member"), "/member")
    async with hub.tx() as ctx:
        await teams.update_member(ctx, caller.user, ref, change)
    return ok()


@router.post("/api/v1/teams.removeMember", summary="Remove a member from a team")
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


@router.post("/api/v1/teams.leave", summary="Leave a team")
async def leave(hub: HubDep, caller: CallerDep, body: Any = BodyParam(default=None)) -> Response:
    data = _object(body)
    ref = _ref(data)
    _rooms_param(data, "rooms")
    async with hub.tx() as ctx:
        await teams.remove_member(ctx, caller.user, ref, str(caller.user["id"]), check_permission=False)
    return ok()


@router.post("/api/v1/teams.delete", summary="Delete a team and its main room")
async def delete(hub: HubDep, caller: CallerDep, body: Any = BodyParam(default=None)) -> Response:
    data = _object(body)
    ref = _ref(data)
    _rooms_param(data, "roomsToRemove")
    async with hub.tx() as ctx:
        await teams.delete(ctx, caller.user, ref)
    return ok()
