"""`GET integrations.history`, `POST integrations.clearHistory`, `POST integrations.replayOutgoing`
(rest-integrations.md §3, §9, §10.3)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from hookhub.hub import Hub
from hookhub.store import integrations as store
from hookhub.store.rows import all_rows
from hookhub.store.tables import deliveries as deliveries_table
from tests.api.test_integrations_list import (
    ALL_INCOMING,
    ALL_OUTGOING,
    NOT_LOGGED_IN,
    OUTGOING_BODY,
    OWN_INCOMING,
    OWN_OUTGOING,
    PERMISSIONS,
    UNAUTHORIZED,
    create,
    grant_users,
    history_doc,
    ids,
    insert,
    insert_history,
    integration_doc,
)
from tests.conftest import RC, assert_error, assert_ok

HISTORY_LIST_KEYS = {"history", "offset", "items", "count", "total", "success"}


@pytest.fixture
async def setup(hub: Hub, admin: RC, alice: RC) -> dict[str, Any]:
    """An outgoing integration each for boss and alice, with three history entries each
    (inserted out of order), and an incoming one of alice's without history."""
    boss_out = integration_doc("outgoing", admin, "boss")
    alice_out = integration_doc("outgoing", alice, "alice")
    alice_in = integration_doc("incoming", alice, "alice")
    await insert(hub, boss_out, alice_out, alice_in)
    boss_h = [history_doc(boss_out, m) for m in (2, 1, 3)]
    alice_h = [history_doc(alice_out, m) for m in (5, 6, 4)]
    await insert_history(hub, *boss_h, *alice_h)
    return {
        "boss_out": boss_out,
        "alice_out": alice_out,
        "alice_in": alice_in,
        "boss_h": boss_h,
        "alice_h": alice_h,
    }


def newest_first(entries: list[dict[str, Any]]) -> list[str]:
    return ids(sorted(entries, key=lambda h: h["_updatedAt"], reverse=True))


async def history_count(hub: Hub, integration_id: str) -> int:
    async with hub.tx(write=False) as ctx:
        _, total = await store.list_history(ctx.conn, where=[store.history_of(integration_id)])
    return total


# -- integrations.history ------------------------------------------------------------------------


async def test_history_requires_login(anon: RC) -> None:
    assert_error(await anon.get("integrations.history", id="x"), 401, NOT_LOGGED_IN)


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({}, "must have required property 'id' [invalid-params]"),
        ({"count": "5"}, "must have required property 'id' [invalid-params]"),
        ({"id": ""}, "must NOT have fewer than 1 characters [invalid-params]"),
        ({"id": "\x00"}, "/id must not contain NUL characters [invalid-params]"),
        ({"id": "x", "name": "y"}, "must NOT have additional properties [invalid-params]"),
        ({"id": "x", "integrationId": "y"}, "must NOT have additional properties [invalid-params]"),
        ({"id": "x", "offset": "z"}, "/offset must be integer [invalid-params]"),
        ({"id": "x", "count": "-1"}, "/count must be >= 0 [invalid-params]"),
        (
            {"id": "x", "offset": "99999999999999999999"},
            "/offset must be <= 9223372036854775807 [invalid-params]",
        ),
    ],
)
async def test_history_validation(alice: RC, params: dict[str, str], error: str) -> None:
    # alice holds no permission: validation is reported before the 403
    assert_error(await alice.get("integrations.history", **params), 400, error, "invalid-params")


async def test_history_gate_is_outgoing_only(hub: Hub, alice: RC, setup: dict[str, Any]) -> None:
    assert_error(await alice.get("integrations.history", id=setup["alice_out"]["_id"]), 403, UNAUTHORIZED)
    await grant_users(hub, ALL_INCOMING, OWN_INCOMING)
    assert_error(await alice.get("integrations.history", id=setup["alice_out"]["_id"]), 403, UNAUTHORIZED)


async def test_history_whitespace_id(admin: RC) -> None:
    body = assert_error(await admin.get("integrations.history", id="   "), 400, "Invalid integration id.")
    assert "errorType" not in body


