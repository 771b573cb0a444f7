"""`parse_sort` and `get_page`: Rocket.Chat's getPaginationItems / parseJsonQuery rules
(core-api.md §1.6)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlencode

import pytest
from starlette.requests import Request

from hookhub.api.deps import Page, get_page, parse_sort
from hookhub.hub import Hub
from hookhub.services.errors import InvalidParams, MeteorError


@dataclass
class FakeSettings:
    default_count: int = 50
    upper_count_limit: int = 100
    allow_infinite_count: bool = True


@dataclass
class FakeHub:
    settings: FakeSettings


def page_for(query: dict[str, str], **settings: Any) -> Page:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": [],
        "query_string": urlencode(query).encode(),
    }
    return get_page(Request(scope), cast(Hub, FakeHub(FakeSettings(**settings))))


# -- sort ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("", None),
        ('{"username":1}', {"username": 1}),
        ('{"ts":-1,"_id":1}', {"ts": -1, "_id": 1}),
        ("{}", {}),
    ],
)
def test_parse_sort_accepts(raw: str | None, expected: dict[str, int] | None) -> None:
    assert parse_sort(raw) == expected


@pytest.mark.parametrize(
    "raw", ['{"a":2}', '{"a":0}', '{"a":"1"}', '{"a":true}', '{"a":1.5}', "[1]", "a", "{bad"]
)
def test_parse_sort_rejects(raw: str) -> None:
    with pytest.raises(MeteorError) as info:
        parse_sort(raw)
    assert info.value.body() == {
        "success": False,
        "error": f'Invalid sort parameter provided: "{raw}" [error-invalid-sort]',
        "errorType": "error-invalid-sort",
        "details": {"helperMethod": "parseJsonQuery"},
    }


# -- offset / count -----------------------------------------------------------------------------


def test_defaults() -> None:
    page = page_for({})
    assert (page.offset, page.count, page.sort, page.requested_count) == (0, 50, None, 50)


def test_explicit_values() -> None:
    page = page_for({"offset": "5", "count": "10", "sort": '{"name":-1}'})
    assert (page.offset, page.count, page.sort) == (5, 10, {"name": -1})


def test_count_above_upper_limit_is_clamped() -> None:
    page = page_for({"count": "1000"})
    assert page.count == 100
    assert page.requested_count == 1000


def test_count_zero_means_unlimited_when_allowed() -> None:
    assert page_for({"count": "0"}).count is None
    assert page_for({"count": "0"}, allow_infinite_count=False).count == 50


def test_non_positive_settings_fall_back() -> None:
    page = page_for({}, default_count=0, upper_count_limit=-3)
    assert page.count == 50
    assert page_for({"count": "500"}, upper_count_limit=0).count == 100


def test_custom_settings() -> None:
    assert page_for({}, default_count=7).count == 7
    assert page_for({"count": "30"}, upper_count_limit=20).count == 20


def test_empty_offset_is_zero() -> None:
    assert page_for({"offset": ""}).offset == 0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"offset": "x"}, "/offset must be integer"),
        ({"count": "ten"}, "/count must be integer"),
        ({"offset": "-1"}, "/offset must be >= 0"),
        ({"count": "-5"}, "/count must be >= 0"),
    ],
)
def test_invalid_numbers(query: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidParams) as info:
        page_for(query)
    assert info.value.body()["error"] == f"{message} [invalid-params]"


def test_slice_of() -> None:
    items = list(range(10))
    assert page_for({"offset": "2", "count": "3"}).slice_of(items) == [2, 3, 4]
    assert page_for({"offset": "8", "count": "0"}).slice_of(items) == [8, 9]
    assert page_for({"offset": "20"}).slice_of(items) == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"offset": str(2**63)}, f"/offset must be <= {2**63 - 1}"),
        ({"count": "1_000"}, "/count must be integer"),
        ({"offset": "1e3"}, "/offset must be integer"),
    ],
)
def test_offsets_the_database_cannot_take_are_invalid(query: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidParams) as info:
        page_for(query)
    assert info.value.messages == [message]
