"""The read endpoints answer with the shapes Rocket.Chat's public documentation shows: every key
of the documented example response is present with the same JSON type.

The examples below are the documented 200 responses, as published on developer.rocket.chat and
kept in the `RocketChat/developer-docs` repository (long script bodies shortened: only keys and
types are compared). Documented keys whose example value is `null` (`scriptError`) are optional:
Rocket.Chat itself leaves them out of documents whose script compiled. Keys the documentation
omits but the contract requires (rest-integrations.md: `count` on every list) are listed
explicitly, so nothing else may appear unnoticed.
"""

from __future__ import annotations

from typing import Any

import pytest

from hookhub.hub import Hub
from tests.api.test_get_integrations import create_room
from tests.api.test_integrations_list import history_doc, insert, insert_history, integration_doc
from tests.conftest import RC, assert_ok

# https://developer.rocket.chat/apidocs/get-list-of-integrations
# (RocketChat/developer-docs: reference/api/rest-api/endpoints/core-endpoints/integration-endpoints/list.md)
LIST_EXAMPLE: dict[str, Any] = {
    "integrations": [
        {
            "_id": "WMQDChpnYTRmFre9h",
            "enabled": True,
            "username": "rocket.cat",
            "alias": "Guggy",
            "avatar": "https://image.crisp.im/avatar/website/17651a90-e082-43f6-b308-957cea6e323c/128",
            "name": "Guggy",
            "triggerWords": ["!guggy", "guggy", "gif+"],
            "urls": ["http://text2gif.guggy.com/guggify"],
            "token": "aobEdbYhXfu5hkeqG",
            "script": "...",
            "scriptEnabled": True,
            "impersonateUser": False,
            "scriptCompiled": "...",
            "scriptError": None,
            "type": "webhook-outgoing",
            "userId": "rocket.cat",
            "channel": [],
            "_createdAt": "2017-01-05T17:06:05.660Z",
            "_createdBy": {"username": "graywolf336", "_id": "R4jgcQaQhvvK6K3iY"},
            "_updatedAt": "2017-01-05T17:06:05.660Z",
        },
        {
            "_id": "3aazpZ2WzoBP8msi9",
            "type": "webhook-outgoing",
            "name": "Testing via REST API",
            "enabled": False,
            "username": "rocket.cat",
            "urls": ["http://text2gif.guggy.com/guggify"],
            "scriptEnabled": False,
            "userId": "rocket.cat",
            "channel": [],
            "_createdAt": "2017-01-06T13:23:46.018Z",
            "_createdBy": {"username": "graywolf336", "_id": "R4jgcQaQhvvK6K3iY"},
            "_updatedAt": "2017-01-06T13:23:46.018Z",
        },
    ],
    "offset": 0,
    "items": 2,
    "total": 2,
    "success": True,
}

# https://developer.rocket.chat/apidocs/get-channel-integrations
# (RocketChat/developer-docs: .../core-endpoints/channels-endpoints/get-integrations-of-channel.md)
CHANNEL_EXAMPLE: dict[str, Any] = {
    "integrations": [
        {
            "_id": "WMQDChpnYTRmFre9h",
            "enabled": True,
            "username": "rocket.cat",
            "alias": "Guggy",
            "avatar": "http://res.guggy.com/logo_128.png",
            "name": "Guggy",
            "triggerWords": ["!guggy", "guggy", "gif+"],
            "urls": ["http://text2gif.guggy.com/guggify"],
            "token": "8DFS89DMKLWEN",
            "script": "const config = {\n    color: '#ffffff'\n};\n\nclass Script { /* ... */ }",
            "scriptEnabled": True,
            "impersonateUser": False,
            "scriptCompiled": "function _classCallCheck(instance,Constructor){/* ... */}",
            "scriptError": None,
            "type": "webhook-outgoing",
            "userId": "rocket.cat",
            "channel": [],
            "_createdAt": "2017-01-05T17:06:05.660Z",
            "_createdBy": {"username": "graywolf336", "_id": "R4jgcQaQhvvK6K3iY"},
            "_updatedAt": "2017-01-05T17:06:05.660Z",
        }
    ],
    "success": True,
}

