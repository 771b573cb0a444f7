"""The OpenAPI document's answers (issue #10): what each operation responds, derived from the code.

FastAPI builds the document from the routes (paths, parameters, request bodies); every endpoint
here returns a `Response` itself, so FastAPI knows neither the success body nor the error
envelopes, and it documents a 422 this server never sends (validation errors are Rocket.Chat's
400, see `hookhub.api.errors`). This module completes the document from each route's metadata:

* success: `{"success": true, ...}` (`envelope.ok`) for the REST API;
* 400 for an operation that takes input (a body, a query or path parameter, pagination);
* 401 and 403 for an operation that depends on `get_caller` (a login is required, and
  permission or room-access checks follow it);
* the pagination parameters `get_page` reads from the query string;
* the `X-User-Id`/`X-Auth-Token` security scheme on authenticated operations;
* the few operations whose answers are not the envelope's (login, health, hooks) from `_SPECIAL`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from hookhub.api.deps import get_caller, get_optional_caller, get_page

_REF = "#/components/schemas/"

ERROR_ENVELOPE: dict[str, Any] = {
    "title": "ErrorEnvelope",
    "description": (
        "Rocket.Chat's failure envelope: `success` false and, nearly always, the error text; "
        "`errorType` (a Meteor error type, sometimes a number) and `details` when the error has them."
    ),
    "type": "object",
    "required": ["success"],
    "properties": {
        "success": {"const": False},
        "error": {"type": "string"},
        "errorType": {"type": ["string", "integer"]},
        "details": {"type": "object"},
        "status": {"type": "string"},
        "message": {"type": "string"},
    },
}
SUCCESS_ENVELOPE: dict[str, Any] = {
    "title": "SuccessEnvelope",
    "description": "Rocket.Chat's success envelope: `success` true beside the operation's fields.",
    "type": "object",
    "required": ["success"],
    "properties": {"success": {"const": True}},
}
HOOK_FAILURE: dict[str, Any] = {
    "title": "HookFailure",
    "description": (
        "A refused hook call: `success` false; the error text, or the fields of the object an "
        "integration script returned as its `error` (webhook-runtime.md §2.4)."
    ),
    "type": "object",
    "required": ["success"],
    "properties": {"success": {"const": False}},
}
_SCHEMAS = {"ErrorEnvelope": ERROR_ENVELOPE, "SuccessEnvelope": SUCCESS_ENVELOPE, "HookFailure": HOOK_FAILURE}

ERROR_DESCRIPTIONS = {
    "400": "Invalid parameters (`[invalid-params]`) or a domain error",
    "401": "Not logged in: `X-User-Id`/`X-Auth-Token` missing, unknown or expired",
    "403": "The caller lacks a permission or access to the resource",
    "404": "No such resource",
    "413": "Request body too large",
    "429": "Too many requests (`[error-too-many-requests]`)",
    "503": "Service unavailable",
}

# pagination, as `deps.get_page` reads it
_PAGE_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "offset",
        "in": "query",
        "required": False,
        "description": "How many items to skip",
        "schema": {"type": "string", "pattern": "^\\s*[+-]?[0-9]+\\s*$"},
    },
    {
        "name": "count",
        "in": "query",
        "required": False,
        "description": "Page size (default 50, at most 100; 0: everything when the server allows it)",
        "schema": {"type": "string", "pattern": "^\\s*[+-]?[0-9]+\\s*$"},
    },
    {
        "name": "sort",
        "in": "query",
        "required": False,
        "description": 'A JSON object of field → 1 or -1, e.g. `{"name": 1}`',
        "schema": {"type": "string"},
    },
]

_SECURITY_SCHEMES = {
    "userId": {"type": "apiKey", "in": "header", "name": "X-User-Id"},
    "authToken": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"},
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": _REF + name}


def _error(status: str, schema: str = "ErrorEnvelope") -> dict[str, Any]:
    return _json(_ref(schema), ERROR_DESCRIPTIONS[status])


# Operations whose answers are not (only) the REST envelopes: path -> status -> response.
_HEALTH: dict[str, Any] = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"type": "string"}, "checks": {"type": "object"}},
}
_SPECIAL: dict[str, dict[str, dict[str, Any]]] = {
    "/api/v1/login": {
        "200": _json(
            {
                "type": "object",
                "required": ["success", "status", "data"],
                "properties": {
                    "success": {"const": True},
                    "status": {"const": "success"},
                    "data": {
                        "type": "object",
                        "required": ["userId", "authToken"],
                        "properties": {
                            "userId": {"type": "string"},
                            "authToken": {"type": "string"},
                            "me": {"type": "object"},
                        },
                    },
                },
            },
            "Logged in: the user id and a token for `X-User-Id`/`X-Auth-Token`",
        ),
        "400": _error("400"),
        "401": _json(_ref("ErrorEnvelope"), "Unknown user, wrong password or an unusable token"),
    },
    "/healthz": {"200": _json(_HEALTH, 'The process answers: `{"status": "ok"}`')},
    "/readyz": {
        "200": _json(_HEALTH, "Ready: every check is `ok`"),
        "503": _json(
            {**_HEALTH, "properties": {**_HEALTH["properties"], "failing": {"type": "array"}}},
            "Not ready: the failing checks are named in `failing`",
        ),
    },
    "/hooks/{path}": {
        "200": _json(
            {"anyOf": [_ref("SuccessEnvelope"), {"type": "array", "items": {"type": "object"}}]},
            "Posted (or the Zapier helper's answer; `sample` answers an array of messages)",
        ),
        "400": _error("400", "HookFailure"),
        "401": _error("401"),
        "404": _json(_ref("ErrorEnvelope"), "Unknown integration id or token, or no such hook path"),
        "413": _error("413"),
        "429": _error("429"),
        "503": _json(_ref("ErrorEnvelope"), "The integration is disabled"),
    },
}


def api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    """Every API route of a route table, through included routers (FastAPI wraps them)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from api_routes(route.original_router.routes)


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _has_params(dependant: Dependant) -> bool:
    if dependant.query_params or dependant.path_params or dependant.body_params:
        return True
    return any(_has_params(sub) for sub in dependant.dependencies)


