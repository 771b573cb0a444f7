"""Incoming webhooks against the real `hookhub serve` process over HTTP: integrations are made
with `integrations.create`, hooks are called the way Rocket.Chat's own suite and real senders do."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ADMIN_PASS, ADMIN_USERNAME, Client, Server

INVALID_HOOK = "Invalid integration id or token provided."


@pytest.fixture(scope="module")
def admin(shared_server: Server) -> Iterator[Client]:
    with Client(shared_server.base_url) as client:
        client.login(ADMIN_USERNAME, ADMIN_PASS)
        yield client


def create_hook(admin: Client, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "webhook-incoming",
        "name": "e2e hook",
        "enabled": True,
        "alias": "e2e",
        "username": "rocket.cat",
        "scriptEnabled": False,
        "channel": "#general",
        **fields,
    }
    r = admin.post("integrations.create", **body)
    assert r.status_code == 200, r.text
    integration: dict[str, Any] = r.json()["integration"]
    return integration


def hook_url(server: Server, hook: dict[str, Any]) -> str:
    return f"{server.base_url}/hooks/{hook['_id']}/{hook['token']}"


def texts(admin: Client, room_id: str = "GENERAL", family: str = "channels") -> list[str]:
    r = admin.get(f"{family}.messages", roomId=room_id, count=0)
    assert r.status_code == 200, r.text
    return [m["msg"] for m in r.json()["messages"] if "t" not in m]


def post(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(url, trust_env=False, timeout=10.0, **kwargs)


def test_json_post(shared_server: Server, admin: Client) -> None:
    hook = create_hook(admin)
    text = f"json at {time.time()}"
    r = post(hook_url(shared_server, hook), json={"text": text})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"success": True}
    assert r.headers["x-ratelimit-limit"] == "600"
    assert text in texts(admin)


def test_form_payload(shared_server: Server, admin: Client) -> None:
    hook = create_hook(admin)
    text = f"form at #{time.time()}"
    r = post(
        hook_url(shared_server, hook),
        content=f'payload={{"msg": "{text}"}}',
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200, r.text
    assert text in texts(admin)


def test_wrong_token_and_disabled(shared_server: Server, admin: Client) -> None:
    hook = create_hook(admin)
    r = post(f"{shared_server.base_url}/hooks/{hook['_id']}/not-the-token", json={"text": "x"})
    assert r.status_code == 404
    assert r.json() == {"success": False, "error": INVALID_HOOK}

    disabled = create_hook(admin, enabled=False)
    r = post(hook_url(shared_server, disabled), json={"text": "x"})
    assert r.status_code == 503
    assert r.json() == {"success": False, "error": "Service Unavailable"}


def test_override_follows_integrations_update(shared_server: Server, admin: Client) -> None:
    """Rocket.Chat's suite: refused while the override is off, allowed after an update (which
    also turns `scriptEnabled` on without a script)."""
    name = f"e2e.override.{int(time.time() * 1000)}"
    room = admin.post("channels.create", name=name).json()["channel"]
    hook = create_hook(admin, overrideDestinationChannelEnabled=False)
    for body in ({"text": "x", "channel": [name]}, {"text": "x", "roomId": room["_id"]}):
        r = post(hook_url(shared_server, hook), json=body)
        assert r.status_code == 400
        assert r.json()["error"] == "overriding destination channel is disabled for this integration"
    r = admin.http.put(
        "/api/v1/integrations.update",
        headers=admin.headers,
        json={
            "type": "webhook-incoming",
            "overrideDestinationChannelEnabled": True,
            "integrationId": hook["_id"],
            "username": "rocket.cat",
            "channel": "#general",
            "scriptEnabled": True,
            "enabled": True,
            "name": hook["name"],
        },
    )
    assert r.status_code == 200, r.text
    r = post(hook_url(shared_server, hook), json={"text": "moved", "channel": [name]})
    assert r.status_code == 200, r.text
    assert texts(admin, room["_id"]) == ["moved"]


def test_private_group_of_others(shared_server: Server, admin: Client) -> None:
    stamp = int(time.time() * 1000)
    r = admin.post(
        "users.create", username=f"g_{stamp}", email=f"g{stamp}@example.com", password="pw-12345", name="G"
    )
    assert r.status_code == 200, r.text
    group = admin.post("groups.create", name=f"private.{stamp}").json()["group"]
    hook = create_hook(admin, username=f"g_{stamp}", channel=f"#{group['name']}")
    r = post(hook_url(shared_server, hook), json={"text": "not for me"})
    assert r.status_code == 400
    assert r.json()["error"] == "error-not-allowed"
    assert texts(admin, group["_id"], "groups") == []


def test_concurrent_burst(shared_server: Server, admin: Client) -> None:
    name = f"e2e.burst.{int(time.time() * 1000)}"
    room = admin.post("channels.create", name=name).json()["channel"]
    hook = create_hook(admin, channel=f"#{name}")
    url = hook_url(shared_server, hook)

    async def burst() -> tuple[list[int], list[int]]:
        async with httpx.AsyncClient(trust_env=False, timeout=30.0) as client:
            distinct = await asyncio.gather(*(client.post(url, json={"text": f"n{n}"}) for n in range(40)))
            dupes = await asyncio.gather(
                *(
                    client.post(url, json={"text": "dup"}, headers={"Idempotency-Key": "same"})
                    for _ in range(20)
                )
            )
        return [r.status_code for r in distinct], [r.status_code for r in dupes]

    distinct, dupes = asyncio.run(burst())
    assert distinct == [200] * 40
    assert dupes == [200] * 20
    stored = texts(admin, room["_id"])
    assert sorted(t for t in stored if t != "dup") == sorted(f"n{n}" for n in range(40))
    assert stored.count("dup") == 1
