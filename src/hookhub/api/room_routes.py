"""The routes `channels.*` and `groups.*` share (core-api.md §5, §6), built once per family.
The rules live in `services.room_admin`; what differs between the families at the route level
(lookups, answers, Rocket.Chat's check order) is described by `FamilyRoutes`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from hookhub.api.deps import CallerDep, HubDep, PageDep
from hookhub.api.envelope import ok
from hookhub.api.routing import Body, make_router
from hookhub.services import room_admin as admin
from hookhub.services.context import Ctx
from hookhub.services.documents import room_doc
from hookhub.services.errors import Failure, Forbidden
from hookhub.services.room_access import can_access_room
from hookhub.services.rooms import leave_room
from hookhub.services.users import find_user_param
from hookhub.store.rows import Row


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


class RenameBody(RoomBody):
    name: str | None = None


class TextSettingBody(RoomBody):
    topic: str | None = None
    description: str | None = None
    announcement: str | None = None
    purpose: str | None = None


class ReadOnlyBody(RoomBody):
    readOnly: bool | None = None


class TypeBody(RoomBody):
    type: str | None = None


class CustomFieldsBody(RoomBody):
    customFields: Any = None


class AddAllBody(RoomBody):
    activeUsersOnly: bool | str | int | None = None


def custom_fields_param(body: CustomFieldsBody) -> dict[str, Any] | list[Any]:
    """The `customFields` object (RC's route check: anything JavaScript calls an object)."""
    if not isinstance(body.customFields, dict | list):
        raise Failure('The bodyParam "customFields" is required with a type like object.')
    return body.customFields


def active_only_param(body: AddAllBody) -> bool:
    # RC's route only honours "true" and 1 and drops a JSON true, which is what the Python
    # client sends; every spelling of yes counts here
    value = body.activeUsersOnly
    if isinstance(value, bool):
        return value
    return value is not None and str(value).lower() in ("true", "1")


def room_list(key: str, rows: list[Row], total: int, offset: int) -> Response:
    return ok({key: [room_doc(r) for r in rows], "count": len(rows), "offset": offset, "total": total})


@dataclass(frozen=True)
class FamilyRoutes:
    """One room family as its routes see it, with the route-level differences Rocket.Chat shows."""

    family: admin.Family
    prefix: str  # the method namespace ("channels" → /api/v1/channels.info), also the list key
    noun: str  # how summaries name a room of the family
    other_noun: str  # what `setType` turns a room of the family into
    joined_list: str  # the method listing the caller's rooms of the family
    # the channel lookup finds any public channel, so its reads check access; the group
    # lookup already refused non-members
    reads_check_access: bool
    leave_answers_room: bool  # channels.leave answers the room, groups.leave only success
    refuses_unchanged_text: bool  # channels.setTopic & co. refuse the value already set
    counters_check_user_first: bool  # channels check `userId` before the lookup, groups after
    history_count: int | None  # history's own default page size; None: the API default
    history_shows_threads: bool  # whether history shows thread replies unless told otherwise

    def path(self, method: str) -> str:
        return f"/api/v1/{self.prefix}.{method}"

    async def find(
        self,
        ctx: Ctx,
        caller: Row,
        body: RoomBody,
        *,
        allow_archived: bool = False,
        check_membership: bool = True,
    ) -> Row:
        return await admin.lookup(
            ctx,
            self.family,
            caller,
            body.roomId,
            body.roomName,
            allow_archived=allow_archived,
            check_membership=check_membership,
        )

    async def find_readable(self, ctx: Ctx, caller: Row, room_id: str | None, room_name: str | None) -> Row:
        room = await admin.lookup(ctx, self.family, caller, room_id, room_name, allow_archived=True)
        if self.reads_check_access and not await can_access_room(ctx, room, caller):
            raise Forbidden()
        return room

    async def answer(self, ctx: Ctx, room: Row) -> Response:
        return ok({self.family.key: room_doc(await admin.fresh(ctx, room))})


def family_router(spec: FamilyRoutes) -> APIRouter:
    """A router with every route both families have; the family module adds its own."""
    router = make_router(spec.prefix)
    _add_membership_routes(router, spec)
    _add_read_routes(router, spec)
    _add_admin_routes(router, spec)
    _add_setting_routes(router, spec)
    _add_member_read_routes(router, spec)
    return router


def _add_membership_routes(router: APIRouter, spec: FamilyRoutes) -> None:
    family, noun = spec.family, spec.noun

    @router.post(spec.path("create"), summary=f"Create a {noun}")
    async def create(hub: HubDep, caller: CallerDep, body: CreateBody) -> Response:
        async with hub.tx() as ctx:
            room = await admin.create(
                ctx,
                family,
                caller.user,
                body.name,
                members=body.members,
                read_only=bool(body.readOnly),
                exclude_self=bool(body.excludeSelf),
                custom_fields=body.customFields,
                extra_data=body.extraData,
            )
        return ok({family.key: room_doc(room)})

    @router.get(spec.path(spec.joined_list), summary=f"{noun.capitalize()}s the caller belongs to")
    async def list_joined(hub: HubDep, caller: CallerDep, page: PageDep) -> Response:
        async with hub.tx(write=False) as ctx:
            rows, total = await admin.list_joined(
                ctx, family, caller.user, sort=page.sort, offset=page.offset, limit=page.count
            )
        return room_list(spec.prefix, rows, total, page.offset)

    @router.post(spec.path("leave"), summary=f"Leave a {noun}")
    async def leave(hub: HubDep, caller: CallerDep, body: RoomBody) -> Response:
        async with hub.tx() as ctx:
            room = await spec.find(ctx, caller.user, body)
            await leave_room(ctx, room, caller.user)
            if spec.leave_answers_room:
                return await spec.answer(ctx, room)
        return ok()

    @router.post(spec.path("invite"), summary=f"Add users to a {noun}")
    async def invite(hub: HubDep, caller: CallerDep, body: InviteBody) -> Response:
        async with hub.tx() as ctx:
            # RC resolves a group without the membership check here (the invite rights decide);
            # channels are found by anyone anyway
            room = await spec.find(ctx, caller.user, body, check_membership=False)
            targets = await admin.users_from_params(
                ctx, body.userId, body.username, body.user, body.userIds, body.usernames
            )
            await admin.invite(ctx, family, room, caller.user, targets)
            return await spec.answer(ctx, room)

    @router.post(spec.path("kick"), summary=f"Remove a user from a {noun}")
    async def kick(hub: HubDep, caller: CallerDep, body: UserTargetBody) -> Response:
        async with hub.tx() as ctx:
            room = await spec.find(ctx, caller.user, body)
            target = await find_user_param(ctx, body.userId, body.username, body.user)
            await admin.kick(ctx, family, room, caller.user, target)
            return await spec.answer(ctx, room)

    def role_route(role: str, grant: bool) -> Callable[..., Awaitable[Response]]:
        async def endpoint(hub: HubDep, caller: CallerDep, body: UserTargetBody) -> Response:
            async with hub.tx() as ctx:
                room = await spec.find(ctx, caller.user, body)
                target = await find_user_param(ctx, body.userId, body.username, body.user)
                await admin.set_room_role(ctx, room, caller.user, target, role, grant=grant)
            return ok()

        return endpoint

    for role in ("owner", "moderator", "leader"):
        for grant, verb in ((True, "add"), (False, "remove")):
            router.add_api_route(
                spec.path(f"{verb}{role.title()}"),
                role_route(role, grant),
                methods=["POST"],
                summary=f"{verb.title()} the room role {role} in a {noun}",
            )


def _add_read_routes(router: APIRouter, spec: FamilyRoutes) -> None:
    family, noun = spec.family, spec.noun

    @router.get(spec.path("info"), summary=f"One {noun}")
    async def info(
        hub: HubDep, caller: CallerDep, roomId: str | None = None, roomName: str | None = None
    ) -> Response:
        async with hub.tx(write=False) as ctx:
            room = await spec.find_readable(ctx, caller.user, roomId, roomName)
        return ok({family.key: room_doc(room)})

    @router.get(spec.path("members"), summary=f"Members of a {noun}")
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
            room = await spec.find_readable(ctx, caller.user, roomId, roomName)
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

    @router.get(spec.path("history"), summary=f"A {noun}'s messages, newest first")
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
        count: str | None = None,
    ) -> Response:
        latest_at = admin.date_param(latest, "latest")
        oldest_at = admin.date_param(oldest, "oldest")
        # the page already read `count`; it is declared to tell an absent one from the default
        size = page.count if count is not None or spec.history_count is None else spec.history_count
        if spec.history_shows_threads:
            show_threads = showThreadMessages != "false"
        else:
            show_threads = showThreadMessages == "true"
        async with hub.tx(write=False) as ctx:
            room = await spec.find_readable(ctx, caller.user, roomId, roomName)
            body = await admin.history(
                ctx,
                room,
                caller.user,
                latest=latest_at,
                oldest=oldest_at,
                inclusive=inclusive == "true",
                offset=page.offset,
                count=size,
                unreads=unreads == "true",
                show_thread_messages=show_threads,
            )
        return ok(body)

    @router.get(spec.path("files"), summary=f"Files uploaded to a {noun} (none: no uploads)")
    async def files(
        hub: HubDep, caller: CallerDep, page: PageDep, roomId: str | None = None, roomName: str | None = None
    ) -> Response:
        """hookhub does not support file uploads, so the list is empty; the room is still looked
        up and the caller's access checked, as for any read."""
        async with hub.tx(write=False) as ctx:
            await spec.find_readable(ctx, caller.user, roomId, roomName)
        return ok(admin.files_page(page.offset))


