"""`GET integrations.list` (rest-integrations.md §1, §10.2, §12.5). Integration documents are
stored directly through the store here (the create endpoint is tested on its own); the helpers
below are shared by the other integration read tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hookhub.hub import Hub
from hookhub.ids import iso, random_id, random_token
from hookhub.store import integrations as store
from tests.api.test_channels import set_permission
from tests.conftest import RC, assert_error, assert_ok

UNAUTHORIZED = "User does not have the permissions required for this action [error-unauthorized]"
NOT_LOGGED_IN = "You must be logged in to do this."
ALL_INCOMING = "manage-incoming-integrations"
OWN_INCOMING = "manage-own-incoming-integrations"
ALL_OUTGOING = "manage-outgoing-integrations"
OWN_OUTGOING = "manage-own-outgoing-integrations"
PERMISSIONS = (ALL_INCOMING, OWN_INCOMING, ALL_OUTGOING, OWN_OUTGOING)
BASE_TIME = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

_sequence = [0]


def integration_doc(
    kind: str,
    owner: RC,
    owner_name: str,
    *,
    name: str | None = None,
    channel: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A realistic stored integration (§13.1/§13.2); creation times increase with each call."""
    _sequence[0] += 1
    created = iso(BASE_TIME + timedelta(minutes=_sequence[0]))
    doc: dict[str, Any] = {
        "_id": random_id(),
        "type": f"webhook-{kind}",
        "name": name or f"{kind} {_sequence[0]}",
        "enabled": True,
        "username": "rocket.cat",
        "userId": "rocket.cat",
        "channel": channel if channel is not None else ["#general"],
        "scriptEnabled": False,
        "_createdAt": created,
        "_createdBy": {"_id": owner.user_id, "username": owner_name},
        "_updatedAt": created,
    }
    if kind == "incoming":
        doc |= {"token": random_token(36)[:48], "overrideDestinationChannelEnabled": False}
    else:
        doc |= {
            "event": "sendMessage",
            "urls": ["https://example.com/hook"],
            "triggerWords": ["!go"],
            "token": "tok-123",
            "retryFailedCalls": True,
            "retryCount": 4,
            "retryDelay": "powers-of-ten",
            "runOnEdits": False,
            "impersonateUser": False,
        }
    return doc | extra


async def insert(hub: Hub, *docs: dict[str, Any]) -> None:
    async with hub.tx() as ctx:
        for doc in docs:
            await store.insert_integration(ctx.conn, doc)


def history_doc(integration: dict[str, Any], minute: int, **extra: Any) -> dict[str, Any]:
    """A history entry (§13.3) with a snapshot of `integration`, updated at BASE_TIME+minute."""
    at = iso(BASE_TIME + timedelta(minutes=minute))
    doc: dict[str, Any] = {
        "_id": random_id(),
        "type": "outgoing-webhook",
        "step": "after-http-call",
        "integration": {
            "_id": integration["_id"],
            "_createdBy": integration["_createdBy"],
            "name": integration["name"],
            "type": integration["type"],
        },
        "event": "sendMessage",
        "_createdAt": at,
        "_updatedAt": at,
        "data": {"token": "tok-123", "channel_name": "general", "text": "!go now", "user_name": "alice"},
        "ranPrepareScript": False,
        "finished": True,
        "triggerWord": "!go",
        "url": "https://example.com/hook",
        "httpCallData": {"text": "!go now"},
        "httpResult": '{"ok":true}',
        "error": False,
    }
    return doc | extra


async def insert_history(hub: Hub, *docs: dict[str, Any]) -> None:
    async with hub.tx() as ctx:
        for doc in docs:
            await store.insert_history(ctx.conn, doc)


async def grant_users(hub: Hub, *permissions: str) -> None:
    """Give role `user` exactly `permissions` of the four (admins keep all of them)."""
    for permission in PERMISSIONS:
        await set_permission(hub, permission, ["admin", "user"] if permission in permissions else ["admin"])