# https://developer.rocket.chat/apidocs/get-group-integrations
# (RocketChat/developer-docs: .../core-endpoints/groups-endpoints/getintegrations.md)
GROUP_EXAMPLE: dict[str, Any] = {
    "integrations": [{**CHANNEL_EXAMPLE["integrations"][0], "channel": ["#private-group-name"]}],
    "success": True,
}

# https://developer.rocket.chat/apidocs/get-integration-history
# (RocketChat/developer-docs: .../core-endpoints/integration-endpoints/history.md). The documented
# page is empty; the entry shape is the one the same docs show under integrations.get (get.md,
# whose example mistakenly is a history page).
HISTORY_EXAMPLE: dict[str, Any] = {"history": [], "offset": 0, "items": 0, "total": 0, "success": True}
HISTORY_ENTRY_EXAMPLE: dict[str, Any] = {
    "_id": "f2sd51f65sd1f65sd1fs",
    "type": "outgoing-webhook",
    "step": "after-http-call",
    "integration": {
        "event": "roomJoined",
        "enabled": True,
        "username": "rocket.cat",
        "channel": ["#general"],
        "name": "testeytyrtyrtyrtyer",
        "triggerWords": ["!webhhok"],
        "urls": ["http://localhost:3000/admin/integrations/outgoing"],
    },
    "event": "roomJoined",
    "_createdAt": "2019-11-29T14:15:27.518Z",
    "_updatedAt": "2019-11-29T14:15:27.606Z",
    "data": {
        "token": "xMxa3o95xzJSpbyEjz4Z72LJ",
        "bot": False,
        "timestamp": "2019-11-29T14:15:27.522Z",
        "channel_id": "GENERAL",
        "channel_name": "general",
        "user_id": "8pdja8tTb2s2XbvkQ",
        "user_name": "dsds",
    },
    "url": "http://localhost:3000/admin/integrations/outgoing",
}

# https://developer.rocket.chat/apidocs/get-integration: `{"integration": IIntegration, "success": true}`;
# the integration document is the one documented for the list above.
GET_EXAMPLE: dict[str, Any] = {"integration": LIST_EXAMPLE["integrations"][0], "success": True}

# keys the contract adds to the documented envelopes (rest-integrations.md §1, §3, §7, §8)
EXTRA_ENVELOPE_KEYS = {
    "list": {"count"},
    "history": {"count"},
    "channel": {"count", "offset", "total"},
    "group": {"count", "offset", "total"},
    "get": set(),
}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def assert_shape(documented: Any, actual: Any, path: str = "$") -> None:
    """Every documented key exists with the same JSON type, recursively (array items against one
    of the documented items). A documented `null` is an optional value."""
    if documented is None:
        return
    assert json_type(actual) == json_type(documented), (
        f"{path}: {json_type(actual)} != {json_type(documented)}"
    )
    if isinstance(documented, dict):
        for key, value in documented.items():
            if value is None and key not in actual:
                continue
            assert key in actual, f"{path}.{key} missing"
            assert_shape(value, actual[key], f"{path}.{key}")
    elif isinstance(documented, list) and documented:
        for item in actual:
            _matches_one_of(documented, item, f"{path}[]")


def _matches_one_of(variants: list[Any], actual: Any, path: str) -> None:
    """An array item must have the shape of one of the documented items (the list example shows
    an integration with a script and one without)."""
    failures: list[AssertionError] = []
    for variant in variants:
        try:
            assert_shape(variant, actual, path)
        except AssertionError as exc:
            failures.append(exc)
        else:
            return
    raise failures[0]


def assert_envelope(documented: dict[str, Any], actual: dict[str, Any], extra: set[str]) -> None:
    assert set(actual) == set(documented) | extra, set(actual) ^ (set(documented) | extra)
    assert_shape(documented, actual)


def guggy(owner: RC, channel: list[str]) -> dict[str, Any]:
    """An outgoing integration with a compiled script, stored the way the create path stores it."""
    return integration_doc(
        "outgoing",
        owner,
        "boss",
        name="Guggy",
        channel=channel,
        alias="Guggy",
        avatar="http://res.guggy.com/logo_128.png",
        triggerWords=["!guggy", "guggy", "gif+"],
        urls=["http://text2gif.guggy.com/guggify"],
        script="class Script { prepare_outgoing_request({ request }) { return request; } }",
        scriptCompiled="var Script = function () {};",
        scriptEnabled=True,
    )


