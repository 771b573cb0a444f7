"""`POST integrations.dryRun` (hookhub extension, issue #7): scripts run in a fetch-less sandbox
against a sample, nothing is posted or sent."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from hookhub.hub import Hub
from hookhub.services.integrations.dry_run import (
    DISABLED,
    INTEGRATION_ID_NOT_STRING,
    INVALID_TYPE,
    NO_SCRIPT,
    NOT_AUTHORIZED,
    NOT_FOUND,
    SAMPLE_NOT_OBJECT,
    SCRIPT_NOT_STRING,
    syntax_error_position,
)
from tests.api.test_hooks import count_messages
from tests.api.test_hooks_scripts import create_hook, returning
from tests.api.test_integrations_list import NOT_LOGGED_IN, grant_users
from tests.conftest import RC, assert_error, assert_ok
from tests.e2e.receiver import Receiver

IN = "webhook-incoming"
OUT = "webhook-outgoing"
FORBIDDEN = "User does not have the permissions required for this action [error-unauthorized]"
TIMEOUT = 1.0


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # loopback allowed: a refused fetch is refused by the dry run, not by the egress guard
    return {"egress_allow": ["127.0.0.1/32"], "script_timeout_seconds": TIMEOUT}


async def dry(rc: RC, **body: Any) -> dict[str, Any]:
    return assert_ok(await rc.post("integrations.dryRun", body))


# -- incoming --------------------------------------------------------------------------------------------


async def test_incoming_ok_posts_nothing(hub: Hub, admin: RC) -> None:
    before = await count_messages(hub)
    script = returning("{content: {text: request.content.text + '!', channel: request.url.query.c}}")
    body = await dry(
        admin,
        type=IN,
        script=script,
        request={
            "headers": {"Content-Type": "application/json"},
            "body": {"text": "Hi"},
            "query": {"c": "#x"},
        },
    )
    assert body["status"] == "ok"
    assert body["result"] == {"content": {"text": "Hi!", "channel": "#x"}}
    assert body["error"] is None and body["logs"] == []
    assert body["outcome"]["kind"] == "content"
    assert body["outcome"]["content"] == {"text": "Hi!", "channel": "#x"}
    assert "scriptError" not in body
    assert await count_messages(hub) == before


async def test_incoming_default_sample_and_request_shape(admin: RC) -> None:
    body = await dry(admin, type=IN, script=returning("{content: {text: JSON.stringify(request)}}"))
    request = json.loads(body["result"]["content"]["text"])
    assert request["content"] == request["body"] == {"text": "Hello"}
    assert request["content_raw"] == '{"text": "Hello"}'
    assert request["headers"] == {"content-type": "application/json"}
    assert request["user"]["username"] == "boss"
    assert set(request) == {
        "url",
        "url_raw",
        "url_params",
        "content",
        "content_raw",
        "headers",
        "body",
        "user",
    }


async def test_incoming_outcomes(admin: RC) -> None:
    body = await dry(admin, type=IN, script=returning("null"))
    assert (body["status"], body["outcome"]["kind"]) == ("ok", "nothing")
    body = await dry(admin, type=IN, script=returning("{error: 'nope'}"))
    assert body["outcome"]["kind"] == "error" and body["outcome"]["error"] == "nope"


async def test_runtime_error_and_logs(admin: RC) -> None:
    script = (
        "class Script {\n  process_incoming_request() {\n"
        "    console.log('one', 2);\n    console.warn('careful');\n"
        "    throw new TypeError('bad thing');\n  }\n}\n"
    )
    body = await dry(admin, type=IN, script=script)
    assert body["status"] == "error"
    assert body["error"] == "TypeError: bad thing"
    assert body["result"] is None
    assert body["logs"] == [{"level": "log", "text": "one 2"}, {"level": "warn", "text": "careful"}]
    assert body["outcome"]["kind"] == "error" and body["outcome"]["error"] == "error-running-script"


async def test_timeout(admin: RC) -> None:
    script = "class Script {\n  process_incoming_request() {\n    while (true) {}\n  }\n}\n"
    body = await dry(admin, type=IN, script=script)
    assert body["status"] == "timeout"
    assert body["error"] == f"the script ran longer than {TIMEOUT:g} s and was stopped"


async def test_compile_error_points_into_the_script(hub: Hub, admin: RC) -> None:
    script = "class Script {\n  process_incoming_request() {\n    return {content: {text: 1 +}};\n  }\n}\n"
    body = await dry(admin, type=IN, script=script)
    assert body["status"] == "compile_error"
    assert body["error"] == "SyntaxError: Unexpected token '}'"
    error = body["scriptError"]
    assert (error["name"], error["message"]) == ("SyntaxError", "Unexpected token '}'")
    assert (error["line"], error["column"]) == (3, 32)
    assert body["outcome"]["kind"] == "skip"  # /hooks ignores a script that does not compile


async def test_compile_error_on_the_first_line(admin: RC) -> None:
    body = await dry(admin, type=IN, script="let a = ;")
    assert (body["scriptError"]["line"], body["scriptError"]["column"]) == (1, 9)


async def test_script_that_does_not_load(admin: RC) -> None:
    body = await dry(admin, type=IN, script="let notAScript = 1;")
    assert body["status"] == "compile_error"
    assert body["scriptError"]["line"] is None
    assert body["scriptError"]["name"] == "ReferenceError"
    assert body["scriptError"]["message"] == "Script is not defined"
    assert body["error"] == "ReferenceError: Script is not defined"


async def test_stored_script_via_integration_id(admin: RC) -> None:
    hook = await create_hook(admin, returning("{content: {text: 'stored ' + request.content.text}}"))
    body = await dry(admin, type=IN, integrationId=hook["_id"])
    assert body["status"] == "ok"
    assert body["result"] == {"content": {"text": "stored Hello"}}
    # a script in the body wins over the stored one
    body = await dry(
        admin, type=IN, integrationId=hook["_id"], script=returning("{content: {text: 'given'}}")
    )
    assert body["result"] == {"content": {"text": "given"}}
    # the type must match
    r = await admin.post("integrations.dryRun", {"type": OUT, "integrationId": hook["_id"]})
    assert_error(r, 400, "The integration is not a webhook-outgoing integration.")


async def test_fetch_is_refused(hub: Hub, admin: RC) -> None:
    with Receiver() as receiver:
        url = receiver.url("/probe")
        script = (
            "class Script {\n  async process_incoming_request() {\n"
            f"    try {{ await fetch({url!r}); return {{content: {{text: 'sent'}}}}; }}\n"
            "    catch (e) { return {content: {text: 'refused: ' + e.message}}; }\n  }\n}\n"
        )
        body = await dry(admin, type=IN, script=script)
        assert body["status"] == "ok"
        assert body["result"]["content"]["text"] == "refused: fetch is not available in this server"
        assert receiver.requests == []


@pytest.mark.parametrize("settings_overrides", [{"disable_integration_scripts": "yes"}])
async def test_disabled(admin: RC) -> None:
    body = await dry(admin, type=IN, script=returning("{content: {text: 'x'}}"))
    assert body["status"] == "disabled"
    assert body["result"] is None
    assert body["error"] == DISABLED
    assert (await dry(admin, type=OUT, script="class Script {}"))["status"] == "disabled"
    assert body["outcome"]["kind"] == "skip"


# -- outgoing ---------------------------------------------------------------------------------------------


async def test_outgoing_ok(admin: RC) -> None:
    script = (
        "class Script {\n  prepare_outgoing_request({ request }) {\n"
        "    console.log(request.method);\n"
        "    return {url: request.url, method: 'PUT', data: request.data};\n  }\n}\n"
    )
    body = await dry(admin, type=OUT, script=script)
    assert body["status"] == "ok"
    result = body["result"]
    assert result["method"] == "PUT"
    data = result["data"]
    assert (data["text"], data["user_name"], data["channel_name"], data["bot"]) == (
        "Hello",
        "boss",
        "general",
        False,
    )
    assert body["logs"] == [{"level": "log", "text": "POST"}]
    assert "outcome" not in body
    # the sample's fields win
    body = await dry(
        admin,
        type=OUT,
        script=script,
        request={"text": "deploy", "url": "https://x.invalid/h", "trigger_word": "d"},
    )
    assert body["result"]["url"] == "https://x.invalid/h"
    assert (body["result"]["data"]["text"], body["result"]["data"]["trigger_word"]) == ("deploy", "d")


# -- errors -----------------------------------------------------------------------------------------------


async def test_requires_login(anon: RC) -> None:
    assert_error(await anon.post("integrations.dryRun", {"type": IN, "script": "x"}), 401, NOT_LOGGED_IN)


async def test_permission(hub: Hub, admin: RC, alice: RC) -> None:
    script = returning("{content: {text: 'x'}}")
    r = await alice.post("integrations.dryRun", {"type": IN, "script": script})
    assert_error(r, 403, FORBIDDEN)
    await grant_users(hub, "manage-own-incoming-integrations")
    assert (await dry(alice, type=IN, script=script))["status"] == "ok"
    assert_error(await alice.post("integrations.dryRun", {"type": OUT, "script": script}), 403, FORBIDDEN)
    # someone else's integration: the integrations.get rule
    hook = await create_hook(admin, script)
    r = await alice.post("integrations.dryRun", {"type": IN, "integrationId": hook["_id"]})
    assert_error(r, 400, NOT_AUTHORIZED)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"script": "x"}, INVALID_TYPE),
        ({"type": "webhook-sideways", "script": "x"}, INVALID_TYPE),
        ({"type": IN, "script": 3}, SCRIPT_NOT_STRING),
        ({"type": IN, "script": "x", "request": [1]}, SAMPLE_NOT_OBJECT),
        ({"type": IN, "integrationId": 5}, INTEGRATION_ID_NOT_STRING),
        ({"type": IN}, NO_SCRIPT),
        ({"type": IN, "integrationId": "nope"}, NOT_FOUND),
        (
            {"type": IN, "script": "x", "request": {"headers": {"a": 1}}},
            "request.headers must be an object of strings.",
        ),
    ],
)
async def test_bad_requests(admin: RC, body: dict[str, Any], error: str) -> None:
    assert_error(await admin.post("integrations.dryRun", body), 400, error)


async def test_body_not_an_object(admin: RC, http: httpx.AsyncClient) -> None:
    r = await http.post("/api/v1/integrations.dryRun", json=[1], headers=admin.headers)
    assert_error(r, 400, "The request body must be a JSON object.")


# -- the position of a parse error ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "source", "expected"),
    [
        ("<anonymous>:3: SyntaxError: x\n    a +}\n       ^\n", "a\nb\n    a +}", (3, 8)),
        (
            "<anonymous>:1: SyntaxError: x\nthrow 0;(function(){let a = ;\n" + " " * 28 + "^\n",
            "let a = ;",
            (1, 9),
        ),
        # astral characters are two UTF-16 units in V8's caret
        ("<anonymous>:2: SyntaxError: x\n'😀'; x = ;\n" + " " * 10 + "^\n", "a;\r\n'😀'; x = ;", (2, 10)),
        # past the end: just after the last character
        ("<anonymous>:4: SyntaxError: Unexpected end of input\n})\n  ^\n", "x = `\n\n;", (3, 2)),
        ("<anonymous>:2: SyntaxError: x\n", "a\nb", (2, None)),
        ("something else", "a", (None, None)),
    ],
)
def test_syntax_error_position(text: str, source: str, expected: tuple[int | None, int | None]) -> None:
    assert syntax_error_position(text, source) == expected


async def test_at_most_two_dry_runs_hold_a_sandbox_at_once(
    hub: Hub, admin: RC, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each dry run starts a sandbox of its own: a burst queues for the hub's slots."""
    from hookhub.hub import DRY_RUN_CONCURRENCY
    from hookhub.runtime.sandbox import Sandbox
    from hookhub.services.integrations import dry_run

    alive: list[int] = [0]
    most: list[int] = [0]

    class Counted(Sandbox):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            alive[0] += 1
            most[0] = max(most[0], alive[0])

        async def close(self) -> None:
            alive[0] -= 1
            await super().close()

    monkeypatch.setattr(dry_run, "Sandbox", Counted)
    script = returning("{content: {text: 'x'}}")
    answers = await asyncio.gather(*(dry(admin, type=IN, script=script) for _ in range(6)))
    assert all(a["status"] == "ok" for a in answers)
    assert most[0] == DRY_RUN_CONCURRENCY == 2
    assert alive[0] == 0
