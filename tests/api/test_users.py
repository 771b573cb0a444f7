"""users.* (core-api.md §4): registration, creation, lookups, listing, updates, deletion,
activation and personal access tokens."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hookhub.hub import Hub
from hookhub.store import access
from tests.conftest import RC, assert_error, assert_ok

# Fields a caller without view-full-other-user-info must never see about someone else.
_PRIVATE_USER_FIELDS = {"emails", "roles", "createdAt", "_updatedAt", "lastLogin", "services", "settings"}


async def register(client: RC, **body: Any) -> httpx.Response:
    return await client.post("users.register", body)


def reg_body(login: str, /, **overrides: Any) -> dict[str, Any]:
    return {"username": login, "email": f"{login}@example.com", "pass": "pw-123456", **overrides}


async def set_permission(hub: Hub, permission: str, roles: list[str]) -> None:
    async with hub.tx() as ctx:
        await access.set_permission_roles(ctx.conn, permission, roles, ctx.now())
    hub.permissions.invalidate()


async def create_user(admin: RC, username: str, **extra: Any) -> dict[str, Any]:
    body = {
        "email": f"{username}@example.com",
        "name": username.title(),
        "password": "pw-123456",
        "username": username,
        **extra,
    }
    user: dict[str, Any] = assert_ok(await admin.post("users.create", body))["user"]
    return user


async def login_status(anon: RC, user: str, password: str) -> int:
    r = await anon.http.post("/api/v1/login", json={"user": user, "password": password})
    return r.status_code


# -- users.register ------------------------------------------------------------------------------


async def test_register_first_user_becomes_admin_second_does_not(anon: RC) -> None:
    first = await anon.register_and_login("first")
    second = await anon.register_and_login("second")
    assert assert_ok(await first.get("me"))["roles"] == ["user", "admin"]
    assert assert_ok(await second.get("me"))["roles"] == ["user"]


async def test_register_response_is_the_limited_projection(anon: RC) -> None:
    r = await register(anon, **reg_body("newbie", name="New Bie"))
    user = assert_ok(r)["user"]
    assert user["username"] == "newbie"
    assert user["name"] == "New Bie"
    assert user["type"] == "user"
    assert user["active"] is True
    assert isinstance(user["_id"], str) and len(user["_id"]) == 17
    assert not _PRIVATE_USER_FIELDS & user.keys(), user
    assert "pw-123456" not in r.text and "argon2" not in r.text


async def test_register_without_name_uses_username(anon: RC) -> None:
    user = assert_ok(await register(anon, **reg_body("noname")))["user"]
    assert user["name"] == "noname"


async def test_register_unknown_key_is_invalid_params(anon: RC) -> None:
    r = await register(anon, **reg_body("strict", password="x"))
    assert_error(
        r, 400, "must NOT have additional properties ('password') [invalid-params]", "invalid-params"
    )


async def test_register_without_pass(anon: RC) -> None:
    r = await register(anon, username="nopass", email="nopass@example.com")
    assert_error(r, 400, "must have required property 'pass' [invalid-params]", "invalid-params")


async def test_register_with_non_string_username(anon: RC) -> None:
    r = await register(anon, **reg_body("x", username=42))
    assert_error(r, 400, "/username must be string [invalid-params]", "invalid-params")


@pytest.mark.parametrize("username", ["bad name", "ümlaut", "semi;colon", ""])
async def test_register_bad_username(anon: RC, username: str) -> None:
    r = await register(anon, **reg_body("x", username=username))
    assert_error(r, 400, "The username provided is not valid")


async def test_register_name_with_invalid_characters(anon: RC) -> None:
    r = await register(anon, **reg_body("fancy", name="<script>"))
    assert_error(r, 400, "Name contains invalid characters")


async def test_register_taken_username_is_case_insensitive(admin: RC, anon: RC) -> None:
    r = await register(anon, **reg_body("BOSS", email="other@example.com"))
    assert_error(r, 400, "Username is already in use")


async def test_register_duplicate_email(admin: RC, anon: RC) -> None:
    r = await register(anon, **reg_body("someoneelse", email="Boss@Example.com"))
    body = assert_error(r, 400, "Email already exists. [403]")
    # Meteor's numeric error code stays a number on the wire, as Rocket.Chat sends it
    assert body["errorType"] == 403


async def test_register_invalid_email(anon: RC) -> None:
    r = await register(anon, **reg_body("mailless", email="not-an-email"))
    assert_error(r, 400, "Invalid email not-an-email [error-invalid-email]", "error-invalid-email")


async def test_logged_in_user_cannot_register(admin: RC) -> None:
    r = await register(admin, **reg_body("again"))
    assert_error(r, 400, "Logged in users can not register again.")


async def test_register_with_bad_credentials_is_treated_as_anonymous(anon: RC) -> None:
    r = await anon.http.post(
        "/api/v1/users.register",
        json=reg_body("fresh"),
        headers={"X-User-Id": "nobody", "X-Auth-Token": "bogus"},
    )
    assert assert_ok(r)["user"]["username"] == "fresh"


async def test_register_joins_general(admin: RC, anon: RC) -> None:
    user = assert_ok(await register(anon, **reg_body("joiner")))["user"]
    body = assert_ok(await admin.get("users.info", userId=user["_id"], includeUserRooms="true"))
    assert [r["rid"] for r in body["user"]["rooms"]] == ["GENERAL"]


@pytest.mark.parametrize(
    ("settings_overrides", "error", "error_type"),
    [
        (
            {"registration_form": "Disabled"},
            "User registration is disabled [error-user-registration-disabled]",
            "error-user-registration-disabled",
        ),
        (
            {"registration_form": "Secret URL", "registration_secret": "s3cret"},
            "User registration is only allowed via Secret URL [error-user-registration-secret]",
            "error-user-registration-secret",
        ),
    ],
)
async def test_register_respects_registration_form(
    anon: RC, settings_overrides: dict[str, Any], error: str, error_type: str
) -> None:
    assert_error(await register(anon, **reg_body("gated")), 400, error, error_type)
    assert_error(await register(anon, **reg_body("gated", secret="wrong")), 400, error, error_type)
    if settings_overrides["registration_form"] == "Secret URL":
        assert_ok(await register(anon, **reg_body("gated", secret="s3cret")))


# -- users.create --------------------------------------------------------------------------------


async def test_create_returns_privileged_projection_and_joins_general(admin: RC) -> None:
    user = await create_user(admin, "carol", bio="hello", nickname="caz")
    assert user["username"] == "carol"
    assert user["name"] == "Carol"
    assert user["emails"] == [{"address": "carol@example.com", "verified": False}]
    assert user["roles"] == ["user"]
    assert user["bio"] == "hello" and user["nickname"] == "caz"
    assert "services" not in user and "password" not in user
    info = assert_ok(await admin.get("users.info", userId=user["_id"], includeUserRooms="true"))
    assert [r["rid"] for r in info["user"]["rooms"]] == ["GENERAL"]


async def test_created_user_can_log_in(admin: RC, anon: RC) -> None:
    await create_user(admin, "dave")
    assert await login_status(anon, "dave", "pw-123456") == 200


async def test_create_with_join_default_channels_false(admin: RC) -> None:
    user = await create_user(admin, "hermit", joinDefaultChannels=False)
    info = assert_ok(await admin.get("users.info", userId=user["_id"], includeUserRooms="true"))
    assert info["user"]["rooms"] == []


async def test_create_with_roles(admin: RC) -> None:
    user = await create_user(admin, "botty", roles=["bot"], verified=True)
    assert user["roles"] == ["bot"]
    assert user["emails"][0]["verified"] is True


async def test_create_by_non_admin_is_not_allowed(alice: RC) -> None:
    r = await alice.post(
        "users.create", email="x@example.com", name="X", password="pw-123456", username="xavier"
    )
    body = assert_error(
        r, 400, "Adding user is not allowed [error-action-not-allowed]", "error-action-not-allowed"
    )
    assert body["details"] == {"method": "insertOrUpdateUser", "action": "Adding_user"}


async def test_create_with_invalid_role(admin: RC) -> None:
    r = await admin.post(
        "users.create",
        email="r@example.com",
        name="R",
        password="pw-123456",
        username="roleless",
        roles=["user", "emperor"],
    )
    assert_error(
        r,
        400,
        "The field Roles consist invalid role id [error-action-not-allowed]",
        "error-action-not-allowed",
    )


async def test_create_duplicate_username(admin: RC, alice: RC) -> None:
    r = await admin.post(
        "users.create", email="alice2@example.com", name="Alice", password="pw-123456", username="alice"
    )
    body = assert_error(
        r, 400, "alice is already in use :( [error-field-unavailable]", "error-field-unavailable"
    )
    assert body["details"]["method"] == "insertOrUpdateUser"


async def test_create_duplicate_email(admin: RC, alice: RC) -> None:
    r = await admin.post(
        "users.create", email="alice@example.com", name="A2", password="pw-123456", username="alice2"
    )
    assert_error(
        r, 400, "alice@example.com is already in use :( [error-field-unavailable]", "error-field-unavailable"
    )


async def test_create_invalid_username(admin: RC) -> None:
    r = await admin.post(
        "users.create", email="s@example.com", name="S", password="pw-123456", username="a b"
    )
    assert_error(
        r,
        400,
        "a b is not a valid username [error-input-is-not-a-valid-field]",
        "error-input-is-not-a-valid-field",
    )


async def test_create_empty_name_is_required(admin: RC) -> None:
    r = await admin.post("users.create", email="e@example.com", name="", password="pw-123456", username="ee")
    assert_error(
        r, 400, "The field Name is required [error-the-field-is-required]", "error-the-field-is-required"
    )


async def test_create_missing_password_and_unknown_key(admin: RC) -> None:
    r = await admin.post("users.create", email="m@example.com", name="M", username="mm")
    assert_error(r, 400, "must have required property 'password' [invalid-params]", "invalid-params")
    r = await admin.post(
        "users.create", email="m@example.com", name="M", username="mm", password="pw-123456", pass_="x"
    )
    assert_error(r, 400, "must NOT have additional properties ('pass_') [invalid-params]", "invalid-params")


async def test_create_requires_login(anon: RC) -> None:
    r = await anon.post("users.create", email="m@example.com", name="M", username="mm", password="p")
    assert_error(r, 401, "You must be logged in to do this.")


# -- users.info ----------------------------------------------------------------------------------


async def test_info_by_id_and_by_username(admin: RC, alice: RC) -> None:
    by_id = assert_ok(await admin.get("users.info", userId=alice.user_id))
    by_name = assert_ok(await admin.get("users.info", username="alice"))
    assert by_id["user"] == by_name["user"]
    assert by_id["user"]["_id"] == alice.user_id
    assert by_id["canViewAllInfo"] is True


async def test_info_unknown_user(admin: RC) -> None:
    assert_error(await admin.get("users.info", userId="nope"), 400, "User not found.")
    assert_error(await admin.get("users.info", username="nobody"), 400, "User not found.")


async def test_info_without_a_query(admin: RC) -> None:
    assert_error(await admin.get("users.info"), 400, "Invalid search query.")


async def test_info_full_for_admin_limited_for_peers(admin: RC, alice: RC, bob: RC) -> None:
    full = assert_ok(await admin.get("users.info", userId=bob.user_id))["user"]
    assert full["emails"] == [{"address": "bob@example.com", "verified": False}]
    assert full["roles"] == ["user"]
    assert "createdAt" in full and "lastLogin" in full

    limited = assert_ok(await alice.get("users.info", userId=bob.user_id))
    assert limited["canViewAllInfo"] is False
    assert limited["user"]["username"] == "bob"
    assert not _PRIVATE_USER_FIELDS & limited["user"].keys(), limited


async def test_info_about_self_is_full(alice: RC) -> None:
    body = assert_ok(await alice.get("users.info", userId=alice.user_id))
    assert body["canViewAllInfo"] is True
    assert body["user"]["emails"][0]["address"] == "alice@example.com"


async def test_include_user_rooms_only_for_self_or_privileged(admin: RC, alice: RC, bob: RC) -> None:
    own = assert_ok(await alice.get("users.info", userId=alice.user_id, includeUserRooms="true"))
    assert own["user"]["rooms"] == [{"rid": "GENERAL", "name": "general", "t": "c", "roles": [], "unread": 0}]
    other = assert_ok(await alice.get("users.info", userId=bob.user_id, includeUserRooms="true"))
    assert "rooms" not in other["user"]
    # without the flag nobody gets rooms
    assert "rooms" not in assert_ok(await admin.get("users.info", userId=bob.user_id))["user"]


async def test_info_requires_login(anon: RC) -> None:
    assert_error(await anon.get("users.info", username="boss"), 401, "You must be logged in to do this.")


# -- users.list ----------------------------------------------------------------------------------


async def test_list_default_sort_and_totals(admin: RC, alice: RC, bob: RC) -> None:
    body = assert_ok(await admin.get("users.list"))
    usernames = [u["username"] for u in body["users"]]
    assert usernames == ["alice", "bob", "boss", "rocket.cat"]
    assert (body["count"], body["offset"], body["total"]) == (4, 0, 4)
    for user in body["users"]:
        assert {"_id", "username", "name", "emails", "roles", "status", "active", "type"} <= user.keys()
        assert "services" not in user


async def test_list_pagination(admin: RC, alice: RC, bob: RC) -> None:
    body = assert_ok(await admin.get("users.list", offset=1, count=2))
    assert [u["username"] for u in body["users"]] == ["bob", "boss"]
    assert (body["count"], body["offset"], body["total"]) == (2, 1, 4)
    past_end = assert_ok(await admin.get("users.list", offset=10, count=2))
    assert (past_end["users"], past_end["count"], past_end["total"]) == ([], 0, 4)


async def test_list_sort_descending(admin: RC, alice: RC, bob: RC) -> None:
    body = assert_ok(await admin.get("users.list", sort='{"username":-1}'))
    assert [u["username"] for u in body["users"]] == ["rocket.cat", "boss", "bob", "alice"]


async def test_list_invalid_sort(admin: RC) -> None:
    for raw in ('{"username":2}', "username", '["username"]'):
        r = await admin.get("users.list", sort=raw)
        assert_error(
            r, 400, f'Invalid sort parameter provided: "{raw}" [error-invalid-sort]', "error-invalid-sort"
        )


async def test_list_count_is_clamped_and_zero_means_all(admin: RC, anon: RC) -> None:
    for i in range(101):
        assert_ok(await register(anon, **reg_body(f"u{i:03d}")))
    # 101 registered + boss + rocket.cat
    clamped = assert_ok(await admin.get("users.list", count=500))
    assert (clamped["count"], clamped["total"]) == (100, 103)
    everything = assert_ok(await admin.get("users.list", count=0))
    assert everything["count"] == 103
    default = assert_ok(await admin.get("users.list"))
    assert default["count"] == 50


async def test_list_bad_offset(admin: RC) -> None:
    r = await admin.get("users.list", offset="abc")
    assert_error(r, 400, "/offset must be integer [invalid-params]", "invalid-params")


async def test_list_without_view_d_room_is_403(hub: Hub, admin: RC, alice: RC) -> None:
    await set_permission(hub, "view-d-room", ["admin"])
    r = await alice.get("users.list")
    assert_error(r, 403, "User does not have the permissions required for this action [error-unauthorized]")
    assert_ok(await admin.get("users.list"))


# -- users.update --------------------------------------------------------------------------------


async def test_update_own_name(alice: RC) -> None:
    body = assert_ok(await alice.post("users.update", userId=alice.user_id, data={"name": "Alice Liddell"}))
    assert body["user"]["name"] == "Alice Liddell"
    assert assert_ok(await alice.get("me"))["name"] == "Alice Liddell"


async def test_update_other_user_needs_edit_other_user_info(alice: RC, bob: RC) -> None:
    r = await alice.post("users.update", userId=bob.user_id, data={"name": "Bobby"})
    assert_error(r, 400, "Editing user is not allowed [error-action-not-allowed]", "error-action-not-allowed")


async def test_admin_updates_other_user(admin: RC, bob: RC) -> None:
    body = assert_ok(
        await admin.post("users.update", userId=bob.user_id, data={"name": "Robert", "username": "robert"})
    )
    assert (body["user"]["name"], body["user"]["username"]) == ("Robert", "robert")
    assert_ok(await admin.get("users.info", username="robert"))
    assert_error(await admin.get("users.info", username="bob"), 400, "User not found.")


async def test_renaming_rewrites_copies_of_the_username(admin: RC, alice: RC, bob: RC) -> None:
    bob_id = bob.user_id
    assert_ok(await bob.post("chat.postMessage", channel="GENERAL", text="before the rename"))
    channel = assert_ok(await bob.post("channels.create", name="bobs-place"))["channel"]
    dm = assert_ok(await alice.post("im.create", username="bob"))["room"]

    assert_ok(await admin.post("users.update", userId=bob_id, data={"username": "robert"}))

    history = assert_ok(await admin.get("channels.history", roomId="GENERAL"))["messages"]
    authored = [m for m in history if m["u"]["_id"] == bob_id]
    assert authored, history
    assert {m["u"]["username"] for m in authored} == {"robert"}
    info = assert_ok(await admin.get("channels.info", roomId=channel["_id"]))["channel"]
    assert info["u"] == {"_id": bob_id, "username": "robert"}
    ims = assert_ok(await alice.get("im.list"))["ims"]
    assert [sorted(r["usernames"]) for r in ims if r["_id"] == dm["_id"]] == [["alice", "robert"]]


async def test_update_username_to_taken_one(admin: RC, alice: RC, bob: RC) -> None:
    r = await admin.post("users.update", userId=bob.user_id, data={"username": "alice"})
    assert_error(r, 400, "alice is already in use :( [error-field-unavailable]", "error-field-unavailable")


async def test_update_roles_replaces_them(admin: RC, bob: RC) -> None:
    body = assert_ok(await admin.post("users.update", userId=bob.user_id, data={"roles": ["bot", "admin"]}))
    assert body["user"]["roles"] == ["bot", "admin"]
    # bob is admin now: he may create users
    await create_user(bob, "minion")


async def test_update_roles_rejects_unknown_role(admin: RC, bob: RC) -> None:
    r = await admin.post("users.update", userId=bob.user_id, data={"roles": ["nope"]})
    assert_error(
        r,
        400,
        "The field Roles consist invalid role id [error-action-not-allowed]",
        "error-action-not-allowed",
    )


async def test_user_cannot_grant_himself_roles(alice: RC) -> None:
    r = await alice.post("users.update", userId=alice.user_id, data={"roles": ["user", "admin"]})
    assert r.status_code == 400
    assert r.json()["errorType"] == "error-action-not-allowed"
    assert assert_ok(await alice.get("me"))["roles"] == ["user"]


async def test_cannot_remove_the_last_admin_role(admin: RC) -> None:
    r = await admin.post("users.update", userId=admin.user_id, data={"roles": ["user"]})
    body = assert_error(
        r,
        400,
        "Leaving the app without admins is not allowed [error-action-not-allowed]",
        "error-action-not-allowed",
    )
    assert body["details"]["action"] == "Remove_last_admin"
    assert "admin" in assert_ok(await admin.get("me"))["roles"]


async def test_admin_role_can_move_once_another_admin_exists(admin: RC, bob: RC) -> None:
    assert_ok(await admin.post("users.update", userId=bob.user_id, data={"roles": ["user", "admin"]}))
    body = assert_ok(await admin.post("users.update", userId=admin.user_id, data={"roles": ["user"]}))
    assert body["user"]["roles"] == ["user"]


async def test_password_change_then_login(alice: RC, anon: RC) -> None:
    assert_ok(await alice.post("users.update", userId=alice.user_id, data={"password": "brand-new-pw"}))
    assert await login_status(anon, "alice", "pass-123") == 401
    assert await login_status(anon, "alice", "brand-new-pw") == 200


async def test_admin_sets_other_password(admin: RC, bob: RC, anon: RC) -> None:
    assert_ok(await admin.post("users.update", userId=bob.user_id, data={"password": "reset-by-admin"}))
    assert await login_status(anon, "bob", "reset-by-admin") == 200


async def test_update_own_verified_flag_is_refused(alice: RC) -> None:
    r = await alice.post("users.update", userId=alice.user_id, data={"verified": True})
    assert_error(
        r,
        400,
        "Editing email verification is not allowed [error-action-not-allowed]",
        "error-action-not-allowed",
    )


async def test_update_body_is_strict(alice: RC) -> None:
    r = await alice.post("users.update", userId=alice.user_id, data={"nick": "x"})
    assert_error(
        r, 400, "/data must NOT have additional properties ('nick') [invalid-params]", "invalid-params"
    )
    r = await alice.post("users.update", userId="", data={})
    assert_error(r, 400, "/userId must NOT have fewer than 1 characters [invalid-params]", "invalid-params")
    r = await alice.post("users.update", userId=alice.user_id)
    assert_error(r, 400, "must have required property 'data' [invalid-params]", "invalid-params")


async def test_update_unknown_user(admin: RC) -> None:
    r = await admin.post("users.update", userId="ghost", data={"name": "G"})
    assert_error(
        r,
        400,
        'The required "userId" or "username" param provided does not match any users [error-invalid-user]',
        "error-invalid-user",
    )


async def test_update_deactivating_logs_user_out(admin: RC, alice: RC) -> None:
    body = assert_ok(await admin.post("users.update", userId=alice.user_id, data={"active": False}))
    assert body["user"]["active"] is False
    assert (await alice.get("me")).status_code == 401


async def test_update_cannot_deactivate_last_admin(admin: RC) -> None:
    r = await admin.post("users.update", userId=admin.user_id, data={"active": False})
    assert_error(
        r,
        400,
        "Leaving the app without an active admin is not allowed [error-action-not-allowed]",
        "error-action-not-allowed",
    )


# -- users.delete --------------------------------------------------------------------------------


async def test_delete_needs_delete_user(alice: RC, bob: RC) -> None:
    r = await alice.post("users.delete", userId=bob.user_id)
    assert_error(r, 403, "User does not have the permissions required for this action [error-unauthorized]")


async def test_delete_by_id_removes_user_and_memberships(admin: RC, alice: RC, anon: RC) -> None:
    assert_ok(await admin.post("users.delete", userId=alice.user_id))
    assert_error(await admin.get("users.info", userId=alice.user_id), 400, "User not found.")
    assert await login_status(anon, "alice", "pass-123") == 401
    assert (await alice.get("me")).status_code == 401
    listed = assert_ok(await admin.get("users.list"))
    assert "alice" not in [u["username"] for u in listed["users"]]


async def test_delete_by_username(admin: RC, bob: RC) -> None:
    assert_ok(await admin.post("users.delete", username="bob"))
    assert_error(await admin.get("users.info", username="bob"), 400, "User not found.")


async def test_delete_lookup_errors(admin: RC) -> None:
    r = await admin.post("users.delete")
    assert_error(
        r,
        400,
        'The required "userId" or "username" param was not provided [error-user-param-not-provided]',
        "error-user-param-not-provided",
    )
    r = await admin.post("users.delete", username="ghost")
    assert_error(
        r,
        400,
        'The required "userId" or "username" param provided does not match any users [error-invalid-user]',
        "error-invalid-user",
    )


async def test_delete_last_admin_is_refused(admin: RC) -> None:
    r = await admin.post("users.delete", userId=admin.user_id)
    body = assert_error(
        r,
        400,
        "Leaving the app without admins is not allowed [error-action-not-allowed]",
        "error-action-not-allowed",
    )
    assert body["details"] == {"method": "deleteUser", "action": "Remove_last_admin"}
    assert_ok(await admin.get("me"))


async def test_delete_last_owner_needs_confirm_relinquish(admin: RC, alice: RC, bob: RC) -> None:
    shared = assert_ok(await alice.post("channels.create", name="shared-room", members=["bob"]))["channel"]
    solo = assert_ok(await alice.post("groups.create", name="solo-room"))["group"]

    r = await admin.post("users.delete", userId=alice.user_id)
    body = assert_error(r, 400, "[user-last-owner]", "user-last-owner")
    assert body["details"] == {"shouldChangeOwner": ["shared-room"], "shouldBeRemoved": ["solo-room"]}
    # nothing happened
    assert_ok(await admin.get("users.info", userId=alice.user_id))

    assert_ok(await admin.post("users.delete", userId=alice.user_id, confirmRelinquish=True))
    assert_error(await admin.get("users.info", userId=alice.user_id), 400, "User not found.")
    # bob inherited the shared room, the room only alice was in is gone
    r = await bob.post("channels.addOwner", roomId=shared["_id"], username="bob")
    assert_error(r, 400, "User is already an owner [error-user-already-owner]", "error-user-already-owner")
    r = await admin.get("rooms.info", roomId=solo["_id"])
    assert r.status_code == 400 and r.json()["errorType"] == "error-room-not-found", r.text


async def test_deactivating_last_owner_needs_confirm_relinquish(admin: RC, alice: RC, bob: RC) -> None:
    shared = assert_ok(await alice.post("channels.create", name="handover", members=["bob"]))["channel"]
    r = await admin.post("users.setActiveStatus", userId=alice.user_id, activeStatus=False)
    body = assert_error(r, 400, "[user-last-owner]", "user-last-owner")
    assert body["details"] == {"shouldChangeOwner": ["handover"], "shouldBeRemoved": []}
    assert_ok(await alice.get("me"))

    assert_ok(
        await admin.post(
            "users.setActiveStatus", userId=alice.user_id, activeStatus=False, confirmRelinquish=True
        )
    )
    assert (await alice.get("me")).status_code == 401
    r = await bob.post("channels.addOwner", roomId=shared["_id"], username="bob")
    assert_error(r, 400, "User is already an owner [error-user-already-owner]", "error-user-already-owner")


async def test_update_deactivation_also_checks_ownership(admin: RC, alice: RC, bob: RC) -> None:
    assert_ok(await alice.post("channels.create", name="alices", members=["bob"]))
    r = await admin.post("users.update", userId=alice.user_id, data={"active": False})
    assert_error(r, 400, "[user-last-owner]", "user-last-owner")
    r = await admin.post("users.update", userId=alice.user_id, data={"active": False}, confirmRelinquish=True)
    assert assert_ok(r)["user"]["active"] is False


async def test_co_owned_rooms_need_no_confirmation(admin: RC, alice: RC, bob: RC) -> None:
    room = assert_ok(await alice.post("channels.create", name="co-owned", members=["bob"]))["channel"]
    assert_ok(await alice.post("channels.addOwner", roomId=room["_id"], username="bob"))
    assert_ok(await admin.post("users.delete", userId=alice.user_id))


# -- users.setActiveStatus -----------------------------------------------------------------------


async def test_set_active_status_round_trip(admin: RC, alice: RC, anon: RC) -> None:
    body = assert_ok(await admin.post("users.setActiveStatus", userId=alice.user_id, activeStatus=False))
    assert body["user"] == {"_id": alice.user_id, "active": False}
    assert await login_status(anon, "alice", "pass-123") == 401
    body = assert_ok(await admin.post("users.setActiveStatus", userId=alice.user_id, activeStatus=True))
    assert body["user"] == {"_id": alice.user_id, "active": True}
    assert await login_status(anon, "alice", "pass-123") == 200


async def test_set_active_status_needs_permission(alice: RC, bob: RC) -> None:
    r = await alice.post("users.setActiveStatus", userId=bob.user_id, activeStatus=False)
    assert_error(r, 403, "User does not have the permissions required for this action [error-unauthorized]")


async def test_set_active_status_last_admin(admin: RC) -> None:
    r = await admin.post("users.setActiveStatus", userId=admin.user_id, activeStatus=False)
    body = assert_error(
        r,
        400,
        "Leaving the app without an active admin is not allowed [error-action-not-allowed]",
        "error-action-not-allowed",
    )
    assert body["details"] == {"method": "removeUserFromRole", "action": "Remove_last_admin"}


async def test_set_active_status_validation(admin: RC) -> None:
    r = await admin.post("users.setActiveStatus", userId=admin.user_id, activeStatus="false")
    assert_error(r, 400, "/activeStatus must be boolean [invalid-params]", "invalid-params")
    r = await admin.post("users.setActiveStatus", userId="ghost", activeStatus=True)
    assert r.json()["errorType"] == "error-invalid-user"


# -- personal access tokens ----------------------------------------------------------------------


async def test_personal_access_token_lifecycle(alice: RC, anon: RC) -> None:
    token = assert_ok(await alice.post("users.generatePersonalAccessToken", tokenName="ci"))["token"]
    assert isinstance(token, str) and len(token) >= 20

    as_token = {"X-User-Id": alice.user_id or "", "X-Auth-Token": token}
    me = assert_ok(await anon.http.get("/api/v1/me", headers=as_token))
    assert me["username"] == "alice"

    listed = assert_ok(await alice.get("users.getPersonalAccessTokens"))
    assert len(listed["tokens"]) == 1
    entry = listed["tokens"][0]
    assert entry["name"] == "ci"
    assert entry["lastTokenPart"] == token[-6:]
    assert entry["bypassTwoFactor"] is False
    assert entry["createdAt"].endswith("Z")
    assert token not in str(listed)

    assert_ok(await alice.post("users.removePersonalAccessToken", tokenName="ci"))
    assert (await anon.http.get("/api/v1/me", headers=as_token)).status_code == 401
    assert assert_ok(await alice.get("users.getPersonalAccessTokens"))["tokens"] == []


async def test_personal_access_token_belongs_to_its_owner(alice: RC, bob: RC, anon: RC) -> None:
    token = assert_ok(await alice.post("users.generatePersonalAccessToken", tokenName="mine"))["token"]
    r = await anon.http.get("/api/v1/me", headers={"X-User-Id": bob.user_id or "", "X-Auth-Token": token})
    assert r.status_code == 401


async def test_personal_access_token_survives_logout(alice: RC, anon: RC) -> None:
    token = assert_ok(await alice.post("users.generatePersonalAccessToken", tokenName="bot"))["token"]
    assert_ok(await alice.post("logout"))
    r = await anon.http.get("/api/v1/me", headers={"X-User-Id": alice.user_id or "", "X-Auth-Token": token})
    assert assert_ok(r)["_id"] == alice.user_id


async def test_personal_access_token_duplicate_name(alice: RC) -> None:
    assert_ok(await alice.post("users.generatePersonalAccessToken", tokenName="dup"))
    r = await alice.post("users.generatePersonalAccessToken", tokenName="dup")
    assert_error(
        r,
        400,
        "A token with this name already exists [error-token-already-exists]",
        "error-token-already-exists",
    )


async def test_personal_access_token_name_required(alice: RC) -> None:
    for body in ({}, {"tokenName": ""}):
        r = await alice.post("users.generatePersonalAccessToken", body)
        assert_error(r, 400, "The 'tokenName' param is required")


async def test_regenerate_replaces_the_token(alice: RC, anon: RC) -> None:
    old = assert_ok(await alice.post("users.generatePersonalAccessToken", tokenName="rot"))["token"]
    new = assert_ok(await alice.post("users.regeneratePersonalAccessToken", tokenName="rot"))["token"]
    assert new != old
    uid = alice.user_id or ""
    assert (
        await anon.http.get("/api/v1/me", headers={"X-User-Id": uid, "X-Auth-Token": old})
    ).status_code == 401
    assert_ok(await anon.http.get("/api/v1/me", headers={"X-User-Id": uid, "X-Auth-Token": new}))


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("users.removePersonalAccessToken", "personalAccessTokens:removeToken"),
        ("users.regeneratePersonalAccessToken", "personalAccessTokens:regenerateToken"),
    ],
)
async def test_remove_or_regenerate_unknown_token(alice: RC, path: str, method: str) -> None:
    r = await alice.post(path, tokenName="never")
    body = assert_error(
        r, 400, "Token does not exist [error-token-does-not-exists]", "error-token-does-not-exists"
    )
    assert body["details"] == {"method": method}


async def test_personal_access_tokens_need_permission(hub: Hub, alice: RC) -> None:
    await set_permission(hub, "create-personal-access-tokens", ["admin"])
    r = await alice.post("users.generatePersonalAccessToken", tokenName="no")
    assert_error(r, 400, "Not Authorized [not-authorized]", "not-authorized")
    r = await alice.get("users.getPersonalAccessTokens")
    assert_error(r, 403, "User does not have the permissions required for this action [error-unauthorized]")


# -- users.createToken --------------------------------------------------------------------------

TOKEN_SECRET = {"create_tokens_secret": "1234567890abcdef"}


async def me_with(anon: RC, user_id: str, token: str) -> httpx.Response:
    return await anon.http.get("/api/v1/me", headers={"X-User-Id": user_id, "X-Auth-Token": token})


@pytest.mark.parametrize("settings_overrides", [TOKEN_SECRET])
async def test_create_token_for_another_user(admin: RC, alice: RC, anon: RC) -> None:
    body = assert_ok(await admin.post("users.createToken", userId=alice.user_id, secret="1234567890abcdef"))
    assert body["data"]["userId"] == alice.user_id
    assert (
        assert_ok(await me_with(anon, body["data"]["userId"], body["data"]["authToken"]))["username"]
        == "alice"
    )
    by_name = assert_ok(await admin.post("users.createToken", username="alice", secret="1234567890abcdef"))
    assert by_name["data"]["authToken"] != body["data"]["authToken"]


@pytest.mark.parametrize("settings_overrides", [TOKEN_SECRET])
async def test_create_token_rules(alice: RC, bob: RC) -> None:
    refused = "Not authorized [error-not-authorized]"
    for secret in ("wrong", None):
        r = await alice.post("users.createToken", userId=alice.user_id, secret=secret)
        assert_error(r, 400, refused, "error-not-authorized")
    # for oneself the secret suffices; for others user-generate-access-token is needed too
    assert_ok(await alice.post("users.createToken", userId=alice.user_id, secret="1234567890abcdef"))
    r = await alice.post("users.createToken", userId=bob.user_id, secret="1234567890abcdef")
    assert_error(r, 400, refused, "error-not-authorized")
    r = await alice.post("users.createToken", username="ghost", secret="1234567890abcdef")
    assert r.json()["errorType"] == "error-invalid-user"


async def test_create_token_disabled_without_server_secret(admin: RC, alice: RC) -> None:
    for secret in ("", "anything"):
        r = await admin.post("users.createToken", userId=alice.user_id, secret=secret)
        assert_error(r, 400, "Not authorized [error-not-authorized]", "error-not-authorized")


# -- secrets never leak --------------------------------------------------------------------------


async def test_no_response_contains_a_password_or_hash(admin: RC, anon: RC) -> None:
    password = "Very-Secret-pw-42"
    responses: list[httpx.Response] = []
    responses.append(await register(anon, username="leaky", email="leaky@example.com", **{"pass": password}))
    r = await anon.http.post("/api/v1/login", json={"user": "leaky", "password": password})
    responses.append(r)
    leaky = RC(anon.http)
    await leaky.login("leaky", password)
    uid = leaky.user_id
    responses.append(
        await admin.post(
            "users.create", email="made@example.com", name="Made", password=password, username="made"
        )
    )
    responses += [
        await leaky.get("me"),
        await leaky.get("users.info", userId=uid),
        await admin.get("users.info", userId=uid, includeUserRooms="true"),
        await admin.get("users.list", count=0),
        await leaky.post("users.update", userId=uid, data={"password": password + "2"}),
        await admin.post("users.update", userId=uid, data={"name": "Leaky"}),
        await admin.post("users.setActiveStatus", userId=uid, activeStatus=True),
        await leaky.post("users.generatePersonalAccessToken", tokenName="t"),
        await leaky.get("users.getPersonalAccessTokens"),
    ]
    for response in responses:
        assert response.status_code == 200, response.text
        text = response.text
        assert password not in text, response.request.url
        for marker in ("argon2", "password_hash", "hashedToken", "bcrypt", "$argon"):
            assert marker not in text, (response.request.url, marker)
