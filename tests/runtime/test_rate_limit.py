"""The hook rate limiter (webhook-runtime.md §2.11) with a controlled clock."""

from __future__ import annotations

import pytest

from hookhub.runtime.rate_limit import RateLimited, RateLimiter, integration_limit

URL = "/hooks/id/token"


class Clock:
    def __init__(self, ms: int = 1_700_000_000_000) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def test_counts_down_then_refuses_until_the_window_ends() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    start = clock.ms
    seen = [limiter.check(URL, "POST", "1.2.3.4", 3) for _ in range(3)]
    assert [h["X-RateLimit-Remaining"] for h in seen] == ["2", "1", "0"]
    assert {h["X-RateLimit-Limit"] for h in seen} == {"3"}
    assert {h["X-RateLimit-Reset"] for h in seen} == {str(start + 60_000)}

    clock.ms += 20_500
    with pytest.raises(RateLimited) as caught:
        limiter.check(URL, "POST", "1.2.3.4", 3)
    assert caught.value.status == 429
    assert caught.value.headers["X-RateLimit-Remaining"] == "0"
    assert caught.value.body() == {
        "success": False,
        "error": "Error, too many requests. Please slow down. You must wait 40 seconds before "
        "trying this endpoint again. [error-too-many-requests]",
    }

    clock.ms = start + 60_000
    fresh = limiter.check(URL, "POST", "1.2.3.4", 3)
    assert fresh["X-RateLimit-Remaining"] == "2"
    assert fresh["X-RateLimit-Reset"] == str(start + 120_000)


def test_buckets_are_per_url_method_and_ip() -> None:
    limiter = RateLimiter(Clock())
    limiter.check(URL, "POST", "1.1.1.1", 1)
    limiter.check(URL, "GET", "1.1.1.1", 1)
    limiter.check(URL, "POST", "2.2.2.2", 1)
    limiter.check(URL + "?a=1", "POST", "1.1.1.1", 1)
    limiter.check("/hooks/id/user/token", "POST", "1.1.1.1", 1)
    with pytest.raises(RateLimited):
        limiter.check(URL, "POST", "1.1.1.1", 1)


def test_zero_means_unlimited_and_unchecked() -> None:
    limiter = RateLimiter(Clock())
    for _ in range(1000):
        assert limiter.check(URL, "POST", "1.1.1.1", 0) == {}
    assert len(limiter) == 0


def test_expired_windows_are_swept() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    for n in range(10_000):
        limiter.check(f"{URL}?n={n}", "POST", "1.1.1.1", 5)
    assert len(limiter) == 10_000
    clock.ms += 60_000
    limiter.check(f"{URL}?n=new", "POST", "1.1.1.1", 5)
    assert len(limiter) == 1


@pytest.mark.parametrize(
    ("field", "expected"),
    [(None, 600), (0, 0), (5, 5), (5.0, 5), (-1, 600), ("100", 600), (True, 600), (2.5, 600)],
)
def test_integration_limit(field: object, expected: int) -> None:
    integration = {} if field is None else {"rateLimit": field}
    assert integration_limit(integration, 600) == expected
