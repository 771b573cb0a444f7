"""roles.list, roles.sync, roles.addUserToRole, roles.removeUserFromRole, roles.getUsersInRole
(core-api.md §10.3)."""

from __future__ import annotations

from datetime import timedelta

from hookhub.hub import Hub
from hookhub.ids import iso, utcnow
from hookhub.services.defaults import DEFAULT_ROLES
from hookhub.store import rooms
from tests.api.test_chat import make_room, set_permission, user_row
from tests.conftest import RC, assert_error, assert_ok


async def sub_roles(hub: Hub, room_id: str, user_id: str | None) -> list[str]:
    async with hub.tx(write=False) as ctx:
        sub = await rooms.get_subscription(ctx.conn, room_id, user_id or "")
    assert sub is not None
    return list(sub["roles"])


# -- roles.list / roles.sync --------------------------------------------------------------------------


async def test_list(alice: RC) -> None:
    body = assert_ok(await alice.get("roles.list"))
    by_id = {r["_id"]: r for r in body["roles"]}
    assert set(by_id) == {r.id for r in DEFAULT_ROLES}
    assert by_id["admin"] == {
        "_id": "admin",
        "name": "admin",
        "scope": "Users",
        "description": "Admin",
        "protected": True,
        "mandatory2fa": False,
    }
    assert by_id["owner"]["scope"] == "Subscriptions"


async def test_sync(alice: RC) -> None:
    past = iso(utcnow() - timedelta(days=1))
    body = assert_ok(await alice.get("roles.sync", updatedSince=past))
    assert {r["_id"] for r in body["roles"]["update"]} == {r.id for r in DEFAULT_ROLES}
    assert body["roles"]["remove"] == []
    future = iso(utcnow() + timedelta(days=1))
    assert assert_ok(await alice.get("roles.sync", updatedSince=future))["roles"]["update"] == []
    r = await alice.get("roles.sync", updatedSince="bad")
    assert_error(
        r, 400, 'The "updatedSince" query parameter must be a valid date. [error-updatedSince-param-invalid]'
    )
    r = await alice.get("roles.sync")
    assert_error(r, 400, 'The "updatedSince" query parameter must be provided. [error-param-not-provided]')


# -- roles.addUserToRole ----------------------------------------------------------------------------------


async def test_add_global_role(hub: Hub, admin: RC, alice: RC) -> None:
    body = assert_ok(await admin.post("roles.addUserToRole", roleId="livechat-agent", username="alice"))
    assert body["role"]["_id"] == "livechat-agent"
    assert body["role"]["name"] == "livechat-agent"
    assert (await user_row(hub, "alice"))["roles"] == ["user", "livechat-agent"]
    r = await admin.post("roles.addUserToRole", roleId="livechat-agent", username="alice")
    assert_error(r, 400, "User already in role [error-user-already-in-role]", "error-user-already-in-role")


async def test_add_role_by_legacy_role_name_and_by_user_id(hub: Hub, admin: RC, alice: RC) -> None:
    assert_ok(await admin.post("roles.addUserToRole", roleName="bot", userId=alice.user_id))
    assert "bot" in (await user_row(hub, "alice"))["roles"]


async def test_add_admin_role_grants_admin_rights(admin: RC, alice: RC) -> None:
    assert_error(
        await alice.post("permissions.update", permissions=[{"_id": "create-c", "roles": ["user"]}]),
        403,
        "User does not have the permissions required for this action [error-unauthorized]",
    )
    assert_ok(await admin.post("roles.addUserToRole", roleId="admin", username="alice"))
    assert_ok(await alice.post("permissions.update", permissions=[{"_id": "create-c", "roles": ["user"]}]))


