"""`/hooks` with integration scripts (webhook-runtime.md §2.4 step 5, §2.6, §4) through the in-process
app. Integrations are created through `integrations.create`, so the scripts are compiled and stored
the way a real client's would be."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest

from hookhub.hub import Hub
from hookhub.runtime.incoming import parse_query
from tests.api.test_hooks import count_messages, room_messages, room_texts
from tests.conftest import RC, assert_error, assert_ok

RUNNING = "error-running-script"


async def create_hook(admin: RC, script: str | None = None, **fields: Any) -> dict[str, Any]:
    """An enabled incoming integration posting as rocket.cat to #general."""
    body: dict[str, Any] = {
        "type": "webhook-incoming",
        "name": "scripted",
        "enabled": True,
        "username": "rocket.cat",
        "channel": "#general",
        "scriptEnabled": script is not None,
        **fields,
    }
    if script is not None:
        body["script"] = script
    integration: dict[str, Any] = assert_ok(await admin.post("integrations.create", body))["integration"]
    return integration


def url_of(hook: dict[str, Any]) -> str:
    return f"/hooks/{hook['_id']}/{hook['token']}"


def returning(expression: str) -> str:
    """A script whose process_incoming_request returns `expression` (with `request` in scope)."""
    return (
        f"class Script {{\n  process_incoming_request({{ request }}) {{\n    return {expression};\n  }}\n}}\n"
    )


