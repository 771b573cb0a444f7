"""Dry runs of integration scripts (hookhub extension, issue #7): run a script's
`process_incoming_request` or `prepare_outgoing_request` in the sandbox against a sample request,
and report what it did, without posting, storing or sending anything.

* The script is checked with `compile_script` first, exactly as a save would. A script that does
  not compile is reported with its error and, for syntax errors, the line and column in the user's
  source (`syntax_error_position`).
* Each dry run gets its own `Sandbox` built without `fetch` (scripts' `fetch` rejects), with the
  server's time and memory limits; it is closed when the run ends, so no isolate, `Store` or
  thread outlives the call and nothing is shared with the integrations' live isolates.
* Permissions: the caller must be allowed to create an integration of the type (either
  permission of the kind), and, with `integrationId`, to manage that integration (the
  integrations.get rule).
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from py_mini_racer import JSEvalException, JSOOMException, JSParseException, JSTimeoutException, MiniRacer

from hookhub.config import Settings
from hookhub.hub import Hub
from hookhub.ids import iso, random_id
from hookhub.runtime.compiler import COMPILE_TIMEOUT_SEC, HEAP_LIMIT_BYTES, ScriptError, compile_script
from hookhub.runtime.incoming import HookCall, parse_body, script_request
from hookhub.runtime.isolates import ISOLATE_THREAD
from hookhub.runtime.outgoing_payloads import build_data, default_request
from hookhub.runtime.sandbox import (
    IncomingScriptResult,
    Sandbox,
    ScriptOutcome,
    process_incoming_request,
    scripts_disabled,
)
from hookhub.services.errors import Failure, PermissionRequired
from hookhub.services.integrations.permissions import INCOMING, OUTGOING, Kind, kind_of, rights_of
from hookhub.store import integrations as store
from hookhub.store import users
from hookhub.store.rows import Row

# Error texts of the 400 answers (integrations.create's and integrations.get's where they exist).
INVALID_TYPE = "Invalid integration type."
NOT_FOUND = "The integration does not exists."
NOT_AUTHORIZED = "not-authorized"
BODY_NOT_OBJECT = "The request body must be a JSON object."
SCRIPT_NOT_STRING = "The script must be a string."
INTEGRATION_ID_NOT_STRING = "The integrationId must be a string."
SAMPLE_NOT_OBJECT = "The request sample must be an object."
HEADERS_NOT_OBJECT = "request.headers must be an object of strings."
QUERY_NOT_OBJECT = "request.query must be an object."
URL_NOT_STRING = "request.url must be a string."
EVENT_NOT_STRING = "request.event must be a string."
NO_SCRIPT = "A script is required: send `script`, or the `integrationId` of an integration that has one."
DISABLED = "Error: integration scripts are disabled on this server (DISABLE_INTEGRATION_SCRIPTS)"

PREPARE_METHOD = "prepare_outgoing_request"
DEFAULT_INCOMING_SAMPLE: dict[str, Any] = {
    "headers": {"content-type": "application/json"},
    "body": {"text": "Hello"},
    "query": {},
}
# Where a dry-run outgoing request would go when neither the sample nor the integration says.
DEFAULT_OUTGOING_URL = "https://example.invalid/webhook"


@dataclass(frozen=True)
class DryRun:
    """A checked request body."""

    type: str
    script: str | None
    integration_id: str | None
    sample: dict[str, Any] | None


def parse_request(body: Any) -> DryRun:
    """Check the body's shape (before any permission is looked at); raises `Failure`."""
    if not isinstance(body, dict):
        raise Failure(BODY_NOT_OBJECT)
    kind = body.get("type")
    if kind not in (INCOMING, OUTGOING):
        raise Failure(INVALID_TYPE)
    script = body.get("script")
    if script is not None and not isinstance(script, str):
        raise Failure(SCRIPT_NOT_STRING)
    integration_id = body.get("integrationId")
    if integration_id is not None and not isinstance(integration_id, str):
        raise Failure(INTEGRATION_ID_NOT_STRING)
    sample = body.get("request")
    if sample is not None and not isinstance(sample, dict):
        raise Failure(SAMPLE_NOT_OBJECT)
    if sample is not None:
        _check_sample(sample)
    if script is None and not integration_id:
        raise Failure(NO_SCRIPT)
    return DryRun(kind, script, integration_id or None, sample)


