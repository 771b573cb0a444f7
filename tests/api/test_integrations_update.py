"""integrations.update (rest-integrations.md §5, §11.2, §11.4, §11.6, §11.7)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hookhub.hub import Hub
from hookhub.ids import iso, utcnow
from hookhub.store import integrations as store
from tests.api.test_integrations_create import ISO, SCRIPT, give, incoming, outgoing, private_group
from tests.conftest import RC, assert_error, assert_ok

ONE_OF = "must match exactly one schema in oneOf"


async def put(rc: RC, body: Any) -> httpx.Response:
    return await rc.http.put("/api/v1/integrations.update", json=body, headers=rc.headers)


async def create(rc: RC, body: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = assert_ok(await rc.post("integrations.create", body))["integration"]
    return doc


def incoming_update(doc: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "webhook-incoming",
        "integrationId": doc["_id"],
        "name": "Incoming test updated",
        "enabled": True,
        "scriptEnabled": False,
        "channel": "#general",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def outgoing_update(doc: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    body = outgoing(integrationId=doc["_id"], token="the-token", name="Guggy updated")
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


# -- validation and lookup -----------------------------------------------------------------------------


async def test_requires_login(anon: RC) -> None:
    r = await put(anon, {"type": "webhook-incoming"})
    assert_error(r, 401, "You must be logged in to do this.")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "must have required property 'integrationId'\n must have required property 'type'"),
        (
            {"type": "webhook-incoming", "name": "x"},
            "must have required property 'integrationId'\n must have required property 'username'",
        ),
        (
            incoming_update({"_id": "x"}, enabled="true"),
            "must be boolean\n must have required property 'username'",
        ),
        (
            outgoing_update({"_id": "x"}, extra=1),
            'must match pattern "webhook-incoming"\n must NOT have additional properties',
        ),
    ],
)
async def test_invalid_params(admin: RC, body: dict[str, Any], message: str) -> None:
    assert_error(await put(admin, body), 400, f"{message}\n {ONE_OF} [invalid-params]", "invalid-params")


async def test_non_object_body(admin: RC) -> None:
    r = await put(admin, ["webhook-incoming"])
    assert_error(r, 400, f"must be object\n must be object\n {ONE_OF} [invalid-params]", "invalid-params")


async def test_invalid_type(admin: RC) -> None:
    r = await put(admin, incoming_update({"_id": "x"}, type="webhook-incoming-invalid"))
    body = assert_error(r, 400, "Invalid integration type.")
    assert "errorType" not in body


async def test_not_found(admin: RC) -> None:
    assert_error(await put(admin, incoming_update({"_id": "nope"})), 400, "No integration found.")
    assert_error(await put(admin, outgoing_update({"_id": "nope"})), 400, "No integration found.")
    assert_error(
        await put(admin, outgoing_update({"_id": "x"}, integrationId=..., target_url="http://none")),
        400,
        "No integration found.",
    )
    assert_error(
        await put(admin, outgoing_update({"_id": "x"}, integrationId=...)), 400, "No integration found."
    )


# -- incoming --------------------------------------------------------------------------------------------


async def test_incoming_update(hub: Hub, admin: RC, bob: RC) -> None:
    original = await create(admin, incoming(emoji=":ghost:", overrideDestinationChannelEnabled=True))
    r = await put(admin, incoming_update(original, alias="test updated", username="bob", avatar=None))
    doc = assert_ok(r)["integration"]
    assert doc["name"] == "Incoming test updated"
    assert doc["alias"] == "test updated"
    assert doc["emoji"] == ":ghost:"  # omitted: kept
    assert doc["overrideDestinationChannelEnabled"] is True  # omitted: kept
    assert (doc["username"], doc["userId"]) == ("bob", bob.user_id)
    for key in ("_id", "token", "type", "_createdAt", "_createdBy"):
        assert doc[key] == original[key]
    assert doc["_updatedBy"] == {"_id": admin.user_id, "username": "boss"}
    assert ISO.match(doc["_updatedAt"])
    async with hub.tx(write=False) as ctx:
        assert await store.get_integration(ctx.conn, original["_id"]) == doc
    info = assert_ok(await admin.get("users.info", userId=bob.user_id))
    assert "bot" in info["user"]["roles"]


async def test_incoming_update_keeps_post_as_user_when_omitted(admin: RC) -> None:
    original = await create(admin, incoming())
    doc = assert_ok(await put(admin, incoming_update(original, overrideDestinationChannelEnabled=True)))[
        "integration"
    ]
    assert (doc["username"], doc["userId"]) == ("rocket.cat", "rocket.cat")
    assert doc["overrideDestinationChannelEnabled"] is True


@pytest.mark.parametrize(
    ("overrides", "error", "error_type"),
    [
        ({"channel": " "}, "Invalid channel", "error-invalid-channel"),
        (
            {"channel": "general"},
            "Invalid channel. Start with @ or #",
            "error-invalid-channel-start-with-chars",
        ),
        ({"channel": "#nowhere"}, "Invalid room", "error-invalid-room"),
        ({"username": "ghost"}, "Invalid Post As User", "error-invalid-post-as-user"),
    ],
)
async def test_incoming_update_errors(
    admin: RC, overrides: dict[str, Any], error: str, error_type: str
) -> None:
    original = await create(admin, incoming())
    body = assert_error(
        await put(admin, incoming_update(original, **overrides)), 400, f"{error} [{error_type}]", error_type
    )
    assert body["details"] == {"method": "updateIncomingIntegration"}


async def test_incoming_update_script(admin: RC) -> None:
    original = await create(admin, incoming(scriptEnabled=True, script="class {"))
    assert "scriptError" in original
    fixed = assert_ok(await put(admin, incoming_update(original, scriptEnabled=True, script=SCRIPT)))[
        "integration"
    ]
    assert fixed["scriptCompiled"] == SCRIPT and "scriptError" not in fixed
    broken = assert_ok(await put(admin, incoming_update(original, scriptEnabled=True, script="return (")))[
        "integration"
    ]
    assert broken["scriptError"]["name"] == "SyntaxError" and "scriptCompiled" not in broken
    assert broken["script"] == "return ("


async def test_incoming_update_unknown_engine(admin: RC) -> None:
    original = await create(admin, incoming())
    r = await put(admin, incoming_update(original, script="var a;", scriptEngine="vm2"))
    assert_error(r, 400, "[integration-scripts-unknown-engine]", "integration-scripts-unknown-engine")


async def test_incoming_update_without_permission(admin: RC, alice: RC) -> None:
    original = await create(admin, incoming())
    body = assert_error(
        await put(alice, incoming_update(original)), 400, "Unauthorized [not_authorized]", "not_authorized"
    )
    assert body["details"] == {"method": "updateIncomingIntegration"}
    # the channel check comes first
    r = await put(alice, incoming_update(original, channel=" "))
    assert r.json()["errorType"] == "error-invalid-channel"


async def test_incoming_update_own_only(admin: RC, alice: RC) -> None:
    await give(admin, "manage-own-incoming-integrations")
    theirs = await create(admin, incoming())
    mine = await create(alice, incoming())
    assert_ok(await put(alice, incoming_update(mine)))
    assert_error(
        await put(alice, incoming_update(theirs)),
        400,
        "Invalid integration [error-invalid-integration]",
        "error-invalid-integration",
    )
    await private_group(admin)
    r = await put(alice, incoming_update(mine, channel="#secret"))
    assert r.json()["error"] == "Invalid Channel [error-invalid-channel]"


async def test_incoming_update_global_only(admin: RC, alice: RC) -> None:
    await give(admin, "manage-incoming-integrations")
    theirs = await create(admin, incoming())
    doc = assert_ok(await put(alice, incoming_update(theirs)))["integration"]
    assert doc["_createdBy"]["_id"] == admin.user_id
    assert doc["_updatedBy"] == {"_id": alice.user_id, "username": "alice"}
    await private_group(admin)
    r = await put(alice, incoming_update(theirs, channel="#secret"))
    assert r.json()["error"] == "Invalid Channel [error-invalid-channel]"


async def test_incoming_update_both_permissions(admin: RC, alice: RC) -> None:
    await give(admin, "manage-incoming-integrations", "manage-own-incoming-integrations")
    theirs = await create(admin, incoming())
    await private_group(admin)
    doc = assert_ok(await put(alice, incoming_update(theirs, channel="#secret")))["integration"]
    assert doc["channel"] == ["#secret"]


# -- outgoing --------------------------------------------------------------------------------------------


async def test_outgoing_update_by_id_and_url(admin: RC) -> None:
    original = await create(admin, outgoing(token="t0"))
    doc = assert_ok(await put(admin, outgoing_update(original, event="roomJoined", urls=["http://new"])))[
        "integration"
    ]
    assert doc["name"] == "Guggy updated"
    assert doc["event"] == "roomJoined"
    assert doc["token"] == "the-token"
    assert doc["urls"] == ["http://new"]
    assert doc["_createdAt"] == original["_createdAt"]
    assert doc["_updatedBy"] == {"_id": admin.user_id, "username": "boss"}
    by_url = outgoing_update(original, integrationId=..., target_url="http://new", name="via url")
    doc = assert_ok(await put(admin, by_url))["integration"]
    assert doc["_id"] == original["_id"] and doc["name"] == "via url"


async def test_outgoing_update_token_is_mandatory(admin: RC) -> None:
    original = await create(admin, outgoing())
    for token in (..., "  "):
        body = assert_error(
            await put(admin, outgoing_update(original, token=token)),
            400,
            "Invalid token [error-invalid-token]",
            "error-invalid-token",
        )
        assert body["details"] == {"method": "updateOutgoingIntegration"}


async def test_outgoing_update_validation_wins_over_permissions(admin: RC, alice: RC) -> None:
    original = await create(admin, outgoing())
    r = await put(alice, outgoing_update(original, event="bogus"))
    assert r.json()["error"] == "Invalid event type [error-invalid-event-type]"
    r = await put(alice, outgoing_update(original, urls=[" "]))
    assert r.json()["error"] == "Invalid URLs [error-invalid-urls]"


async def test_outgoing_update_without_permission(admin: RC, alice: RC) -> None:
    original = await create(admin, outgoing())
    r = await put(alice, outgoing_update(original))
    body = assert_error(r, 400, "Unauthorized [not_authorized]", "not_authorized")
    assert body["details"] == {"method": "updateOutgoingIntegration"}
    # the token check comes before the permission lookup
    r = await put(alice, outgoing_update(original, token=...))
    assert r.json()["errorType"] == "error-invalid-token"


async def test_outgoing_update_own_only(admin: RC, alice: RC) -> None:
    await give(admin, "manage-own-outgoing-integrations")
    theirs = await create(admin, outgoing())
    mine = await create(alice, outgoing(urls=["http://mine"]))
    assert_ok(await put(alice, outgoing_update(mine)))
    assert_error(
        await put(alice, outgoing_update(theirs)),
        400,
        "[methods] updateOutgoingIntegration -> integration not found [invalid_integration]",
        "invalid_integration",
    )


async def test_outgoing_update_global_only(admin: RC, alice: RC) -> None:
    await give(admin, "manage-outgoing-integrations")
    theirs = await create(admin, outgoing())
    doc = assert_ok(await put(alice, outgoing_update(theirs, event="roomCreated")))["integration"]
    assert doc["channel"] == []
    await private_group(admin)
    r = await put(alice, outgoing_update(theirs, channel="#secret"))
    assert r.json()["error"] == "Invalid Channel [error-invalid-channel]"


async def test_outgoing_update_both_permissions(admin: RC, alice: RC) -> None:
    await give(admin, "manage-outgoing-integrations", "manage-own-outgoing-integrations")
    theirs = await create(admin, outgoing())
    await private_group(admin)
    doc = assert_ok(await put(alice, outgoing_update(theirs, channel="#secret")))["integration"]
    assert doc["channel"] == ["#secret"]


async def test_outgoing_update_script_and_engine(admin: RC) -> None:
    original = await create(admin, outgoing(scriptEnabled=True, script="nope("))
    assert "scriptError" in original
    doc = assert_ok(
        await put(
            admin, outgoing_update(original, scriptEnabled=True, script=SCRIPT, scriptEngine="isolated-vm")
        )
    )["integration"]
    assert doc["scriptCompiled"] == SCRIPT and "scriptError" not in doc
    r = await put(admin, outgoing_update(original, script="var a;", scriptEngine="vm2"))
    assert_error(r, 400, "[integration-scripts-unknown-engine]", "integration-scripts-unknown-engine")
    # turning the script off drops the compiled code
    doc = assert_ok(await put(admin, outgoing_update(original, scriptEnabled=False, script=SCRIPT)))[
        "integration"
    ]
    assert "scriptCompiled" not in doc and doc["scriptEnabled"] is False


async def test_outgoing_update_retry_settings(admin: RC) -> None:
    original = await create(admin, outgoing())
    doc = assert_ok(
        await put(admin, outgoing_update(original, retryFailedCalls=True, retryDelay="INCREMENTS-of-two"))
    )["integration"]
    assert (doc["retryCount"], doc["retryDelay"]) == (4, "increments-of-two")


# -- FREEZE_INTEGRATION_SCRIPTS ------------------------------------------------------------------------


async def _insert_with_script(hub: Hub, admin: RC, kind: str) -> dict[str, Any]:
    """A document saved before the freeze (creating one with a script is refused now)."""
    now = iso(utcnow())
    doc: dict[str, Any] = {
        "_id": f"frozen{kind}",
        "type": f"webhook-{kind}",
        "name": "old",
        "enabled": True,
        "username": "rocket.cat",
        "userId": "rocket.cat",
        "channel": ["#general"],
        "scriptEnabled": True,
        "script": SCRIPT,
        "scriptCompiled": SCRIPT,
        "scriptEngine": "isolated-vm",
        "_createdAt": now,
        "_createdBy": {"_id": admin.user_id, "username": "boss"},
        "_updatedAt": now,
    }
    if kind == "incoming":
        doc.update(token="t" * 48, overrideDestinationChannelEnabled=False)
    else:
        doc.update(event="sendMessage", urls=["http://frozen"], token="tok")
    async with hub.tx() as ctx:
        await store.insert_integration(ctx.conn, doc)
    return doc


class TestFrozenScripts:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"freeze_integration_scripts": "yes"}

    async def test_changing_the_script_is_refused(self, hub: Hub, admin: RC) -> None:
        inc = await _insert_with_script(hub, admin, "incoming")
        out = await _insert_with_script(hub, admin, "outgoing")
        for body in (
            incoming_update(inc, scriptEnabled=True, script="var changed;"),
            outgoing_update(out, scriptEnabled=True, script="var changed;"),
        ):
            assert_error(
                await put(admin, body), 400, "[integration-scripts-disabled]", "integration-scripts-disabled"
            )

    async def test_other_changes_leave_script_fields_alone(self, hub: Hub, admin: RC) -> None:
        inc = await _insert_with_script(hub, admin, "incoming")
        out = await _insert_with_script(hub, admin, "outgoing")
        for body in (
            incoming_update(inc, scriptEnabled=False, script=SCRIPT, name="renamed"),
            outgoing_update(out, scriptEnabled=False, script=SCRIPT, name="renamed"),
        ):
            doc = assert_ok(await put(admin, body))["integration"]
            assert doc["name"] == "renamed"
            assert doc["scriptEnabled"] is True
            assert doc["scriptCompiled"] == SCRIPT
            assert doc["script"] == SCRIPT


async def test_null_clears_a_field(admin: RC) -> None:
    original = await create(admin, incoming(alias="old"))
    doc = assert_ok(await put(admin, incoming_update(original, alias=None)))["integration"]
    assert "alias" not in doc
    assert None not in doc.values()


async def test_outgoing_update_keeps_the_signing_secret(hub: Hub, admin: RC) -> None:
    doc = await create(admin, outgoing(token="t1"))
    updated = assert_ok(await put(admin, outgoing_update(doc, name="renamed")))["integration"]
    assert updated["name"] == "renamed"
    assert updated["signingSecret"] == doc["signingSecret"]


async def test_outgoing_update_gives_an_older_integration_a_signing_secret(hub: Hub, admin: RC) -> None:
    doc = await create(admin, outgoing(token="t1"))
    async with hub.tx() as ctx:
        await store.replace_integration(ctx.conn, {k: v for k, v in doc.items() if k != "signingSecret"})
    updated = assert_ok(await put(admin, outgoing_update(doc)))["integration"]
    assert updated["signingSecret"].startswith("whsec_")