async def update_hook(admin: RC, hook: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {
        "type": "webhook-incoming",
        "integrationId": hook["_id"],
        "name": hook["name"],
        "enabled": hook["enabled"],
        "username": hook["username"],
        "channel": "#general",
        "scriptEnabled": hook["scriptEnabled"],
        "script": hook.get("script", ""),
        **fields,
    }
    r = await admin.http.put("/api/v1/integrations.update", json=body, headers=admin.headers)
    updated: dict[str, Any] = assert_ok(r)["integration"]
    return updated


# -- return shapes (§2.6) -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["undefined", "null", "false", "0", '""'])
async def test_falsy_result_posts_nothing(hub: Hub, http: httpx.AsyncClient, admin: RC, value: str) -> None:
    hook = await create_hook(admin, returning(value))
    r = await http.post(url_of(hook), json={"text": "hello"})
    assert r.status_code == 200 and r.json() == {"success": True}
    assert await count_messages(hub) == 0


async def test_script_without_the_method_swallows_everything(
    hub: Hub, http: httpx.AsyncClient, admin: RC
) -> None:
    hook = await create_hook(admin, "class Script {}")
    r = await http.post(url_of(hook), json={"text": "hello"})
    assert r.status_code == 200 and r.json() == {"success": True}
    assert await count_messages(hub) == 0


async def test_error_string(hub: Hub, http: httpx.AsyncClient, admin: RC) -> None:
    hook = await create_hook(admin, returning('{ error: "nope: " + request.content.why }'))
    r = await http.post(url_of(hook), json={"why": "quiet hours"})
    assert r.status_code == 400 and r.json() == {"success": False, "error": "nope: quiet hours"}
    assert await count_messages(hub) == 0


async def test_error_object_is_merged(hub: Hub, http: httpx.AsyncClient, admin: RC) -> None:
    hook = await create_hook(admin, returning('{ error: { message: "bad event", code: 7, success: true } }'))
    r = await http.post(url_of(hook), json={"text": "x"})
    assert r.status_code == 400
    assert r.json() == {"message": "bad event", "code": 7, "success": False}
    assert await count_messages(hub) == 0


async def test_content_replaces_the_body(hub: Hub, http: httpx.AsyncClient, admin: RC) -> None:
    script = returning(
        '{ content: { text: "build " + request.content.build + " " + request.content.state } }'
    )
    hook = await create_hook(admin, script)
    assert assert_ok(await http.post(url_of(hook), json={"build": 42, "state": "failed"})) == {
        "success": True
    }
    [message] = await room_messages(admin, "GENERAL")
    assert message["msg"] == "build 42 failed"
    assert message["u"]["username"] == "rocket.cat"
    assert message["bot"] == {"i": hook["_id"]}


async def test_async_script(http: httpx.AsyncClient, admin: RC) -> None:
    script = (
        "class Script {\n"
        "  async process_incoming_request({ request }) {\n"
        "    const text = await Promise.resolve('later ' + request.content.n);\n"
        "    return { content: { text } };\n"
        "  }\n"
        "}\n"
    )
    hook = await create_hook(admin, script)
    assert_ok(await http.post(url_of(hook), json={"n": 1}))
    assert await room_texts(admin, "GENERAL") == ["later 1"]


async def test_content_with_response(hub: Hub, http: httpx.AsyncClient, admin: RC) -> None:
    hook = await create_hook(
        admin, returning('{ content: { text: "hi" }, response: { ok: "yes", success: false, n: [1] } }')
    )
    r = await http.post(url_of(hook), json={"text": "ignored"})
    assert r.status_code == 200 and r.json() == {"ok": "yes", "n": [1], "success": True}
    assert await room_texts(admin, "GENERAL") == ["hi"]


async def test_response_only_on_success(hub: Hub, http: httpx.AsyncClient, admin: RC) -> None:
    hook = await create_hook(
        admin,
        returning('{ content: { text: "hi", channel: "#nowhere" }, response: { ok: 1 } }'),
        overrideDestinationChannelEnabled=True,
    )
    assert_error(await http.post(url_of(hook), json={}), 400, "invalid-channel")
    assert await count_messages(hub) == 0


async def test_content_with_an_existing_user(http: httpx.AsyncClient, admin: RC, alice: RC) -> None:
    script = returning(
        '{ content: { text: "as " + request.content.who }, user: { username: request.content.who } }'
    )
    hook = await create_hook(admin, script)
    assert_ok(await http.post(url_of(hook), json={"who": "alice"}))
    [message] = await room_messages(admin, "GENERAL")
    assert message["msg"] == "as alice"
    assert message["u"]["_id"] == alice.user_id and message["u"]["username"] == "alice"
    # by _id as well (a user object as Rocket.Chat scripts build it)
    script_by_id = returning(
        f'{{ content: {{ text: "by id" }}, user: {{ _id: "{alice.user_id}", username: "x" }} }}'
    )
    hook2 = await create_hook(admin, script_by_id, name="by-id")
    assert_ok(await http.post(url_of(hook2), json={}))
    by_id = [m for m in await room_messages(admin, "GENERAL") if m["msg"] == "by id"]
    assert [m["u"]["username"] for m in by_id] == ["alice"]


async def test_content_with_an_unknown_user(hub: Hub, http: httpx.AsyncClient, admin: RC) -> None:
    hook = await create_hook(
        admin, returning('{ content: { text: "ghost" }, user: { _id: "nobody", username: "nobody" } }')
    )
    assert_error(await http.post(url_of(hook), json={}), 400, "error-invalid-user")
    assert await count_messages(hub) == 0


@pytest.mark.parametrize(
    "expression",
    ['{ content: "text" }', "{ content: [1, 2] }", "{ content: null }", "{ response: { a: 1 } }", "42"],
)
async def test_unusable_content(hub: Hub, http: httpx.AsyncClient, admin: RC, expression: str) -> None:
    hook = await create_hook(admin, returning(expression))
    assert_error(await http.post(url_of(hook), json={"text": "x"}), 400, RUNNING)
    assert await count_messages(hub) == 0


async def test_script_that_throws(
    hub: Hub, http: httpx.AsyncClient, admin: RC, caplog: pytest.LogCaptureFixture
) -> None:
    script = (
        "class Script {\n"
        "  process_incoming_request({ request }) {\n"
        "    console.log('looking at', request.content.secret_field);\n"
        "    throw new TypeError('kaput');\n"
        "  }\n"
        "}\n"
    )
    hook = await create_hook(admin, script)
    caplog.set_level("DEBUG", logger="hookhub.runtime.incoming")
    assert_error(await http.post(url_of(hook), json={"secret_field": "s3cr3t"}), 400, RUNNING)
    assert await count_messages(hub) == 0
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    text = warnings[0].getMessage()
    assert hook["_id"] in text and "TypeError: kaput" in text
    assert hook["token"] not in caplog.text
    assert "s3cr3t" not in text  # the body never goes into the warning
    console = [r.getMessage() for r in caplog.records if r.levelname == "DEBUG"]
    assert any("console.log: looking at s3cr3t" in line for line in console), console


async def test_script_that_cannot_be_evaluated(hub: Hub, http: httpx.AsyncClient, admin: RC) -> None:
    hook = await create_hook(admin, "class Script { constructor() { throw new Error('no'); } }")
    assert_error(await http.post(url_of(hook), json={"text": "x"}), 400, "error-evaluating-script")
    assert await count_messages(hub) == 0


async def test_syntax_error_at_save_means_no_script(hub: Hub, http: httpx.AsyncClient, admin: RC) -> None:
    hook = await create_hook(admin, "class Script { process_incoming_request( {")
    assert hook["scriptError"]["name"] == "SyntaxError"
    assert "scriptCompiled" not in hook
    assert_ok(await http.post(url_of(hook), json={"text": "as sent"}))
    assert await room_texts(admin, "GENERAL") == ["as sent"]


async def test_script_enabled_without_a_script_posts_the_body(http: httpx.AsyncClient, admin: RC) -> None:
    # Rocket.Chat's own e2e suite updates a hook to scriptEnabled: true with no script and posts
    hook = await create_hook(admin, None, scriptEnabled=True)
    assert_ok(await http.post(url_of(hook), json={"text": "plain"}))
    assert await room_texts(admin, "GENERAL") == ["plain"]


class TestScriptsDisabled:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"disable_integration_scripts": "true"}

    async def test_body_is_used_as_is(self, hub: Hub, http: httpx.AsyncClient, admin: RC) -> None:
        hook = await create_hook(admin, returning('{ error: "the script ran" }'))
        assert "scriptCompiled" in hook
        assert_ok(await http.post(url_of(hook), json={"text": "no script"}))
        assert await room_texts(admin, "GENERAL") == ["no script"]


