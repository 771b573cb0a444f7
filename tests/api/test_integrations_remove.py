"""integrations.remove (rest-integrations.md §6, §11.5)."""

from __future__ import annotations

from typing import Any

import pytest

from hookhub.hub import Hub
from hookhub.ids import iso, utcnow
from hookhub.store import integrations as store
from tests.api.test_integrations_create import give, incoming, outgoing
from tests.conftest import RC, assert_error, assert_ok

ONE_OF = "must match exactly one schema in oneOf"
FORBIDDEN = "User does not have the permissions required for this action [error-unauthorized]"


async def create(rc: RC, body: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = assert_ok(await rc.post("integrations.create", body))["integration"]
    return doc


async def exists(hub: Hub, integration_id: str) -> bool:
    async with hub.tx(write=False) as ctx:
        return await store.get_integration(ctx.conn, integration_id) is not None


async def test_requires_login(anon: RC) -> None:
    r = await anon.post("integrations.remove", {"type": "webhook-incoming", "integrationId": "x"})
    assert_error(r, 401, "You must be logged in to do this.")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {},
            "must have required property 'type'\n must have required property 'type'\n "
            "must have required property 'type'",
        ),
        (
            {"type": "webhook-outgoing"},
            "must have required property 'integrationId'\n must have required property 'target_url'\n "
            "must have required property 'integrationId'",
        ),
        (
            {"type": "invalid-type", "integrationId": "x"},
            "must match pattern \"webhook-incoming\"\n must have required property 'target_url'\n "
            'must match pattern "webhook-outgoing"',
        ),
        # both lookups at once satisfy two branches: refused
        (
            {"type": "webhook-outgoing", "integrationId": "x", "target_url": "http://x"},
            'must match pattern "webhook-incoming"',
        ),
        (
            {"type": "webhook-incoming", "integrationId": 5},
            "must be string\n must have required property 'target_url'\n "
            'must match pattern "webhook-outgoing"',
        ),
    ],
)
async def test_invalid_params(admin: RC, body: dict[str, Any], message: str) -> None:
    r = await admin.post("integrations.remove", body)
    assert_error(r, 400, f"{message}\n {ONE_OF} [invalid-params]", "invalid-params")


async def test_validation_before_route_permission(alice: RC) -> None:
    r = await alice.post("integrations.remove", {"type": "invalid-type", "integrationId": "x"})
    assert r.status_code == 400 and ONE_OF in r.json()["error"]


async def test_route_gate(admin: RC, alice: RC) -> None:
    doc = await create(admin, incoming())
    r = await alice.post("integrations.remove", {"type": "webhook-incoming", "integrationId": doc["_id"]})
    assert_error(r, 403, FORBIDDEN)


async def test_not_found(admin: RC) -> None:
    for body in (
        {"type": "webhook-incoming", "integrationId": "nope"},
        {"type": "webhook-outgoing", "integrationId": "nope"},
        {"type": "webhook-outgoing", "target_url": "http://nope"},
    ):
        body = assert_error(await admin.post("integrations.remove", body), 400, "No integration found.")
        assert "errorType" not in body


async def test_unanchored_type_is_refused(admin: RC) -> None:
    doc = await create(admin, incoming())
    r = await admin.post("integrations.remove", {"type": "xwebhook-incomingx", "integrationId": doc["_id"]})
    assert_error(r, 400, "Invalid integration type.")


# -- incoming --------------------------------------------------------------------------------------------


async def test_remove_incoming_returns_the_document(hub: Hub, admin: RC) -> None:
    doc = await create(admin, incoming())
    body = assert_ok(
        await admin.post("integrations.remove", {"type": "webhook-incoming", "integrationId": doc["_id"]})
    )
    assert body["integration"] == doc
    assert not await exists(hub, doc["_id"])
    r = await admin.post("integrations.remove", {"type": "webhook-incoming", "integrationId": doc["_id"]})
    assert_error(r, 400, "No integration found.")


async def test_remove_incoming_own_only(hub: Hub, admin: RC, alice: RC) -> None:
    await give(admin, "manage-own-incoming-integrations")
    theirs = await create(admin, incoming())
    mine = await create(alice, incoming())
    body = assert_error(
        await alice.post("integrations.remove", {"type": "webhook-incoming", "integrationId": theirs["_id"]}),
        400,
        "Invalid integration [error-invalid-integration]",
        "error-invalid-integration",
    )
    assert body["details"] == {"method": "deleteIncomingIntegration"}
    assert await exists(hub, theirs["_id"])
    assert_ok(
        await alice.post("integrations.remove", {"type": "webhook-incoming", "integrationId": mine["_id"]})
    )
    assert not await exists(hub, mine["_id"])


async def test_remove_incoming_global_only(hub: Hub, admin: RC, alice: RC) -> None:
    await give(admin, "manage-incoming-integrations")
    theirs = await create(admin, incoming())
    assert_ok(
        await alice.post("integrations.remove", {"type": "webhook-incoming", "integrationId": theirs["_id"]})
    )
    assert not await exists(hub, theirs["_id"])


