"""What an outgoing webhook sends: the payload `data` (webhook-runtime.md §3.5) and the HTTP request
built from it (§3.4 steps 10-13, §3.6).

Pure functions over the documents an outbox event carries (`hookhub.services.outbox.record`):
`room` (room_doc), `user` and `actor` (user_doc(full=True)) and `message` (message_doc). Which key
holds the event's subject, per event type, as the services write them:

| outbox event | services call | subject used here |
|---|---|---|
| messageSent / messageEdited | `room`, `message`, `actor` = author | the message's `u` |
| roomCreated | `room`, `user` = owner, `actor` = owner | owner = `user`, else `actor` |
| roomArchived | `room`, `actor` = who archived (no `user`) | `user`, else `actor` |
| roomJoined | `room`, `user` = who joined, `actor` = inviter or self | `user` |
| roomLeft | `room`, `user` = who left, `actor` = kicker or self | `user` |
| userCreated | `user` | `user` |

hookhub sends the intended (pre-7.7) payload for every event, not Rocket.Chat 7.7's token-only body
(upstream issue #36348).
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from hookhub.ids import iso, parse_iso

USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/41.0.2227.0 Safari/537.36"
)
# node-fetch's default when a script sets no `timeout` (§3.6).
DEFAULT_TIMEOUT_SECONDS = 20.0
AUTH_FORM_ERROR = 'auth option should be of the form "username:password"'
# node-fetch refuses these before sending; upstream lands on the network-error path (§3.6).
BODY_FORBIDDEN_ERROR = "Request with GET/HEAD method cannot have body"

_EVENTS_OF_OUTBOX: dict[str, str] = {
    "messageSent": "sendMessage",
    "messageEdited": "sendMessage",
    "roomCreated": "roomCreated",
    "roomArchived": "roomArchived",
    "roomJoined": "roomJoined",
    "roomLeft": "roomLeft",
    "userCreated": "userCreated",
}
# Integration event names are accepted too (a replay knows only the recorded `event`).
_INTEGRATION_EVENTS = frozenset({*_EVENTS_OF_OUTBOX.values(), "fileUploaded"})
_MEMBERSHIP_EVENTS = frozenset({"roomArchived", "roomJoined", "roomLeft"})

# RFC 7230 token characters (what node-fetch accepts as a header name).
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_NORMALISED_METHODS = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"})
_HEADER_VALUE_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class PayloadError(ValueError):
    """The event lacks a document its payload needs (e.g. no room for roomJoined).

    Upstream would crash with a TypeError on the missing object; the caller decides what to record."""


class RequestInvalid(ValueError):
    """The request cannot be built (§3.4 step 10): the execution aborts before `pre-http-call` and
    the history record stays at its previous step."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A request ready for the egress client.

    `request` is the request object as the script layer sees it after §3.4 steps 10-12 (headers
    include the Authorization and Content-Type set there): it is what `process_outgoing_response`
    receives (§3.10). `problem` is set when the HTTP client would refuse to send it; upstream that
    is the network-error path (`after-http-call` with `httpError`), after `pre-http-call`.
    """

    method: str
    url: str
    body: bytes | None
    headers: dict[str, str]
    timeout_seconds: float
    request: dict[str, Any]
    problem: str | None = None


def js_truthy(value: Any) -> bool:
    """JavaScript truthiness of a JSON value: `{}` and `[]` are truthy, `""`, 0 and NaN are not."""
    if value is None or value is False:
        return False
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return value != 0 and not (isinstance(value, float) and math.isnan(value))
    if isinstance(value, str):
        return value != ""
    return True


def _js_string(value: Any) -> str:
    """JavaScript's `String(value)` for a JSON value a script can hand us."""
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return "[object Object]"
    if isinstance(value, list | tuple):
        return ",".join(_js_string(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# Dates through `_orjson_default` (iso() text, as jsonable); keys that are not text become text.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS

_SCALARS = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> Any:
    """A copy of a JSON-like value with fresh containers, datetimes as `iso()` text (what
    JSON.stringify sends for a Date)."""
    # Exact types first: this runs over every payload several times per delivery, and the
    # abstract `Mapping` check below costs more than the copy itself.
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        return {k if type(k) is str else str(k): jsonable(v) for k, v in value.items()}
    if kind is list:
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _orjson_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _date(value: Any) -> Any:
    """A document date as `iso()` text; unparseable strings are passed through unchanged."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, str):
        try:
            return iso(parse_iso(value))
        except ValueError:
            return value
    return value


def _without_services(user: Mapping[str, Any]) -> dict[str, Any]:
    doc = jsonable(user)
    doc.pop("services", None)
    return dict(doc)


def _document(payload: Mapping[str, Any], event: str, *keys: str) -> Mapping[str, Any]:
    for key in keys:
        value = payload.get(key)
        if isinstance(value, Mapping):
            return value
    raise PayloadError(f"the {event} event has no {' or '.join(keys)} document")


def _add_channel(data: dict[str, Any], room: Mapping[str, Any]) -> None:
    data["channel_id"] = room.get("_id")
    # DMs have no name in Rocket.Chat, so their payloads carry no channel_name.
    name = room.get("name")
    if room.get("t") != "d" and name is not None:
        data["channel_name"] = name


def _add_message(data: dict[str, Any], message: Mapping[str, Any]) -> None:
    author: Mapping[str, Any] = message.get("u") or {}
    data["message_id"] = message.get("_id")
    data["timestamp"] = _date(message.get("ts"))
    data["user_id"] = author.get("_id")
    data["user_name"] = author.get("username")
    data["text"] = message.get("msg")


def integration_event(event_type: str) -> str:
    """The integration `event` an outbox event type (or an integration event name) stands for."""
    if event_type in _EVENTS_OF_OUTBOX:
        return _EVENTS_OF_OUTBOX[event_type]
    if event_type in _INTEGRATION_EVENTS:
        return event_type
    raise PayloadError(f"no outgoing payload for the event {event_type!r}")


def build_data(
    event_type: str,
    event_payload: Mapping[str, Any],
    integration: Mapping[str, Any],
    *,
    trigger_word: str | None,
    site_url: str,
    now: datetime,
) -> dict[str, Any]:
    """The §3.5 `data` of one delivery.

    `event_type` is an outbox event type (`messageSent`, `messageEdited`, `roomCreated`, ...) or an
    integration event name (`sendMessage`, `fileUploaded`, ...). Keys come in upstream's order:
    `token` (only a non-empty string token), `bot`, `trigger_word` (only when one matched), then the
    event's fields. `bot` is `true` for a message with a `bot` marker (upstream copies the marker
    object; the contract says `true`) and for a subject user of type `bot`. Raises `PayloadError`
    when a document the event needs is missing.
    """
    event = integration_event(event_type)
    data: dict[str, Any] = {}
    token = integration.get("token")
    if isinstance(token, str) and token:
        data["token"] = token
    data["bot"] = False
    if trigger_word:
        data["trigger_word"] = trigger_word

    if event in ("sendMessage", "fileUploaded"):
        room = _document(event_payload, event, "room")
        message = _document(event_payload, event, "message")
        _add_channel(data, room)
        _add_message(data, message)
        if event == "sendMessage":
            data["siteUrl"] = site_url
        if js_truthy(message.get("alias")):
            data["alias"] = message["alias"]
        if js_truthy(message.get("bot")):
            data["bot"] = True
        if event == "sendMessage":
            if event_type == "messageEdited" or js_truthy(message.get("editedAt")):
                data["isEdited"] = True
            if js_truthy(message.get("tmid")):
                data["tmid"] = message["tmid"]
        else:
            data["user"] = _without_services(_document(event_payload, event, "user", "actor"))
            data["room"] = jsonable(room)
            data["message"] = jsonable(message)
    elif event == "roomCreated":
        room = _document(event_payload, event, "room")
        owner = _document(event_payload, event, "user", "actor")
        _add_channel(data, room)
        data["timestamp"] = _date(room.get("ts"))
        data["user_id"] = owner.get("_id")
        data["user_name"] = owner.get("username")
        data["owner"] = _without_services(owner)
        data["room"] = jsonable(room)
    elif event in _MEMBERSHIP_EVENTS:
        room = _document(event_payload, event, "room")
        # roomArchived is recorded with the archiving user as `actor` only.
        user = _document(event_payload, event, "user", "actor")
        data["timestamp"] = iso(now)
        _add_channel(data, room)
        data["user_id"] = user.get("_id")
        data["user_name"] = user.get("username")
        data["user"] = _without_services(user)
        data["room"] = jsonable(room)
        if user.get("type") == "bot":
            data["bot"] = True
    else:  # userCreated
        user = _document(event_payload, event, "user")
        data["timestamp"] = _date(user.get("createdAt"))
        data["user_id"] = user.get("_id")
        data["user_name"] = user.get("username")
        data["user"] = _without_services(user)
        if user.get("type") == "bot":
            data["bot"] = True
    return data


def default_request(url: str, data: dict[str, Any]) -> dict[str, Any]:
    """The §3.6 default request object: what `prepare_outgoing_request` receives and what is sent
    without a script. `auth` is undefined upstream, so the key is absent."""
    return {
        "params": {},
        "method": "POST",
        "url": url,
        "data": data,
        "headers": {"User-Agent": USER_AGENT},
    }


def _set_header(headers: dict[str, str], name: str, value: str) -> None:
    """Set `name`, replacing any spelling of it: a script's `content-type` next to our
    `Content-Type` would otherwise be sent as two values joined by a comma."""
    for key in [k for k in headers if k.lower() == name.lower()]:
        del headers[key]
    headers[name] = value


def _headers_of(request: Mapping[str, Any]) -> dict[str, str]:
    raw = request.get("headers")
    if not isinstance(raw, Mapping):
        # Upstream throws a TypeError setting a header on a missing `headers` object; we start
        # from none instead (the contract says scripts "should" pass headers, §3.7).
        return {}
    headers: dict[str, str] = {}
    for name, value in raw.items():
        # undefined values come back from the sandbox as None; fetch would send "undefined",
        # which no receiver wants.
        if value is None:
            continue
        headers[str(name)] = _js_string(value)
    return headers


def body_bytes(data: Any) -> bytes | None:
    """The body for request `data` (§3.6): none when falsy, strings as-is (UTF-8), objects and
    arrays as compact JSON (non-finite numbers as `null`, as JSON.stringify writes them), other
    scalars as JavaScript's `String()`."""
    if not js_truthy(data):
        return None
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, Mapping | list):
        if type(data) is dict or type(data) is list:
            try:
                # The same bytes as the json.dumps below for everything a payload holds, at a
                # fraction of the cost; anything orjson refuses takes the slow path and its errors.
                return orjson.dumps(data, default=_orjson_default, option=_ORJSON_OPTIONS)
            except (orjson.JSONEncodeError, ValueError):
                pass
        try:
            text = json.dumps(jsonable(data), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except ValueError as exc:
            raise RequestInvalid(f"request data cannot be sent as JSON: {exc}") from None
        return text.encode("utf-8")
    return _js_string(data).encode("utf-8")


def request_body(request: Mapping[str, Any]) -> tuple[bytes | None, dict[str, str]]:
    """Body bytes and headers of a request object (§3.4 steps 10 and 12, §3.6).

    A truthy `auth` must be a string containing `:` (else `RequestInvalid` with upstream's text)
    and becomes `Authorization: Basic <base64(auth)>`; a truthy `data` sets
    `Content-Type: application/json`, whatever the data is (upstream does the same).
    """
    headers = _headers_of(request)
    auth = request.get("auth")
    if js_truthy(auth):
        if not isinstance(auth, str) or ":" not in auth:
            raise RequestInvalid(AUTH_FORM_ERROR)
        credentials = base64.b64encode(auth.encode("utf-8")).decode("ascii")
        _set_header(headers, "Authorization", f"Basic {credentials}")
    data = request.get("data")
    body = body_bytes(data)
    if body is not None:
        _set_header(headers, "Content-Type", "application/json")
    return body, headers


def request_timeout_seconds(request: Mapping[str, Any]) -> float:
    """The request's `timeout` (milliseconds) in seconds when it is a positive finite number,
    otherwise the HTTP client default of 20 s (§3.6)."""
    timeout = request.get("timeout")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        return DEFAULT_TIMEOUT_SECONDS
    if math.isfinite(timeout) and timeout > 0:
        return float(timeout) / 1000.0
    return DEFAULT_TIMEOUT_SECONDS


def _transport_problem(method: str, body: bytes | None, headers: Mapping[str, str]) -> str | None:
    if body is not None and method.upper() in ("GET", "HEAD"):
        return BODY_FORBIDDEN_ERROR
    if not _HEADER_NAME.fullmatch(method):
        return f"Invalid request method {method!r}"
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name):
            return f'Header name must be a valid HTTP token ["{name}"]'
        if _HEADER_VALUE_FORBIDDEN.search(value):
            return f'Invalid character in header content ["{name}"]'
    return None


def http_request(request: Mapping[str, Any]) -> HttpRequest:
    """Turn the (possibly script-made) request object into what is sent (§3.4 steps 10-13).

    Call only for a request with a truthy `url` and `method` (§3.4 step 9). Raises
    `RequestInvalid` for a bad `auth` (abort, no `pre-http-call`); a request the HTTP client would
    refuse (GET/HEAD with a body, a malformed header or method) comes back with `problem` set.
    """
    body, headers = request_body(request)
    method = _js_string(request.get("method"))
    url = _js_string(request.get("url"))
    seen = jsonable(request)
    seen["headers"] = dict(headers)
    return HttpRequest(
        # fetch upper-cases these six only (a lower-case `patch` is sent as written).
        method=method.upper() if method.upper() in _NORMALISED_METHODS else method,
        url=url,
        body=body,
        headers=headers,
        timeout_seconds=request_timeout_seconds(request),
        request=seen,
        problem=_transport_problem(method, body, headers),
    )