def plain(owner: RC, channel: list[str]) -> dict[str, Any]:
    return integration_doc(
        "outgoing", owner, "boss", name="Testing via REST API", channel=channel, enabled=False
    )


@pytest.fixture
async def stored(hub: Hub, admin: RC) -> dict[str, Any]:
    await create_room(admin, "channels", "dev")
    group = await create_room(admin, "groups", "private-group-name")
    docs = {
        "guggy": guggy(admin, ["#dev"]),
        "plain": plain(admin, ["#general"]),
        "group": guggy(admin, ["#private-group-name"]),
    }
    await insert(hub, *docs.values())
    return {"group_id": group["_id"], **docs}


async def test_list_shape(admin: RC, stored: dict[str, Any]) -> None:
    body = assert_ok(await admin.get("integrations.list"))
    assert body["items"] == 3
    assert_envelope(LIST_EXAMPLE, body, EXTRA_ENVELOPE_KEYS["list"])
    # the second documented item (no script) against our script-less integration
    plain_doc = next(d for d in body["integrations"] if d["_id"] == stored["plain"]["_id"])
    assert_shape(LIST_EXAMPLE["integrations"][1], plain_doc)


async def test_get_shape(admin: RC, stored: dict[str, Any]) -> None:
    body = assert_ok(await admin.get("integrations.get", integrationId=stored["guggy"]["_id"]))
    assert_envelope(GET_EXAMPLE, body, EXTRA_ENVELOPE_KEYS["get"])


async def test_channel_shape(admin: RC, stored: dict[str, Any]) -> None:
    body = assert_ok(await admin.get("channels.getIntegrations", roomName="dev"))
    assert body["count"] == 1
    assert_envelope(CHANNEL_EXAMPLE, body, EXTRA_ENVELOPE_KEYS["channel"])


async def test_group_shape(admin: RC, stored: dict[str, Any]) -> None:
    body = assert_ok(await admin.get("groups.getIntegrations", roomId=stored["group_id"]))
    assert body["count"] == 1
    assert_envelope(GROUP_EXAMPLE, body, EXTRA_ENVELOPE_KEYS["group"])


async def test_history_shape(hub: Hub, admin: RC, stored: dict[str, Any]) -> None:
    integration = stored["guggy"]
    empty = assert_ok(await admin.get("integrations.history", id=integration["_id"]))
    assert_envelope(HISTORY_EXAMPLE, empty, EXTRA_ENVELOPE_KEYS["history"])
    assert empty == {**HISTORY_EXAMPLE, "count": 0}
    entry = history_doc(integration, 1)
    entry["integration"] |= {
        key: integration[key] for key in ("event", "enabled", "username", "channel", "triggerWords", "urls")
    }
    entry["data"] |= {
        "bot": False,
        "timestamp": "2026-03-01T12:01:00.000Z",
        "channel_id": "GENERAL",
        "user_id": "u1",
    }
    await insert_history(hub, entry)
    body = assert_ok(await admin.get("integrations.history", id=integration["_id"]))
    assert_envelope(HISTORY_EXAMPLE, body, EXTRA_ENVELOPE_KEYS["history"])
    assert_shape(HISTORY_ENTRY_EXAMPLE, body["history"][0])


def test_shape_checker_catches_differences() -> None:
    documented = LIST_EXAMPLE["integrations"][1]
    with pytest.raises(AssertionError):
        assert_shape(documented, {k: v for k, v in documented.items() if k != "urls"})
    with pytest.raises(AssertionError):
        assert_shape(documented, {**documented, "enabled": "false"})
    with pytest.raises(AssertionError):
        assert_shape(documented, {**documented, "_createdBy": {"_id": 1, "username": "x"}})
    with pytest.raises(AssertionError):
        assert_envelope(LIST_EXAMPLE, {**LIST_EXAMPLE, "page": 1}, EXTRA_ENVELOPE_KEYS["list"])