def responses_for(route: APIRoute) -> dict[str, dict[str, Any]]:
    """The answers this route's operation(s) can give, by status."""
    special = _SPECIAL.get(route.path_format)
    if special is not None:
        return special
    calls = set(_calls(route.dependant))
    out: dict[str, dict[str, Any]] = {"200": _json(_ref("SuccessEnvelope"), "Success")}
    if _has_params(route.dependant) or get_page in calls or route.body_field is not None:
        out["400"] = _error("400")
    if get_caller in calls:
        out["401"] = _error("401")
        out["403"] = _error("403")
    return out


def is_authenticated(route: APIRoute) -> bool:
    return get_caller in set(_calls(route.dependant))


def complete(document: dict[str, Any], routes: Iterable[Any]) -> dict[str, Any]:
    """Complete FastAPI's document in place (idempotent) and return it."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.update(_SCHEMAS)
    # validation errors are 400 envelopes here, never FastAPI's 422
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    components.setdefault("securitySchemes", {}).update(_SECURITY_SCHEMES)
    for route in api_routes(routes):
        if not route.include_in_schema:
            continue
        path_item = document["paths"].get(route.path_format, {})
        calls = set(_calls(route.dependant))
        for method in route.methods or ():
            operation = path_item.get(method.lower())
            if operation is None:
                continue
            responses = operation["responses"] = copy.deepcopy(responses_for(route))
            if get_caller in calls:
                operation["security"] = [{"userId": [], "authToken": []}]
            elif get_optional_caller in calls:
                # credentials are optional: `{}` is the anonymous alternative
                operation["security"] = [{"userId": [], "authToken": []}, {}]
            if get_page in calls:
                parameters = operation.setdefault("parameters", [])
                known = {(p.get("in"), p.get("name")) for p in parameters}
                parameters.extend(p for p in _PAGE_PARAMETERS if ("query", p["name"]) not in known)
            if (operation.get("parameters") or operation.get("requestBody")) and "400" not in responses:
                # input read from the request itself (documented by the route's `openapi_extra`)
                responses["400"] = _error("400")
    return document


def install(app: FastAPI) -> None:
    """Serve the completed document at the app's `openapi_url` (and from `app.openapi()`)."""

    def openapi() -> dict[str, Any]:
        return complete(FastAPI.openapi(app), app.routes)

    app.openapi = openapi  # type: ignore[method-assign]
