"""hookhub's per-hook `rateLimit` field on incoming integrations (issue #4: Rocket.Chat's default of
10 calls a minute silently dropped alerts, so each hook can carry its own budget)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import RC, assert_error, assert_ok


def _incoming(**extra: Any) -> dict[str, Any]:
    return {
        "type": "webhook-incoming",
        "name": "limited",
        "enabled": True,
        "username": "rocket.cat",
        "channel": "#general",
        "scriptEnabled": False,
        **extra,
    }


async def _put(rc: RC, body: dict[str, Any]) -> httpx.Response:
    return await rc.http.put("/api/v1/integrations.update", json=body, headers=rc.headers)


async def test_create_with_a_rate_limit_applies_it(admin: RC) -> None:
    hook = assert_ok(await admin.post("integrations.create", _incoming(rateLimit=2)))["integration"]
    assert hook["rateLimit"] == 2
    url = f"/hooks/{hook['_id']}/{hook['token']}"
    statuses = [(await admin.http.post(url, json={"text": f"n{i}"})).status_code for i in range(3)]
    assert statuses == [200, 200, 429]


async def test_update_changes_and_clears_the_rate_limit(admin: RC) -> None:
    hook = assert_ok(await admin.post("integrations.create", _incoming(rateLimit=1)))["integration"]
    body = _incoming(integrationId=hook["_id"], rateLimit=0)
    assert assert_ok(await _put(admin, body))["integration"]["rateLimit"] == 0
    body["rateLimit"] = None
    assert "rateLimit" not in assert_ok(await _put(admin, body))["integration"]


async def test_invalid_rate_limits_are_refused(admin: RC) -> None:
    for bad in (-1, 1.5):
        r = await admin.post("integrations.create", _incoming(rateLimit=bad))
        assert_error(
            r,
            400,
            "Invalid rate limit: a whole number of calls per minute, 0 for no limit"
            " [error-invalid-rate-limit]",
            "error-invalid-rate-limit",
        )
    r = await admin.post("integrations.create", _incoming(rateLimit="10"))
    assert r.status_code == 400 and r.json()["errorType"] == "invalid-params"
