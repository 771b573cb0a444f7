"""Incoming webhook execution (webhook-runtime.md §2): `/hooks/<id>/<token>` → chat messages.

A request without a script is one write transaction: lookup, rate limit, the enabled check, the
idempotency receipt, the messages and their outbox events all commit together or not at all, so a
2xx answer means the message is stored and a failed request leaves nothing behind.

The script stage (§2.4 step 5) never runs inside a transaction: a script may take seconds, and
must not hold SQLite's single write lock or a PostgreSQL connection meanwhile. When the stage
applies, the first write transaction (steps 1-4) is rolled back without having written anything,
the script runs, and a second write transaction authenticates again and carries on with the
script's result (see `execute`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

import orjson

from hookhub.config import Settings
from hookhub.hub import Hub
from hookhub.ids import random_id
from hookhub.runtime.rate_limit import RateLimiter, integration_limit
from hookhub.runtime.sandbox import (
    ERROR_RUNNING_SCRIPT,
    IncomingScriptResult,
    process_incoming_request,
    script_runs,
)
from hookhub.services import chat
from hookhub.services.context import Ctx
from hookhub.services.documents import message_doc
from hookhub.services.errors import (
    Failure,
    FailureObject,
    HookhubError,
    InvalidParams,
    MeteorError,
    NotFound,
    NotLoggedIn,
)
from hookhub.services.integrations import outgoing
from hookhub.store import hook_receipts, integrations, users
from hookhub.store.rows import Row

log = logging.getLogger(__name__)

INVALID_HOOK = "Invalid integration id or token provided."
OVERRIDE_DISABLED = "overriding destination channel is disabled for this integration"
PAYLOAD_NOT_OBJECT = "Integration payload must be a JSON object, not an array or primitive"
INCOMING = "webhook-incoming"

# How long an idempotency key is remembered, and how often (at most) old receipts are swept.
RECEIPT_TTL = timedelta(hours=24)
_PRUNE_EVERY_SECONDS = 600.0
_last_prune = -math.inf  # the first post of a process prunes, however young the machine is

# The replay marker: tells a client the answer is the stored one and nothing new was posted.
REPLAYED_HEADER = "Idempotent-Replayed"


class ServiceUnavailable(HookhubError):
    """A disabled integration: 503 (webhook-runtime.md §2.4 step 1)."""

    status = 503

    def body(self) -> dict[str, Any]:
        return {"success": False, "error": "Service Unavailable"}


@dataclass(frozen=True)
class HookCall:
    """What the HTTP layer hands over: path values, the raw body, and the request facts the
    rate limiter and the idempotency check need."""

    integration_id: str
    token: str
    method: str
    url: str  # path and query string as received: the rate limiter's bucket
    client_ip: str
    content_type: str
    raw_body: bytes
    idempotency_key: str | None = None
    # For the script's `request` (§2.6): the path as received (still percent-encoded), the query
    # string without "?", the absolute URL, the headers (lower-cased names, repeated ones joined
    # with ", " as Node does) and the ignored middle segment of the legacy 3-segment route.
    path: str = ""
    query_string: str = ""
    full_url: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    user_id_segment: str | None = None


@dataclass
class HookAnswer:
    status: int
    body: dict[str, Any]


# -- body normalisation (§2.3) ---------------------------------------------------------------------


@dataclass(frozen=True)
class Parsed:
    """A normalised body, or the 400 a malformed form `payload` earns (raised only after the
    lookup and enabled checks, which come first in Rocket.Chat's order)."""

    body: dict[str, Any]
    error: Failure | None = None


def _json_object(raw: bytes | str) -> dict[str, Any]:
    """The body as a JSON object; anything else (invalid JSON, arrays, primitives, bytes that
    are not UTF-8) counts as no fields, as Rocket.Chat's parser leaves them."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def parse_body(content_type: str, raw: bytes) -> Parsed:
    """Turn the request body into the payload object (webhook-runtime.md §2.3). Query
    parameters never take part."""
    kind = content_type.lower()
    if "multipart/form-data" in kind:
        return Parsed({})
    if "application/x-www-form-urlencoded" in kind:
        text = raw.decode("utf-8", errors="replace")
        # last value wins, as in the framework's form parser
        form = dict(parse_qsl(text, keep_blank_values=True))
        if kind.strip().startswith("application/x-www-form-urlencoded") and list(form) == ["payload"]:
            try:
                value = orjson.loads(form["payload"])
            except orjson.JSONDecodeError:
                # not JSON: the form itself stays the body (Rocket.Chat's backward-compatible path)
                return Parsed(form)
            if isinstance(value, dict):
                return Parsed(value)
            return Parsed({}, Failure(PAYLOAD_NOT_OBJECT))
        return Parsed(form)
    if not raw.strip():
        return Parsed({})
    # JSON, and also a missing or other content type: senders such as AWS SNS post JSON as
    # text/plain. Rocket.Chat turns such text into index-keyed garbage; no fields is the useful
    # reading of the same thing.
    return Parsed(_json_object(raw))


# -- message payload -----------------------------------------------------------------------------


def defaults_of(integration: dict[str, Any]) -> dict[str, str]:
    """The integration's message defaults (§2.4 step 3)."""
    out: dict[str, str] = {}
    for key in ("alias", "avatar", "emoji"):
        value = integration.get(key)
        out[key] = value if isinstance(value, str) else ""
    return out


def _channels_of(integration: dict[str, Any]) -> list[str]:
    value = integration.get("channel")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def check_override(integration: dict[str, Any], body: dict[str, Any]) -> None:
    """A payload may only pick its destination when the integration allows it (§2.4 step 7)."""
    if (body.get("channel") or body.get("roomId")) and integration.get(
        "overrideDestinationChannelEnabled"
    ) is not True:
        raise Failure(OVERRIDE_DISABLED)


def message_payload(integration: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The body the message builder receives: the destination (the payload's `channel`, else its
    `roomId`, else the integration's channels) and `bot` forced to this integration."""
    payload = dict(body)
    for key in ("channel", "roomId"):
        if not payload.get(key):
            payload.pop(key, None)
    if "channel" not in payload and "roomId" not in payload:
        payload["channel"] = _channels_of(integration)
    payload["bot"] = {"i": integration["_id"]}
    return payload


def _targets_of(payload: dict[str, Any]) -> list[Any]:
    value = payload["channel"] if "channel" in payload else payload["roomId"]
    entries = value if isinstance(value, list) else [value]
    out: list[Any] = []
    for entry in entries:
        if entry and entry not in out:
            out.append(entry)
    return out


def error_text(exc: HookhubError) -> str:
    """The `error` string Rocket.Chat reports for a failed destination: the error's code when it
    has one, else its message."""
    exc = _as_hook_error(exc)
    error = exc.body().get("error")
    return error if isinstance(error, str) and error else "unknown-error"


def _as_hook_error(exc: HookhubError) -> HookhubError:
    """A posting error as the hook answers it: Meteor errors by their bare code (`invalid-channel`,
    not `[invalid-channel]`)."""
    if isinstance(exc, MeteorError):
        return Failure(str(exc.error_type))
    if isinstance(exc, Failure) and exc.error == "error-room-archived":
        return Failure("room_is_archived")
    return exc


# -- the pipeline ----------------------------------------------------------------------------------


async def authenticate(ctx: Ctx, integration_id: str, token: str) -> tuple[dict[str, Any], Row]:
    """The integration with this id whose token matches (compared in constant time), and the user
    it posts as. Only incoming integrations answer: an outgoing integration's token travels in
    every payload it sends, so it must not open this door."""
    integration = await integrations.get_integration(ctx.conn, integration_id)
    stored = integration.get("token") if integration is not None else None
    if (
        integration is None
        or integration.get("type") != INCOMING
        or not isinstance(stored, str)
        or not hmac.compare_digest(stored.encode(), token.encode())
    ):
        raise NotFound(INVALID_HOOK)
    user_id = integration.get("userId")
    user = await users.get_by_id(ctx.conn, user_id) if isinstance(user_id, str) else None
    if user is None:
        raise NotLoggedIn()
    return integration, user


def check_rate(
    limiter: RateLimiter,
    ctx: Ctx,
    integration: dict[str, Any],
    call: HookCall,
    headers: MutableMapping[str, str],
) -> None:
    """Count the call; the `X-RateLimit-*` values go into `headers` even when it is refused."""
    limit = integration_limit(integration, ctx.settings.hooks_rate_limit)
    try:
        headers.update(limiter.check(call.url, call.method, call.client_ip, limit))
    except HookhubError as exc:
        headers.update(getattr(exc, "headers", {}))
        raise


def key_hash(key: str | None) -> str | None:
    """Keys are stored hashed: any length fits the column and the raw value is not kept."""
    if key is None or not key.strip():
        return None
    return hashlib.sha256(key.strip().encode()).hexdigest()


async def _replay(ctx: Ctx, integration_id: str, hashed: str) -> HookAnswer | None:
    receipt = await hook_receipts.get_receipt(ctx.conn, integration_id, hashed)
    if receipt is None:
        return None
    if receipt["created_at"] < ctx.now() - RECEIPT_TTL:
        # expired: forget it so this request can be accepted (and its receipt stored) afresh
        await hook_receipts.delete_receipt(ctx.conn, receipt["id"])
        return None
    return HookAnswer(status=int(receipt["status"]), body=dict(receipt["body"]))


async def _maybe_prune(ctx: Ctx) -> None:
    global _last_prune
    now = time.monotonic()
    if now - _last_prune < _PRUNE_EVERY_SECONDS:
        return
    _last_prune = now
    await hook_receipts.prune_receipts(ctx.conn, ctx.now() - RECEIPT_TTL)


async def _post(
    ctx: Ctx, integration: dict[str, Any], user: Row, payload: dict[str, Any]
) -> list[chat.Posted]:
    try:
        return await chat.post_message(
            ctx, user, payload, defaults=defaults_of(integration), impersonation_allowed=True
        )
    except HookhubError as exc:
        mapped = _as_hook_error(exc)
        if mapped is exc:
            raise
        raise mapped from exc


MISSING_ROOM = "invalid-channel"


async def _post_each(
    ctx: Ctx, integration: dict[str, Any], user: Row, payload: dict[str, Any]
) -> tuple[list[chat.Posted], list[Any]]:
    """Several destinations: each posted in a savepoint; a destination whose room no longer
    exists (a deleted room, e.g. with its team) is skipped and returned, so the integration keeps
    working for its other rooms. Any other refusal fails the whole call, as one destination's
    would."""
    posted: list[chat.Posted] = []
    missing: list[Any] = []
    base = {k: v for k, v in payload.items() if k not in ("channel", "roomId")}
    for target in _targets_of(payload):
        try:
            async with ctx.conn.begin_nested():
                posted.extend(await _post(ctx, integration, user, {**base, "channel": target}))
        except Failure as exc:
            if exc.error != MISSING_ROOM:
                raise
            missing.append(target)
    return posted, missing


async def _post_separately(
    ctx: Ctx, integration: dict[str, Any], user: Row, payload: dict[str, Any]
) -> list[dict[str, Any]]:
    """`separateResponse`: every destination on its own (in a savepoint, so a refused one leaves
    nothing behind, not even an auto-join), its message or its error in the answer."""
    responses: list[dict[str, Any]] = []
    base = {k: v for k, v in payload.items() if k not in ("channel", "roomId")}
    for target in _targets_of(payload):
        try:
            async with ctx.conn.begin_nested():
                posted = await chat.post_message(
                    ctx,
                    user,
                    {**base, "channel": target},
                    defaults=defaults_of(integration),
                    impersonation_allowed=True,
                )
        except HookhubError as exc:
            responses.append({"channel": target, "error": error_text(exc)})
            continue
        responses.append({"channel": target, "message": message_doc(posted[0].message)})
    return responses


# -- the script stage (§2.4 step 5, §2.6) -----------------------------------------------------------

# How often a script is run again because the integration changed while it ran (see `execute`).
MAX_SCRIPT_RUNS = 3
# qs's defaults: at most this many parameters are parsed, nested this deep, and numeric indices
# up to this value make arrays (`a[0]=x&a[1]=y` → ["x", "y"]).
_QS_PARAMETER_LIMIT = 1000
_QS_DEPTH = 5
_QS_ARRAY_LIMIT = 20
# Bounds on what one script call writes to the log.
_LOG_STACK_LINES = 5
_LOG_CONSOLE_LINES = 20
_LOG_CONSOLE_CHARS = 500
INVALID_SCRIPT_USER = "error-invalid-user"


def script_applies(settings: Settings, integration: dict[str, Any], call: HookCall) -> bool:
    """Whether step 5 runs for this call: scripts not disabled, `scriptEnabled` true, a non-blank
    `scriptCompiled`, and a request with a body. A GET (or HEAD) has none, so it never runs the
    script; a POST always has one for this purpose, even an empty one (Rocket.Chat's parsed body
    is then `{}`, which is truthy in JavaScript)."""
    return script_runs(settings, integration) and call.method.upper() not in ("GET", "HEAD")


def _qs_keys(key: str) -> list[str]:
    """`a[b][]` → ["a", "b", ""]; text after the depth limit stays one literal segment, and a
    key that does not follow the bracket grammar is taken whole, as qs does."""
    head, bracket, rest = key.partition("[")
    if not bracket or not head:
        return [key]
    parts = [head]
    rest = "[" + rest
    while rest.startswith("[") and "]" in rest and len(parts) <= _QS_DEPTH:
        inner, _, rest = rest[1:].partition("]")
        parts.append(inner)
    if rest:
        parts.append(rest)
    return parts


def _qs_assign(target: dict[str, Any], parts: list[str], value: str) -> None:
    node = target
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "":
            part = str(len(node))  # `a[]=x`: the next free index, turned into a list below
        if last:
            current = node.get(part)
            if current is None:
                node[part] = value
            elif isinstance(current, list):
                current.append(value)
            elif isinstance(current, dict):
                current[str(len(current))] = value
            else:
                node[part] = [current, value]  # repeated key: a list, as qs makes it
            return
        child = node.get(part)
        if isinstance(child, list):
            child = {str(i): v for i, v in enumerate(child)}
        elif not isinstance(child, dict):
            child = {} if child is None else {"0": child}
        node[part] = child
        node = child


def _qs_compact(value: Any) -> Any:
    """Objects whose keys are all small array indices become arrays, ordered by index."""
    if isinstance(value, list):
        return [_qs_compact(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _qs_compact(v) for k, v in value.items()}
    if out and all(k.isdigit() and int(k) <= _QS_ARRAY_LIMIT for k in out):
        return [out[k] for k in sorted(out, key=int)]
    return out


def parse_query(query_string: str) -> dict[str, Any]:
    """The query string as the `qs` package parses it for `request.url.query`: `a[b]=1` nests,
    `a[]=1&a[]=2` and repeated keys make lists, everything else is a string."""
    result: dict[str, Any] = {}
    pairs = parse_qsl(query_string, keep_blank_values=True, max_num_fields=None)
    for key, value in pairs[:_QS_PARAMETER_LIMIT]:
        if key:
            _qs_assign(result, _qs_keys(key), value)
    compacted: dict[str, Any] = {k: _qs_compact(v) for k, v in result.items()}
    return compacted


def script_request(call: HookCall, body: dict[str, Any], user: Row) -> dict[str, Any]:
    """The §2.6 `request` object the script receives."""
    url_params = {"integrationId": call.integration_id, "token": call.token}
    if call.user_id_segment is not None:
        url_params["userId"] = call.user_id_segment
    return {
        "url": {
            "hash": "",
            "search": f"?{call.query_string}" if call.query_string else "",
            "query": parse_query(call.query_string),
            "pathname": call.path,
            "path": call.full_url,
        },
        "url_raw": call.full_url,
        "url_params": url_params,
        "content": body,
        "content_raw": call.raw_body.decode("utf-8", errors="replace"),
        "headers": dict(call.headers),
        "body": body,
        "user": {"_id": user["id"], "name": user.get("name") or "", "username": user.get("username")},
    }


def _log_script(integration_id: str, result: IncomingScriptResult) -> None:
    """Script failures at WARNING (status, error, the first lines of the stack) and its console
    lines at DEBUG, bounded; never the token or the request body."""
    outcome = result.outcome
    if outcome is None:
        return
    if outcome.status != "ok" or (result.kind == "error" and result.error == ERROR_RUNNING_SCRIPT):
        stack = "\n".join((outcome.stack or "").splitlines()[:_LOG_STACK_LINES])
        log.warning(
            "integration %s: process_incoming_request failed (%s): %s%s",
            integration_id,
            outcome.status if outcome.status != "ok" else "unusable result",
            outcome.error or "the result has no object `content`",
            f"\n{stack}" if stack else "",
        )
    if outcome.logs and log.isEnabledFor(logging.DEBUG):
        for entry in outcome.logs[:_LOG_CONSOLE_LINES]:
            log.debug(
                "integration %s: console.%s: %s",
                integration_id,
                entry["level"],
                entry["text"][:_LOG_CONSOLE_CHARS],
            )
        if len(outcome.logs) > _LOG_CONSOLE_LINES:
            log.debug(
                "integration %s: %d more console lines",
                integration_id,
                len(outcome.logs) - _LOG_CONSOLE_LINES,
            )


async def run_script(
    hub: Hub, integration: dict[str, Any], user: Row, call: HookCall, body: dict[str, Any]
) -> IncomingScriptResult:
    """Run the integration's `process_incoming_request` (off the event loop, outside any
    transaction) and log how it went."""
    result = await process_incoming_request(hub.sandbox, integration, script_request(call, body, user))
    _log_script(str(integration["_id"]), result)
    return result


class ScriptRefusal(HookhubError):
    """Marks the refusals a script's result asked for (its own `error` value, or the runtime's
    script codes): their text is the script's, so metrics count them under one reason."""


class _ScriptFailure(Failure, ScriptRefusal):
    pass


class _ScriptFailureObject(FailureObject, ScriptRefusal):
    pass


def script_failure(value: Any) -> HookhubError:
    """A script's `error` value as the 400 answer: a string is the `error` text, an object is
    merged with `success: false`, anything else lands in `error` as it is."""
    if isinstance(value, str):
        return _ScriptFailure(value)
    if isinstance(value, dict):
        return _ScriptFailureObject(value)
    return _ScriptFailureObject({"error": value})


async def script_user(ctx: Ctx, given: dict[str, Any]) -> Row:
    """The user a script's result asks to post as.

    Deviation from Rocket.Chat, which uses the script's object as it is (not re-read): hookhub
    posts only as stored users (membership, permissions and the message's `u` come from the row),
    so the user is looked up by `_id`, else by `username`; when neither names a stored user the
    request fails with 400 `error-invalid-user` and nothing is posted.
    """
    for key, lookup in (("_id", users.get_by_id), ("username", users.get_by_username)):
        value = given.get(key)
        if isinstance(value, str) and value:
            found = await lookup(ctx.conn, value)
            if found is not None:
                return found
    raise Failure(INVALID_SCRIPT_USER)


async def run_pipeline(
    ctx: Ctx,
    integration: dict[str, Any],
    user: Row,
    parsed: Parsed,
    script: IncomingScriptResult | None = None,
) -> HookAnswer:
    """§2.4 from step 4 on, for an enabled integration: returns the success answer or raises the
    failure (which rolls the transaction back). `script` is the result of step 5 when the stage
    ran (it ran before this transaction began); None or `skip` carries on with the body."""
    if parsed.error is not None:
        raise parsed.error
    body = parsed.body
    response: dict[str, Any] | None = None
    if script is not None and script.kind != "skip":
        if script.kind == "nothing":
            return HookAnswer(200, {"success": True})
        if script.kind == "error":
            raise script_failure(script.error)
        assert script.content is not None
        content = dict(script.content)
        if "separateResponse" not in content and "separateResponse" in body:
            content["separateResponse"] = body["separateResponse"]
        body = content
        response = script.response
        if script.user is not None:
            user = await script_user(ctx, script.user)
    separate = body.get("separateResponse") is True
    if not body and integration.get("scriptEnabled") is not True:
        return HookAnswer(200, {"success": True})
    check_override(integration, body)
    payload = message_payload(integration, body)
    payload.pop("separateResponse", None)
    if separate:
        responses = await _post_separately(ctx, integration, user, payload)
        if not any("message" in r for r in responses):
            raise FailureObject({"responses": responses})
        if response is not None:
            return HookAnswer(200, {**response, "success": True})
        return HookAnswer(200, {"responses": responses, "success": True})
    if len(_targets_of(payload)) > 1:
        posted, missing = await _post_each(ctx, integration, user, payload)
        if not posted:
            raise Failure(MISSING_ROOM)
    else:
        posted, missing = await _post(ctx, integration, user, payload), []
    if not posted:
        raise Failure("unknown-error")
    answer: dict[str, Any] = {**(response or {}), "success": True}
    if missing:
        # said in the answer and the log: a destination is gone, the others were posted to
        log.warning(
            "incoming integration %s: destination(s) %s no longer exist; posted to the others",
            integration.get("_id"),
            ", ".join(str(m) for m in missing),
        )
        answer["missingChannels"] = missing
    return HookAnswer(200, answer)


class _ScriptFirst(Exception):
    """Leaves the first transaction (rolled back, nothing written) so the script runs outside it."""

    def __init__(self, integration: dict[str, Any], user: Row) -> None:
        super().__init__("the script stage runs outside the transaction")
        self.integration = integration
        self.user = user


@dataclass(frozen=True)
class _ScriptRun:
    version: Any  # the integration's `_updatedAt` the script ran against
    result: IncomingScriptResult


async def execute(
    hub: Hub,
    limiter: RateLimiter,
    call: HookCall,
    headers: MutableMapping[str, str],
    *,
    counted: bool = False,
) -> HookAnswer:
    """Run one hook call. Response headers (rate limit, replay marker) are added to `headers`;
    failures are raised as domain errors after the transaction rolled back. `counted`: the rate
    limiter has already counted this call (the fast path did, then handed the call over here).

    With a script, the transaction runs twice around it. The first does steps 1-4 (counting the
    call in the rate limiter, which the second does not do again, and answering a replayed
    idempotency key without running the script) and is rolled back. The second authenticates
    again and repeats the enabled and replay checks, because the integration may have been
    disabled, changed or removed, or a twin request with the same key may have finished, while
    the script ran. If the integration's `_updatedAt` changed, the current version decides: the
    stage is re-evaluated and, if it still applies, the new script runs again (at most
    `MAX_SCRIPT_RUNS` runs in all; an integration changing under every run gets the latest
    result, produced by a version that was current a moment before)."""
    parsed = parse_body(call.content_type, call.raw_body)  # CPU work before the write transaction
    hashed = key_hash(call.idempotency_key)
    script: _ScriptRun | None = None
    runs = 0
    while True:
        try:
            async with hub.tx() as ctx:
                integration, user = await authenticate(ctx, call.integration_id, call.token)
                if not counted:
                    counted = True
                    check_rate(limiter, ctx, integration, call, headers)
                if integration.get("enabled") is not True:
                    raise ServiceUnavailable()
                if hashed is not None:
                    replayed = await _replay(ctx, integration["_id"], hashed)
                    if replayed is not None:
                        headers[REPLAYED_HEADER] = "true"
                        return replayed
                result: IncomingScriptResult | None = None
                if parsed.error is None and script_applies(ctx.settings, integration, call):
                    current = integration.get("_updatedAt")
                    if script is None or (script.version != current and runs < MAX_SCRIPT_RUNS):
                        raise _ScriptFirst(integration, user)
                    result = script.result
                answer = await run_pipeline(ctx, integration, user, parsed, result)
                if hashed is not None:
                    await hook_receipts.insert_receipt(
                        ctx.conn,
                        integration["_id"],
                        hashed,
                        status=answer.status,
                        body=answer.body,
                        created_at=ctx.now(),
                    )
                    await _maybe_prune(ctx)
                return answer
        except _ScriptFirst as pending:
            runs += 1
            outcome = await run_script(hub, pending.integration, pending.user, call, parsed.body)
            script = _ScriptRun(pending.integration.get("_updatedAt"), outcome)
        except hook_receipts.DuplicateReceipt:
            # A concurrent twin committed first (PostgreSQL; SQLite serialises writers before the
            # check): its answer is this request's answer, and our messages were rolled back.
            assert hashed is not None
            async with hub.tx(write=False) as ctx:
                replayed = await _replay(ctx, call.integration_id, hashed)
            if replayed is None:
                raise Failure("unknown-error") from None
            headers[REPLAYED_HEADER] = "true"
            return replayed


# -- helper routes (§2.12) -------------------------------------------------------------------------


async def open_helper(
    hub: Hub, limiter: RateLimiter, call: HookCall, headers: MutableMapping[str, str]
) -> None:
    """The checks every helper route makes: the integration lookup and the rate limit."""
    async with hub.tx(write=False) as ctx:
        integration, _user = await authenticate(ctx, call.integration_id, call.token)
        check_rate(limiter, ctx, integration, call, headers)


def sample_data(now_ms: int) -> list[dict[str, Any]]:
    """Zapier's sample: three outgoing-webhook-shaped messages with random ids."""
    return [
        {
            "token": random_id(24),
            "channel_id": random_id(),
            "channel_name": "general",
            "timestamp": now_ms,
            "user_id": random_id(),
            "user_name": "rocket.cat",
            "text": f"Sample text {n}",
            "trigger_word": "Sample",
        }
        for n in (1, 2, 3)
    ]


_ZAPIER_EVENTS = ("newMessageOnChannel", "newMessageToUser")
_ZAPIER_DATA_KEYS = ("channel_name", "trigger_words", "username")


def _zapier_add_errors(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["must be object"]
    errors = [f"must have required property '{k}'" for k in ("event", "name", "target_url") if k not in body]
    for key in body:
        if key not in ("event", "name", "target_url", "data"):
            errors.append(f"must NOT have additional properties ('{key}')")
    if "event" in body and body["event"] not in _ZAPIER_EVENTS:
        errors.append("/event must be equal to one of the allowed values")
    for key in ("name", "target_url"):
        if key in body and not isinstance(body[key], str):
            errors.append(f"/{key} must be string")
    data = body.get("data")
    if "data" in body:
        if not isinstance(data, dict):
            errors.append("/data must be object")
        else:
            for key in data:
                if key not in _ZAPIER_DATA_KEYS:
                    errors.append(f"/data must NOT have additional properties ('{key}')")
    return errors


def _helper_body(raw: bytes) -> Any:
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidParams(["the request body is not valid JSON"]) from None


async def zapier_add(
    hub: Hub, limiter: RateLimiter, call: HookCall, headers: MutableMapping[str, str]
) -> dict[str, Any]:
    """`POST /hooks/add/...`: subscribe a Zapier REST hook by creating an outgoing integration
    as the hook's user (its permissions apply). Returns the created integration."""
    body = _helper_body(call.raw_body)
    errors = _zapier_add_errors(body)
    if errors:
        raise InvalidParams(errors)
    data: dict[str, Any] = body.get("data") or {}
    record: dict[str, Any] = {
        "type": "webhook-outgoing",
        "name": body["name"],
        "username": "rocket.cat",
        "urls": [body["target_url"]],
        "event": "sendMessage",
        "scriptEnabled": False,
    }
    if body["event"] == "newMessageOnChannel":
        channel = data.get("channel_name")
        if isinstance(channel, str):
            record["channel"] = channel if channel.startswith("#") else f"#{channel}"
        if data.get("trigger_words") is not None:
            record["triggerWords"] = data["trigger_words"]
        record["enabled"] = True
        record["token"] = random_id(24)
    else:
        username = data.get("username")
        if not isinstance(username, str) or not username:
            raise Failure("username-required")
        record["channel"] = username if username.startswith("@") else f"@{username}"
        # Rocket.Chat creates this one disabled and without a token (§2.12), kept as it is.
        record["enabled"] = False
        record["token"] = ""
    async with hub.tx() as ctx:
        integration, user = await authenticate(ctx, call.integration_id, call.token)
        check_rate(limiter, ctx, integration, call, headers)
        try:
            return await outgoing.add_outgoing(ctx, user, record)
        except MeteorError as exc:
            raise Failure(str(exc.error_type)) from exc


async def zapier_remove(
    hub: Hub, limiter: RateLimiter, call: HookCall, headers: MutableMapping[str, str]
) -> None:
    """`POST /hooks/remove/...`: delete the outgoing integration that calls `target_url`, as the
    hook's user."""
    body = _helper_body(call.raw_body)
    if not isinstance(body, dict):
        raise InvalidParams(["must be object"])
    if "target_url" not in body:
        raise InvalidParams(["must have required property 'target_url'"])
    if not isinstance(body["target_url"], str):
        raise InvalidParams(["/target_url must be string"])
    async with hub.tx() as ctx:
        integration, user = await authenticate(ctx, call.integration_id, call.token)
        check_rate(limiter, ctx, integration, call, headers)
        found = await outgoing.find_for_request(ctx, body["target_url"], None)
        if found is None:
            raise Failure("integration-not-found")
        try:
            await outgoing.delete_outgoing(ctx, user, found["_id"])
        except MeteorError as exc:
            raise Failure(str(exc.error_type)) from exc