# -- the request object (§2.6) --------------------------------------------------------------------------


async def test_request_object(http: httpx.AsyncClient, admin: RC) -> None:
    hook = await create_hook(admin, returning("{ content: { text: JSON.stringify(request) } }"))
    legacy = f"/hooks/{hook['_id']}/rocket.cat/{hook['token']}"
    raw = b'{"event": "push", "n": 1, "nested": {"a": [1, 2]}, "bad": "\xff"}'
    raw = raw.replace(b'"\xff"', b'"ok"') + b"   "
    r = await http.post(
        f"{legacy}?a=1&b[c]=2&b[d][e]=3&list=x&list=y&arr[]=p&arr[]=q&empty=",
        content=raw,
        headers={"content-type": "application/json", "X-GitHub-Event": "push", "X-Dup": "one"},
    )
    assert_ok(r)
    [message] = await room_messages(admin, "GENERAL")
    request = json.loads(message["msg"])
    query = "a=1&b[c]=2&b[d][e]=3&list=x&list=y&arr[]=p&arr[]=q&empty="
    full = f"http://testserver{legacy}?{query}"
    body = {"event": "push", "n": 1, "nested": {"a": [1, 2]}, "bad": "ok"}
    assert request["url"] == {
        "hash": "",
        "search": f"?{query}",
        "query": {
            "a": "1",
            "b": {"c": "2", "d": {"e": "3"}},
            "list": ["x", "y"],
            "arr": ["p", "q"],
            "empty": "",
        },
        "pathname": legacy,
        "path": full,
    }
    assert request["url_raw"] == full
    assert request["url_params"] == {
        "integrationId": hook["_id"],
        "userId": "rocket.cat",
        "token": hook["token"],
    }
    assert request["content"] == body and request["body"] == body
    assert request["content_raw"] == raw.decode()
    headers = request["headers"]
    assert headers["x-github-event"] == "push" and headers["x-dup"] == "one"
    assert headers["content-type"] == "application/json"
    assert headers["host"] == "testserver"
    assert all(k == k.lower() and isinstance(v, str) for k, v in headers.items())
    assert request["user"] == {"_id": "rocket.cat", "name": "Rocket.Cat", "username": "rocket.cat"}