def _add_admin_routes(router: APIRouter, spec: FamilyRoutes) -> None:
    family, noun = spec.family, spec.noun

    @router.post(spec.path("archive"), summary=f"Archive a {noun}")
    async def archive(hub: HubDep, caller: CallerDep, body: RoomBody) -> Response:
        async with hub.tx() as ctx:
            room = await spec.find(ctx, caller.user, body)
            await admin.archive(ctx, room, caller.user)
        return ok()

    @router.post(spec.path("unarchive"), summary=f"Unarchive a {noun}")
    async def unarchive(hub: HubDep, caller: CallerDep, body: RoomBody) -> Response:
        async with hub.tx() as ctx:
            room = await spec.find(ctx, caller.user, body, allow_archived=True)
            await admin.unarchive(ctx, family, room, caller.user)
        return ok()

    @router.post(spec.path("rename"), summary=f"Rename a {noun}")
    async def rename(hub: HubDep, caller: CallerDep, body: RenameBody) -> Response:
        if not body.name or not body.name.strip():
            raise Failure('The bodyParam "name" is required')
        async with hub.tx() as ctx:
            room = await spec.find(ctx, caller.user, body)
            await admin.rename(ctx, family, room, caller.user, body.name)
            return await spec.answer(ctx, room)

    def open_route(open_: bool) -> Callable[..., Awaitable[Response]]:
        async def endpoint(hub: HubDep, caller: CallerDep, body: RoomBody) -> Response:
            async with hub.tx() as ctx:
                room = await spec.find(ctx, caller.user, body, allow_archived=True)
                await admin.set_open(ctx, family, room, caller.user, open_=open_)
            return ok()

        return endpoint

    router.add_api_route(
        spec.path("close"),
        open_route(False),
        methods=["POST"],
        summary=f"Hide a {noun} from the caller's list",
    )
    router.add_api_route(
        spec.path("open"),
        open_route(True),
        methods=["POST"],
        summary=f"Show a hidden {noun} in the caller's list again",
    )

    @router.post(spec.path("addAll"), summary=f"Add every user to a {noun}")
    async def add_all(hub: HubDep, caller: CallerDep, body: AddAllBody) -> Response:
        active_only = active_only_param(body)
        async with hub.tx() as ctx:
            room = await spec.find(ctx, caller.user, body)
            await admin.add_all(ctx, room, caller.user, active_only=active_only)
            return await spec.answer(ctx, room)