def _check_sample(sample: dict[str, Any]) -> None:
    headers = sample.get("headers")
    if headers is not None and (
        not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values())
    ):
        raise Failure(HEADERS_NOT_OBJECT)
    if sample.get("query") is not None and not isinstance(sample["query"], dict):
        raise Failure(QUERY_NOT_OBJECT)
    if sample.get("url") is not None and not isinstance(sample["url"], str):
        raise Failure(URL_NOT_STRING)
    if sample.get("event") is not None and not isinstance(sample["event"], str):
        raise Failure(EVENT_NOT_STRING)


# -- compile errors: where in the user's script --------------------------------------------------------

# The script is parsed as a function body, as the compiler's `new Function` does. `throw 0;` first:
# should a text close the function early and add statements of its own, the parsed program stops
# at its first statement, so nothing of the user's code can ever run here.
_WRAP_PREFIX = "throw 0;(function(){"
_WRAP_SUFFIX = "\n})"
_V8_HEAD = re.compile(r"<anonymous>:(\d+): ")
_CARET = re.compile(r"( *)\^+\s*")
# ECMAScript line terminators (what V8 counts lines by)
_JS_LINES = re.compile("\r\n|[\n\r\u2028\u2029]")


def _code_points(line: str, utf16_offset: int) -> int:
    """How many characters of `line` the first `utf16_offset` UTF-16 code units cover."""
    units = 0
    for index, char in enumerate(line):
        if units >= utf16_offset:
            return index
        units += 2 if ord(char) > 0xFFFF else 1
    return len(line)


def syntax_error_position(v8_text: str, source: str) -> tuple[int | None, int | None]:
    """The 1-based (line, column) in `source` of the parse error V8 reported for the wrapped text
    (`<anonymous>:LINE: SyntaxError: ...`, the source line, then a caret line whose indentation
    is the column in UTF-16 units). (None, None) when the text does not say; column None when
    there is no caret. An error after the end of the script (unexpected end of input) points
    just past its last character."""
    lines = v8_text.split("\n")
    head = _V8_HEAD.match(lines[0]) if lines else None
    if head is None:
        return None, None
    line = int(head.group(1))
    caret: int | None = None
    for text in lines[1:3]:
        found = _CARET.fullmatch(text)
        if found is not None:
            caret = len(found.group(1))
            break
    user_lines = _JS_LINES.split(source)
    if line > len(user_lines):  # in the wrapper's closing line
        last = user_lines[-1]
        return len(user_lines), len(last) + 1
    if line < 1:
        return None, None
    if caret is None:
        return line, None
    if line == 1:
        caret = max(0, caret - len(_WRAP_PREFIX))
    return line, _code_points(user_lines[line - 1], caret) + 1


def _parse_error_text_sync(source: str) -> str | None:
    """V8's parse error message for `source` as a function body (None if it parses). Never runs
    the user's code (see `_WRAP_PREFIX`); heap and time limits as for compiling."""
    ctx = MiniRacer()
    try:
        ctx.set_hard_memory_limit(HEAP_LIMIT_BYTES)
        ctx.eval(_WRAP_PREFIX + source + _WRAP_SUFFIX, timeout_sec=COMPILE_TIMEOUT_SEC)
    except JSParseException as exc:
        return str(exc)
    except (JSTimeoutException, JSOOMException, JSEvalException):
        return None
    finally:
        ctx.close()
    return None


