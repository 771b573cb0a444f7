"""The integration script sandbox (runtime/sandbox.py): the incoming contract, the shim, the limits."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hookhub.config import Settings
from hookhub.hub import Hub
from hookhub.runtime.egress import EgressClient, EgressResponse
from hookhub.runtime.sandbox import (
    FETCH_MAX_PER_CALL,
    FETCH_MAX_REQUEST_BYTES,
    LOG_MAX_ENTRIES,
    LOG_MAX_TEXT,
    RESULT_MAX_CHARS,
    IncomingScriptResult,
    Sandbox,
    ScriptFetch,
    ScriptOutcome,
    process_incoming_request,
)
from tests.conftest import make_settings

TIMEOUT = 1.0


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": tmp_path, "script_timeout_seconds": TIMEOUT, "script_workers": 2}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    box = Sandbox(settings_for(tmp_path))
    yield box
    await box.close()


_counter = 0


def integration(script: str, *, updated: str = "2026-01-01T00:00:00.000Z", **extra: Any) -> dict[str, Any]:
    global _counter
    _counter += 1
    doc: dict[str, Any] = {
        "_id": f"integration-{_counter}",
        "_updatedAt": updated,
        "scriptEnabled": True,
        "script": script,
        "scriptCompiled": script,
    }
    doc.update(extra)
    return doc


def incoming(body: str) -> str:
    """A Script whose process_incoming_request runs `body` (with `request` in scope)."""
    return f"class Script {{\n  process_incoming_request({{ request }}) {{\n{body}\n  }}\n}}\n"


REQUEST: dict[str, Any] = {
    "url": {
        "hash": "",
        "search": "?a=1",
        "query": {"a": "1"},
        "pathname": "/hooks/x/y",
        "path": "/hooks/x/y?a=1",
    },
    "url_raw": "/hooks/x/y?a=1",
    "url_params": {"integrationId": "x", "token": "y"},
    "content": {"text": "hello"},
    "content_raw": '{"text":"hello"}',
    "headers": {"content-type": "application/json"},
    "body": {"text": "hello"},
    "user": {"_id": "u1", "name": "", "username": "bot"},
}


async def run_incoming(sandbox: Sandbox, body: str) -> IncomingScriptResult:
    return await process_incoming_request(sandbox, integration(incoming(body)), REQUEST)


# ---- the return shapes of process_incoming_request (webhook-runtime.md §2.6) ----------------


@pytest.mark.parametrize("value", ["undefined", "null", "false", "0", "''", "NaN"])
async def test_falsy_return_is_nothing(sandbox: Sandbox, value: str) -> None:
    result = await run_incoming(sandbox, f"return {value};")
    assert result.kind == "nothing"
    assert result.outcome is not None and result.outcome.status == "ok"


async def test_error_string(sandbox: Sandbox) -> None:
    result = await run_incoming(sandbox, "return { error: 'nope' };")
    assert (result.kind, result.error) == ("error", "nope")


async def test_error_object(sandbox: Sandbox) -> None:
    result = await run_incoming(sandbox, "return { error: { success: false, message: 'bad input' } };")
    assert (result.kind, result.error) == ("error", {"success": False, "message": "bad input"})


async def test_falsy_error_is_ignored_for_content(sandbox: Sandbox) -> None:
    result = await run_incoming(sandbox, "return { error: '', content: { text: 'ok' } };")
    assert (result.kind, result.content) == ("content", {"text": "ok"})


async def test_content_built_from_the_request(sandbox: Sandbox) -> None:
    result = await run_incoming(
        sandbox,
        "return { content: { text: request.content.text + ' ' + request.url.query.a"
        " + ' ' + request.headers['content-type'] + ' ' + request.user.username } };",
    )
    assert result.kind == "content"
    assert result.content == {"text": "hello 1 application/json bot"}
    assert (result.response, result.user) == (None, None)


async def test_content_with_response(sandbox: Sandbox) -> None:
    result = await run_incoming(sandbox, "return { content: { text: 'a' }, response: { id: 7, ok: 'yes' } };")
    assert result.kind == "content"
    assert result.response == {"id": 7, "ok": "yes"}


async def test_content_with_user(sandbox: Sandbox) -> None:
    result = await run_incoming(
        sandbox, "return { content: { text: 'a' }, user: { _id: 'u2', username: 'someone' } };"
    )
    assert result.kind == "content"
    assert result.user == {"_id": "u2", "username": "someone"}


async def test_non_object_response_and_user_are_dropped(sandbox: Sandbox) -> None:
    result = await run_incoming(sandbox, "return { content: { text: 'a' }, response: 'x', user: 5 };")
    assert (result.kind, result.response, result.user) == ("content", None, None)


@pytest.mark.parametrize(
    "returned",
    ["{ content: 'text' }", "{ content: null }", "{}", "{ content: [1, 2] }", "'just a string'", "42"],
)
async def test_unusable_content_is_error_running_script(sandbox: Sandbox, returned: str) -> None:
    result = await run_incoming(sandbox, f"return {returned};")
    assert (result.kind, result.error) == ("error", "error-running-script")


async def test_async_method_is_awaited(sandbox: Sandbox) -> None:
    script = """class Script {
  async process_incoming_request({ request }) {
    const text = await Promise.resolve(request.content.text);
    await null;
    return { content: { text: text.toUpperCase() } };
  }
}"""
    result = await process_incoming_request(sandbox, integration(script), REQUEST)
    assert (result.kind, result.content) == ("content", {"text": "HELLO"})


async def test_method_returning_a_promise(sandbox: Sandbox) -> None:
    result = await run_incoming(
        sandbox, "return new Promise((resolve) => resolve({ content: { text: 'p' } }));"
    )
    assert (result.kind, result.content) == ("content", {"text": "p"})


async def test_rejected_promise_is_error_running_script(sandbox: Sandbox) -> None:
    result = await run_incoming(sandbox, "return Promise.reject(new RangeError('no way'));")
    assert (result.kind, result.error) == ("error", "error-running-script")
    assert result.outcome is not None and result.outcome.error == "RangeError: no way"


async def test_script_without_the_method_is_nothing(sandbox: Sandbox) -> None:
    script = "class Script {\n  prepare_outgoing_request({ request }) { return request; }\n}"
    result = await process_incoming_request(sandbox, integration(script), REQUEST)
    assert result.kind == "nothing"
    assert result.outcome is not None and result.outcome.missing_method


async def test_throwing_method_is_error_running_script(sandbox: Sandbox) -> None:
    result = await run_incoming(sandbox, "return request.nothing.here;")
    assert (result.kind, result.error) == ("error", "error-running-script")
    outcome = result.outcome
    assert outcome is not None and outcome.status == "error"
    assert outcome.error is not None and outcome.error.startswith("TypeError: ")
    assert outcome.stack is not None and "process_incoming_request" in outcome.stack


@pytest.mark.parametrize(
    "script",
    [
        "class Script {\n  process_incoming_request( {\n}",  # syntax error
        "return { content: { text: 'top-level return' } };",  # Rocket.Chat issue #36276
        "const notAScript = 1;",  # no class Script
        "class Script { constructor() { throw new Error('boom'); } }",
    ],
)
async def test_unloadable_script_is_error_evaluating_script(sandbox: Sandbox, script: str) -> None:
    result = await process_incoming_request(sandbox, integration(script), REQUEST)
    assert (result.kind, result.error) == ("error", "error-evaluating-script")
    assert result.outcome is not None and result.outcome.status == "compile_error"
    assert result.outcome.error


async def test_syntax_error_message(sandbox: Sandbox) -> None:
    outcome = await sandbox.call(integration("class Script { x( }"), "x", {})
    assert outcome.status == "compile_error"
    assert outcome.error is not None and "SyntaxError" in outcome.error


# ---- when the script stage is skipped (§2.4 step 5, §4.7) -------------------------------------


@pytest.mark.parametrize("value", ["true", "YES", "ivm"])
async def test_disable_integration_scripts(tmp_path: Path, value: str) -> None:
    box = Sandbox(settings_for(tmp_path, disable_integration_scripts=value))
    try:
        doc = integration(incoming("return { content: { text: 'x' } };"))
        assert (await process_incoming_request(box, doc, REQUEST)).kind == "skip"
        assert (await box.call(doc, "process_incoming_request", {})).status == "disabled"
    finally:
        await box.close()


async def test_vm2_only_disables_the_legacy_engine(tmp_path: Path) -> None:
    box = Sandbox(settings_for(tmp_path, disable_integration_scripts="vm2"))
    try:
        doc = integration(incoming("return { content: { text: 'x' } };"))
        assert (await process_incoming_request(box, doc, REQUEST)).kind == "content"
    finally:
        await box.close()


async def test_script_disabled_or_not_compiled_is_skipped(sandbox: Sandbox) -> None:
    script = incoming("return { content: { text: 'x' } };")
    assert (
        await process_incoming_request(sandbox, integration(script, scriptEnabled=False), REQUEST)
    ).kind == ("skip")
    # a script that failed to compile has no scriptCompiled: the hook behaves script-less (§4.2)
    uncompiled = integration(script)
    del uncompiled["scriptCompiled"]
    assert (await process_incoming_request(sandbox, uncompiled, REQUEST)).kind == "skip"
    assert (await process_incoming_request(sandbox, integration("  "), REQUEST)).kind == "skip"


async def test_call_falls_back_to_script(sandbox: Sandbox) -> None:
    doc = integration("class Script { m(arg) { return arg.n * 2; } }")
    del doc["scriptCompiled"]
    assert (await sandbox.call(doc, "m", {"n": 21})).value == 42


# ---- the shim: Store, console, s, fetch, JSON conversion ---------------------------------------

COUNTER = """class Script {
  count() { const n = (Store.get('n') || 0) + 1; return Store.set('n', n); }
}"""


async def test_store_persists_across_calls(sandbox: Sandbox) -> None:
    doc = integration(COUNTER)
    values = [(await sandbox.call(doc, "count", {})).value for _ in range(3)]
    assert values == [1, 2, 3]
    # per integration: another one has its own Store
    assert (await sandbox.call(integration(COUNTER), "count", {})).value == 1


async def test_update_recompiles_and_resets_store(sandbox: Sandbox) -> None:
    doc = integration(COUNTER)
    assert (await sandbox.call(doc, "count", {})).value == 1
    assert (await sandbox.call(doc, "count", {})).value == 2
    changed = {**doc, "_updatedAt": "2026-02-01T00:00:00.000Z"}
    assert (await sandbox.call(changed, "count", {})).value == 1
    new_code = {**changed, "scriptCompiled": COUNTER.replace("+ 1", "+ 10")}
    assert (await sandbox.call(new_code, "count", {})).value == 10


async def test_script_instance_is_created_once(sandbox: Sandbox) -> None:
    script = """let made = 0;
