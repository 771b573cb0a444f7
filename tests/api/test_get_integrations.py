"""`GET channels.getIntegrations` and `GET groups.getIntegrations` (rest-integrations.md §7, §8)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from hookhub.hub import Hub
from hookhub.store.tables import rooms
from tests.api.test_channels import set_permission
from tests.api.test_integrations_list import (
    ALL_INCOMING,
    ALL_OUTGOING,
    NOT_LOGGED_IN,
    OWN_INCOMING,
    OWN_OUTGOING,
    PERMISSIONS,
    UNAUTHORIZED,
    grant_users,
    ids,
    insert,
    integration_doc,
)
from tests.conftest import RC, assert_error, assert_ok

CHANNEL_NOT_FOUND = (
    'The required "roomId" or "roomName" param provided does not match any channel [error-room-not-found]'
)
GROUP_NOT_FOUND = (
    'The required "roomId" or "roomName" param provided does not match any group [error-room-not-found]'
)
GROUP_PARAM = 'The parameter "roomId" or "roomName" is required [error-room-param-not-provided]'
ROOM_LIST_KEYS = {"integrations", "count", "offset", "total", "success"}


async def create_room(client: RC, family: str, name: str, **kwargs: Any) -> dict[str, Any]:
    key = "channel" if family == "channels" else "group"
    room: dict[str, Any] = assert_ok(await client.post(f"{family}.create", name=name, **kwargs))[key]
    return room


@pytest.fixture
async def channel_setup(hub: Hub, admin: RC, alice: RC) -> dict[str, Any]:
    """Channel `dev` (alice is a member) and integrations addressed in several ways."""
    room = await create_room(admin, "channels", "dev", members=["alice"])
    docs = {
        "boss_dev_in": integration_doc("incoming", admin, "boss", channel=["#dev"]),
        "boss_all_out": integration_doc("outgoing", admin, "boss", channel=["all_public_channels"]),
        "alice_dev_out": integration_doc("outgoing", alice, "alice", channel=["@bob", "#dev"]),
        "alice_all_in": integration_doc("incoming", alice, "alice", channel=["all_public_channels"]),
        "by_id": integration_doc("incoming", admin, "boss", channel=[f"#{room['_id']}"]),
        "other_room": integration_doc("incoming", admin, "boss", channel=["#general"]),
        "groups_kw": integration_doc("outgoing", admin, "boss", channel=["all_private_groups"]),
        "prefix": integration_doc("incoming", admin, "boss", channel=["#dev2", "dev"]),
    }
    await insert(hub, *docs.values())
    return {"room": room, **docs}


@pytest.fixture
async def group_setup(hub: Hub, admin: RC, alice: RC) -> dict[str, Any]:
    """Private group `secret` (alice is a member, bob is not) and integrations addressed to it."""
    room = await create_room(admin, "groups", "secret", members=["alice"])
    docs = {
        "boss_secret_in": integration_doc("incoming", admin, "boss", channel=["#secret"]),
        "boss_all_out": integration_doc("outgoing", admin, "boss", channel=["all_private_groups"]),
        "alice_secret_out": integration_doc("outgoing", alice, "alice", channel=["#secret"]),
        "alice_all_in": integration_doc("incoming", alice, "alice", channel=["all_private_groups"]),
        "public_kw": integration_doc("incoming", admin, "boss", channel=["all_public_channels"]),
        "other_room": integration_doc("incoming", admin, "boss", channel=["#general"]),
    }
    await insert(hub, *docs.values())
    return {"room": room, **docs}


def keys_of(setup: dict[str, Any], body: dict[str, Any]) -> list[str]:
    by_id = {v["_id"]: k for k, v in setup.items() if k != "room"}
    return [by_id[i] for i in ids(body["integrations"])]


# -- channels.getIntegrations --------------------------------------------------------------------


async def test_channel_requires_login(anon: RC) -> None:
    assert_error(await anon.get("channels.getIntegrations", roomId="GENERAL"), 401, NOT_LOGGED_IN)


async def test_channel_gate(hub: Hub, alice: RC, bob: RC, channel_setup: dict[str, Any]) -> None:
    # the permission gate comes before the room lookup
    assert_error(await bob.get("channels.getIntegrations", roomId="nope"), 403, UNAUTHORIZED)
    assert_error(
        await bob.get("channels.getIntegrations", roomId=channel_setup["room"]["_id"]), 403, UNAUTHORIZED
    )
    # paging errors come before it
    assert_error(
        await bob.get("channels.getIntegrations", roomId="nope", count="x"),
        400,
        "/count must be integer [invalid-params]",
        "invalid-params",
    )


async def test_channel_default(admin: RC, channel_setup: dict[str, Any]) -> None:
    body = assert_ok(await admin.get("channels.getIntegrations", roomId=channel_setup["room"]["_id"]))
    assert set(body) == ROOM_LIST_KEYS
    # oldest first; `#<id>`, other rooms, group keywords and non-`#` entries never match
    assert keys_of(channel_setup, body) == ["boss_dev_in", "boss_all_out", "alice_dev_out", "alice_all_in"]
    assert body["count"] == 4 and body["total"] == 4 and body["offset"] == 0
    assert body["integrations"][0] == channel_setup["boss_dev_in"]


async def test_channel_by_name(admin: RC, channel_setup: dict[str, Any]) -> None:
    body = assert_ok(await admin.get("channels.getIntegrations", roomName="dev"))
    assert body["total"] == 4


@pytest.mark.parametrize(
    ("value", "include"),
    [("true", True), ("false", False), ("1", False), ("yes", False), ("TRUE", False), ("", False)],
)
async def test_channel_include_all(
    admin: RC, channel_setup: dict[str, Any], value: str, include: bool
) -> None:
    body = assert_ok(
        await admin.get(
            "channels.getIntegrations", roomId=channel_setup["room"]["_id"], includeAllPublicChannels=value
        )
    )
    expected = ["boss_dev_in", "boss_all_out", "alice_dev_out", "alice_all_in"]
    if not include:
        expected = ["boss_dev_in", "alice_dev_out"]
    assert keys_of(channel_setup, body) == expected


async def test_channel_not_found(admin: RC, channel_setup: dict[str, Any]) -> None:
    group = await create_room(admin, "groups", "private-one")
    for params in (
        {},
        {"roomId": "nope"},
        {"roomName": "nope"},
        {"roomId": ""},
        {"roomId": "", "roomName": "dev"},  # the roomId key wins even when empty
        {"roomId": group["_id"]},
        {"roomName": "private-one"},
    ):
        assert_error(
            await admin.get("channels.getIntegrations", **params),
            400,
            CHANNEL_NOT_FOUND,
            "error-room-not-found",
        )


async def test_channel_access(hub: Hub, admin: RC, alice: RC, bob: RC, channel_setup: dict[str, Any]) -> None:
    await grant_users(hub, ALL_INCOMING)
    room_id = channel_setup["room"]["_id"]
    # bob is no member but may view public channels
    assert assert_ok(await bob.get("channels.getIntegrations", roomId=room_id))["total"] == 2
    await set_permission(hub, "view-c-room", ["admin"])
    assert_error(await bob.get("channels.getIntegrations", roomId=room_id), 403, "unauthorized")
    # members keep access
    assert assert_ok(await alice.get("channels.getIntegrations", roomId=room_id))["total"] == 2


async def test_channel_archived(admin: RC, channel_setup: dict[str, Any]) -> None:
    room_id = channel_setup["room"]["_id"]
    assert_ok(await admin.post("channels.archive", roomId=room_id))
    assert assert_ok(await admin.get("channels.getIntegrations", roomId=room_id))["total"] == 4


@pytest.mark.parametrize(
    ("granted", "visible"),
    [
        ((ALL_INCOMING,), ["boss_dev_in", "alice_all_in"]),
        ((OWN_INCOMING,), ["alice_all_in"]),
        ((ALL_OUTGOING,), ["boss_all_out", "alice_dev_out"]),
        ((OWN_OUTGOING,), ["alice_dev_out"]),
        ((OWN_INCOMING, OWN_OUTGOING), ["alice_dev_out", "alice_all_in"]),
        ((ALL_INCOMING, ALL_OUTGOING), ["boss_dev_in", "boss_all_out", "alice_dev_out", "alice_all_in"]),
        (PERMISSIONS, ["boss_dev_in", "boss_all_out", "alice_dev_out", "alice_all_in"]),
    ],
)
async def test_channel_visibility(
    hub: Hub, alice: RC, channel_setup: dict[str, Any], granted: tuple[str, ...], visible: list[str]
) -> None:
    await grant_users(hub, *granted)
    body = assert_ok(await alice.get("channels.getIntegrations", roomId=channel_setup["room"]["_id"]))
    assert keys_of(channel_setup, body) == visible
    assert body["total"] == len(visible)


async def test_channel_paging_sort_fields_query(admin: RC, channel_setup: dict[str, Any]) -> None:
    room_id = channel_setup["room"]["_id"]
    body = assert_ok(await admin.get("channels.getIntegrations", roomId=room_id, offset="1", count="2"))
    assert keys_of(channel_setup, body) == ["boss_all_out", "alice_dev_out"]
    assert body["count"] == 2 and body["offset"] == 1 and body["total"] == 4
    body = assert_ok(await admin.get("channels.getIntegrations", roomId=room_id, count="0"))
    assert body["count"] == 4
    body = assert_ok(await admin.get("channels.getIntegrations", roomId=room_id, sort='{"_createdAt":-1}'))
    assert keys_of(channel_setup, body) == ["alice_all_in", "alice_dev_out", "boss_all_out", "boss_dev_in"]
    body = assert_ok(
        await admin.get("channels.getIntegrations", roomId=room_id, fields='{"name":1}', count="1")
    )
    assert body["integrations"] == [
        {"_id": channel_setup["boss_dev_in"]["_id"], "name": channel_setup["boss_dev_in"]["name"]}
    ]
    body = assert_ok(await admin.get("channels.getIntegrations", roomId=room_id, query="{}"))
    assert body["total"] == 4
    assert_error(
        await admin.get("channels.getIntegrations", roomId=room_id, sort="nope"),
        400,
        'Invalid sort parameter provided: "nope" [error-invalid-sort]',
        "error-invalid-sort",
    )
    assert_error(
        await admin.get("channels.getIntegrations", roomId=room_id, query="nope"),
        400,
        'Invalid query parameter provided: "nope" [error-invalid-query]',
        "error-invalid-query",
    )
    # the room is resolved before sort is parsed
    assert_error(
        await admin.get("channels.getIntegrations", roomId="nope", sort="nope"), 400, CHANNEL_NOT_FOUND
    )


async def test_channel_without_integrations(admin: RC) -> None:
    body = assert_ok(await admin.get("channels.getIntegrations", roomId="GENERAL"))
    assert body == {"integrations": [], "count": 0, "offset": 0, "total": 0, "success": True}


# -- groups.getIntegrations ----------------------------------------------------------------------


async def test_group_requires_login(anon: RC) -> None:
    assert_error(await anon.get("groups.getIntegrations", roomId="x"), 401, NOT_LOGGED_IN)


async def test_group_gate(bob: RC, group_setup: dict[str, Any]) -> None:
    assert_error(await bob.get("groups.getIntegrations"), 403, UNAUTHORIZED)
    assert_error(
        await bob.get("groups.getIntegrations", roomId=group_setup["room"]["_id"]), 403, UNAUTHORIZED
    )


async def test_group_default(admin: RC, group_setup: dict[str, Any]) -> None:
    body = assert_ok(await admin.get("groups.getIntegrations", roomId=group_setup["room"]["_id"]))
    assert set(body) == ROOM_LIST_KEYS
    assert keys_of(group_setup, body) == [
        "boss_secret_in",
        "boss_all_out",
        "alice_secret_out",
        "alice_all_in",
    ]
    assert body["count"] == body["total"] == 4
    assert keys_of(group_setup, assert_ok(await admin.get("groups.getIntegrations", roomName="secret"))) == (
        keys_of(group_setup, body)
    )


@pytest.mark.parametrize(
    ("value", "include"),
    [("true", True), ("", True), ("false", False), ("1", False), ("True", False)],
)
async def test_group_include_all(admin: RC, group_setup: dict[str, Any], value: str, include: bool) -> None:
    body = assert_ok(
        await admin.get(
            "groups.getIntegrations", roomId=group_setup["room"]["_id"], includeAllPrivateGroups=value
        )
    )
    expected = ["boss_secret_in", "boss_all_out", "alice_secret_out", "alice_all_in"]
    if not include:
        expected = ["boss_secret_in", "alice_secret_out"]
    assert keys_of(group_setup, body) == expected


async def test_group_param_missing(admin: RC) -> None:
    for params in ({}, {"roomId": "", "roomName": ""}, {"count": "5"}):
        assert_error(
            await admin.get("groups.getIntegrations", **params),
            400,
            GROUP_PARAM,
            "error-room-param-not-provided",
        )


async def test_group_not_found(hub: Hub, admin: RC, bob: RC, group_setup: dict[str, Any]) -> None:
    for params in (
        {"roomId": "nope"},
        {"roomName": "nope"},
        {"roomId": ""},
        {"roomId": "", "roomName": "secret"},
        {"roomId": "GENERAL"},
        {"roomName": "general"},
    ):
        assert_error(
            await admin.get("groups.getIntegrations", **params), 400, GROUP_NOT_FOUND, "error-room-not-found"
        )
    # a group the caller is not a member of is hidden (400, not 403)
    await grant_users(hub, *PERMISSIONS)
    assert_error(
        await bob.get("groups.getIntegrations", roomId=group_setup["room"]["_id"]), 400, GROUP_NOT_FOUND
    )
    assert_error(await bob.get("groups.getIntegrations", roomName="secret"), 400, GROUP_NOT_FOUND)


@pytest.mark.parametrize(
    ("granted", "visible"),
    [
        ((ALL_INCOMING,), ["boss_secret_in", "alice_all_in"]),
        ((OWN_INCOMING,), ["alice_all_in"]),
        ((ALL_OUTGOING,), ["boss_all_out", "alice_secret_out"]),
        ((OWN_OUTGOING,), ["alice_secret_out"]),
        ((OWN_INCOMING, OWN_OUTGOING), ["alice_secret_out", "alice_all_in"]),
        (PERMISSIONS, ["boss_secret_in", "boss_all_out", "alice_secret_out", "alice_all_in"]),
    ],
)
async def test_group_visibility(
    hub: Hub, alice: RC, group_setup: dict[str, Any], granted: tuple[str, ...], visible: list[str]
) -> None:
    await grant_users(hub, *granted)
    body = assert_ok(await alice.get("groups.getIntegrations", roomId=group_setup["room"]["_id"]))
    assert keys_of(group_setup, body) == visible


async def test_group_paging_and_sort(admin: RC, group_setup: dict[str, Any]) -> None:
    room_id = group_setup["room"]["_id"]
    body = assert_ok(await admin.get("groups.getIntegrations", roomId=room_id, count="1", offset="3"))
    assert keys_of(group_setup, body) == ["alice_all_in"] and body["total"] == 4 and body["offset"] == 3
    body = assert_ok(await admin.get("groups.getIntegrations", roomId=room_id, sort='{"name":1}'))
    names = [d["name"] for d in body["integrations"]]
    assert names == sorted(names)
    assert_error(
        await admin.get("groups.getIntegrations", roomId=room_id, fields='{"x":1}'),
        400,
        'Invalid fields parameter provided: "{"x":1}" [error-invalid-fields]',
    )


@pytest.mark.parametrize("family", ["channels", "groups"])
async def test_nul_characters_are_refused(admin: RC, family: str) -> None:
    assert_error(
        await admin.get(f"{family}.getIntegrations", roomName="dev\x00"),
        400,
        "/roomName must not contain NUL characters [invalid-params]",
        "invalid-params",
    )


async def test_group_discussion_matches_on_display_name(hub: Hub, admin: RC) -> None:
    """Discussions are addressed by their display name (`fname`), other groups by `name`."""
    group = await create_room(admin, "groups", "disc-abc123")
    async with hub.tx() as ctx:
        await ctx.conn.execute(
            update(rooms)
            .where(rooms.c.id == group["_id"])
            .values(fname="Release planning", extra={"prid": "GENERAL"})
        )
    by_fname = integration_doc("incoming", admin, "boss", channel=["#Release planning"])
    by_name = integration_doc("incoming", admin, "boss", channel=["#disc-abc123"])
    await insert(hub, by_fname, by_name)
    body = assert_ok(await admin.get("groups.getIntegrations", roomId=group["_id"]))
    assert ids(body["integrations"]) == [by_fname["_id"]]