def ids(docs: list[dict[str, Any]]) -> list[str]:
    return [d["_id"] for d in docs]


async def store_mixed(hub: Hub, admin: RC, alice: RC) -> dict[str, dict[str, Any]]:
    """One incoming and one outgoing integration each for the admin and for alice."""
    docs = {
        "boss_in": integration_doc("incoming", admin, "boss", name="Boss Incoming"),
        "boss_out": integration_doc("outgoing", admin, "boss", name="Boss Outgoing"),
        "alice_in": integration_doc("incoming", alice, "alice", name="Alice Incoming"),
        "alice_out": integration_doc("outgoing", alice, "alice", name="Alice Outgoing"),
    }
    await insert(hub, *docs.values())
    return docs


@pytest.fixture
async def mixed(hub: Hub, admin: RC, alice: RC) -> dict[str, dict[str, Any]]:
    return await store_mixed(hub, admin, alice)


# -- auth, validation, gate -----------------------------------------------------------------------


async def test_requires_login(anon: RC) -> None:
    body = assert_error(await anon.get("integrations.list"), 401, NOT_LOGGED_IN)
    assert body["status"] == "error"


async def test_unknown_parameter(admin: RC) -> None:
    for extra in ({"roomId": "x"}, {"foo": ""}, {"name": "a", "createdBy": "x"}):
        assert_error(
            await admin.get("integrations.list", **extra),
            400,
            "must NOT have additional properties [invalid-params]",
            "invalid-params",
        )


async def test_validation_comes_before_the_gate(alice: RC) -> None:
    assert_error(
        await alice.get("integrations.list", bogus="1"),
        400,
        "must NOT have additional properties [invalid-params]",
    )
    assert_error(
        await alice.get("integrations.list", count="x"), 400, "/count must be integer [invalid-params]"
    )
    assert_error(await alice.get("integrations.list"), 403, UNAUTHORIZED)


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"offset": "x"}, "/offset must be integer [invalid-params]"),
        ({"offset": "-1"}, "/offset must be >= 0 [invalid-params]"),
        ({"count": "ten"}, "/count must be integer [invalid-params]"),
        ({"count": "-5"}, "/count must be >= 0 [invalid-params]"),
        ({"count": ""}, "/count must be integer [invalid-params]"),
        ({"offset": "1e3"}, "/offset must be integer [invalid-params]"),
        ({"offset": "1_000"}, "/offset must be integer [invalid-params]"),
        ({"count": "2.5"}, "/count must be integer [invalid-params]"),
        ({"offset": "99999999999999999999"}, "/offset must be <= 9223372036854775807 [invalid-params]"),
        ({"count": "99999999999999999999"}, "/count must be <= 9223372036854775807 [invalid-params]"),
    ],
)
async def test_bad_paging(admin: RC, params: dict[str, str], error: str) -> None:
    assert_error(await admin.get("integrations.list", **params), 400, error, "invalid-params")


async def test_no_permission_is_403(hub: Hub, admin: RC, alice: RC, mixed: dict[str, Any]) -> None:
    assert_error(await alice.get("integrations.list"), 403, UNAUTHORIZED)
    for permission in PERMISSIONS:
        await set_permission(hub, permission, [])
    assert_error(await admin.get("integrations.list"), 403, UNAUTHORIZED)


async def test_bad_sort_fields_query_after_gate(hub: Hub, admin: RC, alice: RC) -> None:
    assert_error(await alice.get("integrations.list", sort="{bad"), 403, UNAUTHORIZED)
    body = assert_error(
        await admin.get("integrations.list", sort="{bad"),
        400,
        'Invalid sort parameter provided: "{bad" [error-invalid-sort]',
        "error-invalid-sort",
    )
    assert body["details"] == {"helperMethod": "parseJsonQuery"}
    assert_error(
        await admin.get("integrations.list", sort='{"name":2}'),
        400,
        'Invalid sort parameter provided: "{"name":2}" [error-invalid-sort]',
    )
    assert_error(
        await admin.get("integrations.list", sort='{"token":1}'),
        400,
        'Invalid sort parameter provided: "{"token":1}" [error-invalid-sort]',
    )
    assert_error(
        await admin.get("integrations.list", fields='{"password":1}'),
        400,
        'Invalid fields parameter provided: "{"password":1}" [error-invalid-fields]',
        "error-invalid-fields",
    )
    assert_error(
        await admin.get("integrations.list", query="[1]"),
        400,
        'Invalid query parameter provided: "[1]" [error-invalid-query]',
        "error-invalid-query",
    )