async def test_history_page(admin: RC, setup: dict[str, Any]) -> None:
    body = assert_ok(await admin.get("integrations.history", id=setup["boss_out"]["_id"]))
    assert set(body) == HISTORY_LIST_KEYS
    assert ids(body["history"]) == newest_first(setup["boss_h"])
    assert body["offset"] == 0 and body["items"] == body["count"] == 3 and body["total"] == 3
    assert body["history"][0] == max(setup["boss_h"], key=lambda h: h["_updatedAt"])


async def test_history_unknown_integration_is_empty(admin: RC) -> None:
    body = assert_ok(await admin.get("integrations.history", id="unknown"))
    assert body["history"] == [] and body["total"] == 0 and body["count"] == body["items"] == 0


@pytest.mark.parametrize(
    ("granted", "sees_boss", "sees_alice"),
    [
        ((ALL_OUTGOING,), True, True),
        ((OWN_OUTGOING,), False, True),
        ((ALL_OUTGOING, OWN_OUTGOING), True, True),
        ((OWN_OUTGOING, ALL_INCOMING), False, True),
        (PERMISSIONS, True, True),
    ],
)
async def test_history_permissions(
    hub: Hub, alice: RC, setup: dict[str, Any], granted: tuple[str, ...], sees_boss: bool, sees_alice: bool
) -> None:
    await grant_users(hub, *granted)
    boss = assert_ok(await alice.get("integrations.history", id=setup["boss_out"]["_id"]))
    assert boss["total"] == (3 if sees_boss else 0)
    assert ids(boss["history"]) == (newest_first(setup["boss_h"]) if sees_boss else [])
    own = assert_ok(await alice.get("integrations.history", id=setup["alice_out"]["_id"]))
    assert ids(own["history"]) == (newest_first(setup["alice_h"]) if sees_alice else [])


async def test_history_paging_sort_fields(hub: Hub, admin: RC, setup: dict[str, Any]) -> None:
    integration = setup["boss_out"]
    await insert_history(hub, *[history_doc(integration, 100 + i) for i in range(110)])
    body = assert_ok(await admin.get("integrations.history", id=integration["_id"]))
    assert body["count"] == 50 and body["total"] == 113
    body = assert_ok(await admin.get("integrations.history", id=integration["_id"], count="0"))
    assert body["count"] == 113
    body = assert_ok(await admin.get("integrations.history", id=integration["_id"], count="1000"))
    assert body["count"] == 100
    body = assert_ok(await admin.get("integrations.history", id=integration["_id"], offset="111", count="10"))
    assert (
        ids(body["history"]) == ids(sorted(setup["boss_h"], key=lambda h: h["_updatedAt"], reverse=True))[1:]
    )
    assert body["offset"] == 111 and body["items"] == 2
    body = assert_ok(
        await admin.get("integrations.history", id=integration["_id"], sort='{"_updatedAt":1}', count="3")
    )
    assert ids(body["history"]) == ids(sorted(setup["boss_h"], key=lambda h: h["_updatedAt"]))
    body = assert_ok(
        await admin.get("integrations.history", id=integration["_id"], fields='{"step":1}', count="1")
    )
    assert set(body["history"][0]) == {"_id", "step"}
    assert_error(
        await admin.get("integrations.history", id=integration["_id"], sort='{"data":1}'),
        400,
        'Invalid sort parameter provided: "{"data":1}" [error-invalid-sort]',
        "error-invalid-sort",
    )


async def test_history_query_never_widens(hub: Hub, alice: RC, setup: dict[str, Any]) -> None:
    await grant_users(hub, OWN_OUTGOING)
    body = assert_ok(await alice.get("integrations.history", id=setup["boss_out"]["_id"], query="{}"))
    assert body["history"] == []


# -- integrations.clearHistory ---------------------------------------------------------------------


