"""integrations.create (rest-integrations.md §4, §11.1, §11.3, §11.6, §11.7)."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from hookhub.hub import Hub
from hookhub.store import integrations as store
from tests.conftest import RC, assert_error, assert_ok

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
TOKEN = re.compile(r"^[23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz]{48}$")
ONE_OF = "must match exactly one schema in oneOf"


def incoming(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "webhook-incoming",
        "name": "Incoming test",
        "enabled": True,
        "alias": "test",
        "username": "rocket.cat",
        "scriptEnabled": False,
        "channel": "#general",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def outgoing(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "webhook-outgoing",
        "name": "Guggy",
        "enabled": True,
        "username": "rocket.cat",
        "urls": ["http://text2gif.guggy.com/guggify"],
        "scriptEnabled": False,
        "channel": "#general",
        "triggerWords": ["!guggy"],
        "alias": "guggy",
        "avatar": "http://res.guggy.com/logo_128.png",
        "emoji": ":ghost:",
        "event": "sendMessage",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


async def grant(admin: RC, permission: str, roles: list[str]) -> None:
    assert_ok(await admin.post("permissions.update", permissions=[{"_id": permission, "roles": roles}]))


async def give(admin: RC, *permissions: str) -> None:
    """Let plain users (role `user`) hold these permissions too."""
    for permission in permissions:
        await grant(admin, permission, ["admin", "user"])


async def private_group(admin: RC, name: str = "secret") -> str:
    body = assert_ok(await admin.post("groups.create", name=name))
    return str(body["group"]["_id"])


async def stored_count(hub: Hub) -> int:
    async with hub.tx(write=False) as ctx:
        _, total = await store.list_integrations(ctx.conn, where=[])
    return total


# -- authentication and body validation ---------------------------------------------------------------


async def test_requires_login(anon: RC) -> None:
    assert_error(await anon.post("integrations.create", incoming()), 401, "You must be logged in to do this.")


async def test_empty_body(admin: RC) -> None:
    r = await admin.post("integrations.create", {})
    assert_error(
        r,
        400,
        "must have required property 'type'\n must have required property 'type'\n "
        f"{ONE_OF} [invalid-params]",
        "invalid-params",
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            incoming(name=...),
            "must have required property 'name'\n must have required property 'event'",
        ),
        (incoming(name=5), "must be string\n must have required property 'event'"),
        (incoming(enabled="yes"), "must be boolean\n must have required property 'event'"),
        (incoming(channel=None), "must be string\n must have required property 'event'"),
        (incoming(foo=1), "must NOT have additional properties\n must have required property 'event'"),
        (
            incoming(type="something-else"),
            "must match pattern \"webhook-incoming\"\n must have required property 'event'",
        ),
        (outgoing(urls="http://x"), "must NOT have additional properties\n must be array"),
        (outgoing(urls=[""]), "must NOT have additional properties\n must NOT have fewer than 1 characters"),
        (outgoing(triggerWords=[1]), "must NOT have additional properties\n must be string"),
        (outgoing(retryCount="4"), "must NOT have additional properties\n must be number"),
        (outgoing(event=...), "must NOT have additional properties\n must have required property 'event'"),
    ],
)
async def test_invalid_params(admin: RC, body: dict[str, Any], message: str) -> None:
    r = await admin.post("integrations.create", body)
    assert_error(r, 400, f"{message}\n {ONE_OF} [invalid-params]", "invalid-params")


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"42", b"null"])
async def test_body_must_be_an_object(admin: RC, raw: bytes) -> None:
    r = await admin.http.post(
        "/api/v1/integrations.create",
        content=raw,
        headers={**admin.headers, "content-type": "application/json"},
    )
    assert_error(r, 400, f"must be object\n must be object\n {ONE_OF} [invalid-params]", "invalid-params")


async def test_malformed_json(admin: RC) -> None:
    r = await admin.http.post(
        "/api/v1/integrations.create",
        content=b'{"type": ',
        headers={**admin.headers, "content-type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json()["errorType"] == "invalid-params"


@pytest.mark.parametrize("kind", ["webhook-incoming-invalid", "webhook-outgoing-invalid"])
async def test_unanchored_type_passes_validation_then_fails(admin: RC, kind: str) -> None:
    body = incoming(type=kind) if "incoming" in kind else outgoing(type=kind)
    body = assert_error(await admin.post("integrations.create", body), 400, "Invalid integration type.")
    assert "errorType" not in body


async def test_validation_comes_before_permissions(alice: RC) -> None:
    r = await alice.post("integrations.create", incoming(enabled=...))
    assert r.json()["errorType"] == "invalid-params"


# -- incoming: the created document -------------------------------------------------------------------


async def test_incoming_document(hub: Hub, admin: RC, bob: RC) -> None:
    body = assert_ok(
        await admin.post(
            "integrations.create",
            incoming(username="bob", emoji=":ghost:", avatar="http://a/b.png", alias=None),
        )
    )
    doc = body["integration"]
    assert set(doc) == {
        "_id", "type", "name", "enabled", "username", "userId", "emoji", "avatar", "channel", "token",
        "scriptEnabled", "scriptEngine", "overrideDestinationChannelEnabled", "_createdAt", "_createdBy",
        "_updatedAt",
    }  # fmt: skip
    assert doc["type"] == "webhook-incoming"
    assert doc["channel"] == ["#general"]
    assert doc["userId"] == bob.user_id
    assert doc["username"] == "bob"
    assert doc["scriptEngine"] == "isolated-vm"
    assert doc["overrideDestinationChannelEnabled"] is False
    assert TOKEN.match(doc["token"])
    assert len(doc["_id"]) == 17
    assert ISO.match(doc["_createdAt"]) and doc["_updatedAt"] == doc["_createdAt"]
    assert doc["_createdBy"] == {"_id": admin.user_id, "username": "boss"}
    async with hub.tx(write=False) as ctx:
        assert await store.get_integration(ctx.conn, doc["_id"]) == doc
    # the post-as user became a bot
    info = assert_ok(await admin.get("users.info", userId=bob.user_id))
    assert "bot" in info["user"]["roles"]


async def test_incoming_keeps_override_flag_and_channel_list(admin: RC) -> None:
    doc = assert_ok(
        await admin.post(
            "integrations.create",
            incoming(channel=" #general , @rocket.cat,#GENERAL", overrideDestinationChannelEnabled=True),
        )
    )["integration"]
    assert doc["channel"] == ["#general", "@rocket.cat", "#GENERAL"]
    assert doc["overrideDestinationChannelEnabled"] is True


async def test_incoming_tokens_differ(admin: RC) -> None:
    first = assert_ok(await admin.post("integrations.create", incoming()))["integration"]
    second = assert_ok(await admin.post("integrations.create", incoming()))["integration"]
    assert first["token"] != second["token"] and first["_id"] != second["_id"]


# -- incoming: errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "error", "error_type", "details"),
    [
        ({"channel": "  "}, "Invalid channel", "error-invalid-channel", {"method": "addIncomingIntegration"}),
        (
            {"channel": "general"},
            "Invalid channel. Start with @ or #",
            "error-invalid-channel-start-with-chars",
            {"method": "updateIncomingIntegration"},
        ),
        (
            {"channel": "#general,"},
            "Invalid channel. Start with @ or #",
            "error-invalid-channel-start-with-chars",
            {"method": "updateIncomingIntegration"},
        ),
        (
            {"username": " "},
            "Invalid username",
            "error-invalid-username",
            {"method": "addIncomingIntegration"},
        ),
        ({"username": "ghost"}, "Invalid user", "error-invalid-user", {"method": "addIncomingIntegration"}),
        (
            {"username": "Rocket.Cat"},
            "Invalid user",
            "error-invalid-user",
            {"method": "addIncomingIntegration"},
        ),
        ({"channel": "#nowhere"}, "Invalid room", "error-invalid-room", {"method": "addIncomingIntegration"}),
        ({"channel": "@nobody"}, "Invalid room", "error-invalid-room", {"method": "addIncomingIntegration"}),
        (
            {"channel": "#general,#nowhere"},
            "Invalid room",
            "error-invalid-room",
            {"method": "addIncomingIntegration"},
        ),
    ],
)
async def test_incoming_errors(
    hub: Hub, admin: RC, overrides: dict[str, Any], error: str, error_type: str, details: dict[str, str]
) -> None:
    body = assert_error(
        await admin.post("integrations.create", incoming(**overrides)),
        400,
        f"{error} [{error_type}]",
        error_type,
    )
    assert body["details"] == details
    assert await stored_count(hub) == 0


async def test_incoming_unknown_engine_is_a_plain_error(admin: RC) -> None:
    r = await admin.post("integrations.create", incoming(script="var a;", scriptEngine="vm2"))
    assert r.status_code == 400
    assert r.json() == {"success": False, "error": "integration-scripts-unknown-engine"}


async def test_incoming_unknown_engine_without_script_is_stored(admin: RC) -> None:
    doc = assert_ok(await admin.post("integrations.create", incoming(scriptEngine="vm2", scriptEnabled=True)))
    assert doc["integration"]["scriptEngine"] == "vm2"


async def test_failed_create_leaves_no_bot_role(admin: RC, bob: RC) -> None:
    r = await admin.post("integrations.create", incoming(username="bob", channel="#nowhere"))
    assert r.json()["errorType"] == "error-invalid-room"
    info = assert_ok(await admin.get("users.info", userId=bob.user_id))
    assert "bot" not in info["user"]["roles"]


# -- incoming: scripts ---------------------------------------------------------------------------------

SCRIPT = """class Script {
  process_incoming_request({ request }) {
    return { content: { text: request.content.text } };
  }
}
"""


async def test_incoming_script_compiles(admin: RC) -> None:
    doc = assert_ok(await admin.post("integrations.create", incoming(scriptEnabled=True, script=SCRIPT)))[
        "integration"
    ]
    assert doc["script"] == SCRIPT
    assert doc["scriptCompiled"] == SCRIPT
    assert "scriptError" not in doc


async def test_incoming_script_error_is_stored(admin: RC) -> None:
    doc = assert_ok(
        await admin.post("integrations.create", incoming(scriptEnabled=True, script="class Script {"))
    )["integration"]
    assert "scriptCompiled" not in doc
    error = doc["scriptError"]
    assert set(error) == {"name", "message", "stack"}
    assert error["name"] == "SyntaxError"
    assert error["message"]
    assert error["stack"].startswith("SyntaxError")


async def test_disabled_script_is_not_compiled(admin: RC) -> None:
    doc = assert_ok(await admin.post("integrations.create", incoming(scriptEnabled=False, script="{{")))[
        "integration"
    ]
    assert doc["script"] == "{{"
    assert "scriptCompiled" not in doc and "scriptError" not in doc


async def test_huge_script_is_handled(admin: RC) -> None:
    script = "var a = 1;\n" * 200_000  # ~2 MB
    r = await admin.post("integrations.create", incoming(scriptEnabled=True, script=script))
    doc = assert_ok(r)["integration"]
    assert doc["scriptCompiled"] == script


# -- incoming: permission combinations -----------------------------------------------------------------


async def test_incoming_without_permission(hub: Hub, alice: RC) -> None:
    body = assert_error(
        await alice.post("integrations.create", incoming()),
        400,
        "Unauthorized [not_authorized]",
        "not_authorized",
    )
    assert body["details"] == {"method": "addIncomingIntegration"}
    assert await stored_count(hub) == 0


@pytest.mark.parametrize(
    "permissions",
    [("manage-own-incoming-integrations",), ("manage-incoming-integrations",)],
    ids=["own-only", "global-only"],
)
async def test_incoming_single_permission_needs_membership(
    admin: RC, alice: RC, permissions: tuple[str, ...]
) -> None:
    await give(admin, *permissions)
    doc = assert_ok(await alice.post("integrations.create", incoming()))["integration"]
    assert doc["_createdBy"] == {"_id": alice.user_id, "username": "alice"}
    await private_group(admin)
    body = assert_error(
        await alice.post("integrations.create", incoming(channel="#secret")),
        400,
        "Invalid Channel [error-invalid-channel]",
        "error-invalid-channel",
    )
    assert body["details"] == {"method": "addIncomingIntegration"}
    # a user target has no subscription of its own: refused too (Rocket.Chat's quirk)
    r = await alice.post("integrations.create", incoming(channel="@rocket.cat"))
    assert r.json()["error"] == "Invalid Channel [error-invalid-channel]"


async def test_incoming_both_permissions_skip_membership(admin: RC, alice: RC) -> None:
    await give(admin, "manage-own-incoming-integrations", "manage-incoming-integrations")
    group_id = await private_group(admin)
    doc = assert_ok(await alice.post("integrations.create", incoming(channel=f"#secret,#{group_id},@boss")))[
        "integration"
    ]
    assert doc["channel"] == ["#secret", f"#{group_id}", "@boss"]


async def test_outgoing_permission_does_not_allow_incoming(admin: RC, alice: RC) -> None:
    await give(admin, "manage-outgoing-integrations", "manage-own-outgoing-integrations")
    r = await alice.post("integrations.create", incoming())
    assert r.json()["errorType"] == "not_authorized"


# -- outgoing --------------------------------------------------------------------------------------------


async def test_outgoing_document(hub: Hub, admin: RC) -> None:
    doc = assert_ok(await admin.post("integrations.create", outgoing(token="secret-token")))["integration"]
    assert set(doc) == {
        "_id", "type", "name", "enabled", "username", "userId", "alias", "avatar", "emoji", "channel",
        "event", "urls", "triggerWords", "token", "scriptEnabled", "scriptEngine", "_createdAt",
        "_createdBy", "_updatedAt", "signingSecret",
    }  # fmt: skip
    assert doc["type"] == "webhook-outgoing"
    # hookhub's Standard Webhooks secret: whsec_ + base64 of 32 random bytes
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", doc["signingSecret"])
    assert doc["event"] == "sendMessage"
    assert doc["channel"] == ["#general"]
    assert doc["userId"] == "rocket.cat"
    assert doc["token"] == "secret-token"
    assert doc["triggerWords"] == ["!guggy"]
    assert ISO.match(doc["_createdAt"]) and doc["_updatedAt"] == doc["_createdAt"]
    assert doc["_createdBy"] == {"_id": admin.user_id, "username": "boss"}
    async with hub.tx(write=False) as ctx:
        assert await store.get_integration(ctx.conn, doc["_id"]) == doc


async def test_outgoing_cleans_lists_and_applies_defaults(admin: RC) -> None:
    doc = assert_ok(
        await admin.post(
            "integrations.create",
            outgoing(
                urls=["http://a", " ", "http://b"],
                triggerWords=["!a", "  ", "b"],
                runOnEdits=None,
                retryFailedCalls=True,
                retryDelay="Powers-Of-Two",
                retryCount=2.7,
                channel="#general, ,all_public_channels",
            ),
        )
    )["integration"]
    assert doc["urls"] == ["http://a", "http://b"]
    assert doc["triggerWords"] == ["!a", "b"]
    assert doc["runOnEdits"] is False
    assert doc["retryCount"] == 2
    assert doc["retryDelay"] == "powers-of-two"
    assert doc["channel"] == ["#general", "all_public_channels"]


async def test_outgoing_retry_defaults(admin: RC) -> None:
    doc = assert_ok(await admin.post("integrations.create", outgoing(retryFailedCalls=True, retryCount=0)))[
        "integration"
    ]
    assert (doc["retryCount"], doc["retryDelay"]) == (4, "powers-of-ten")
    doc = assert_ok(await admin.post("integrations.create", outgoing(retryFailedCalls=False)))["integration"]
    assert "retryCount" not in doc and "retryDelay" not in doc


async def test_outgoing_trigger_words_only_for_messages(admin: RC) -> None:
    doc = assert_ok(await admin.post("integrations.create", outgoing(event="roomJoined")))["integration"]
    assert "triggerWords" not in doc
    assert doc["event"] == "roomJoined"


async def test_outgoing_room_less_events(admin: RC) -> None:
    doc = assert_ok(await admin.post("integrations.create", outgoing(event="roomCreated")))["integration"]
    assert doc["channel"] == []
    doc = assert_ok(
        await admin.post("integrations.create", outgoing(event="userCreated", targetRoom="#general"))
    )["integration"]
    assert doc["targetRoom"] == "#general" and doc["channel"] == []


@pytest.mark.parametrize(
    ("overrides", "error", "error_type", "details"),
    [
        ({"event": "bogus"}, "Invalid event type", "error-invalid-event-type", "_verifyRequiredFields"),
        ({"event": " "}, "Invalid event type", "error-invalid-event-type", "_verifyRequiredFields"),
        ({"username": ""}, "Invalid username", "error-invalid-username", "_verifyRequiredFields"),
        (
            {"event": "userCreated"},
            "Invalid Target Room",
            "error-invalid-targetRoom",
            "_verifyRequiredFields",
        ),
        ({"urls": ...}, "Invalid URLs", "error-invalid-urls", "_verifyRequiredFields"),
        ({"urls": None}, "Invalid URLs", "error-invalid-urls", "_verifyRequiredFields"),
        ({"urls": [" ", "  "]}, "Invalid URLs", "error-invalid-urls", "_verifyRequiredFields"),
        ({"channel": ""}, "Invalid Channel", "error-invalid-channel", None),
        (
            {"channel": "general"},
            "Invalid channel. Start with @ or #",
            "error-invalid-channel-start-with-chars",
            None,
        ),
        (
            {"username": "ghost"},
            "Invalid user (did you delete the `rocket.cat` user?)",
            "error-invalid-user",
            None,
        ),
        (
            {"channel": "#nowhere"},
            "Invalid room",
            "error-invalid-room",
            "_verifyUserHasPermissionForChannels",
        ),
        ({"channel": "@nobody"}, "Invalid room", "error-invalid-room", "_verifyUserHasPermissionForChannels"),
        # an upper-case keyword passes the prefix check but is no room
        (
            {"channel": "ALL_PUBLIC_CHANNELS"},
            "Invalid room",
            "error-invalid-room",
            "_verifyUserHasPermissionForChannels",
        ),
    ],
)
async def test_outgoing_errors(
    hub: Hub, admin: RC, overrides: dict[str, Any], error: str, error_type: str, details: str | None
) -> None:
    body = assert_error(
        await admin.post("integrations.create", outgoing(**overrides)),
        400,
        f"{error} [{error_type}]",
        error_type,
    )
    expected = "validateOutgoing" + (f".{details}" if details else "")
    assert body["details"] == {"function": expected}
    assert await stored_count(hub) == 0


async def test_outgoing_unknown_engine(admin: RC) -> None:
    r = await admin.post("integrations.create", outgoing(script="var a;", scriptEngine="vm2"))
    assert r.status_code == 400
    assert r.json() == {"success": False, "error": "integration-scripts-unknown-engine"}


async def test_outgoing_script(admin: RC) -> None:
    good = assert_ok(await admin.post("integrations.create", outgoing(scriptEnabled=True, script=SCRIPT)))
    assert good["integration"]["scriptCompiled"] == SCRIPT
    bad = assert_ok(await admin.post("integrations.create", outgoing(scriptEnabled=True, script="return (")))
    assert bad["integration"]["scriptError"]["name"] == "SyntaxError"
    assert "scriptCompiled" not in bad["integration"]


async def test_outgoing_without_permission(hub: Hub, alice: RC) -> None:
    body = assert_error(
        await alice.post("integrations.create", outgoing()), 400, "[not_authorized]", "not_authorized"
    )
    assert "details" not in body
    assert await stored_count(hub) == 0


async def test_outgoing_own_only(admin: RC, alice: RC) -> None:
    await give(admin, "manage-own-outgoing-integrations")
    assert_ok(await alice.post("integrations.create", outgoing(channel="#general,all_public_channels")))
    body = assert_error(
        await alice.post("integrations.create", outgoing(event="roomCreated")),
        400,
        "Invalid permission for required Integration creation. [error-invalid-permissions]",
        "error-invalid-permissions",
    )
    assert body["details"] == {"function": "validateOutgoing"}
    for keyword in ("all_private_groups", "all_direct_messages"):
        body = assert_error(
            await alice.post("integrations.create", outgoing(channel=keyword)),
            400,
            "Invalid Channel [error-invalid-channel]",
            "error-invalid-channel",
        )
        assert body["details"] == {"function": "validateOutgoing._verifyUserHasPermissionForChannels"}
    await private_group(admin)
    r = await alice.post("integrations.create", outgoing(channel="#secret"))
    assert r.json()["error"] == "Invalid Channel [error-invalid-channel]"


async def test_outgoing_global_only(admin: RC, alice: RC) -> None:
    await give(admin, "manage-outgoing-integrations")
    assert_ok(await alice.post("integrations.create", outgoing(event="roomArchived")))
    assert_ok(
        await alice.post("integrations.create", outgoing(channel="all_private_groups,all_direct_messages"))
    )
    await private_group(admin)
    r = await alice.post("integrations.create", outgoing(channel="#secret"))
    assert r.json()["error"] == "Invalid Channel [error-invalid-channel]"


async def test_outgoing_both_permissions_skip_membership(admin: RC, alice: RC) -> None:
    await give(admin, "manage-outgoing-integrations", "manage-own-outgoing-integrations")
    await private_group(admin)
    doc = assert_ok(await alice.post("integrations.create", outgoing(channel="#secret,@boss")))["integration"]
    assert doc["channel"] == ["#secret", "@boss"]
    assert doc["_createdBy"]["_id"] == alice.user_id


# -- FREEZE_INTEGRATION_SCRIPTS ------------------------------------------------------------------------


class TestFrozenScripts:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"freeze_integration_scripts": "TRUE"}

    async def test_script_refused(self, hub: Hub, admin: RC) -> None:
        for body in (incoming(script="var a;"), outgoing(script="var a;")):
            r = await admin.post("integrations.create", body)
            assert r.status_code == 400
            assert r.json() == {"success": False, "error": "integration-scripts-disabled"}
        assert await stored_count(hub) == 0

    async def test_blank_script_is_accepted_and_not_compiled(self, admin: RC) -> None:
        doc = assert_ok(await admin.post("integrations.create", incoming(scriptEnabled=True, script="  ")))[
            "integration"
        ]
        assert "scriptCompiled" not in doc and "scriptError" not in doc


class TestDisabledEngine:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"freeze_integration_scripts": "ivm"}

    async def test_engine_disabled(self, admin: RC) -> None:
        r = await admin.post("integrations.create", incoming(script="var a;"))
        assert r.json() == {"success": False, "error": "integration-scripts-isolated-vm-disabled"}
        # without a script the engine is never consulted
        assert_ok(await admin.post("integrations.create", incoming()))


# -- the sequences Rocket.Chat's own end-to-end suite walks through ------------------------------------


async def _only(admin: RC, **roles: list[str]) -> None:
    for name in (
        "manage-incoming-integrations",
        "manage-own-incoming-integrations",
        "manage-outgoing-integrations",
        "manage-own-outgoing-integrations",
    ):
        await grant(admin, name, roles.get(name.replace("-", "_"), []))


async def test_rocket_chat_incoming_sequence(admin: RC) -> None:
    await _only(admin)
    r = await admin.post("integrations.create", incoming(overrideDestinationChannelEnabled=True))
    assert r.status_code == 400 and r.json()["errorType"] == "not_authorized"
    await _only(admin, manage_own_incoming_integrations=["admin"])
    doc = await _create_ok(admin, incoming(overrideDestinationChannelEnabled=False))
    assert doc["overrideDestinationChannelEnabled"] is False
    await _only(admin, manage_incoming_integrations=["admin"])
    await _create_ok(admin, incoming())


async def test_rocket_chat_outgoing_sequence(admin: RC, alice: RC) -> None:
    await _only(admin, manage_outgoing_integrations=["user"])
    by_user = await _create_ok(alice, outgoing())
    assert by_user["_createdBy"]["username"] == "alice"
    await _only(admin)
    r = await admin.post("integrations.create", outgoing())
    assert r.status_code == 400 and r.json()["errorType"] == "not_authorized"
    await _only(admin, manage_own_outgoing_integrations=["admin"])
    doc = await _create_ok(admin, outgoing())
    assert (doc["name"], doc["type"], doc["enabled"], doc["username"], doc["event"]) == (
        "Guggy",
        "webhook-outgoing",
        True,
        "rocket.cat",
        "sendMessage",
    )


async def _create_ok(rc: RC, body: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = assert_ok(await rc.post("integrations.create", body))["integration"]
    return doc


async def test_empty_engine_name_is_an_unknown_engine(admin: RC) -> None:
    # JavaScript's `??`: an empty string is a (bad) engine name, not "use the default"
    r = await admin.post("integrations.create", incoming(script="var a;", scriptEngine=""))
    assert r.json() == {"success": False, "error": "integration-scripts-unknown-engine"}
    doc = await _create_ok(admin, incoming(scriptEngine=None, script=None))
    assert doc["scriptEngine"] == "isolated-vm" and "script" not in doc


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"NaN", "must be number"),
        (b"Infinity", "must be number"),
        (b"1e400", "must be number"),
        (b"100000000000000000000000000000", "must be <= 2147483647"),
        (b"-3000000000", "must be >= -2147483648"),
    ],
)
async def test_numbers_beyond_range(hub: Hub, admin: RC, raw: bytes, message: str) -> None:
    text = orjson.dumps(outgoing(retryFailedCalls=True)).decode()
    body = text[:-1].encode() + b', "retryCount": ' + raw + b"}"
    r = await admin.http.post(
        "/api/v1/integrations.create",
        content=body,
        headers={**admin.headers, "content-type": "application/json"},
    )
    assert_error(
        r,
        400,
        f"must NOT have additional properties\n {message}\n {ONE_OF} [invalid-params]",
        "invalid-params",
    )
    assert await stored_count(hub) == 0


async def test_file_uploaded_is_accepted_with_a_warning(admin: RC) -> None:
    """hookhub has no uploads: the integration is stored (clients create them) and the answer
    says it never fires; other events carry no warning."""
    r = await admin.post("integrations.create", outgoing(event="fileUploaded", triggerWords=...))
    body = assert_ok(r)
    assert body["integration"]["event"] == "fileUploaded"
    assert body["warning"] == (
        "hookhub has no file uploads: a fileUploaded integration is stored but never fires"
    )
    assert "warning" not in assert_ok(await admin.post("integrations.create", outgoing()))
