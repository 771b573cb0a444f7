"""The real `rocketchat_API` client (jadolg) against a running hookhub: the calls its users and
its own test-suite make, with the client's pagination helpers."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from rocketchat_API.APIExceptions.RocketExceptions import (
    RocketApiException,
    RocketAuthenticationException,
)
from rocketchat_API.rocketchat import RocketChat

from tests.compat.conftest import CREATE_TOKENS_SECRET, connect
from tests.e2e.conftest import ADMIN_PASS, ADMIN_USERNAME, Server

_names = itertools.count()


def unique(prefix: str) -> str:
    """Names are unique per module: every test shares one server."""
    return f"{prefix}-{next(_names)}"


@pytest.fixture
def member(rocket: RocketChat, server: Server) -> Iterator[tuple[RocketChat, dict[str, str]]]:
    username = unique("member")
    password = "member-pw-1"
    created = rocket.users_create(f"{username}@example.com", username.title(), password, username)
    client = connect(server, username, password)
    yield client, created["user"]
    client.session.close()


# -- server, login, me --------------------------------------------------------------------------


def test_info_anonymous_and_admin(server: Server, rocket: RocketChat) -> None:
    anonymous = connect(server)
    version = anonymous.info()["version"]
    major, minor = version.split(".")
    assert major.isdigit() and minor.isdigit()
    assert "info" in rocket.info()


def test_login_and_me(rocket: RocketChat) -> None:
    me = rocket.me()
    assert me["username"] == ADMIN_USERNAME
    assert me["_id"] == rocket.headers["X-User-Id"]
    assert "admin" in me["roles"]


def test_token_only_client(server: Server, rocket: RocketChat) -> None:
    user_id = rocket.headers["X-User-Id"]
    by_token = connect(server, user_id=user_id, auth_token=rocket.headers["X-Auth-Token"])
    assert by_token.me()["_id"] == user_id


def test_wrong_password(server: Server) -> None:
    with pytest.raises(RocketAuthenticationException):
        connect(server, ADMIN_USERNAME, "wrong")


def test_logout(server: Server) -> None:
    client = connect(server, ADMIN_USERNAME, ADMIN_PASS)
    client.logout()
    with pytest.raises(RocketApiException) as info:
        client.me()
    assert info.value.status_code == 401


# -- users --------------------------------------------------------------------------------------


def test_users_create_and_info(rocket: RocketChat) -> None:
    username = unique("created")
    created = rocket.users_create(f"{username}@example.com", "Created User", "pw-created-1", username)
    assert created["success"] is True
    user_id = created["user"]["_id"]
    by_id = rocket.users_info(user_id=user_id)
    by_name = rocket.users_info(username=username)
    assert by_id["user"]["_id"] == by_name["user"]["_id"] == user_id
    assert by_id["user"]["name"] == "Created User"


def test_users_info_not_found(rocket: RocketChat) -> None:
    with pytest.raises(RocketApiException) as info:
        rocket.users_info(username="does-not-exist")
    assert info.value.error == "User not found."
    assert "User not found." in str(info.value)


def test_users_register_sends_pass_and_can_log_in(server: Server) -> None:
    username = unique("registered")
    anonymous = connect(server)
    registered = anonymous.users_register(f"{username}@example.com", "Registered", "reg-pw-1", username)
    assert registered["user"]["username"] == username
    me = connect(server, username, "reg-pw-1").me()
    assert me["username"] == username and me["roles"] == ["user"]


def test_users_create_duplicate_is_an_api_exception(
    rocket: RocketChat, member: tuple[RocketChat, dict[str, str]]
) -> None:
    username = member[1]["username"]
    with pytest.raises(RocketApiException) as info:
        rocket.users_create("other@example.com", "Other", "pw-other-1", username)
    assert info.value.error_type == "error-field-unavailable"


def test_users_update_and_delete(rocket: RocketChat) -> None:
    username = unique("temp")
    user_id = rocket.users_create(f"{username}@example.com", "Temp", "pw-temp-1", username)["user"]["_id"]
    updated = rocket.users_update(user_id, name="Renamed", username=f"{username}-x")
    assert (updated["user"]["name"], updated["user"]["username"]) == ("Renamed", f"{username}-x")
    assert rocket.users_delete(user_id)["success"] is True
    with pytest.raises(RocketApiException):
        rocket.users_info(user_id=user_id)


def test_users_list_pagination(rocket: RocketChat, member: tuple[RocketChat, dict[str, str]]) -> None:
    first = list(rocket.users_list(max_count=1))
    assert len(first) == 1
    everyone = list(rocket.users_list())
    assert len(everyone) >= 3  # admin, rocket.cat, member
    for user in everyone:
        assert "_id" in user and "username" in user
    assert list(rocket.users_list()) == everyone
    # one item per page: the client walks every offset and must see the same users in order
    assert [u["_id"] for u in rocket.users_list(count=1)] == [u["_id"] for u in everyone]
    assert member[1]["_id"] in {u["_id"] for u in everyone}


def test_users_create_token(
    server: Server, rocket: RocketChat, member: tuple[RocketChat, dict[str, str]]
) -> None:
    user_id = member[1]["_id"]
    data = rocket.users_create_token(user_id, CREATE_TOKENS_SECRET)["data"]
    assert data["userId"] == user_id
    as_member = connect(server, user_id=data["userId"], auth_token=data["authToken"])
    assert as_member.me()["_id"] == user_id
    with pytest.raises(RocketApiException) as info:
        rocket.users_create_token(user_id, "wrong-secret")
    assert info.value.error_type == "error-not-authorized"


# -- channels, messages -------------------------------------------------------------------------


def test_channels_create_info_post_history(rocket: RocketChat) -> None:
    name = unique("compat-channel")
    channel = rocket.channels_create(name)["channel"]
    assert channel["name"] == name and channel["t"] == "c"
    room_id = channel["_id"]

    assert rocket.channels_info(room_id=room_id)["channel"]["_id"] == room_id
    assert rocket.channels_info(channel=name)["channel"]["_id"] == room_id

    posted = rocket.chat_post_message("hello from rocketchat_API", room_id=room_id)
    assert posted["message"]["msg"] == "hello from rocketchat_API"
    assert posted["message"]["rid"] == room_id

    history = list(rocket.channels_history(room_id))
    assert [m["msg"] for m in history if not m.get("t")] == ["hello from rocketchat_API"]


def test_chat_post_message_by_channel_name(rocket: RocketChat) -> None:
    posted = rocket.chat_post_message("to general", channel="GENERAL")
    assert posted["channel"] == "GENERAL"
    assert posted["message"]["rid"] == "GENERAL"
    no_text = rocket.chat_post_message(None, channel="GENERAL")
    assert no_text["message"]["msg"] == ""


def test_channels_create_duplicate(rocket: RocketChat) -> None:
    name = unique("dup-channel")
    rocket.channels_create(name)
    with pytest.raises(RocketApiException) as info:
        rocket.channels_create(name)
    assert info.value.error_type == "error-duplicate-channel-name"


def test_channels_info_unknown(rocket: RocketChat) -> None:
    with pytest.raises(RocketApiException) as info:
        rocket.channels_info(room_id="no-such-room")
    assert info.value.error_type == "error-room-not-found"


def test_channels_list_pagination(rocket: RocketChat) -> None:
    for _ in range(3):
        rocket.channels_create(unique("listed"))
    channels = list(rocket.channels_list())
    names = [c["name"] for c in channels]
    assert "general" in names
    assert len(channels) >= 4
    assert list(rocket.channels_list()) == channels
    assert len(list(rocket.channels_list(max_count=1))) == 1
    assert [c["_id"] for c in rocket.channels_list(count=2)] == [c["_id"] for c in channels]


def test_member_sees_channel_and_posts(rocket: RocketChat, member: tuple[RocketChat, dict[str, str]]) -> None:
    client, user = member
    name = unique("shared")
    room_id = rocket.channels_create(name, members=[user["username"]])["channel"]["_id"]
    client.chat_post_message("member says hi", room_id=room_id)
    texts = [m["msg"] for m in rocket.channels_history(room_id) if not m.get("t")]
    assert texts == ["member says hi"]
    joined = [c["name"] for c in client.channels_list_joined()]
    assert name in joined and "general" in joined


# -- groups -------------------------------------------------------------------------------------


def test_groups_create_and_list(rocket: RocketChat, member: tuple[RocketChat, dict[str, str]]) -> None:
    name = unique("compat-group")
    group = rocket.groups_create(name)["group"]
    assert group["name"] == name and group["t"] == "p"
    names = [g["name"] for g in rocket.groups_list()]
    assert name in names
    assert len(list(rocket.groups_list(max_count=1))) == 1
    # a private group is invisible to non-members
    client, _ = member
    assert name not in [g["name"] for g in client.groups_list()]


def test_groups_post_and_history(rocket: RocketChat) -> None:
    room_id = rocket.groups_create(unique("history-group"))["group"]["_id"]
    rocket.chat_post_message("secret", room_id=room_id)
    history = list(rocket.groups_history(room_id))
    assert [m["msg"] for m in history] == ["secret"]


# -- more of the client's surface, as its own test-suite uses it (core-api.md §5 to §10) ---------


def test_rooms_info_general(rocket: RocketChat) -> None:
    assert rocket.rooms_info(room_name="general")["room"]["_id"] == "GENERAL"
    assert rocket.rooms_info(room_id="GENERAL")["room"]["_id"] == "GENERAL"


def test_chat_update_get_delete(rocket: RocketChat) -> None:
    posted = rocket.chat_post_message("hello", channel="GENERAL")
    msg_id = posted["message"]["_id"]
    # the client hands back the `channel` string it got, which equals the room id for GENERAL
    updated = rocket.chat_update(posted["channel"], msg_id, "hello again")
    assert updated["message"]["msg"] == "hello again"
    assert rocket.chat_get_message(msg_id)["message"]["msg"] == "hello again"
    deleted = rocket.chat_delete("GENERAL", msg_id)
    assert deleted["_id"] == msg_id
    with pytest.raises(RocketApiException):
        rocket.chat_get_message(msg_id)


def test_direct_messages(rocket: RocketChat, member: tuple[RocketChat, dict[str, str]]) -> None:
    client, user = member
    room = rocket.dm_create(user["username"])["room"]
    assert room["t"] == "d" and room["_id"] == room["rid"]
    assert rocket.dm_create(user["username"])["room"]["_id"] == room["_id"]
    rocket.chat_post_message("psst", channel=f"@{user['username']}")
    assert [m["msg"] for m in client.dm_history(room["_id"])] == ["psst"]
    assert room["_id"] in [r["_id"] for r in client.dm_list()]


def test_channel_membership(rocket: RocketChat, member: tuple[RocketChat, dict[str, str]]) -> None:
    client, user = member
    room_id = rocket.channels_create(unique("members"))["channel"]["_id"]
    client.channels_join(room_id, None)
    assert user["_id"] in [m["_id"] for m in rocket.channels_members(room_id)]
    client.channels_leave(room_id)
    assert user["_id"] not in [m["_id"] for m in rocket.channels_members(room_id)]
    rocket.channels_invite(room_id, user["_id"])
    assert user["_id"] in [m["_id"] for m in rocket.channels_members(room_id)]
    rocket.channels_kick(room_id, user["_id"])
    assert user["_id"] not in [m["_id"] for m in rocket.channels_members(room_id)]
    assert rocket.channels_delete(room_id=room_id)["success"] is True
    with pytest.raises(RocketApiException):
        rocket.channels_info(room_id=room_id)


def test_group_membership(rocket: RocketChat, member: tuple[RocketChat, dict[str, str]]) -> None:
    client, user = member
    name = unique("members-group")
    room_id = rocket.groups_create(name)["group"]["_id"]
    assert rocket.groups_info(room_id=room_id)["group"]["name"] == name
    with pytest.raises(RocketApiException) as info:
        rocket.groups_leave(room_id)
    assert info.value.error_type == "error-you-are-last-owner"
    rocket.groups_invite(room_id, user["_id"])
    assert name in [g["name"] for g in client.groups_list()]
    rocket.groups_kick(room_id, user["_id"])
    assert name not in [g["name"] for g in client.groups_list()]
    assert rocket.groups_delete(room_id=room_id)["success"] is True
    assert name not in [g["name"] for g in rocket.groups_list()]


def test_permissions_and_roles(rocket: RocketChat) -> None:
    listed = rocket.permissions_list_all()
    assert "update" in listed and "remove" in listed
    assert {"_id", "roles"} <= listed["update"][0].keys()
    roles = {r["_id"]: r for r in rocket.roles_list()["roles"]}
    assert roles["admin"]["scope"] == "Users"
    assert roles["owner"]["scope"] == "Subscriptions"