async def test_clear_requires_login(anon: RC) -> None:
    assert_error(await anon.post("integrations.clearHistory", integrationId="x"), 401, NOT_LOGGED_IN)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "must have required property 'integrationId' [invalid-params]"),
        ({"integrationId": ""}, "must NOT have fewer than 1 characters [invalid-params]"),
        ({"integrationId": 5}, "must be string [invalid-params]"),
        ({"integrationId": "x", "other": 1}, "must NOT have additional properties [invalid-params]"),
        ([1], "must be object [invalid-params]"),
        ({"integrationId": "a\x00"}, "/integrationId must not contain NUL characters [invalid-params]"),
    ],
)
async def test_clear_validation(alice: RC, body: Any, error: str) -> None:
    assert_error(await alice.post("integrations.clearHistory", body), 400, error, "invalid-params")


async def test_clear_empty_body(admin: RC) -> None:
    r = await admin.http.post("/api/v1/integrations.clearHistory", headers=admin.headers, content=b"")
    assert_error(r, 400, "must have required property 'integrationId' [invalid-params]")


async def test_clear_without_permission(hub: Hub, alice: RC, setup: dict[str, Any]) -> None:
    await grant_users(hub, ALL_INCOMING, OWN_INCOMING)
    body = assert_error(
        await alice.post("integrations.clearHistory", integrationId=setup["alice_out"]["_id"]),
        400,
        "Unauthorized [not_authorized]",
        "not_authorized",
    )
    assert body["details"] == {"method": "clearIntegrationHistory"}
    assert await history_count(hub, setup["alice_out"]["_id"]) == 3


async def test_clear_unknown_integration(admin: RC) -> None:
    body = assert_error(
        await admin.post("integrations.clearHistory", integrationId="does-not-exist"),
        400,
        "Invalid integration [error-invalid-integration]",
        "error-invalid-integration",
    )
    assert body["details"] == {"method": "clearIntegrationHistory"}


async def test_clear(hub: Hub, admin: RC, setup: dict[str, Any]) -> None:
    r = await admin.post("integrations.clearHistory", integrationId=setup["boss_out"]["_id"])
    assert assert_ok(r) == {"success": True}
    assert await history_count(hub, setup["boss_out"]["_id"]) == 0
    assert await history_count(hub, setup["alice_out"]["_id"]) == 3
    # clearing again (nothing left) still succeeds
    assert_ok(await admin.post("integrations.clearHistory", integrationId=setup["boss_out"]["_id"]))


async def test_clear_own_only(hub: Hub, alice: RC, setup: dict[str, Any]) -> None:
    await grant_users(hub, OWN_OUTGOING)
    assert_error(
        await alice.post("integrations.clearHistory", integrationId=setup["boss_out"]["_id"]),
        400,
        "Invalid integration [error-invalid-integration]",
    )
    assert await history_count(hub, setup["boss_out"]["_id"]) == 3
    assert_ok(await alice.post("integrations.clearHistory", integrationId=setup["alice_out"]["_id"]))
    assert await history_count(hub, setup["alice_out"]["_id"]) == 0


async def test_clear_all_outgoing_clears_others(hub: Hub, alice: RC, setup: dict[str, Any]) -> None:
    await grant_users(hub, ALL_OUTGOING)
    assert_ok(await alice.post("integrations.clearHistory", integrationId=setup["boss_out"]["_id"]))
    assert await history_count(hub, setup["boss_out"]["_id"]) == 0


# -- integrations.replayOutgoing -------------------------------------------------------------------


async def queued_replays(hub: Hub) -> list[dict[str, Any]]:
    async with hub.tx(write=False) as ctx:
        rows = all_rows(await ctx.conn.execute(select(deliveries_table)))
    return [r for r in rows if r["replay_of"] is not None]


async def test_replay_requires_login(anon: RC) -> None:
    r = await anon.post("integrations.replayOutgoing", integrationId="x", historyId="y")
    assert_error(r, 401, NOT_LOGGED_IN)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "must have required property 'integrationId' [invalid-params]"),
        ({"integrationId": "x"}, "must have required property 'historyId' [invalid-params]"),
        ({"integrationId": "x", "historyId": ""}, "must NOT have fewer than 1 characters [invalid-params]"),
        ({"integrationId": "", "historyId": "y"}, "must NOT have fewer than 1 characters [invalid-params]"),
        ({"integrationId": "x", "historyId": ["y"]}, "must be string [invalid-params]"),
        (
            {"integrationId": "x", "historyId": "\x00"},
            "/historyId must not contain NUL characters [invalid-params]",
        ),
        (
            {"integrationId": "x", "historyId": "y", "z": 1},
            "must NOT have additional properties [invalid-params]",
        ),
    ],
)
async def test_replay_validation(alice: RC, body: dict[str, Any], error: str) -> None:
    assert_error(await alice.post("integrations.replayOutgoing", body), 400, error, "invalid-params")


