"""The one place where domain errors, validation errors and surprises become envelopes."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from hookhub.api import openapi_doc
from hookhub.api.envelope import json_response
from hookhub.services.errors import HookhubError, InvalidParams

log = logging.getLogger("hookhub.api")

# pydantic error type -> the ajv message Rocket.Chat's validators produce
_AJV_TYPES = {
    "string_type": "must be string",
    "bool_type": "must be boolean",
    "int_type": "must be integer",
    "int_parsing": "must be integer",
    "float_type": "must be number",
    "list_type": "must be array",
    "dict_type": "must be object",
    "model_type": "must be object",
    "model_attributes_type": "must be object",
    "literal_error": "must be equal to one of the allowed values",
    "enum": "must be equal to one of the allowed values",
    "string_too_short": "must NOT have fewer than 1 characters",
    "too_short": "must NOT have fewer items than required",
}


_UNION_TAGS = frozenset({"bool", "str", "int", "float", "none", "bytes"})


def _is_union_tag(part: Any) -> bool:
    """pydantic names a union branch by its type: `bool`, `str`, `list[str]`, `dict[str,any]`..."""
    return isinstance(part, str) and (part in _UNION_TAGS or "[" in part)


def _merge_union_branches(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """pydantic reports a failed `A | B` field once per branch, the branch name appended to the
    location; ajv reports it once ("must be boolean,string"). Fold such branches together."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    order: list[tuple[Any, ...] | dict[str, Any]] = []
    for err in errors:
        loc = tuple(err.get("loc", ()))
        kind = str(err.get("type", ""))
        if len(loc) >= 2 and kind in _AJV_TYPES and _is_union_tag(loc[-1]):
            key = loc[:-1]
            if key not in groups:
                groups[key] = []
                order.append(key)
            groups[key].append(err)
        else:
            order.append(err)
    merged: list[dict[str, Any]] = []
    for item in order:
        if isinstance(item, dict):
            merged.append(item)
            continue
        branch = groups[item]
        if len(branch) == 1:
            merged.append(branch[0])
        else:
            kinds = [_AJV_TYPES[str(e["type"])].removeprefix("must be ") for e in branch]
            merged.append({"loc": item, "type": "union", "_types": kinds})
    return merged


def ajv_messages(errors: list[dict[str, Any]]) -> list[str]:
    """Render pydantic errors the way Rocket.Chat's ajv validation words them."""
    out: list[str] = []
    for err in _merge_union_branches(errors):
        if len(err.get("_types", ())) > 1:
            path = "/" + "/".join(str(p) for p in err["loc"] if p not in ("body", "query"))
            out.append(f"{path} must be {','.join(dict.fromkeys(err['_types']))}")
            continue
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query")]
        kind = err.get("type", "")
        if kind == "missing":
            if not loc:
                out.append("must be object")
                continue
            parent = "/" + "/".join(loc[:-1]) if len(loc) > 1 else ""
            out.append(f"{parent + ' ' if parent else ''}must have required property '{loc[-1]}'")
        elif kind == "extra_forbidden":
            parent = "/" + "/".join(loc[:-1]) if len(loc) > 1 else ""
            out.append(f"{parent + ' ' if parent else ''}must NOT have additional properties ('{loc[-1]}')")
        elif kind in ("json_invalid", "json_type"):
            out.append("the request body is not valid JSON")
        elif kind == "string_too_long":
            path = "/" + "/".join(loc) if loc else ""
            limit = err.get("ctx", {}).get("max_length")
            out.append(f"{path + ' ' if path else ''}must NOT have more than {limit} characters")
        else:
            path = "/" + "/".join(loc) if loc else ""
            message = _AJV_TYPES.get(kind, err.get("msg", "is invalid"))
            out.append(f"{path + ' ' if path else ''}{message}")
    return out


def install(app: FastAPI) -> None:
    # the OpenAPI document describes the envelopes made here (and not FastAPI's 422)
    openapi_doc.install(app)

    @app.exception_handler(HookhubError)
    async def _domain(_request: Request, exc: HookhubError) -> Response:
        return json_response(exc.body(), exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> Response:
        error = InvalidParams(ajv_messages(list(exc.errors())))
        return json_response(error.body(), error.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return json_response({"success": False, "error": "Resource not found"}, 404)
        if exc.status_code == 405:
            return json_response({"success": False, "error": "Method not allowed"}, 405)
        return json_response({"success": False, "error": str(exc.detail)}, exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return json_response({"success": False, "error": "Internal server error"}, 500)
