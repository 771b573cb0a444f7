"""Rate limiting of incoming webhooks (webhook-runtime.md §2.11).

Rocket.Chat counts calls per hook URL as received (query string included) and HTTP method, and
within that per client IP, in fixed windows. Its default of 10 calls a minute silently dropped
real alerts, so hookhub allows `HOOKHUB_HOOKS_RATE_LIMIT` calls a minute (default 600, `0` = no
limit), and an integration may carry its own `rateLimit` (calls per minute, `0` = unlimited).

Counters live in the process's memory: each hookhub process counts on its own, so N processes
behind a balancer allow up to N times the limit. Unlike Rocket.Chat, `TEST_MODE` does not switch
the limiter off; the default budget is far above what Rocket.Chat's own test suite sends to one
hook in a minute.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hookhub.services.errors import HookhubError

WINDOW_MS = 60_000

# Above this many live counters, expired ones are swept before a new one is added, so URLs that
# differ only in their query string cannot grow the table without bound for longer than a window.
_SWEEP_THRESHOLD = 10_000


class RateLimited(HookhubError):
    """429 with Rocket.Chat's wording; `headers` are the `X-RateLimit-*` values."""

    status = 429

    def __init__(self, wait_seconds: int, headers: dict[str, str]) -> None:
        super().__init__("too many requests")
        self.wait_seconds = wait_seconds
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return {
            "success": False,
            "error": (
                "Error, too many requests. Please slow down. You must wait "
                f"{self.wait_seconds} seconds before trying this endpoint again. [error-too-many-requests]"
            ),
        }


@dataclass
class _Window:
    started_ms: int
    count: int


def integration_limit(integration: dict[str, Any], default: int) -> int:
    """Calls per minute for this integration: its `rateLimit` when that is a non-negative whole
    number, otherwise the server default. 0 means unlimited."""
    value = integration.get("rateLimit")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    return default


class RateLimiter:
    """Fixed one-minute windows per (hook URL, method, client IP). Thread-safe: the hook fast
    path counts calls on the SQLite writer thread, the general path on the event loop."""

    def __init__(self, clock_ms: Callable[[], int] | None = None) -> None:
        self._clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self._windows: dict[tuple[str, str, str], _Window] = {}
        self._lock = threading.Lock()

    def check(self, url: str, method: str, client_ip: str, limit: int) -> dict[str, str]:
        """Count one call. Returns the `X-RateLimit-*` headers for the answer (none when `limit`
        is 0, i.e. unlimited); raises RateLimited when the budget of the window is spent."""
        if limit <= 0:
            return {}
        with self._lock:
            return self._count(url, method, client_ip, limit)

    def _count(self, url: str, method: str, client_ip: str, limit: int) -> dict[str, str]:
        now = self._clock_ms()
        key = (url, method, client_ip)
        window = self._windows.get(key)
        if window is None or now - window.started_ms >= WINDOW_MS:
            if window is None and len(self._windows) >= _SWEEP_THRESHOLD:
                self._sweep(now)
            window = _Window(started_ms=now, count=0)
            self._windows[key] = window
        reset_ms = window.started_ms + WINDOW_MS
        if window.count >= limit:
            headers = _headers(limit, 0, reset_ms)
            raise RateLimited(max(1, math.ceil((reset_ms - now) / 1000)), headers)
        window.count += 1
        return _headers(limit, limit - window.count, reset_ms)

    def _sweep(self, now: int) -> None:
        expired = [k for k, w in self._windows.items() if now - w.started_ms >= WINDOW_MS]
        for key in expired:
            del self._windows[key]

    def __len__(self) -> int:
        return len(self._windows)


def _headers(limit: int, remaining: int, reset_ms: int) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset_ms),
    }
