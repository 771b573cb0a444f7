"""The `sort`, `fields` and `query` parameters of list endpoints, parsed and compiled safely.

Rocket.Chat passes `query` and `fields` straight to MongoDB (and turned them off by default in 7.0
because that leaked data). Here they are compiled against an allow-list (`store.query`) and the
result is only ever AND-ed with the caller's own filter by the service that uses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import ColumnElement

from hookhub.services.errors import MeteorError
from hookhub.store import query as compiler

_HELPER = {"helperMethod": "parseJsonQuery"}


@dataclass
class ListParams:
    """Compiled list parameters: extra WHERE conditions, ORDER BY terms, and a projection."""

    where: list[ColumnElement[bool]] = field(default_factory=list)
    order_by: list[Any] = field(default_factory=list)
    projection: dict[str, int] | None = None

    def project(self, document: dict[str, Any]) -> dict[str, Any]:
        return compiler.apply_projection(document, self.projection)


def _json_object(raw: str) -> dict[str, Any] | None:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _error(parameter: str, raw: str, reason: str | None = None) -> MeteorError:
    details: dict[str, Any] = dict(_HELPER)
    if reason:
        details["reason"] = reason
    text = f'Invalid {parameter} parameter provided: "{raw}"'
    return MeteorError(text, f"error-invalid-{parameter}", details)


def compile_sort(collection: compiler.Collection, raw: str | None) -> list[Any]:
    """`sort={"name":1}` → ORDER BY terms; 400 `error-invalid-sort` on bad JSON, values or fields."""
    if raw is None or raw == "":
        return []
    value = _json_object(raw)
    if value is None or any(isinstance(v, bool) or v not in (1, -1) for v in value.values()):
        raise _error("sort", raw)
    try:
        return compiler.compile_sort(collection, value)
    except compiler.SortError as exc:
        raise _error("sort", raw, f"cannot sort on {exc}") from None


def compile_fields(collection: compiler.Collection, raw: str | None) -> dict[str, int] | None:
    """`fields={"name":1}` → a validated projection; 400 `error-invalid-fields` otherwise."""
    if raw is None or raw == "":
        return None
    value = _json_object(raw)
    if value is None:
        raise _error("fields", raw)
    try:
        return compiler.check_projection(collection, value)
    except compiler.FieldsError as exc:
        raise _error("fields", raw, str(exc)) from None


def compile_query(collection: compiler.Collection, raw: str | None) -> ColumnElement[bool] | None:
    """`query={...}` → one SQL condition; 400 `error-invalid-query` for anything not allowed."""
    if raw is None or raw == "":
        return None
    value = _json_object(raw)
    if value is None:
        raise _error("query", raw)
    try:
        return compiler.compile_filter(collection, value)
    except compiler.QueryError as exc:
        raise _error("query", raw, str(exc)) from None


def compile_list_params(
    collection: compiler.Collection,
    *,
    sort: str | None = None,
    fields: str | None = None,
    query: str | None = None,
) -> ListParams:
    where = compile_query(collection, query)
    return ListParams(
        where=[where] if where is not None else [],
        order_by=compile_sort(collection, sort),
        projection=compile_fields(collection, fields),
    )
