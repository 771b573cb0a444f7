"""Rocket.Chat response envelopes: `Content-Type: application/json` exactly, no caching."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

_HEADERS = {"cache-control": "no-store", "pragma": "no-cache"}


def json_response(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        content=orjson.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={**_HEADERS, **(headers or {})},
    )


def ok(body: dict[str, Any] | None = None) -> Response:
    """`API.v1.success(body)`: the body with `success: true` added."""
    return json_response({**(body or {}), "success": True})
