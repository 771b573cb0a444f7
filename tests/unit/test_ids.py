"""Identifiers and the wire date format (core-api.md §2)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from hookhub.ids import iso, parse_iso, random_id, random_token, utcnow

METEOR_ALPHABET = set("23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz")


def test_random_id_is_17_meteor_characters() -> None:
    ids = {random_id() for _ in range(500)}
    assert len(ids) == 500
    for value in ids:
        assert len(value) == 17
        assert set(value) <= METEOR_ALPHABET
    # ambiguous characters are never used
    assert not set("".join(ids)) & set("01IOUVl")


def test_random_id_length_parameter() -> None:
    assert len(random_id(24)) == 24


def test_random_token_is_url_safe_and_unique() -> None:
    tokens = {random_token() for _ in range(100)}
    assert len(tokens) == 100
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", token)


def test_iso_has_milliseconds_and_z() -> None:
    dt = datetime(2016, 12, 9, 12, 50, 51, 555_987, tzinfo=UTC)
    assert iso(dt) == "2016-12-09T12:50:51.555Z"
    assert iso(datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2020-01-02T03:04:05.000Z"


def test_iso_converts_to_utc_and_assumes_utc_for_naive() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert iso(datetime(2021, 6, 1, 14, 0, 0, 1000, tzinfo=plus_two)) == "2021-06-01T12:00:00.001Z"
    assert iso(datetime(2021, 6, 1, 14, 0, 0)) == "2021-06-01T14:00:00.000Z"


def test_utcnow_is_aware_and_millisecond_truncated() -> None:
    now = utcnow()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert now.microsecond % 1000 == 0


@pytest.mark.parametrize(
    "text",
    ["2016-12-09T12:50:51.555Z", "2016-12-09T12:50:51.555z", "2016-12-09T13:50:51.555+01:00"],
)
def test_parse_iso_round_trips(text: str) -> None:
    assert iso(parse_iso(text)) == "2016-12-09T12:50:51.555Z"


def test_parse_iso_naive_is_utc() -> None:
    assert parse_iso("2016-12-09T12:50:51") == datetime(2016, 12, 9, 12, 50, 51, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", "yesterday", "2016-13-01T00:00:00Z"])
def test_parse_iso_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_iso(text)
