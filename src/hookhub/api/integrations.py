"""`integrations.create`, `integrations.update`, `integrations.remove` (rest-integrations.md §4 to §6).

The bodies are checked here the way Rocket.Chat's AJV validators do it: a `oneOf` over object
schemas, each branch stopping at its first failing keyword, the bare messages (no paths) joined by
"\\n " with `[invalid-params]`. pydantic unions word these differently, so the check is explicit."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from fastapi import Body as BodyParam
from starlette.responses import Response

from hookhub.api.deps import CallerDep, HubDep
from hookhub.api.envelope import ok
from hookhub.api.routing import json_body, make_router
from hookhub.services.errors import Failure, InvalidParams, PermissionRequired
from hookhub.services.integrations import incoming, outgoing
from hookhub.services.integrations.permissions import INCOMING, OUTGOING, rights_of

router = make_router("integrations")

# -- a small AJV (draft-07, allErrors off) for the three body schemas -----------------------------------


@dataclass(frozen=True)
class Prop:
    type: str  # "string" | "boolean" | "number" | "array" (of non-empty strings)
    nullable: bool = True
    pattern: str | None = None


@dataclass(frozen=True)
class Branch:
    properties: dict[str, Prop]
    required: tuple[str, ...]
    additional: bool = False


_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1

_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "number": (int, float),
    "array": (list,),
}


def _type_error(prop: Prop, value: Any) -> str | None:
    if value is None:
        return None if prop.nullable else f"must be {prop.type}"
    is_bool = isinstance(value, bool)
    if not isinstance(value, _PY_TYPES[prop.type]) or (is_bool and prop.type != "boolean"):
        return f"must be {prop.type}"
    if isinstance(value, float) and not math.isfinite(value):
        # Python's JSON reader accepts NaN/Infinity, JavaScript's does not: never a number here
        return f"must be {prop.type}"
    if isinstance(value, int | float) and prop.type == "number" and not _INT32_MIN <= value <= _INT32_MAX:
        # beyond AJV: the value lands in an integer column, so it must fit one
        return f"must be <= {_INT32_MAX}" if value > 0 else f"must be >= {_INT32_MIN}"
    if prop.pattern is not None and isinstance(value, str) and not re.search(prop.pattern, value):
        return f'must match pattern "{prop.pattern}"'
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, str):
                return "must be string"
            if len(item) < 1:
                return "must NOT have fewer than 1 characters"
    return None


def _first_error(branch: Branch, data: Any) -> str | None:
    """AJV's keyword order for an object schema: type, required, additionalProperties, properties."""
    if not isinstance(data, dict):
        return "must be object"
    for name in branch.required:
        if name not in data:
            return f"must have required property '{name}'"
    if not branch.additional:
        for key in data:
            if key not in branch.properties:
                return "must NOT have additional properties"
    for name, prop in branch.properties.items():
        if name in data:
            error = _type_error(prop, data[name])
            if error is not None:
                return error
    return None


def validate_one_of(branches: list[Branch], data: Any) -> dict[str, Any]:
    """`oneOf`: exactly one branch must pass; otherwise each failing branch's first error, then
    `must match exactly one schema in oneOf`."""
    errors: list[str] = []
    passing = 0
    for branch in branches:
        error = _first_error(branch, data)
        if error is None:
            passing += 1
            if passing > 1:
                break
        else:
            errors.append(error)
    if passing != 1:
        raise InvalidParams([*errors, "must match exactly one schema in oneOf"])
    assert isinstance(data, dict)
    return data


def _s(nullable: bool = True, pattern: str | None = None) -> Prop:
    return Prop("string", nullable, pattern)


def _b(nullable: bool = True) -> Prop:
    return Prop("boolean", nullable)


_STRINGS = Prop("array")

# What the incoming create and update branches share, in schema order (AJV reports the first
# failing property in that order).
_INCOMING_SHARED = {
    "channel": _s(False),
    "scriptEnabled": _b(False),
    "overrideDestinationChannelEnabled": _b(),
    "script": _s(),
    "name": _s(False),
    "enabled": _b(False),
    "alias": _s(),
    "avatar": _s(),
    "emoji": _s(),
}
# hookhub's per-hook rate limit (calls per minute, 0 = none); not in Rocket.Chat
_RATE_LIMIT = {"rateLimit": Prop("number")}

_INCOMING_CREATE = Branch(
    properties={
        "type": _s(False, "webhook-incoming"),
        "username": _s(False),
        **_INCOMING_SHARED,
        "scriptEngine": _s(),
        **_RATE_LIMIT,
    },
    required=("type", "username", "channel", "scriptEnabled", "name", "enabled"),
)


def _outgoing_properties(*, for_update: bool) -> dict[str, Prop]:
    lookup = {"integrationId": _s(), "target_url": _s()} if for_update else {}
    return {
        "type": _s(False, "webhook-outgoing"),
        **lookup,
        "username": _s(False),
        "channel": _s(False),
        "event": _s(False),
        "targetRoom": _s(),
        "urls": _STRINGS,
        "triggerWords": _STRINGS,
        "triggerWordAnywhere": _b(),
        "token": _s(),
        "scriptEnabled": _b(False),
        "script": _s(),
        "runOnEdits": _b(),
        "retryFailedCalls": _b(),
        "retryCount": Prop("number"),
        "retryDelay": _s(),
        "impersonateUser": _b(),
        "name": _s(False),
        "enabled": _b(False),
        "alias": _s(),
        "avatar": _s(),
        "emoji": _s(),
        # accepted on update too (Rocket.Chat's schema forgot it there, §16.4)
        "scriptEngine": _s(),
    }