class Script {
  constructor() { made += 1; this.calls = 0; }
  m() { this.calls += 1; return [made, this.calls]; }
}"""
    doc = integration(script)
    assert (await sandbox.call(doc, "m", {})).value == [1, 1]
    assert (await sandbox.call(doc, "m", {})).value == [1, 2]


async def test_forget_drops_the_isolate(sandbox: Sandbox) -> None:
    doc = integration(COUNTER)
    await sandbox.call(doc, "count", {})
    assert sandbox.loaded == 1
    sandbox.forget(doc["_id"])
    assert sandbox.loaded == 0
    assert (await sandbox.call(doc, "count", {})).value == 1


async def test_lru_bound(tmp_path: Path) -> None:
    box = Sandbox(settings_for(tmp_path, script_cache_size=2))
    try:
        docs = [integration(COUNTER) for _ in range(3)]
        for doc in docs:
            assert (await box.call(doc, "count", {})).value == 1
        assert box.loaded == 2
        # the least recently used (the first) was unloaded: its Store starts over
        assert (await box.call(docs[0], "count", {})).value == 1
        assert (await box.call(docs[2], "count", {})).value == 2
    finally:
        await box.close()


async def test_console_is_captured(sandbox: Sandbox) -> None:
    script = """class Script {
  m() {
    console.log('text', 1, { a: [1, 2] }, null, undefined);
    console.warn('careful');
    console.error(new TypeError('bad'));
    console.info(function named() {});
    return 'done';
  }
}"""
    outcome = await sandbox.call(integration(script), "m", {})
    assert outcome.value == "done"
    assert [entry["level"] for entry in outcome.logs] == ["log", "warn", "error", "info"]
    assert outcome.logs[0]["text"] == 'text 1 {"a":[1,2]} null undefined'
    assert outcome.logs[1]["text"] == "careful"
    assert outcome.logs[2]["text"].startswith("TypeError: bad")
    assert outcome.logs[3]["text"] == "[Function: named]"


async def test_console_is_bounded_and_per_call(sandbox: Sandbox) -> None:
    script = """class Script {
  many() { for (let i = 0; i < 500; i++) console.log('line', i); }
  long() { console.log('x'.repeat(100000)); }
  quiet() { return 1; }
}"""
    doc = integration(script)
    many = await sandbox.call(doc, "many", {})
    assert len(many.logs) == LOG_MAX_ENTRIES + 1
    assert many.logs[-1]["text"] == f"{500 - LOG_MAX_ENTRIES} more console line(s) dropped"
    long = await sandbox.call(doc, "long", {})
    assert len(long.logs[0]["text"]) == LOG_MAX_TEXT + 1
    assert (await sandbox.call(doc, "quiet", {})).logs == []


async def test_logs_of_a_failing_call_are_kept(sandbox: Sandbox) -> None:
    outcome = await sandbox.call(
        integration("class Script { m() { console.log('before'); throw 'plain'; } }"), "m", {}
    )
    assert outcome.status == "error"
    assert outcome.error == "Error: plain"
    assert outcome.logs == [{"level": "log", "text": "before"}]


async def test_string_helpers(sandbox: Sandbox) -> None:
    script = """class Script {
  m() {
    return {
      truncate: s.truncate('Hello world', 5), truncateCustom: s.truncate('Hello world', 5, '…'),
      short: s.truncate('Hi', 5),
      trim: s.trim('  a b  '), trimChars: s.trim('__a_b__', '_'),
      ltrim: s.ltrim('  a  '), rtrim: s.rtrim('  a  '), rtrimChars: s.rtrim('a-.-', '.-'),
      capitalize: s.capitalize('hELLO'), capitalizeRest: s.capitalize('hELLO', true),
      stripTags: s.stripTags('<b>bold</b> <a href="x">link</a>'),
      strLeft: s.strLeft('user@example.com', '@'), strRight: s.strRight('a:b:c', ':'),
      strRightBack: s.strRightBack('a:b:c', ':'), strLeftBack: s.strLeftBack('a:b:c', ':'),
      strRightMissing: s.strRight('abc', '#'),
      numberFormat: s.numberFormat(1234567.891, 2), numberFormatEu: s.numberFormat(1234.5, 1, ',', '.'),
      numberFormatBad: s.numberFormat('x'),
      pad: s.pad('1', 3, '0'), padRight: s.pad('1', 3, '0', 'right'), lrpad: s.lrpad('1', 4, '*'),
      wildcard: [s.wildcardToRegex('deploy-*').test('deploy-prod'), s.wildcardToRegex('a?c').test('abbc')],
    };
  }
}"""
    assert (await sandbox.call(integration(script), "m", {})).value == {
        "truncate": "Hello...",
        "truncateCustom": "Hello…",
        "short": "Hi",
        "trim": "a b",
        "trimChars": "a_b",
        "ltrim": "a  ",
        "rtrim": "  a",
        "rtrimChars": "a",
        "capitalize": "HELLO",
        "capitalizeRest": "Hello",
        "stripTags": "bold link",
        "strLeft": "user",
        "strRight": "b:c",
        "strRightBack": "c",
        "strLeftBack": "a:b",
        "strRightMissing": "abc",
        "numberFormat": "1,234,567.89",
        "numberFormatEu": "1.234,5",
        "numberFormatBad": "",
        "pad": "001",
        "padRight": "100",
        "lrpad": "**1*",
        "wildcard": [True, False],
    }


async def test_fetch_without_a_fetcher_rejects_with_a_clear_error(sandbox: Sandbox) -> None:
    script = """class Script {
  async direct() { return await fetch('http://127.0.0.1:9/'); }
  async caught() {
    try { await fetch('http://127.0.0.1:9/'); return 'fetched?'; } catch (e) { return e.message; }
  }
}"""
    doc = integration(script)
    direct = await sandbox.call(doc, "direct", {})
    assert (direct.status, direct.error) == ("error", "Error: fetch is not available in this server")
    assert (await sandbox.call(doc, "caught", {})).value == "fetch is not available in this server"


async def test_no_timers_host_objects_or_off_heap_buffers(sandbox: Sandbox) -> None:
    script = """class Script {
  m() {
    const names = ['setTimeout', 'require', 'process', 'WebAssembly', 'ArrayBuffer', 'Uint8Array',
                   'SharedArrayBuffer', 'Float64Array', 'DataView', 'Atomics', 'Store', 's', 'fetch'];
    return names.map((name) => typeof globalThis[name]);
  }
  hog() { const a = []; while (true) a.push(new Uint8Array(1e8)); }
}"""
    doc = integration(script)
    value = (await sandbox.call(doc, "m", {})).value
    assert value == ["undefined"] * 10 + ["object", "object", "function"]
    hog = await sandbox.call(doc, "hog", {})
    assert (hog.status, hog.error) == ("error", "ReferenceError: Uint8Array is not defined")


async def test_values_cross_as_json(sandbox: Sandbox) -> None:
    script = """class Script {
  fn() { return function () {}; }
  nested() { return { f: function () {}, u: undefined, d: new Date(0), n: [1, 'two', null, true] }; }
  echo(arg) { return arg; }
  big() { return 10n; }
  cyclic() { const a = {}; a.self = a; return a; }
  huge() { return 'x'.repeat(LIMIT); }
}""".replace("LIMIT", str(RESULT_MAX_CHARS + 10))
    doc = integration(script)
    assert (await sandbox.call(doc, "fn", {})) == ScriptOutcome("ok", value=None)
    nested = await sandbox.call(doc, "nested", {})
    assert nested.value == {"d": "1970-01-01T00:00:00.000Z", "n": [1, "two", None, True]}
    argument = {"text": 'é \u2028 "quoted" </script>', "list": [1.5, None, {"deep": True}]}
    assert (await sandbox.call(doc, "echo", argument)).value == argument
    for method in ("big", "cyclic", "huge"):
        outcome = await sandbox.call(doc, method, {})
        assert outcome.status == "error", method
    # and the isolate is still fine afterwards
    assert (await sandbox.call(doc, "echo", {"a": 1})).value == {"a": 1}


async def test_never_settling_promise_fails_fast(sandbox: Sandbox) -> None:
    started = time.monotonic()
    outcome = await sandbox.call(
        integration("class Script { m() { return new Promise(() => {}); } }"), "m", {}
    )
    assert outcome.status == "error"
    assert outcome.error == "the Promise returned by m never settled"
    assert time.monotonic() - started < TIMEOUT / 2


# ---- limits -------------------------------------------------------------------------------------

LIMITS = """class Script {
  spin() { while (true) {} }
  hog() { let a = []; while (true) a.push(new Array(1e6).fill(1)); }
  background() {
    // promise work left running after the call returned counts against the call
    (async () => { await null; let i = 0; while (true) { const o = { i: i++ }; } })();
    return 'returned';
  }
  asyncHog() { return (async () => { await null; let a = []; while (true) a.push([a.length]); })(); }
  count() { const n = (Store.get('n') || 0) + 1; return Store.set('n', n); }
}"""


async def test_infinite_loop_times_out_and_the_server_stays_healthy(sandbox: Sandbox) -> None:
    doc = integration(LIMITS)
    other = integration(COUNTER)
    assert (await sandbox.call(doc, "count", {})).value == 1
    started = time.monotonic()
    outcome = await sandbox.call(doc, "spin", {})
    elapsed = time.monotonic() - started
    assert outcome.status == "timeout"
    assert outcome.error == f"the script ran longer than {TIMEOUT:g} s and was stopped"
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + 1
    # the isolate was replaced: the same integration works again, with a fresh Store
    assert (await sandbox.call(doc, "count", {})).value == 1
    assert (await sandbox.call(other, "count", {})).value == 1


async def test_timeout_maps_to_error_running_script(sandbox: Sandbox) -> None:
    result = await run_incoming(sandbox, "while (true) {}")
    assert (result.kind, result.error) == ("error", "error-running-script")
    assert result.outcome is not None and result.outcome.status == "timeout"


async def test_async_infinite_loop_times_out(sandbox: Sandbox) -> None:
    doc = integration(LIMITS)
    started = time.monotonic()
    outcome = await sandbox.call(doc, "background", {})
    assert outcome.status == "timeout"
    assert time.monotonic() - started < TIMEOUT + 1
    assert (await sandbox.call(doc, "count", {})).value == 1


async def test_async_unbounded_allocation_is_out_of_memory(sandbox: Sandbox) -> None:
    doc = integration(LIMITS)
    started = time.monotonic()
    assert (await sandbox.call(doc, "asyncHog", {})).status == "out_of_memory"
    assert time.monotonic() - started < TIMEOUT + 1
    assert (await sandbox.call(doc, "count", {})).value == 1


@pytest.mark.parametrize(
    "top_level",
    [
        "while (true) {}",
        "(async () => { await null; const a = []; while (true) a.push([a.length]); })();",
        "const big = []; while (true) big.push('x'.repeat(1e5) + big.length);",
    ],
)
async def test_runaway_while_loading_is_an_evaluation_error(sandbox: Sandbox, top_level: str) -> None:
    started = time.monotonic()
    doc = integration(f"{top_level}\nclass Script {{ m() {{ return 1; }} }}")
    result = await process_incoming_request(sandbox, doc, REQUEST)
    assert (result.kind, result.error) == ("error", "error-evaluating-script")
    assert time.monotonic() - started < TIMEOUT + 1
    # the failure is remembered for this version: no second load, answered at once
    started = time.monotonic()
    assert (await sandbox.call(doc, "m", {})).status == "compile_error"
    assert time.monotonic() - started < 0.2


async def test_unbounded_allocation_is_out_of_memory(sandbox: Sandbox) -> None:
    doc = integration(LIMITS)
    assert (await sandbox.call(doc, "count", {})).value == 1
    started = time.monotonic()
    outcome = await sandbox.call(doc, "hog", {})
    assert outcome.status == "out_of_memory"
    assert outcome.error == "the script exceeded its memory limit of 16 MB"
    assert time.monotonic() - started < TIMEOUT + 1
    assert (await sandbox.call(doc, "count", {})).value == 1
    result = await process_incoming_request(
        sandbox,
        integration(incoming("let a = []; while (true) a.push('x'.repeat(1e5) + a.length);")),
        REQUEST,
    )
    assert (result.kind, result.error) == ("error", "error-running-script")
    assert result.outcome is not None and result.outcome.status == "out_of_memory"


async def test_memory_limit_comes_from_settings(tmp_path: Path) -> None:
    script = """class Script {
  m() { const a = []; for (let i = 0; i < 40; i++) a.push(new Array(1e5).fill(i + 0.5)); return a.length; }
}"""
    small = Sandbox(settings_for(tmp_path, script_memory_mb=16))
    large = Sandbox(settings_for(tmp_path, script_memory_mb=128))
    try:
        # 40 arrays of 100k doubles, ~32 MB: over 16 MB, under 128 MB
        assert (await small.call(integration(script), "m", {})).status == "out_of_memory"
        assert (await large.call(integration(script), "m", {})).value == 40
    finally:
        await small.close()
        await large.close()


# ---- concurrency -------------------------------------------------------------------------------

BUSY = """class Script {
  busy(arg) { const end = Date.now() + arg.ms; while (Date.now() < end) {} return arg.ms; }
}"""


async def test_event_loop_is_not_blocked(tmp_path: Path, http: httpx.AsyncClient) -> None:
    box = Sandbox(settings_for(tmp_path, script_timeout_seconds=3))
    try:
        await box.call(integration(BUSY), "busy", {"ms": 0})  # warm up: V8 initialised
        slow = asyncio.create_task(box.call(integration(BUSY), "busy", {"ms": 1500}))
        await asyncio.sleep(0.1)
        gaps: list[float] = []
        for _ in range(10):
            tick = time.monotonic()
            await asyncio.sleep(0.01)
            gaps.append(time.monotonic() - tick)
        started = time.monotonic()
        r = await http.get("/api/info")
        info_seconds = time.monotonic() - started
        assert not slow.done()
        assert (await slow).value == 1500
    finally:
        await box.close()
    assert r.status_code == 200
    assert max(gaps) < 0.2
    assert info_seconds < 0.5


async def test_different_integrations_run_in_parallel(sandbox: Sandbox) -> None:
    docs = [integration(BUSY), integration(BUSY)]
    await asyncio.gather(*(sandbox.call(doc, "busy", {"ms": 0}) for doc in docs))
    started = time.monotonic()
    outcomes = await asyncio.gather(*(sandbox.call(doc, "busy", {"ms": 600}) for doc in docs))
    assert [o.value for o in outcomes] == [600, 600]
    assert time.monotonic() - started < 1.1  # two workers: not 1.2 s back to back


async def test_calls_on_one_integration_are_serialised(sandbox: Sandbox) -> None:
    doc = integration(COUNTER)
    outcomes = await asyncio.gather(*(sandbox.call(doc, "count", {}) for _ in range(20)))
    assert sorted(o.value for o in outcomes) == list(range(1, 21))


async def test_a_timeout_does_not_disturb_other_integrations(sandbox: Sandbox) -> None:
    looping = integration(LIMITS)
    counter = integration(COUNTER)
    spin = asyncio.create_task(sandbox.call(looping, "spin", {}))
    await asyncio.sleep(0.1)
    values = [(await sandbox.call(counter, "count", {})).value for _ in range(5)]
    assert values == [1, 2, 3, 4, 5]
    assert (await spin).status == "timeout"


async def test_close(tmp_path: Path) -> None:
    box = Sandbox(settings_for(tmp_path))
    doc = integration(COUNTER)
    assert (await box.call(doc, "count", {})).value == 1
    await box.close()
    await box.close()
    with pytest.raises(RuntimeError):
        await box.call(doc, "count", {})


# ---- fetch through the egress guard (webhook-runtime.md §4.4, issue #5) ------------------------


@dataclass(frozen=True)
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


class Loopback:
    """A tiny HTTP/1.1 server on 127.0.0.1 (one request per connection) that records requests.

    `/json` answers JSON with a custom header and two cookies, `/echo` returns what it received,
    `/missing` 404, `/big` 2000 bytes, `/latin` bytes that are not UTF-8, `/redirect` 302 to
    `/json`, and `/slow` never answers: it waits until the client closes the connection.
    """

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.slow_started = asyncio.Event()
        self.slow_closed = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> Loopback:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._open):
            writer.close()
        await self._server.wait_closed()

    def url(self, path: str) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}{path}"

    def at(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.target.split("?")[0] == path]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            first, *lines = head.split("\r\n")
            method, target, _ = first.split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines if ln)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(Seen(method, target, headers, body))
            path = target.split("?")[0]
            if path == "/slow":
                self.slow_started.set()
                await reader.read()  # b"" once the client gives up and closes the connection
                self.slow_closed.set()
                return
            status, reason, extra, payload = self._answer(path, Seen(method, target, headers, body))
            out = [f"HTTP/1.1 {status} {reason}", f"content-length: {len(payload)}", "connection: close"]
            out += [f"{name}: {value}" for name, value in extra]
            writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + payload)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._open.discard(writer)
            writer.close()

    def _answer(self, path: str, seen: Seen) -> tuple[int, str, list[tuple[str, str]], bytes]:
        json_type = ("content-type", "application/json")
        if path == "/json":
            cookies = [("set-cookie", "a=1"), ("set-cookie", "b=2"), ("x-custom", "yes")]
            return 200, "OK", [json_type, *cookies], b'{"hello": "world", "n": 1}'
        if path == "/echo":
            echoed = {
                "method": seen.method,
                "target": seen.target,
                "headers": seen.headers,
                "body": seen.body.decode("utf-8"),
            }
            return 200, "OK", [json_type], json.dumps(echoed).encode()
        if path == "/missing":
            return 404, "Not Found", [("content-type", "text/plain")], b"nope"
        if path == "/big":
            return 200, "OK", [("content-type", "text/plain")], b"x" * 2000
        if path == "/latin":
            return 200, "OK", [("content-type", "text/plain")], b"caf\xe9 ok"
        if path == "/redirect":
            return 302, "Found", [("location", "/json")], b""
        return 500, "Internal Server Error", [], b"unknown path"


def via(client: EgressClient) -> ScriptFetch:
    async def fetch(
        method: str, url: str, headers: dict[str, str], body: bytes | None, seconds: float
    ) -> Any:
        return await client.send(method, url, headers=headers, content=body, timeout=seconds)

    return fetch


@pytest.fixture
async def loopback() -> AsyncIterator[Loopback]:
    async with Loopback() as server:
        yield server


@pytest.fixture
async def fetching(tmp_path: Path) -> AsyncIterator[Sandbox]:
    """A sandbox whose scripts fetch through an egress guard that allows 127.0.0.1 only."""
    async with EgressClient(allow=["127.0.0.1/32"]) as client:
        box = Sandbox(settings_for(tmp_path), fetch=via(client))
        yield box
        await box.close()


FETCHER = """class Script {
  async get({ url, options }) {
    const r = await fetch(url, options);
    return { status: r.status, ok: r.ok, statusText: r.statusText, url: r.url, redirected: r.redirected,
             headers: r.headers, text: await r.text() };
  }
  async json({ url }) { const r = await fetch(url); return await r.json(); }
  async fail({ url, options }) {
    try { await fetch(url, options); return 'fetched?'; }
    catch (e) { return [e instanceof Error, e.message]; }
  }
  async direct({ url }) { return (await fetch(url)).status; }
}"""


async def test_fetch_get_and_json(fetching: Sandbox, loopback: Loopback) -> None:
    doc = integration(FETCHER)
    assert (await fetching.call(doc, "json", {"url": loopback.url("/json")})).value == {
        "hello": "world",
        "n": 1,
    }
    got = (await fetching.call(doc, "get", {"url": loopback.url("/json")})).value
    assert got["status"] == 200 and got["ok"] is True and got["statusText"] == "OK"
    assert got["url"] == loopback.url("/json") and got["redirected"] is False
    assert got["text"] == '{"hello": "world", "n": 1}'
    # headers arrive as [name, value] pairs, repeats kept in order
    assert ["x-custom", "yes"] in got["headers"]
    assert [pair for pair in got["headers"] if pair[0] == "set-cookie"] == [
        ["set-cookie", "a=1"],
        ["set-cookie", "b=2"],
    ]
    assert [r.method for r in loopback.at("/json")] == ["GET", "GET"]


async def test_fetch_response_details(fetching: Sandbox, loopback: Loopback) -> None:
    doc = integration(FETCHER)
    missing = (await fetching.call(doc, "get", {"url": loopback.url("/missing")})).value
    assert (missing["status"], missing["ok"], missing["statusText"], missing["text"]) == (
        404,
        False,
        "Not Found",
        "nope",
    )
    redirected = (await fetching.call(doc, "get", {"url": loopback.url("/redirect")})).value
    assert (redirected["status"], redirected["url"], redirected["redirected"]) == (
        200,
        loopback.url("/json"),
        True,
    )
    latin = (await fetching.call(doc, "get", {"url": loopback.url("/latin")})).value
    assert latin["text"] == "caf\ufffd ok"  # not UTF-8: replaced, never an error
    script = """class Script {
  async m({ url }) {
    const r = await fetch(url);
    let cloned;
    try { r.clone(); cloned = 'cloned?'; } catch (e) { cloned = e.message; }
    let parsed;
    try { await r.json(); parsed = 'parsed?'; } catch (e) { parsed = e.name; }
    return [cloned, parsed];
  }
}"""
    value = (await fetching.call(integration(script), "m", {"url": loopback.url("/missing")})).value
    assert value == ["clone() is not supported on a script's fetch response", "SyntaxError"]


async def test_fetch_post_with_an_object_body(fetching: Sandbox, loopback: Loopback) -> None:
    doc = integration(FETCHER)
    options = {"method": "post", "body": {"a": 1, "text": "é"}, "headers": {"X-Token": "t1"}}
    echoed = json.loads(
        (await fetching.call(doc, "get", {"url": loopback.url("/echo"), "options": options})).value["text"]
    )
    assert echoed["method"] == "POST"
    assert json.loads(echoed["body"]) == {"a": 1, "text": "é"}
    assert echoed["headers"]["content-type"] == "application/json"
    assert echoed["headers"]["x-token"] == "t1"
    # a content-type the script gives is kept; a string body goes as it is, with no type added
    own = {"method": "PUT", "body": [1, 2], "headers": {"Content-Type": "application/vnd.api+json"}}
    echoed = json.loads(
        (await fetching.call(doc, "get", {"url": loopback.url("/echo"), "options": own})).value["text"]
    )
    assert (echoed["method"], echoed["body"]) == ("PUT", "[1,2]")
    assert echoed["headers"]["content-type"] == "application/vnd.api+json"
    raw = {"method": "POST", "body": "a=1&b=2"}
    echoed = json.loads(
        (await fetching.call(doc, "get", {"url": loopback.url("/echo"), "options": raw})).value["text"]
    )
    assert echoed["body"] == "a=1&b=2" and "content-type" not in echoed["headers"]


async def test_fetch_params_become_an_encoded_query(fetching: Sandbox, loopback: Loopback) -> None:
    script = """class Script {
  async m({ url }) {
    const params = { q: 'a b&c=d', list: [1, 2], skipped: undefined, u: 'é/?', n: null };
    const r = await fetch(url + '?x=1#top', { params });
    return JSON.parse(await r.text()).target;
  }
}"""
    target = (await fetching.call(integration(script), "m", {"url": loopback.url("/echo")})).value
    assert target == "/echo?x=1&q=a%20b%26c%3Dd&list=1&list=2&u=%C3%A9%2F%3F&n="


async def test_refused_fetch_rejects_with_the_egress_reason(tmp_path: Path, loopback: Loopback) -> None:
    async with EgressClient(allow=[]) as client:
        box = Sandbox(settings_for(tmp_path), fetch=via(client))
        try:
            doc = integration(FETCHER)
            caught = await box.call(doc, "fail", {"url": loopback.url("/json")})
            assert caught.value == [True, "refused: 127.0.0.1 is a loopback address"]
            direct = await box.call(doc, "direct", {"url": "http://localhost:9/"})
            assert (direct.status, direct.error) == ("error", "Error: refused: localhost is a localhost name")
            scheme = await box.call(doc, "fail", {"url": "file:///etc/passwd"})
            assert scheme.value == [True, "refused: scheme 'file' is not http or https"]
        finally:
            await box.close()
    assert loopback.requests == []


async def test_connection_refused_rejects(fetching: Sandbox) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    outcome = await fetching.call(integration(FETCHER), "fail", {"url": f"http://127.0.0.1:{port}/"})
    ok, message = outcome.value
    assert ok is True and message.startswith("connection failed: ")


async def test_bad_requests_reject_before_sending(fetching: Sandbox, loopback: Loopback) -> None:
    doc = integration(FETCHER)
    url = loopback.url("/echo")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"method": "GE T"}, "fetch: invalid method 'GE T'"),
        ({"headers": {"x-bad": "a\r\nb: c"}}, "fetch: invalid value for header 'x-bad' (ASCII text only)"),
        ({"headers": {"bad name": "v"}}, "fetch: invalid header name 'bad name'"),
        ({"headers": "nope"}, "fetch options.headers must be an object"),
    ]
    for options, message in cases:
        assert (await fetching.call(doc, "fail", {"url": url, "options": options})).value == [True, message]
    big = """class Script {
  async m({ url }) {
    try { await fetch(url, { method: 'POST', body: 'x'.repeat(LIMIT + 1) }); } catch (e) { return e.message; }
  }
}""".replace("LIMIT", str(FETCH_MAX_REQUEST_BYTES))
    message = (await fetching.call(integration(big), "m", {"url": url})).value
    assert message == f"fetch: the request body is larger than {FETCH_MAX_REQUEST_BYTES} bytes"
    assert loopback.requests == []


async def test_fetch_count_is_capped_per_call(fetching: Sandbox, loopback: Loopback) -> None:
    script = """class Script {
  async m({ url, n }) {
    const all = [];
    for (let i = 0; i < n; i++) all.push(fetch(url + '?i=' + i));
    const results = await Promise.allSettled(all);
    return results.map((r) => r.status === 'fulfilled' ? r.value.status : r.reason.message);
  }
}"""
    doc = integration(script)
    url = loopback.url("/json")
    values = (await fetching.call(doc, "m", {"url": url, "n": FETCH_MAX_PER_CALL + 1})).value
    assert values == [200] * FETCH_MAX_PER_CALL + [
        f"too many fetch calls: at most {FETCH_MAX_PER_CALL} per script call"
    ]
    assert len(loopback.at("/json")) == FETCH_MAX_PER_CALL
    # the budget is per call
    assert (await fetching.call(doc, "m", {"url": url, "n": 2})).value == [200, 200]


async def test_response_size_option(fetching: Sandbox, loopback: Loopback) -> None:
    doc = integration(FETCHER)
    url = loopback.url("/big")
    small = await fetching.call(doc, "fail", {"url": url, "options": {"size": 100}})
    assert small.value == [True, "response larger than the fetch's size limit of 100 bytes"]
    enough = await fetching.call(doc, "get", {"url": url, "options": {"size": 2000}})
    assert enough.value["text"] == "x" * 2000


async def test_fetch_slower_than_the_script_is_a_timeout_and_is_cancelled(
    fetching: Sandbox, loopback: Loopback
) -> None:
    doc = integration(FETCHER)
    started = time.monotonic()
    outcome = await fetching.call(doc, "direct", {"url": loopback.url("/slow")})
    elapsed = time.monotonic() - started
    assert outcome.status == "timeout"
    assert TIMEOUT <= elapsed < TIMEOUT + 0.5
    assert loopback.slow_started.is_set()
    await asyncio.wait_for(loopback.slow_closed.wait(), 2)  # the request was cancelled
    # the next call works (fresh isolate)
    assert (await fetching.call(doc, "direct", {"url": loopback.url("/json")})).value == 200


async def test_fetch_timeout_option_rejects_and_can_be_caught(fetching: Sandbox, loopback: Loopback) -> None:
    started = time.monotonic()
    outcome = await fetching.call(
        integration(FETCHER), "fail", {"url": loopback.url("/slow"), "options": {"timeout": 200}}
    )
    assert outcome.status == "ok"
    assert outcome.value == [True, "timed out after 0.2 s"]
    assert time.monotonic() - started < TIMEOUT
    await asyncio.wait_for(loopback.slow_closed.wait(), 2)


async def test_unawaited_fetch_is_cancelled_when_the_call_returns(
    fetching: Sandbox, loopback: Loopback
) -> None:
    script = """class Script {
  async m({ slow, quick }) {
    fetch(slow);
    return (await fetch(quick)).status;
  }
}"""
    args = {"slow": loopback.url("/slow"), "quick": loopback.url("/json")}
    started = time.monotonic()
    assert (await fetching.call(integration(script), "m", args)).value == 200
    assert time.monotonic() - started < TIMEOUT / 2
    # well before the request's own timeout (the call's remaining time) would end it
    await asyncio.wait_for(loopback.slow_closed.wait(), TIMEOUT / 3)


HANGING = """class Script {
  async result() { fetch('http://x/hang'); await fetch('http://x/quick'); return 'done'; }
  async error() { fetch('http://x/hang'); await fetch('http://x/quick'); throw new Error('boom'); }
  async timeout() { await fetch('http://x/hang'); }
  async hog() {
    fetch('http://x/hang');
    await fetch('http://x/quick');
    const a = [];
    while (true) a.push(new Array(1e6).fill(1));
  }
}"""


@pytest.mark.parametrize(
    ("method", "status"),
    [("result", "ok"), ("error", "error"), ("timeout", "timeout"), ("hog", "out_of_memory")],
)
async def test_outstanding_fetches_are_cancelled_however_the_call_ends(
    tmp_path: Path, method: str, status: str
) -> None:
    """A fetch that ignores its timeout still ends with its call: the host cancels it."""
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def fetch(
        method: str, url: str, headers: dict[str, str], body: bytes | None, seconds: float
    ) -> Any:
        if url.endswith("/quick"):
            return EgressResponse(200, (), b"", truncated=False, elapsed=0.0, url=url)
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        raise AssertionError("not cancelled")

    box = Sandbox(settings_for(tmp_path), fetch=fetch)
    try:
        outcome = await box.call(integration(HANGING), method, {})
        assert outcome.status == status, outcome
        assert started.is_set()
        await asyncio.wait_for(cancelled.wait(), 0.5)
    finally:
        await box.close()


async def test_fetch_only_while_a_method_runs(fetching: Sandbox, loopback: Loopback) -> None:
    script = """class Script {
  constructor() { this.early = fetch(URL).then(() => 'fetched?', (e) => e.message); }
  async m() { return await this.early; }
}""".replace("URL", json.dumps(loopback.url("/json")))
    value = (await fetching.call(integration(script), "m", {})).value
    assert value == "fetch can only be used while a script method runs"
    assert loopback.requests == []


async def test_sequential_fetches_in_one_call(fetching: Sandbox, loopback: Loopback) -> None:
    script = """class Script {
  async m({ url }) { let n = 0; for (let i = 0; i < 10; i++) n += (await fetch(url)).status; return n; }
}"""
    doc = integration(script)
    outcome = await fetching.call(doc, "m", {"url": loopback.url("/json")})
    assert outcome.value == 2000
    assert len(loopback.at("/json")) == 10


# ---- through the hub: its one egress client and HOOKHUB_EGRESS_ALLOW ----------------------------


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"egress_allow": ["127.0.0.1/32"], "script_timeout_seconds": TIMEOUT}


async def test_incoming_script_fetches_through_the_hub(hub: Hub, loopback: Loopback) -> None:
    script = incoming(f"""
    return fetch({json.dumps(loopback.url("/echo"))}, {{ method: 'POST', body: request.content }})
      .then((r) => r.json())
      .then((echoed) => ({{ content: {{ text: echoed.method + ' ' + echoed.body }} }}));