# (body param, where it is stored, how the "unchanged" failure names it)
_TEXT_SETTINGS = (
    ("topic", "topic", "topic"),
    ("description", "description", "description"),
    ("announcement", "announcement", "announcement"),
    # RC's purpose is the description under another name
    ("purpose", "description", "purpose (description)"),
)


def _add_setting_routes(router: APIRouter, spec: FamilyRoutes) -> None:
    family, noun = spec.family, spec.noun

    def text_route(param: str, stored_as: str, label: str) -> Callable[..., Awaitable[Response]]:
        async def endpoint(hub: HubDep, caller: CallerDep, body: TextSettingBody) -> Response:
            value = getattr(body, param)
            if value is None:
                raise Failure(f'The bodyParam "{param}" is required')
            async with hub.tx() as ctx:
                room = await spec.find(ctx, caller.user, body)
                if spec.refuses_unchanged_text and admin.text_setting(room, stored_as) == value:
                    raise Failure(f"The {family.noun} {label} is the same as what it would be changed to.")
                await admin.set_text(ctx, room, caller.user, stored_as, value)
            return ok({param: value})

        return endpoint

    for param, stored, label in _TEXT_SETTINGS:
        router.add_api_route(
            spec.path(f"set{param.title()}"),
            text_route(param, stored, label),
            methods=["POST"],
            summary=f"Set a {noun}'s {param}",
        )

    @router.post(spec.path("setReadOnly"), summary=f"Make a {noun} read-only or not")
    async def set_read_only(hub: HubDep, caller: CallerDep, body: ReadOnlyBody) -> Response:
        if body.readOnly is None:
            raise Failure('The bodyParam "readOnly" is required')
        async with hub.tx() as ctx:
            room = await spec.find(ctx, caller.user, body)
            if room["ro"] == body.readOnly:
                raise Failure(
                    f"The {family.noun} read only setting is the same as what it would be changed to."
                )
            await admin.set_read_only(ctx, room, caller.user, body.readOnly)
            return await spec.answer(ctx, room)

    @router.post(spec.path("setType"), summary=f"Turn a {noun} into a {spec.other_noun}")
    async def set_type(hub: HubDep, caller: CallerDep, body: TypeBody) -> Response:
        if not body.type or not body.type.strip():
            raise Failure('The bodyParam "type" is required')
        async with hub.tx() as ctx:
            room = await spec.find(ctx, caller.user, body)
            await admin.set_type(ctx, family, room, caller.user, body.type)
            # the answer keeps the family's result key: it describes what the caller changed
            return await spec.answer(ctx, room)

    @router.post(spec.path("setCustomFields"), summary=f"Replace a {noun}'s custom fields")
    async def set_custom_fields(hub: HubDep, caller: CallerDep, body: CustomFieldsBody) -> Response:
        fields = custom_fields_param(body)
        async with hub.tx() as ctx:
            room = await spec.find(ctx, caller.user, body)
            await admin.set_custom_fields(ctx, room, caller.user, fields)
            return await spec.answer(ctx, room)