async def test_request_object_canonical_route_and_form_body(http: httpx.AsyncClient, admin: RC) -> None:
    hook = await create_hook(admin, returning("{ content: { text: JSON.stringify(request) } }"))
    raw = b"payload=" + b"%7B%22text%22%3A%22hi%22%7D"
    assert_ok(
        await http.post(
            url_of(hook), content=raw, headers={"content-type": "application/x-www-form-urlencoded"}
        )
    )
    [message] = await room_messages(admin, "GENERAL")
    request = json.loads(message["msg"])
    assert request["url"]["search"] == "" and request["url"]["query"] == {}
    assert request["url"]["path"] == f"http://testserver{url_of(hook)}"
    assert request["url_params"] == {"integrationId": hook["_id"], "token": hook["token"]}
    assert request["content"] == {"text": "hi"}  # after payload unwrapping
    assert request["content_raw"] == raw.decode()


async def test_invalid_utf8_body_is_replaced_in_content_raw(http: httpx.AsyncClient, admin: RC) -> None:
    hook = await create_hook(admin, returning("{ content: { text: request.content_raw } }"))
    assert_ok(await http.post(url_of(hook), content=b"ab\xffcd", headers={"content-type": "text/plain"}))
    assert await room_texts(admin, "GENERAL") == ["ab\ufffdcd"]


def test_parse_query_follows_qs() -> None:
    assert parse_query("") == {}
    assert parse_query("a=1&a=2&a=3") == {"a": ["1", "2", "3"]}
    assert parse_query("a[1]=y&a[0]=x") == {"a": ["x", "y"]}
    assert parse_query("a[b][c]=1&a[b][d]=2&x=%20y") == {"a": {"b": {"c": "1", "d": "2"}}, "x": " y"}
    assert parse_query("a[]=1&a[]=2&b=") == {"a": ["1", "2"], "b": ""}
    assert parse_query("a=1&a[b]=2") == {"a": {"0": "1", "b": "2"}}
    deep = parse_query("a[b][c][d][e][f][g][h]=1")
    assert deep == {"a": {"b": {"c": {"d": {"e": {"f": {"[g][h]": "1"}}}}}}}
    assert parse_query("[x]=1&=2") == {"[x]": "1"}


# -- when the stage runs --------------------------------------------------------------------------------


async def test_get_never_runs_the_script(hub: Hub, http: httpx.AsyncClient, admin: RC) -> None:
    hook = await create_hook(admin, returning('{ error: "the script ran" }'))
    r = await http.get(url_of(hook), params={"text": "hi"})
    # No script and no body; scriptEnabled lets the empty body through to posting (§2.4 step 6,
    # the asymmetry the upstream spec records): an empty message, never the query's text.
    assert r.status_code == 200 and r.json() == {"success": True}
    assert [m["msg"] for m in await room_messages(admin, "GENERAL")] == [""]
    r = await http.post(url_of(hook), json={})
    assert_error(r, 400, "the script ran")  # an empty POST body does run it


