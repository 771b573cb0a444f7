"""Row helpers shared by the repositories."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Result

Row = dict[str, Any]


def one_or_none(result: Result[Any]) -> Row | None:
    row = result.mappings().first()
    return dict(row) if row is not None else None


def all_rows(result: Result[Any]) -> list[Row]:
    return [dict(r) for r in result.mappings().all()]