async def test_add_room_scoped_role_goes_on_the_subscription(hub: Hub, admin: RC, alice: RC) -> None:
    body = assert_ok(
        await admin.post("roles.addUserToRole", roleId="moderator", username="alice", roomId="GENERAL")
    )
    assert body["role"]["scope"] == "Subscriptions"
    assert await sub_roles(hub, "GENERAL", alice.user_id) == ["moderator"]
    assert "moderator" not in (await user_row(hub, "alice"))["roles"]
    r = await admin.post("roles.addUserToRole", roleId="moderator", username="alice", roomId="GENERAL")
    assert_error(r, 400, "User already in role [error-user-already-in-role]")
    # the room role takes effect: moderators edit others' messages
    msg_id = assert_ok(await admin.post("chat.postMessage", channel="GENERAL", text="x"))["message"]["_id"]
    assert_ok(await alice.post("chat.update", roomId="GENERAL", msgId=msg_id, text="moderated"))


async def test_add_global_role_with_room_goes_on_the_user(hub: Hub, admin: RC, alice: RC) -> None:
    assert_ok(await admin.post("roles.addUserToRole", roleId="bot", username="alice", roomId="GENERAL"))
    assert "bot" in (await user_row(hub, "alice"))["roles"]
    assert await sub_roles(hub, "GENERAL", alice.user_id) == []


async def test_add_room_scoped_role_without_room_changes_nothing(hub: Hub, admin: RC, alice: RC) -> None:
    assert_ok(await admin.post("roles.addUserToRole", roleId="owner", username="alice"))
    assert (await user_row(hub, "alice"))["roles"] == ["user"]
    assert await sub_roles(hub, "GENERAL", alice.user_id) == []


async def test_add_errors(hub: Hub, admin: RC, alice: RC, bob: RC) -> None:
    r = await admin.post("roles.addUserToRole", username="alice")
    body = assert_error(r, 400, "error-invalid-role-properties")
    assert "errorType" not in body
    r = await admin.post("roles.addUserToRole", roleId="wizard", username="alice")
    assert_error(r, 400, "error-role-not-found", "Role not found")
    r = await admin.post("roles.addUserToRole", roleId="bot", username="ghost")
    assert_error(r, 400, "User not found [error-user-not-found]", "error-user-not-found")
    group = await make_room(hub, "bob", "club", "p")
    r = await admin.post("roles.addUserToRole", roleId="moderator", username="alice", roomId=group["id"])
    assert_error(r, 400, "User is not part of given room [error-invalid-user]", "error-invalid-user")
    r = await alice.post("roles.addUserToRole", roleId="bot", username="alice")
    body = assert_error(
        r, 400, "Accessing permissions is not allowed [error-action-not-allowed]", "error-action-not-allowed"
    )
    assert body["details"] == {"method": "authorization:addUserToRole", "action": "Accessing_permissions"}


async def test_assigning_admin_needs_assign_admin_role(hub: Hub, admin: RC, alice: RC) -> None:
    await set_permission(hub, "access-permissions", ["admin", "user"])
    r = await alice.post("roles.addUserToRole", roleId="admin", username="alice")
    assert_error(
        r, 400, "Assigning admin is not allowed [error-action-not-allowed]", "error-action-not-allowed"
    )
    # other roles are fine with access-permissions alone
    assert_ok(await alice.post("roles.addUserToRole", roleId="bot", username="alice"))


# -- roles.removeUserFromRole -------------------------------------------------------------------------------


async def test_remove_global_role(hub: Hub, admin: RC, alice: RC) -> None:
    assert_ok(await admin.post("roles.addUserToRole", roleId="livechat-agent", username="alice"))
    body = assert_ok(await admin.post("roles.removeUserFromRole", roleId="livechat-agent", username="alice"))
    assert body["role"]["_id"] == "livechat-agent"
    assert (await user_row(hub, "alice"))["roles"] == ["user"]
    r = await admin.post("roles.removeUserFromRole", roleId="livechat-agent", username="alice")
    assert_error(r, 400, "User is not in this role [error-user-not-in-role]", "error-user-not-in-role")


