"""The route class and body-model bases every router uses."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import Response

from hookhub.services.errors import InvalidParams

# A JSON escape of a UTF-16 surrogate (`\ud800`) or of NUL (`\u0000`): a string may hold one
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:[dD][89a-fA-F][0-9a-fA-F]{2}|0000)")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# 19 digits in a row: maybe an integer beyond 64 bits
_LONG_DIGITS = re.compile(rb"[0-9]{19}")
_INT64 = range(-(2**63), 2**63)
NUL_MESSAGE = "must not contain NUL characters"


def _number(value: int) -> float:
    """An integer as Node's JSON.parse reads it: a double (infinite beyond the double's range)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
        return _number(value)
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    if isinstance(value, dict):
        return {_scrub(key): _scrub(item) for key, item in value.items()}
    return value


def _nul_path(value: Any, path: str) -> str | None:
    """The JSON pointer of the first string (or key) holding a NUL, if any."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        where = f"{path}/{key}"
        if isinstance(key, str) and "\x00" in key:
            return where.replace("\x00", "")
        found = _nul_path(item, where)
        if found is not None:
            return found
    return None


def storable_body(body: bytes) -> bytes:
    r"""The JSON body, once no string in it holds a NUL (`"\u0000"`: PostgreSQL's text cannot
    hold one; refused with `[invalid-params]`, as the integration lists refuse one in their query),
    with each lone surrogate (`"\ud800"`: valid JSON, not valid Unicode) made U+FFFD, as Node
    does when Rocket.Chat writes such a string out as UTF-8, and each integer beyond 64 bits made
    the double Node's JSON.parse makes of it. Each, left alone, reached the database driver or a
    JSON encoder and failed there with a 500 (found by fuzzing). A surrogate pair that makes one
    character is decoded as that character and kept."""
    try:
        value = json.loads(body)  # the parser FastAPI uses: NaN, big numbers and duplicates alike
    except ValueError:
        return body  # not JSON: the route's own parsing answers
    where = _nul_path(value, "")
    if where is not None:
        raise InvalidParams([f"{where} {NUL_MESSAGE}"])
    return json.dumps(_scrub(value)).encode()


def refuse_nul_in_query(request: Request) -> None:
    """A query parameter holding a NUL (`%00`) is refused the same way."""
    for name, value in request.query_params.multi_items():
        if "\x00" in value or "\x00" in name:
            raise InvalidParams([f"/{name.replace(chr(0), '')} {NUL_MESSAGE}"])


class RCRoute(APIRoute):
    """Rocket.Chat treats an empty request body as `{}`. A NUL in the body or the query string is
    refused; a lone surrogate in the body becomes U+FFFD, an integer beyond 64 bits a double
    (`storable_body`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            if b"%00" in request.scope.get("query_string", b""):
                refuse_nul_in_query(request)
            if request.method in ("POST", "PUT", "DELETE"):
                body = await request.body()
                if not body.strip():
                    request._body = b"{}"
                elif _SUSPECT_ESCAPE.search(body) or _LONG_DIGITS.search(body):
                    request._body = storable_body(body)
            return await original(request)

        return handler


def make_router(tag: str) -> APIRouter:
    return APIRouter(route_class=RCRoute, tags=[tag])


class Body(BaseModel):
    """A request body: strict JSON types, unknown keys tolerated (Rocket.Chat's legacy routes)."""

    model_config = ConfigDict(strict=True, extra="allow")


class StrictBody(BaseModel):
    """A request body whose schema Rocket.Chat enforces (unknown keys → 400)."""

    model_config = ConfigDict(strict=True, extra="forbid")


def json_body(schema: dict[str, Any], *, required: bool = False) -> dict[str, Any]:
    """`openapi_extra` documenting the JSON body of a route that reads it as `Any` and checks it
    itself (with Rocket.Chat's own wording): the schema the route's checks enforce."""
    return {"requestBody": {"required": required, "content": {"application/json": {"schema": schema}}}}