# -- visibility ----------------------------------------------------------------------------------


async def test_admin_sees_everything(admin: RC, mixed: dict[str, dict[str, Any]]) -> None:
    body = assert_ok(await admin.get("integrations.list"))
    assert ids(body["integrations"]) == ids(list(mixed.values()))
    assert body["offset"] == 0
    assert body["items"] == body["count"] == 4
    assert body["total"] == 4
    assert set(body) == {"integrations", "offset", "items", "count", "total", "success"}
    # full stored documents, secrets included (as Rocket.Chat answers them)
    assert body["integrations"][0] == mixed["boss_in"]


@pytest.mark.parametrize(
    ("granted", "visible"),
    [
        ((ALL_INCOMING,), {"boss_in", "alice_in"}),
        ((OWN_INCOMING,), {"alice_in"}),
        ((ALL_OUTGOING,), {"boss_out", "alice_out"}),
        ((OWN_OUTGOING,), {"alice_out"}),
        ((ALL_INCOMING, OWN_INCOMING), {"boss_in", "alice_in"}),
        ((ALL_OUTGOING, OWN_OUTGOING), {"boss_out", "alice_out"}),
        ((OWN_INCOMING, OWN_OUTGOING), {"alice_in", "alice_out"}),
        ((ALL_INCOMING, OWN_OUTGOING), {"boss_in", "alice_in", "alice_out"}),
        ((ALL_OUTGOING, OWN_INCOMING), {"boss_out", "alice_out", "alice_in"}),
        ((ALL_INCOMING, ALL_OUTGOING), {"boss_in", "boss_out", "alice_in", "alice_out"}),
        # §10.2 quirk: both "own" permissions win over a single "all" one
        ((ALL_OUTGOING, OWN_OUTGOING, OWN_INCOMING), {"alice_in", "alice_out"}),
        (PERMISSIONS, {"boss_in", "boss_out", "alice_in", "alice_out"}),
    ],
)
async def test_visibility_by_permissions(
    hub: Hub, alice: RC, mixed: dict[str, dict[str, Any]], granted: tuple[str, ...], visible: set[str]
) -> None:
    await grant_users(hub, *granted)
    body = assert_ok(await alice.get("integrations.list"))
    expected = {mixed[k]["_id"] for k in visible}
    assert set(ids(body["integrations"])) == expected
    assert body["total"] == len(expected)


async def test_own_only_user_sees_nothing_of_others(
    hub: Hub, alice: RC, bob: RC, mixed: dict[str, Any]
) -> None:
    await grant_users(hub, OWN_INCOMING, OWN_OUTGOING)
    body = assert_ok(await bob.get("integrations.list"))
    assert body["integrations"] == [] and body["total"] == 0 and body["count"] == 0


# -- filters -------------------------------------------------------------------------------------


async def test_name_filter_is_case_insensitive_substring(admin: RC, mixed: dict[str, Any]) -> None:
    body = assert_ok(await admin.get("integrations.list", name="OUTGO"))
    assert set(ids(body["integrations"])) == {mixed["boss_out"]["_id"], mixed["alice_out"]["_id"]}
    body = assert_ok(await admin.get("integrations.list", name="alice inc"))
    assert ids(body["integrations"]) == [mixed["alice_in"]["_id"]]
    assert assert_ok(await admin.get("integrations.list", name="nothing"))["total"] == 0
    # empty name: no filter
    assert assert_ok(await admin.get("integrations.list", name=""))["total"] == 4