def _add_member_read_routes(router: APIRouter, spec: FamilyRoutes) -> None:
    family, noun = spec.family, spec.noun

    @router.get(spec.path("roles"), summary=f"Members holding room roles in a {noun}")
    async def roles(
        hub: HubDep, caller: CallerDep, roomId: str | None = None, roomName: str | None = None
    ) -> Response:
        async with hub.tx(write=False) as ctx:
            room = await admin.lookup(ctx, family, caller.user, roomId, roomName)
            return ok({"roles": await admin.room_roles(ctx, room, caller.user)})

    @router.get(spec.path("moderators"), summary=f"Moderators of a {noun}")
    async def moderators(
        hub: HubDep, caller: CallerDep, roomId: str | None = None, roomName: str | None = None
    ) -> Response:
        async with hub.tx(write=False) as ctx:
            room = await admin.lookup(ctx, family, caller.user, roomId, roomName)
            return ok({"moderators": await admin.moderators(ctx, room)})

    @router.get(spec.path("counters"), summary=f"Message, member and unread counts of a {noun}")
    async def counters(
        hub: HubDep,
        caller: CallerDep,
        roomId: str | None = None,
        roomName: str | None = None,
        userId: str | None = None,
    ) -> Response:
        async with hub.tx(write=False) as ctx:
            # RC finds a group here without the membership check: room administrators read the
            # counters of groups they are not in, other non-members get `joined: false` and nulls
            if spec.counters_check_user_first:
                subject, is_admin = await admin.counters_subject(ctx, caller.user, userId)
                room = await admin.lookup(ctx, family, caller.user, roomId, roomName, check_membership=False)
            else:
                room = await admin.lookup(ctx, family, caller.user, roomId, roomName, check_membership=False)
                subject, is_admin = await admin.counters_subject(ctx, caller.user, userId)
            return ok(await admin.counters(ctx, room, subject, admin=is_admin))

    @router.get(spec.path("online"), summary=f"Members of a {noun} who are not offline")
    async def online(
        hub: HubDep,
        caller: CallerDep,
        room_id: Annotated[str | None, Query(alias="_id")] = None,
        query: str | None = None,
    ) -> Response:
        async with hub.tx(write=False) as ctx:
            room = await admin.online_room(ctx, family, room_id, query)
            return ok({"online": await admin.online(ctx, room, caller.user)})