async def test_remove_incoming_both(hub: Hub, admin: RC, alice: RC) -> None:
    await give(admin, "manage-incoming-integrations", "manage-own-incoming-integrations")
    theirs = await create(admin, incoming())
    assert_ok(
        await alice.post("integrations.remove", {"type": "webhook-incoming", "integrationId": theirs["_id"]})
    )
    assert not await exists(hub, theirs["_id"])


async def test_remove_incoming_with_only_outgoing_permissions(hub: Hub, admin: RC, alice: RC) -> None:
    await give(admin, "manage-outgoing-integrations", "manage-own-outgoing-integrations")
    doc = await create(admin, incoming())
    body = assert_error(
        await alice.post("integrations.remove", {"type": "webhook-incoming", "integrationId": doc["_id"]}),
        400,
        "Unauthorized [not_authorized]",
        "not_authorized",
    )
    assert body["details"] == {"method": "deleteIncomingIntegration"}
    assert await exists(hub, doc["_id"])


# -- outgoing --------------------------------------------------------------------------------------------


async def _add_history(hub: Hub, integration: dict[str, Any], count: int) -> None:
    now = iso(utcnow())
    async with hub.tx() as ctx:
        for i in range(count):
            await store.insert_history(
                ctx.conn,
                {
                    "_id": f"{integration['_id']}-h{i}",
                    "type": "outgoing-webhook",
                    "step": "finished",
                    "integration": {"_id": integration["_id"], "_createdBy": integration["_createdBy"]},
                    "event": "sendMessage",
                    "_createdAt": now,
                    "_updatedAt": now,
                },
            )


async def _history_total(hub: Hub, integration_id: str) -> int:
    async with hub.tx(write=False) as ctx:
        _, total = await store.list_history(ctx.conn, where=[store.history_of(integration_id)])
    return total


async def test_remove_outgoing_by_url_clears_history(hub: Hub, admin: RC) -> None:
    doc = await create(admin, outgoing(urls=["http://a", "http://b"]))
    other = await create(admin, outgoing(urls=["http://c"]))
    await _add_history(hub, doc, 3)
    await _add_history(hub, other, 2)
    body = assert_ok(
        await admin.post("integrations.remove", {"type": "webhook-outgoing", "target_url": "http://b"})
    )
    assert body["integration"] == doc
    assert not await exists(hub, doc["_id"])
    assert await _history_total(hub, doc["_id"]) == 0
    assert await _history_total(hub, other["_id"]) == 2


async def test_remove_outgoing_by_id(hub: Hub, admin: RC) -> None:
    doc = await create(admin, outgoing())
    assert_ok(
        await admin.post("integrations.remove", {"type": "webhook-outgoing", "integrationId": doc["_id"]})
    )
    assert not await exists(hub, doc["_id"])


async def test_remove_outgoing_own_only(hub: Hub, admin: RC, alice: RC) -> None:
    await give(admin, "manage-own-outgoing-integrations")
    theirs = await create(admin, outgoing())
    mine = await create(alice, outgoing(urls=["http://mine"]))
    await _add_history(hub, theirs, 1)
    body = assert_error(
        await alice.post("integrations.remove", {"type": "webhook-outgoing", "integrationId": theirs["_id"]}),
        400,
        "Invalid integration [error-invalid-integration]",
        "error-invalid-integration",
    )
    assert body["details"] == {"method": "deleteOutgoingIntegration"}
    assert await exists(hub, theirs["_id"]) and await _history_total(hub, theirs["_id"]) == 1
    assert_ok(
        await alice.post("integrations.remove", {"type": "webhook-outgoing", "target_url": "http://mine"})
    )
    assert not await exists(hub, mine["_id"])


async def test_remove_outgoing_global_only(hub: Hub, admin: RC, alice: RC) -> None:
    await give(admin, "manage-outgoing-integrations")
    theirs = await create(admin, outgoing())
    assert_ok(
        await alice.post("integrations.remove", {"type": "webhook-outgoing", "integrationId": theirs["_id"]})
    )
    assert not await exists(hub, theirs["_id"])


async def test_remove_outgoing_both(hub: Hub, admin: RC, alice: RC) -> None:
    await give(admin, "manage-outgoing-integrations", "manage-own-outgoing-integrations")
    theirs = await create(admin, outgoing())
    assert_ok(
        await alice.post("integrations.remove", {"type": "webhook-outgoing", "integrationId": theirs["_id"]})
    )
    assert not await exists(hub, theirs["_id"])


async def test_remove_outgoing_with_only_incoming_permissions(hub: Hub, admin: RC, alice: RC) -> None:
    await give(admin, "manage-incoming-integrations")
    doc = await create(admin, outgoing())
    body = assert_error(
        await alice.post("integrations.remove", {"type": "webhook-outgoing", "integrationId": doc["_id"]}),
        400,
        "Unauthorized [not_authorized]",
        "not_authorized",
    )
    assert body["details"] == {"method": "deleteOutgoingIntegration"}
    assert await exists(hub, doc["_id"])
