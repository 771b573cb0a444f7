"""The OpenAPI document (issue #10, first part): built from the code without warnings, and no
route of the server's table left out of it."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi.routing import APIRoute

from hookhub.app import create_app
from hookhub.config import Settings


def api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    """Every API route of a route table, through included routers (FastAPI wraps them)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from api_routes(route.original_router.routes)


def test_every_documented_route_is_in_the_document_once_per_method(settings: Settings) -> None:
    app = create_app(settings)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "Duplicate Operation ID": two operations as one
        document = app.openapi()
    paths = document["paths"]
    operation_ids: list[str] = []
    missing: list[str] = []
    for route in api_routes(app.routes):
        if not route.include_in_schema:
            continue
        for method in route.methods:
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is None:
                missing.append(f"{method} {route.path_format}")
                continue
            operation_ids.append(operation["operationId"])
            assert operation.get("summary"), f"{method} {route.path_format} has no summary"
    assert missing == []
    assert len(operation_ids) == len(set(operation_ids))
    assert len(operation_ids) > 100
