"""permissions.listAll and permissions.update (core-api.md §10.1, §10.2)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from hookhub.hub import Hub
from hookhub.ids import iso, utcnow
from hookhub.services.defaults import DEFAULT_PERMISSIONS
from tests.conftest import RC, assert_error, assert_ok

# -- permissions.listAll -------------------------------------------------------------------------------


async def test_list_all(alice: RC) -> None:
    body = assert_ok(await alice.get("permissions.listAll"))
    assert body["remove"] == []
    by_id = {p["_id"]: p for p in body["update"]}
    assert set(by_id) == set(DEFAULT_PERMISSIONS)
    assert by_id["access-permissions"]["roles"] == ["admin"]
    assert by_id["view-c-room"]["_updatedAt"].endswith("Z")
    assert set(by_id["create-c"]) == {"_id", "roles", "_updatedAt"}


async def test_list_all_updated_since(hub: Hub, admin: RC) -> None:
    since = utcnow() + timedelta(seconds=1)
    assert assert_ok(await admin.get("permissions.listAll", updatedSince=iso(since)))["update"] == []
    hub.clock = lambda: since + timedelta(seconds=1)
    assert_ok(await admin.post("permissions.update", permissions=[{"_id": "create-c", "roles": ["admin"]}]))
    body = assert_ok(await admin.get("permissions.listAll", updatedSince=iso(since)))
    assert body["update"] == [
        {"_id": "create-c", "roles": ["admin"], "_updatedAt": iso(since + timedelta(seconds=1))}
    ]
    assert body["remove"] == []


async def test_list_all_invalid_date(alice: RC) -> None:
    r = await alice.get("permissions.listAll", updatedSince="soon")
    assert_error(
        r,
        400,
        'The "updatedSince" query parameter must be a valid date. [error-roomId-param-invalid]',
        "error-roomId-param-invalid",
    )


async def test_list_all_requires_login(anon: RC) -> None:
    assert_error(await anon.get("permissions.listAll"), 401, "You must be logged in to do this.")


# -- permissions.update ----------------------------------------------------------------------------------


async def test_update_replaces_roles_and_returns_all(admin: RC) -> None:
    body = assert_ok(
        await admin.post(
            "permissions.update",
            permissions=[
                {"_id": "access-permissions", "roles": ["admin", "bot"]},
                {"_id": "add-user-to-any-c-room", "roles": ["admin"]},
            ],
        )
    )
    listed = {p["_id"]: p["roles"] for p in body["permissions"]}
    assert listed["access-permissions"] == ["admin", "bot"]
    assert listed["add-user-to-any-c-room"] == ["admin"]
    assert len(listed) == len(DEFAULT_PERMISSIONS)


async def test_update_takes_effect_at_once(admin: RC, alice: RC) -> None:
    # alice cannot open DMs once create-d (and view-d-room) are taken from users
    assert_ok(
        await admin.post(
            "permissions.update",
            permissions=[{"_id": "create-d", "roles": ["admin"]}, {"_id": "view-d-room", "roles": ["admin"]}],
        )
    )
    r = await alice.post("im.create", username="boss")
    assert_error(r, 400, "Not allowed [error-not-allowed]")
    assert_ok(await admin.post("permissions.update", permissions=[{"_id": "create-d", "roles": ["user"]}]))
    assert_ok(await alice.post("im.create", username="boss"))


async def test_update_with_empty_roles(admin: RC, alice: RC) -> None:
    assert_ok(await admin.post("permissions.update", permissions=[{"_id": "create-c", "roles": []}]))
    listed = {p["_id"]: p["roles"] for p in assert_ok(await alice.get("permissions.listAll"))["update"]}
    assert listed["create-c"] == []


async def test_update_needs_access_permissions(alice: RC) -> None:
    r = await alice.post("permissions.update", permissions=[{"_id": "create-c", "roles": ["user"]}])
    assert_error(r, 403, "User does not have the permissions required for this action [error-unauthorized]")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"permissions": "create-c"},
        {"permissions": [{"_id": "create-c"}]},
        {"permissions": [{"_id": "create-c", "roles": "admin"}]},
        {"permissions": [{"_id": "create-c", "roles": ["admin", "admin"]}]},
        {"permissions": [{"_id": 1, "roles": ["admin"]}]},
        {"permissions": [{"_id": "create-c", "roles": ["admin"], "x": 1}]},
        {"permissions": [], "extra": True},
        {"permissions": ["create-c"]},
    ],
)
async def test_update_invalid_body(admin: RC, body: dict[str, Any]) -> None:
    r = await admin.post("permissions.update", body)
    assert_error(r, 400, "Invalid body params", "error-invalid-body-params")


async def test_update_invalid_body_that_is_not_an_object(admin: RC) -> None:
    r = await admin.post("permissions.update", [{"_id": "create-c", "roles": []}])
    assert_error(r, 400, "Invalid body params", "error-invalid-body-params")


async def test_update_unknown_permission_or_role_changes_nothing(admin: RC) -> None:
    r = await admin.post(
        "permissions.update",
        permissions=[{"_id": "create-c", "roles": ["admin"]}, {"_id": "no-such-thing", "roles": ["admin"]}],
    )
    assert_error(r, 400, "Invalid permission", "error-invalid-permission")
    r = await admin.post(
        "permissions.update",
        permissions=[{"_id": "create-c", "roles": ["admin"]}, {"_id": "create-c", "roles": ["user"]}],
    )
    assert_error(r, 400, "Invalid permission", "error-invalid-permission")
    r = await admin.post(
        "permissions.update", permissions=[{"_id": "create-c", "roles": ["admin", "wizard"]}]
    )
    assert_error(r, 400, "Invalid role", "error-invalid-role")
    listed = {p["_id"]: p["roles"] for p in assert_ok(await admin.get("permissions.listAll"))["update"]}
    assert listed["create-c"] == list(DEFAULT_PERMISSIONS["create-c"])