async def test_replay_without_permission(hub: Hub, alice: RC, setup: dict[str, Any]) -> None:
    await grant_users(hub, ALL_INCOMING)
    body = assert_error(
        await alice.post(
            "integrations.replayOutgoing", integrationId=setup["alice_out"]["_id"], historyId="x"
        ),
        400,
        "Unauthorized [not_authorized]",
        "not_authorized",
    )
    assert body["details"] == {"method": "replayOutgoingIntegration"}


async def test_replay_unknown_integration_and_history(admin: RC, setup: dict[str, Any]) -> None:
    body = assert_error(
        await admin.post("integrations.replayOutgoing", integrationId="does-not-exist", historyId="x"),
        400,
        "Invalid integration [error-invalid-integration]",
        "error-invalid-integration",
    )
    assert body["details"] == {"method": "replayOutgoingIntegration"}
    body = assert_error(
        await admin.post(
            "integrations.replayOutgoing", integrationId=setup["boss_out"]["_id"], historyId="does-not-exist"
        ),
        400,
        "Invalid Integration History [error-invalid-integration-history]",
        "error-invalid-integration-history",
    )
    assert body["details"] == {"method": "replayOutgoingIntegration"}
    # a history entry of another integration does not count
    assert_error(
        await admin.post(
            "integrations.replayOutgoing",
            integrationId=setup["boss_out"]["_id"],
            historyId=setup["alice_h"][0]["_id"],
        ),
        400,
        "Invalid Integration History [error-invalid-integration-history]",
    )


async def test_replay_of_a_record_whose_message_is_gone_queues_nothing(
    hub: Hub, admin: RC, setup: dict[str, Any]
) -> None:
    """The recorded data names no room or message that still exists: there is nothing to send."""
    r = await admin.post(
        "integrations.replayOutgoing",
        integrationId=setup["boss_out"]["_id"],
        historyId=setup["boss_h"][0]["_id"],
    )
    assert_ok(r)
    assert await queued_replays(hub) == []
    assert await history_count(hub, setup["boss_out"]["_id"]) == 3


async def test_replay_queues_a_new_delivery_of_the_recorded_event(
    hub: Hub, admin: RC, setup: dict[str, Any]
) -> None:
    message = assert_ok(await admin.post("chat.postMessage", channel="#general", text="!go again"))["message"]
    data = {"channel_id": "GENERAL", "message_id": message["_id"], "user_id": admin.user_id, "text": "old"}
    entry = history_doc(setup["boss_out"], 11, data=data, url="http://127.0.0.1:9/final")
    unsent = history_doc(setup["boss_out"], 12, data=data)
    del unsent["url"]  # never reached pre-http-call
    await insert_history(hub, entry, unsent)
    for record in (entry, unsent):
        assert_ok(
            await admin.post(
                "integrations.replayOutgoing", integrationId=setup["boss_out"]["_id"], historyId=record["_id"]
            )
        )
    (queued,) = await queued_replays(hub)
    assert queued["replay_of"] == entry["_id"]
    assert queued["integration_id"] == setup["boss_out"]["_id"]
    assert (queued["url"], queued["event"], queued["status"]) == (
        "http://127.0.0.1:9/final",
        "sendMessage",
        "pending",
    )
    snapshot = queued["payload"]["snapshot"]
    # the documents are read again, as they are now
    assert snapshot["message"]["_id"] == message["_id"] and snapshot["message"]["msg"] == "!go again"
    assert snapshot["room"]["_id"] == "GENERAL"
    assert snapshot["actor"]["_id"] == admin.user_id