""")
    result = await process_incoming_request(hub.sandbox, integration(script), REQUEST)
    assert result.kind == "content", result
    assert result.content == {"text": 'POST {"text":"hello"}'}
    [seen] = loopback.at("/echo")
    assert seen.headers["content-type"] == "application/json"
    # the metadata address stays refused: the allow list only lifts 127.0.0.1
    refused = incoming(
        "return fetch('http://169.254.169.254/latest/meta-data/').then(() => ({ content: { text: 'x' } }));"
    )
    result = await process_incoming_request(hub.sandbox, integration(refused), REQUEST)
    assert result.kind == "error" and result.error == "error-running-script"
    assert result.outcome is not None
    assert result.outcome.error == "Error: refused: 169.254.169.254 is a cloud metadata address"


async def test_hub_without_allow_refuses_loopback(tmp_path: Path, loopback: Loopback) -> None:
    the_hub = Hub(make_settings(tmp_path, script_timeout_seconds=TIMEOUT))
    try:
        outcome = await the_hub.sandbox.call(integration(FETCHER), "fail", {"url": loopback.url("/json")})
    finally:
        await the_hub.close()
    assert outcome.value == [True, "refused: 127.0.0.1 is a loopback address"]


async def test_garbage_of_many_calls_never_reaches_the_memory_limit(tmp_path: Path) -> None:
    """Found by the soak benchmark: every call leaves a little garbage in the isolate, and V8 did
    not collect it before the (smallest) heap limit stopped a call as out of memory, about once
    every few thousand calls of a trivial script. Garbage is collected before the limit now."""
    small = Sandbox(settings_for(tmp_path, script_memory_mb=4))
    try:
        doc = integration(incoming("return { content: { text: request.content.text } };"))
        statuses: dict[str, int] = {}
        for n in range(6000):
            request = {**REQUEST, "content": {"text": f"call {n} " + "x" * 200}}
            outcome = await small.call(doc, "process_incoming_request", {"request": request})
            statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
        assert statuses == {"ok": 6000}
    finally:
        await small.close()


async def test_a_script_keeping_data_alive_raises_its_collection_threshold(tmp_path: Path) -> None:
    """A script that keeps more than the first threshold (2 MiB) alive would trip a full
    collection on nearly every call; the threshold doubles instead, and calls stop collecting.
    A script that keeps nothing keeps the first threshold."""
    box = Sandbox(settings_for(tmp_path, script_memory_mb=16))
    try:
        keeper = integration(
            "const kept = [];\n"
            + incoming(
                "if (kept.length < 150000) for (let i = 0; i < 5000; i++) kept.push({ i });\n"
                "return { content: { text: String(kept.length) } };"
            )
        )
        plain = integration(incoming("return { content: { text: request.content.text } };"))
        collections = 0
        for _ in range(300):
            assert (await box.call(keeper, "process_incoming_request", {"request": REQUEST})).status == "ok"
            collections += box._cache[keeper["_id"]].calls_since_gc == 0
            assert (await box.call(plain, "process_incoming_request", {"request": REQUEST})).status == "ok"
        assert box._cache[keeper["_id"]].gc_threshold >= 4 * 1024 * 1024
        assert 1 <= collections <= 10
        assert box._cache[plain["_id"]].gc_threshold == 2 * 1024 * 1024
    finally:
        await box.close()