async def test_name_filter_takes_like_metacharacters_literally(hub: Hub, admin: RC) -> None:
    percent = integration_doc("incoming", admin, "boss", name="100% done")
    underscore = integration_doc("incoming", admin, "boss", name="snake_case")
    plain = integration_doc("incoming", admin, "boss", name="snakeXcase 1000 done")
    backslash = integration_doc("incoming", admin, "boss", name="back\\slash")
    await insert(hub, percent, underscore, plain, backslash)
    assert ids(assert_ok(await admin.get("integrations.list", name="%"))["integrations"]) == [percent["_id"]]
    assert ids(assert_ok(await admin.get("integrations.list", name="0% d"))["integrations"]) == [
        percent["_id"]
    ]
    assert ids(assert_ok(await admin.get("integrations.list", name="e_c"))["integrations"]) == [
        underscore["_id"]
    ]
    assert ids(assert_ok(await admin.get("integrations.list", name="\\"))["integrations"]) == [
        backslash["_id"]
    ]
    assert ids(assert_ok(await admin.get("integrations.list", name=".*"))["integrations"]) == []


async def test_type_filter_is_exact(admin: RC, mixed: dict[str, Any]) -> None:
    body = assert_ok(await admin.get("integrations.list", type="webhook-incoming"))
    assert ids(body["integrations"]) == [mixed["boss_in"]["_id"], mixed["alice_in"]["_id"]]
    body = assert_ok(await admin.get("integrations.list", type="webhook-outgoing", name="alice"))
    assert ids(body["integrations"]) == [mixed["alice_out"]["_id"]]
    assert assert_ok(await admin.get("integrations.list", type="webhook"))["total"] == 0
    assert assert_ok(await admin.get("integrations.list", type="WEBHOOK-INCOMING"))["total"] == 0


async def test_filters_never_widen_visibility(hub: Hub, alice: RC, mixed: dict[str, Any]) -> None:
    await grant_users(hub, OWN_INCOMING)
    body = assert_ok(await alice.get("integrations.list", type="webhook-outgoing"))
    assert body["integrations"] == []
    body = assert_ok(await alice.get("integrations.list", name="boss"))
    assert body["integrations"] == []
    # an empty query object is accepted and narrows nothing
    body = assert_ok(await alice.get("integrations.list", query="{}"))
    assert ids(body["integrations"]) == [mixed["alice_in"]["_id"]]


# -- paging, sort, fields ------------------------------------------------------------------------


async def test_paging(hub: Hub, admin: RC) -> None:
    docs = [integration_doc("incoming", admin, "boss", name=f"hook {i:03d}") for i in range(120)]
    await insert(hub, *docs)
    body = assert_ok(await admin.get("integrations.list"))
    assert body["count"] == body["items"] == 50 and body["total"] == 120
    assert ids(body["integrations"]) == ids(docs[:50])
    body = assert_ok(await admin.get("integrations.list", offset="110", count="5"))
    assert ids(body["integrations"]) == ids(docs[110:115])
    assert body["offset"] == 110 and body["count"] == body["items"] == 5 and body["total"] == 120
    body = assert_ok(await admin.get("integrations.list", count="500"))
    assert body["count"] == 100
    body = assert_ok(await admin.get("integrations.list", count="0"))
    assert body["count"] == 120 and ids(body["integrations"]) == ids(docs)
    body = assert_ok(await admin.get("integrations.list", offset=" 3 ", count="+2"))
    assert ids(body["integrations"]) == ids(docs[3:5])
    body = assert_ok(await admin.get("integrations.list", offset=str(2**63 - 1)))
    assert body["integrations"] == [] and body["total"] == 120
    body = assert_ok(await admin.get("integrations.list", offset="200"))
    assert body["integrations"] == [] and body["count"] == 0 and body["total"] == 120


