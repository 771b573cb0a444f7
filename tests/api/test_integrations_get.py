"""`GET integrations.get` (rest-integrations.md §2): no route gate, per-document kind check."""

from __future__ import annotations

from typing import Any

import pytest

from hookhub.hub import Hub
from tests.api.test_integrations_list import (
    ALL_INCOMING,
    ALL_OUTGOING,
    NOT_LOGGED_IN,
    OWN_INCOMING,
    OWN_OUTGOING,
    PERMISSIONS,
    grant_users,
    insert,
    integration_doc,
    store_mixed,
)
from tests.conftest import RC, assert_error, assert_ok


@pytest.fixture
async def mixed(hub: Hub, admin: RC, alice: RC) -> dict[str, dict[str, Any]]:
    return await store_mixed(hub, admin, alice)


async def test_requires_login(anon: RC) -> None:
    assert_error(await anon.get("integrations.get", integrationId="x"), 401, NOT_LOGGED_IN)


async def test_missing_and_empty_id(admin: RC, alice: RC) -> None:
    assert_error(
        await admin.get("integrations.get"),
        400,
        "must have required property 'integrationId' [invalid-params]",
        "invalid-params",
    )
    # validation comes before anything else, even for a caller without any permission
    assert_error(
        await alice.get("integrations.get", createdBy="x"),
        400,
        "must have required property 'integrationId' [invalid-params]",
    )
    body = assert_error(
        await admin.get("integrations.get", integrationId=""),
        400,
        'The query parameter "integrationId" is required.',
    )
    assert "errorType" not in body


async def test_not_found(admin: RC, mixed: dict[str, Any]) -> None:
    body = assert_error(
        await admin.get("integrations.get", integrationId="invalid"), 400, "The integration does not exists."
    )
    assert "errorType" not in body
    # createdBy narrows the lookup to that creator
    assert_error(
        await admin.get("integrations.get", integrationId=mixed["alice_in"]["_id"], createdBy="someone"),
        400,
        "The integration does not exists.",
    )


async def test_found(admin: RC, mixed: dict[str, Any]) -> None:
    for doc in mixed.values():
        body = assert_ok(await admin.get("integrations.get", integrationId=doc["_id"]))
        assert body == {"integration": doc, "success": True}
    doc = mixed["alice_out"]
    body = assert_ok(
        await admin.get("integrations.get", integrationId=doc["_id"], createdBy=doc["_createdBy"]["_id"])
    )
    assert body["integration"]["_id"] == doc["_id"]


async def test_extra_keys_tolerated_and_fields(admin: RC, mixed: dict[str, Any]) -> None:
    doc = mixed["boss_out"]
    body = assert_ok(await admin.get("integrations.get", integrationId=doc["_id"], whatever="1"))
    assert body["integration"] == doc
    body = assert_ok(await admin.get("integrations.get", integrationId=doc["_id"], fields='{"urls":1}'))
    assert body["integration"] == {"_id": doc["_id"], "urls": doc["urls"]}
    assert_error(
        await admin.get("integrations.get", integrationId=doc["_id"], fields='{"nope":1}'),
        400,
        'Invalid fields parameter provided: "{"nope":1}" [error-invalid-fields]',
    )


OK = "ok"
DENIED = "not-authorized"


@pytest.mark.parametrize(
    ("granted", "expected"),
    [
        # granted to role user → (boss_in, boss_out, alice_in, alice_out)
        ((), (DENIED, DENIED, DENIED, DENIED)),
        ((OWN_INCOMING,), (DENIED, DENIED, OK, DENIED)),
        ((ALL_INCOMING,), (OK, DENIED, OK, DENIED)),
        ((ALL_INCOMING, OWN_INCOMING), (OK, DENIED, OK, DENIED)),
        ((OWN_OUTGOING,), (DENIED, DENIED, DENIED, OK)),
        ((ALL_OUTGOING,), (DENIED, OK, DENIED, OK)),
        ((ALL_OUTGOING, OWN_OUTGOING), (DENIED, OK, DENIED, OK)),
        ((OWN_INCOMING, OWN_OUTGOING), (DENIED, DENIED, OK, OK)),
        (PERMISSIONS, (OK, OK, OK, OK)),
    ],
)
async def test_permission_matrix(
    hub: Hub,
    alice: RC,
    mixed: dict[str, Any],
    granted: tuple[str, ...],
    expected: tuple[str, ...],
) -> None:
    await grant_users(hub, *granted)
    for key, outcome in zip(("boss_in", "boss_out", "alice_in", "alice_out"), expected, strict=True):
        r = await alice.get("integrations.get", integrationId=mixed[key]["_id"])
        if outcome == OK:
            assert assert_ok(r)["integration"]["_id"] == mixed[key]["_id"]
        else:
            body = assert_error(r, 400, DENIED)
            assert "errorType" not in body


async def test_not_found_comes_before_permission(alice: RC) -> None:
    assert_error(
        await alice.get("integrations.get", integrationId="nope"), 400, "The integration does not exists."
    )


async def test_legacy_document_without_creator(hub: Hub, admin: RC, alice: RC) -> None:
    doc = integration_doc("incoming", admin, "boss")
    doc["_createdBy"] = None
    await insert(hub, doc)
    assert assert_ok(await admin.get("integrations.get", integrationId=doc["_id"]))["integration"] == doc
    await grant_users(hub, OWN_INCOMING)
    assert_error(await alice.get("integrations.get", integrationId=doc["_id"]), 400, DENIED)


async def test_unknown_type_counts_as_outgoing(hub: Hub, admin: RC, alice: RC) -> None:
    doc = integration_doc("outgoing", admin, "boss", type="webhook-something")
    await insert(hub, doc)
    await grant_users(hub, ALL_INCOMING)
    assert_error(await alice.get("integrations.get", integrationId=doc["_id"]), 400, DENIED)
    await grant_users(hub, ALL_OUTGOING)
    assert assert_ok(await alice.get("integrations.get", integrationId=doc["_id"]))["integration"] == doc


async def test_nul_character_is_refused(admin: RC) -> None:
    assert_error(
        await admin.get("integrations.get", integrationId="a\x00"),
        400,
        "/integrationId must not contain NUL characters [invalid-params]",
        "invalid-params",
    )
