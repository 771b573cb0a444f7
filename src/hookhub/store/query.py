"""Safe MongoDB-style `query`, `sort` and `fields` over an allow-listed collection, compiled to SQL.

A collection (`Collection`) names the document paths a client may filter, sort and project on and
the SQL column that shadows each one. `compile_filter` turns a parsed JSON filter into one SQL
boolean expression; nothing is evaluated in Python over the table. Callers AND the result with
their own permission filter, so a query can only narrow what the caller may already see.

Errors are `QueryError` (bad filter), `SortError` and `FieldsError`; the services layer renders them
as Rocket.Chat's `error-invalid-query` / `error-invalid-sort` / `error-invalid-fields`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, ColumnElement, Table, UnaryExpression, true


class QueryError(ValueError):
    """The `query` parameter uses an operator, field or value that is not allowed."""


class SortError(ValueError):
    """The `sort` parameter names a field that cannot be sorted on."""


class FieldsError(ValueError):
    """The `fields` parameter is not a valid projection over the collection's fields."""


class Kind(enum.Enum):
    STRING = "string"
    NUMBER = "number"
    BOOL = "bool"
    DATE = "date"
    STRINGS = "strings"  # array of strings: shadow column holds the JSON list, terms hold items


@dataclass(frozen=True)
class Field:
    """One allow-listed document path (e.g. `_createdBy.username`) and its SQL shadow."""

    path: str
    column: Column[Any]
    kind: Kind


@dataclass(frozen=True)
class Collection:
    """What `query`/`sort`/`fields` may touch for one resource.

    `terms` is the side table exploding `Kind.STRINGS` fields into rows
    (`owner_id`, `field`, `position`, `value`); `field` holds the document path."""

    name: str
    table: Table
    id_column: Column[Any]
    fields: Mapping[str, Field]
    projectable: frozenset[str]
    terms: Table | None = None


def compile_filter(collection: Collection, query: Mapping[str, Any]) -> ColumnElement[bool]:
    """Compile a MongoDB filter document into a SQL boolean expression (never NULL-valued)."""
    if not query:
        return true()
    raise QueryError("query filters are not implemented yet")


def compile_sort(collection: Collection, sort: Mapping[str, int]) -> list[UnaryExpression[Any]]:
    """`{"name": 1, "_createdAt": -1}` → ORDER BY terms; unknown paths raise SortError."""
    out: list[UnaryExpression[Any]] = []
    for path, direction in sort.items():
        field = collection.fields.get(path)
        if field is None:
            raise SortError(path)
        out.append(field.column.asc() if direction == 1 else field.column.desc())
    return out


def apply_projection(document: dict[str, Any], projection: Mapping[str, int] | None) -> dict[str, Any]:
    """Apply a validated `fields` projection to one wire document (`_id` is always kept)."""
    if not projection:
        return document
    include = {k for k, v in projection.items() if v == 1}
    if include:
        return {k: v for k, v in document.items() if k in include or k == "_id"}
    return {k: v for k, v in document.items() if projection.get(k, 1) != 0 or k == "_id"}


def check_projection(collection: Collection, projection: Mapping[str, Any]) -> dict[str, int]:
    """Validate a parsed `fields` object: values 0/1, known top-level paths, not mixed."""
    out: dict[str, int] = {}
    for path, value in projection.items():
        if isinstance(value, bool) or value not in (0, 1) or path not in collection.projectable:
            raise FieldsError(path)
        out[path] = int(value)
    return out