async def script_error_document(error: ScriptError, source: str) -> dict[str, Any]:
    """`scriptError` of the answer: the compiler's error plus where it is in `source`."""
    line: int | None = None
    column: int | None = None
    if error.name == "SyntaxError":
        loop = asyncio.get_running_loop()
        text = await loop.run_in_executor(ISOLATE_THREAD, _parse_error_text_sync, source)
        if text is not None:
            line, column = syntax_error_position(text, source)
    return {**error.as_document(), "line": line, "column": column}


# -- the run ---------------------------------------------------------------------------------------------


async def _load(hub: Hub, caller: Row, wanted: DryRun) -> tuple[dict[str, Any] | None, Row]:
    """Permission checks and the stored integration (if any), with the user it posts as."""
    async with hub.tx(write=False) as ctx:
        rights = await rights_of(ctx, caller)
        kind: Kind = "incoming" if wanted.type == INCOMING else "outgoing"
        if not rights.manage_any(kind):
            raise PermissionRequired()
        if wanted.integration_id is None:
            return None, caller
        document = await store.get_integration(ctx.conn, wanted.integration_id)
        if document is None:
            raise Failure(NOT_FOUND)
        if not rights.may_manage(kind_of(document), document, str(caller["id"])):
            raise Failure(NOT_AUTHORIZED)
        if document.get("type") != wanted.type:
            raise Failure(f"The integration is not a {wanted.type} integration.")
        user_id = document.get("userId")
        poster = await users.get_by_id(ctx.conn, user_id) if isinstance(user_id, str) else None
    return document, poster or caller


def _answer(outcome: ScriptOutcome) -> dict[str, Any]:
    return {
        "status": outcome.status,
        "result": outcome.value if outcome.status == "ok" else None,
        "error": outcome.error,
        "logs": outcome.logs,
    }


def _incoming_outcome(result: IncomingScriptResult) -> dict[str, Any]:
    return {
        "kind": result.kind,
        "content": result.content,
        "response": result.response,
        "user": result.user,
        "error": result.error,
    }


def _incoming_request(
    hub: Hub, document: dict[str, Any] | None, poster: Row, sample: dict[str, Any] | None
) -> dict[str, Any]:
    """The §2.6 request object /hooks would hand the script for this sample."""
    given = DEFAULT_INCOMING_SAMPLE if sample is None else sample
    headers = {str(k).lower(): v for k, v in (given.get("headers") or {}).items()}
    content_type = headers.get("content-type", "application/json")
    body = given.get("body")
    if isinstance(body, str):
        raw = body.encode()
    elif body is None:
        raw = b""
    else:
        raw = json.dumps(body, ensure_ascii=False).encode()
    integration_id = str(document["_id"]) if document else "dry-run"
    token = str(document.get("token") or "") if document else "dry-run"
    path = f"/hooks/{integration_id}/{token}"
    url = given.get("url")
    query_string = ""
    if isinstance(url, str) and url:
        parts = urlsplit(url)
        path = parts.path or path
        query_string = parts.query
    query = given.get("query")
    if isinstance(query, dict) and query:
        query_string = urlencode(query, doseq=True)
    base = hub.settings.site_url
    full_url = url if isinstance(url, str) and url.startswith(("http://", "https://")) else None
    call = HookCall(
        integration_id=integration_id,
        token=token,
        method="POST",
        url=path,
        client_ip="127.0.0.1",
        content_type=content_type,
        raw_body=raw,
        path=path,
        query_string=query_string,
        full_url=full_url or f"{base}{path}{'?' + query_string if query_string else ''}",
        headers=headers,
    )
    request = script_request(call, parse_body(content_type, raw).body, poster)
    if isinstance(query, dict) and query:
        request["url"]["query"] = query  # as given (nested values survive)
    return request