async def test_replay_of_a_masked_url_uses_the_configured_one(hub: Hub, admin: RC) -> None:
    """History masks a URL's password; a replay sends to the integration's URL it stands for,
    and queues nothing when that URL is no longer configured."""
    integration = integration_doc("outgoing", admin, "boss")
    integration["urls"] = ["http://bob:pw-1@127.0.0.1:9/final", "http://127.0.0.1:9/other"]
    await insert(hub, integration)
    message = assert_ok(await admin.post("chat.postMessage", channel="#general", text="!go"))["message"]
    data = {"channel_id": "GENERAL", "message_id": message["_id"], "user_id": admin.user_id}
    masked = history_doc(integration, 1, data=data, url="http://bob:[redacted]@127.0.0.1:9/final")
    gone = history_doc(integration, 2, data=data, url="http://eve:[redacted]@127.0.0.1:9/final")
    await insert_history(hub, masked, gone)
    for record in (masked, gone):
        assert_ok(
            await admin.post(
                "integrations.replayOutgoing", integrationId=integration["_id"], historyId=record["_id"]
            )
        )
    (queued,) = await queued_replays(hub)
    assert (queued["replay_of"], queued["url"]) == (masked["_id"], "http://bob:pw-1@127.0.0.1:9/final")


async def test_replay_own_only(hub: Hub, alice: RC, setup: dict[str, Any]) -> None:
    await grant_users(hub, OWN_OUTGOING)
    assert_error(
        await alice.post(
            "integrations.replayOutgoing",
            integrationId=setup["boss_out"]["_id"],
            historyId=setup["boss_h"][0]["_id"],
        ),
        400,
        "Invalid integration [error-invalid-integration]",
    )
    # an own incoming integration is not an outgoing match for an own-only caller
    assert_error(
        await alice.post(
            "integrations.replayOutgoing", integrationId=setup["alice_in"]["_id"], historyId="x"
        ),
        400,
        "Invalid integration [error-invalid-integration]",
    )
    assert_ok(
        await alice.post(
            "integrations.replayOutgoing",
            integrationId=setup["alice_out"]["_id"],
            historyId=setup["alice_h"][0]["_id"],
        ),
    )


async def test_replay_engine_checks(hub: Hub, admin: RC, setup: dict[str, Any]) -> None:
    incoming = setup["alice_in"]
    entry = history_doc(incoming, 9)
    no_data = history_doc(setup["boss_out"], 10)
    del no_data["data"]
    await insert_history(hub, entry, no_data)
    assert_error(
        await admin.post(
            "integrations.replayOutgoing", integrationId=incoming["_id"], historyId=entry["_id"]
        ),
        400,
        "The integration type to replay must be an outgoing webhook. [integration-type-must-be-outgoing]",
        "integration-type-must-be-outgoing",
    )
    assert_error(
        await admin.post(
            "integrations.replayOutgoing", integrationId=setup["boss_out"]["_id"], historyId=no_data["_id"]
        ),
        400,
        "The history data must be defined to replay an integration. [history-data-must-be-defined]",
        "history-data-must-be-defined",
    )


# -- end to end: an integration made through integrations.create ----------------------------------------


async def test_outgoing_history_lifecycle(admin: RC) -> None:
    hook = await create(admin, **OUTGOING_BODY)
    page = assert_ok(await admin.get("integrations.history", id=hook["_id"]))
    assert page == {"history": [], "offset": 0, "items": 0, "count": 0, "total": 0, "success": True}
    assert_ok(await admin.post("integrations.clearHistory", integrationId=hook["_id"]))
    assert_error(
        await admin.post("integrations.replayOutgoing", integrationId=hook["_id"], historyId="x"),
        400,
        "Invalid Integration History [error-invalid-integration-history]",
    )
    assert_ok(await admin.post("integrations.remove", type="webhook-outgoing", integrationId=hook["_id"]))
    assert_error(
        await admin.get("integrations.get", integrationId=hook["_id"]),
        400,
        "The integration does not exists.",
    )
    assert_error(
        await admin.post("integrations.clearHistory", integrationId=hook["_id"]),
        400,
        "Invalid integration [error-invalid-integration]",
    )