async def test_default_order_is_creation_order(hub: Hub, admin: RC) -> None:
    first = integration_doc("incoming", admin, "boss", name="zzz")
    second = integration_doc("outgoing", admin, "boss", name="aaa")
    third = integration_doc("incoming", admin, "boss", name="mmm")
    await insert(hub, third, first, second)  # insertion order differs from creation order
    assert ids(assert_ok(await admin.get("integrations.list"))["integrations"]) == ids([first, second, third])


async def test_sort(admin: RC, mixed: dict[str, Any]) -> None:
    body = assert_ok(await admin.get("integrations.list", sort='{"name":1}'))
    assert [d["name"] for d in body["integrations"]] == sorted(d["name"] for d in mixed.values())
    body = assert_ok(await admin.get("integrations.list", sort='{"_createdAt":-1}'))
    assert ids(body["integrations"]) == ids(list(mixed.values()))[::-1]
    body = assert_ok(await admin.get("integrations.list", sort='{"type":1,"name":-1}'))
    assert [d["name"] for d in body["integrations"]] == [
        "Boss Incoming",
        "Alice Incoming",
        "Boss Outgoing",
        "Alice Outgoing",
    ]


async def test_fields_projection(admin: RC, mixed: dict[str, Any]) -> None:
    body = assert_ok(await admin.get("integrations.list", fields='{"name":1}'))
    assert body["integrations"][0] == {"_id": mixed["boss_in"]["_id"], "name": "Boss Incoming"}
    body = assert_ok(await admin.get("integrations.list", fields='{"token":0,"channel":0}'))
    assert all("token" not in d and "channel" not in d and "name" in d for d in body["integrations"])


@pytest.mark.parametrize("key", ["name", "type", "sort", "query"])
async def test_nul_characters_are_refused(admin: RC, key: str) -> None:
    assert_error(
        await admin.get("integrations.list", **{key: "a\x00b"}),
        400,
        f"/{key} must not contain NUL characters [invalid-params]",
        "invalid-params",
    )


# -- end to end: integrations made through integrations.create ---------------------------------------


async def create(client: RC, **body: Any) -> dict[str, Any]:
    integration: dict[str, Any] = assert_ok(await client.post("integrations.create", body))["integration"]
    return integration


INCOMING_BODY = {
    "type": "webhook-incoming",
    "name": "Incoming test",
    "enabled": True,
    "alias": "test",
    "username": "rocket.cat",
    "scriptEnabled": False,
    "overrideDestinationChannelEnabled": True,
    "channel": "#general",
}
OUTGOING_BODY = {
    "type": "webhook-outgoing",
    "name": "clear-replay-test",
    "enabled": True,
    "username": "rocket.cat",
    "urls": ["http://example.com/hook"],
    "scriptEnabled": False,
    "channel": "#general",
    "triggerWords": ["!clearreplaytest"],
    "event": "sendMessage",
}


async def test_created_integrations_are_listed_and_read_back(hub: Hub, admin: RC, alice: RC) -> None:
    mine = await create(admin, **INCOMING_BODY)
    await grant_users(hub, OWN_INCOMING)
    hers = await create(alice, **{**INCOMING_BODY, "name": "Alice hook"})
    listed = assert_ok(await admin.get("integrations.list"))
    assert ids(listed["integrations"]) == [mine["_id"], hers["_id"]]
    assert listed["integrations"][0] == mine
    assert assert_ok(await admin.get("integrations.get", integrationId=mine["_id"]))["integration"] == mine
    # alice only manages her own
    assert ids(assert_ok(await alice.get("integrations.list"))["integrations"]) == [hers["_id"]]
    assert_ok(await alice.get("integrations.get", integrationId=hers["_id"]))
    assert_error(await alice.get("integrations.get", integrationId=mine["_id"]), 400, "not-authorized")
    # both address #general
    room = assert_ok(await admin.get("channels.getIntegrations", roomId="GENERAL"))
    assert ids(room["integrations"]) == [mine["_id"], hers["_id"]]
    assert ids(assert_ok(await admin.get("integrations.list", name="ALICE"))["integrations"]) == [hers["_id"]]