_OUTGOING_REQUIRED = ("type", "username", "channel", "event", "scriptEnabled", "name", "enabled")
CREATE_SCHEMA = [
    _INCOMING_CREATE,
    Branch(properties=_outgoing_properties(for_update=False), required=_OUTGOING_REQUIRED),
]
UPDATE_SCHEMA = [
    Branch(
        properties={
            "type": _s(False, "webhook-incoming"),
            "integrationId": _s(False),
            **_INCOMING_SHARED,
            **_RATE_LIMIT,
        },
        required=("integrationId", "type", "channel", "scriptEnabled", "name", "enabled"),
        additional=True,
    ),
    Branch(properties=_outgoing_properties(for_update=True), required=_OUTGOING_REQUIRED),
]
REMOVE_SCHEMA = [
    Branch(
        properties={"type": _s(False, "webhook-incoming"), "integrationId": _s(False)},
        required=("type", "integrationId"),
        additional=True,
    ),
    Branch(
        properties={"type": _s(False, "webhook-outgoing"), "target_url": _s(False)},
        required=("type", "target_url"),
        additional=True,
    ),
    Branch(
        properties={"type": _s(False, "webhook-outgoing"), "integrationId": _s(False)},
        required=("type", "integrationId"),
        additional=True,
    ),
]


def _prop_schema(prop: Prop) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": [prop.type, "null"] if prop.nullable else prop.type}
    if prop.pattern is not None:
        schema["pattern"] = prop.pattern
    if prop.type == "number":
        schema.update(minimum=_INT32_MIN, maximum=_INT32_MAX)
    if prop.type == "array":
        schema["items"] = {"type": "string", "minLength": 1}
    return schema


def json_schema(branches: list[Branch]) -> dict[str, Any]:
    """The JSON Schema `validate_one_of` enforces, for the OpenAPI document."""
    return {
        "oneOf": [
            {
                "type": "object",
                "properties": {name: _prop_schema(prop) for name, prop in branch.properties.items()},
                "required": list(branch.required),
                "additionalProperties": branch.additional,
            }
            for branch in branches
        ]
    }


_NOT_FOUND = "No integration found."
_INVALID_TYPE = "Invalid integration type."


# -- routes ---------------------------------------------------------------------------------------------

# hookhub has no file uploads: the event is accepted (existing clients create such integrations),
# and the answer says it will not fire instead of pretending.
NO_UPLOADS_WARNING = "hookhub has no file uploads: a fileUploaded integration is stored but never fires"


def _answer(document: dict[str, Any]) -> dict[str, Any]:
    """The create/update answer: the document, and a warning for an event hookhub never fires."""
    answer: dict[str, Any] = {"integration": document}
    if document.get("event") == "fileUploaded":
        answer["warning"] = NO_UPLOADS_WARNING
    return answer


@router.post(
    "/api/v1/integrations.create",
    summary="Create an incoming or outgoing webhook integration",
    openapi_extra=json_body(json_schema(CREATE_SCHEMA), required=True),
)
async def create(hub: HubDep, caller: CallerDep, body: Any = BodyParam(default=None)) -> Response:
    data = validate_one_of(CREATE_SCHEMA, body)
    kind = data["type"]
    if kind not in (INCOMING, OUTGOING):
        raise Failure(_INVALID_TYPE)
    async with hub.tx() as ctx:
        if kind == OUTGOING:
            document = await outgoing.add_outgoing(ctx, caller.user, data)
        else:
            document = await incoming.add_incoming(ctx, caller.user, data)
    return ok(_answer(document))


@router.put(
    "/api/v1/integrations.update",
    summary="Change an incoming or outgoing webhook integration",
    openapi_extra=json_body(json_schema(UPDATE_SCHEMA), required=True),
)
async def update(hub: HubDep, caller: CallerDep, body: Any = BodyParam(default=None)) -> Response:
    data = validate_one_of(UPDATE_SCHEMA, body)
    kind = data["type"]
    if kind not in (INCOMING, OUTGOING):
        raise Failure(_INVALID_TYPE)
    async with hub.tx() as ctx:
        if kind == OUTGOING:
            found = await outgoing.find_for_request(ctx, data.get("target_url"), data.get("integrationId"))
            if found is None:
                raise Failure(_NOT_FOUND)
            document = await outgoing.update_outgoing(ctx, caller.user, found["_id"], data)
        else:
            found = await incoming.find_by_id(ctx, data.get("integrationId"))
            if found is None:
                raise Failure(_NOT_FOUND)
            document = await incoming.update_incoming(ctx, caller.user, found["_id"], data)
    return ok(_answer(document))


@router.post(
    "/api/v1/integrations.remove",
    summary="Delete an integration (outgoing history included)",
    openapi_extra=json_body(json_schema(REMOVE_SCHEMA), required=True),
)
async def remove(hub: HubDep, caller: CallerDep, body: Any = BodyParam(default=None)) -> Response:
    data = validate_one_of(REMOVE_SCHEMA, body)
    async with hub.tx() as ctx:
        if not (await rights_of(ctx, caller.user)).any:
            raise PermissionRequired()
        kind = data["type"]
        if kind == OUTGOING:
            target_url, integration_id = data.get("target_url"), data.get("integrationId")
            if not target_url and not integration_id:
                raise Failure("An integrationId or target_url needs to be provided.")
            found = await outgoing.find_for_request(ctx, target_url, integration_id)
            if found is None:
                raise Failure(_NOT_FOUND)
            await outgoing.delete_outgoing(ctx, caller.user, found["_id"])
        elif kind == INCOMING:
            found = await incoming.find_by_id(ctx, data.get("integrationId"))
            if found is None:
                raise Failure(_NOT_FOUND)
            await incoming.delete_incoming(ctx, caller.user, found["_id"])
        else:
            raise Failure(_INVALID_TYPE)
    return ok({"integration": found})