async def test_bad_form_payload_fails_before_the_script(hub: Hub, http: httpx.AsyncClient, admin: RC) -> None:
    hook = await create_hook(admin, returning('{ error: "the script ran" }'))
    r = await http.post(
        url_of(hook), content=b"payload=[1]", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert_error(r, 400, "Integration payload must be a JSON object, not an array or primitive")


async def test_override_guard_applies_to_script_content(hub: Hub, http: httpx.AsyncClient, admin: RC) -> None:
    hook = await create_hook(admin, returning('{ content: { text: "x", channel: "#general" } }'))
    assert_error(
        await http.post(url_of(hook), json={}),
        400,
        "overriding destination channel is disabled for this integration",
    )
    assert await count_messages(hub) == 0


# -- separateResponse ---------------------------------------------------------------------------------


async def test_separate_response_from_the_caller(http: httpx.AsyncClient, admin: RC) -> None:
    hook = await create_hook(admin, returning('{ content: { text: "copied" } }'))
    body = assert_ok(await http.post(url_of(hook), json={"separateResponse": True}))
    [item] = body["responses"]
    assert item["channel"] == "#general" and item["message"]["msg"] == "copied"


async def test_separate_response_from_the_script(http: httpx.AsyncClient, admin: RC) -> None:
    hook = await create_hook(
        admin, returning('{ content: { text: "own", separateResponse: request.content.want } }')
    )
    body = assert_ok(await http.post(url_of(hook), json={"want": True}))
    assert [r["message"]["msg"] for r in body["responses"]] == ["own"]
    # the script's false beats the caller's true
    r = await http.post(url_of(hook), json={"want": False, "separateResponse": True})
    assert r.status_code == 200 and r.json() == {"success": True}


async def test_response_beats_separate_response(http: httpx.AsyncClient, admin: RC) -> None:
    hook = await create_hook(admin, returning('{ content: { text: "r" }, response: { custom: true } }'))
    r = await http.post(url_of(hook), json={"separateResponse": True})
    assert r.status_code == 200 and r.json() == {"custom": True, "success": True}


# -- idempotency, rate limit, transactions -------------------------------------------------------------

COUNTING = (
    "class Script {\n"
    "  process_incoming_request({ request }) {\n"
    "    const n = (Store.get('n') || 0) + 1;\n"
    "    Store.set('n', n);\n"
    "    return { content: { text: 'run ' + n } };\n"
    "  }\n"
    "}\n"
)


async def test_idempotency_replay_does_not_run_the_script(
    hub: Hub, http: httpx.AsyncClient, admin: RC
) -> None:
    hook = await create_hook(admin, COUNTING)
    headers = {"Idempotency-Key": "k-1"}
    first = await http.post(url_of(hook), json={}, headers=headers)
    assert_ok(first)
    again = await http.post(url_of(hook), json={}, headers=headers)
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert_ok(await http.post(url_of(hook), json={}))
    assert await room_texts(admin, "GENERAL") == ["run 2", "run 1"]


async def test_script_call_counts_once_in_the_rate_limiter(http: httpx.AsyncClient, admin: RC) -> None:
    hook = await create_hook(admin, COUNTING)
    first = await http.post(url_of(hook), json={})
    second = await http.post(url_of(hook), json={})
    assert int(first.headers["x-ratelimit-remaining"]) - int(second.headers["x-ratelimit-remaining"]) == 1


SLOW = (
    "class Script {\n"
    "  process_incoming_request({ request }) {\n"
    "    const end = Date.now() + request.content.ms;\n"
    "    while (Date.now() < end) {}\n"
    "    return { content: { text: request.content.text } };\n"
    "  }\n"
    "}\n"
)


async def test_script_runs_outside_the_transaction(hub: Hub, http: httpx.AsyncClient, admin: RC) -> None:
    hook = await create_hook(admin, SLOW)
    assert_ok(await http.post(url_of(hook), json={"ms": 1, "text": "warm"}))  # loads the isolate
    slow = asyncio.create_task(http.post(url_of(hook), json={"ms": 2000, "text": "slow"}))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    assert_ok(await admin.post("chat.postMessage", channel="#general", text="meanwhile"))
    elapsed = time.monotonic() - started
    assert not slow.done()
    assert elapsed < 1.5, elapsed
    assert_ok(await slow)
    assert await room_texts(admin, "GENERAL") == ["slow", "meanwhile", "warm"]


async def test_integration_disabled_while_the_script_runs(
    hub: Hub, http: httpx.AsyncClient, admin: RC
) -> None:
    hook = await create_hook(admin, SLOW)
    slow = asyncio.create_task(http.post(url_of(hook), json={"ms": 2000, "text": "late"}))
    await asyncio.sleep(0.3)
    await update_hook(admin, hook, enabled=False)
    assert not slow.done()
    r = await slow
    assert r.status_code == 503 and r.json() == {"success": False, "error": "Service Unavailable"}
    assert await count_messages(hub) == 0


async def test_script_changed_while_it_runs_runs_the_new_one(
    hub: Hub, http: httpx.AsyncClient, admin: RC
) -> None:
    hook = await create_hook(admin, SLOW)
    slow = asyncio.create_task(http.post(url_of(hook), json={"ms": 2000, "text": "old"}))
    await asyncio.sleep(0.3)
    await update_hook(admin, hook, script=returning('{ content: { text: "new " + request.content.text } }'))
    assert_ok(await slow)
    assert await room_texts(admin, "GENERAL") == ["new old"]


async def test_script_switched_off_while_it_runs_posts_the_body(
    hub: Hub, http: httpx.AsyncClient, admin: RC
) -> None:
    hook = await create_hook(admin, SLOW)
    slow = asyncio.create_task(http.post(url_of(hook), json={"ms": 2000, "text": "raw body"}))
    await asyncio.sleep(0.3)
    await update_hook(admin, hook, scriptEnabled=False)
    assert_ok(await slow)
    assert await room_texts(admin, "GENERAL") == ["raw body"]


# -- limits -------------------------------------------------------------------------------------------

RUNAWAY = (
    "class Script {\n"
    "  process_incoming_request({ request }) {\n"
    "    if (request.content.loop) { while (true) {} }\n"
    "    if (request.content.grow) {\n"
    "      const a = [];\n"
    "      while (true) { a.push(new Array(100000).fill(a.length)); }\n"
    "    }\n"
    "    return { content: { text: request.content.text } };\n"
    "  }\n"
    "}\n"
)


class TestLimits:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"script_timeout_seconds": 1, "script_memory_mb": 16}

    async def test_endless_loop(self, hub: Hub, http: httpx.AsyncClient, admin: RC) -> None:
        hook = await create_hook(admin, RUNAWAY)
        started = time.monotonic()
        assert_error(await http.post(url_of(hook), json={"loop": True}), 400, RUNNING)
        assert time.monotonic() - started < 2.5
        assert_ok(await http.post(url_of(hook), json={"text": "after the loop"}))
        assert await room_texts(admin, "GENERAL") == ["after the loop"]

    async def test_unbounded_allocation(self, hub: Hub, http: httpx.AsyncClient, admin: RC) -> None:
        hook = await create_hook(admin, RUNAWAY)
        started = time.monotonic()
        assert_error(await http.post(url_of(hook), json={"grow": True}), 400, RUNNING)
        assert time.monotonic() - started < 2.5
        assert_ok(await http.post(url_of(hook), json={"text": "after the allocation"}))
        assert await room_texts(admin, "GENERAL") == ["after the allocation"]


# -- the hub's sandbox ------------------------------------------------------------------------------


async def test_sandbox_is_created_on_first_script_and_closed_with_the_hub(
    hub: Hub, http: httpx.AsyncClient, admin: RC
) -> None:
    plain = await create_hook(admin)
    assert_ok(await http.post(url_of(plain), json={"text": "no script"}))
    assert hub._sandbox is None  # hooks without a script never start V8 or its threads
    hook = await create_hook(admin, returning('{ content: { text: "scripted" } }'), name="with script")
    assert_ok(await http.post(url_of(hook), json={}))
    sandbox = hub.sandbox
    assert hub.sandbox is sandbox and sandbox.loaded == 1
    await hub.close()
    assert hub._sandbox is None
    with pytest.raises(RuntimeError, match="closed"):
        await sandbox.call(hook, "process_incoming_request", {})