async def test_remove_room_role(hub: Hub, admin: RC, alice: RC) -> None:
    room = await make_room(hub, "alice", "owned")
    assert await sub_roles(hub, room["id"], alice.user_id) == ["owner"]
    assert_ok(
        await admin.post("roles.removeUserFromRole", roleId="owner", username="alice", scope=room["id"])
    )
    assert await sub_roles(hub, room["id"], alice.user_id) == []
    r = await admin.post("roles.removeUserFromRole", roleId="owner", username="alice", scope=room["id"])
    assert_error(r, 400, "User is not in this role [error-user-not-in-role]")
    # without a room, a room role is never held
    r = await admin.post("roles.removeUserFromRole", roleId="owner", username="alice")
    assert_error(r, 400, "User is not in this role [error-user-not-in-role]")


async def test_remove_errors(admin: RC, alice: RC) -> None:
    r = await alice.post("roles.removeUserFromRole", roleId="user", username="alice")
    assert_error(r, 403, "User does not have the permissions required for this action [error-unauthorized]")
    r = await admin.post("roles.removeUserFromRole", username="alice")
    assert_error(r, 400, "error-invalid-role-properties")
    r = await admin.post("roles.removeUserFromRole", roleId="user", username="ghost")
    assert_error(r, 400, "There is no user with this username [error-invalid-user]", "error-invalid-user")
    r = await admin.post("roles.removeUserFromRole", roleId="wizard", username="alice")
    assert_error(r, 400, "This role does not exist [error-invalid-roleId]", "error-invalid-roleId")


async def test_the_last_admin_stays(hub: Hub, admin: RC, alice: RC) -> None:
    r = await admin.post("roles.removeUserFromRole", roleId="admin", username="boss")
    assert_error(r, 400, "You need to have at least one admin [error-admin-required]", "error-admin-required")
    assert_ok(await admin.post("roles.addUserToRole", roleId="admin", username="alice"))
    assert_ok(await admin.post("roles.removeUserFromRole", roleId="admin", username="boss"))
    assert "admin" not in (await user_row(hub, "boss"))["roles"]


# -- roles.getUsersInRole ----------------------------------------------------------------------------


async def test_users_in_global_role(admin: RC, alice: RC, bob: RC) -> None:
    body = assert_ok(await admin.get("roles.getUsersInRole", role="user"))
    assert [u["username"] for u in body["users"]] == ["alice", "bob", "boss"]
    assert body["total"] == 3
    first = body["users"][0]
    assert set(first) == {"_id", "name", "username", "emails", "createdAt", "_updatedAt"}
    page = assert_ok(await admin.get("roles.getUsersInRole", role="user", offset=1, count=1))
    assert [u["username"] for u in page["users"]] == ["bob"] and page["total"] == 3


async def test_users_in_room_role(hub: Hub, admin: RC, alice: RC) -> None:
    room = await make_room(hub, "alice", "alices-place", members=("boss",))
    body = assert_ok(await admin.get("roles.getUsersInRole", role="owner", roomId=room["id"]))
    assert [u["username"] for u in body["users"]] == ["alice"]
    assert body["total"] == 1
    body = assert_ok(await admin.get("roles.getUsersInRole", role="owner", roomId="GENERAL"))
    assert body["users"] == [] and body["total"] == 0


async def test_users_in_role_errors(admin: RC, alice: RC) -> None:
    r = await admin.get("roles.getUsersInRole")
    assert_error(
        r, 400, 'Query param "role" is required [error-param-not-provided]', "error-param-not-provided"
    )
    r = await admin.get("roles.getUsersInRole", role="wizard")
    assert_error(r, 400, "[error-invalid-roleId]", "error-invalid-roleId")
    r = await alice.get("roles.getUsersInRole", role="user")
    assert_error(r, 400, "Not allowed [error-not-allowed]", "error-not-allowed")