def _outgoing_request(
    hub: Hub, document: dict[str, Any] | None, caller: Row, sample: dict[str, Any] | None
) -> dict[str, Any]:
    """The `request` `prepare_outgoing_request` receives for a sendMessage event (§3.5, §3.6), the
    sample's fields laid over the built payload."""
    given = dict(sample or {})
    event = given.pop("event", None) or (document or {}).get("event") or "sendMessage"
    url = given.pop("url", None)
    now = hub.clock()
    integration = document or {}
    if event == "sendMessage":
        room = {"_id": "GENERAL", "name": "general", "t": "c"}
        message = {
            "_id": random_id(),
            "ts": iso(now),
            "msg": "Hello",
            "u": {"_id": caller["id"], "username": caller["username"]},
        }
        data = build_data(
            "sendMessage",
            {"room": room, "message": message},
            integration,
            trigger_word=None,
            site_url=hub.settings.site_url,
            now=now,
        )
    else:
        token = integration.get("token")
        data = {"token": token} if isinstance(token, str) and token else {}
        data["bot"] = False
    data.update(given)
    if not isinstance(url, str) or not url:
        urls = integration.get("urls")
        first = urls[0] if isinstance(urls, list) and urls else None
        url = first if isinstance(first, str) and first else DEFAULT_OUTGOING_URL
    return default_request(url, data)


async def dry_run(hub: Hub, caller: Row, wanted: DryRun) -> dict[str, Any]:
    """Run the dry run; the answer's fields (without `success`). Raises `HookhubError`s for the
    permission and lookup failures."""
    document, poster = await _load(hub, caller, wanted)
    source = wanted.script
    if source is None:
        stored = (document or {}).get("script")
        if not isinstance(stored, str) or not stored.strip():
            raise Failure(NO_SCRIPT)
        source = stored
    incoming = wanted.type == INCOMING
    if scripts_disabled(hub.settings):
        answer: dict[str, Any] = {"status": "disabled", "result": None, "error": DISABLED, "logs": []}
        if incoming:
            answer["outcome"] = _incoming_outcome(IncomingScriptResult("skip"))
        return answer
    compiled = await compile_script(source)
    if isinstance(compiled, ScriptError):
        answer = {
            "status": "compile_error",
            "result": None,
            "error": f"{compiled.name}: {compiled.message}",
            "logs": [],
            "scriptError": await script_error_document(compiled, source),
        }
        if incoming:
            # /hooks treats an integration whose script does not compile as one without a script
            answer["outcome"] = _incoming_outcome(IncomingScriptResult("skip"))
        return answer
    integration = {
        **(document or {}),
        "_id": f"dry-run-{random_id()}",
        "_updatedAt": iso(hub.clock()),
        "scriptEnabled": True,
        "script": source,
        "scriptCompiled": compiled.code,
    }
    async with hub.dry_run_slots:
        # fetch=None: scripts' fetch rejects, so a dry run sends nothing anywhere
        sandbox = Sandbox(replace_workers(hub))
        try:
            if incoming:
                request = _incoming_request(hub, document, poster, wanted.sample)
                result = await process_incoming_request(sandbox, integration, request)
                outcome = result.outcome or ScriptOutcome("disabled")
                answer = {**_answer(outcome), "outcome": _incoming_outcome(result)}
            else:
                request = _outgoing_request(hub, document, caller, wanted.sample)
                outcome = await sandbox.call(integration, PREPARE_METHOD, {"request": request})
                answer = _answer(outcome)
        finally:
            await sandbox.close()
    if outcome.status == "compile_error":
        # it parses but does not load (no `class Script`, the constructor threw, ...)
        # V8's text may start with the shim's position ("<anonymous>:368: "), not the user's
        text = _V8_HEAD.sub("", outcome.error or "Error", count=1)
        name, _, message = text.partition(": ")
        answer["error"] = text
        answer["scriptError"] = {
            "name": name if message else "Error",
            "message": message or name,
            "stack": outcome.stack or outcome.error or "",
            "line": None,
            "column": None,
        }
    return answer


def replace_workers(hub: Hub) -> Settings:
    """The hub's settings with one script worker: a dry-run sandbox runs one call."""
    return hub.settings.model_copy(update={"script_workers": 1})
