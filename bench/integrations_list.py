"""Benchmark: the time for one page of `integrations.list` and `integrations.history` as the
tables grow (issue #3), through the real app in process (HTTP parsing, auth, permission filter,
SQL, JSON), on the embedded SQLite default.

Each scenario is measured at the small size (1,000 rows) and the large size (100,000 integrations,
1,000,000 history rows); the small figure is the same-run baseline the large one is compared with.
A bare Starlette endpoint returning a prepared page of the same size is printed too, as the floor
that any endpoint pays for the ASGI round trip.

    python bench/integrations_list.py                 # full run (~3 minutes, ~1 GB of disk)
    python bench/integrations_list.py --quick         # 1,000 vs 10,000 rows, for a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hookhub.app import create_app
from hookhub.config import Settings
from hookhub.hub import Hub
from hookhub.ids import iso, random_id, utcnow
from hookhub.store import integrations as store
from hookhub.store.migrate import upgrade

OWNERS = 20
CHUNK = 5000
WORDS = ("deploy", "alert", "ci", "backup", "monitor", "billing", "sentry", "grafana", "jira", "github")


def integration_doc(i: int, owner: dict[str, str], when: Any) -> dict[str, Any]:
    incoming = i % 2 == 0
    doc: dict[str, Any] = {
        "_id": random_id(),
        "type": "webhook-incoming" if incoming else "webhook-outgoing",
        "name": f"{WORDS[i % len(WORDS)]} hook {i}",
        "enabled": i % 7 != 0,
        "username": "rocket.cat",
        "userId": "rocket.cat",
        "channel": [f"#room-{i % 50}"] + (["@rocket.cat"] if i % 5 == 0 else []),
        "scriptEnabled": False,
        "scriptEngine": "isolated-vm",
        "_createdAt": iso(when),
        "_createdBy": owner,
        "_updatedAt": iso(when),
    }
    if incoming:
        doc |= {"token": random_id(48), "overrideDestinationChannelEnabled": False}
    else:
        doc |= {"event": "sendMessage", "urls": [f"https://example.invalid/{i}"], "triggerWords": ["!go"]}
    return doc


def history_doc(integration: dict[str, Any], n: int, when: Any) -> dict[str, Any]:
    return {
        "_id": random_id(),
        "type": "outgoing-webhook",
        "step": "finished" if n % 3 else "after-http-call",
        "integration": {"_id": integration["_id"], "_createdBy": integration["_createdBy"]},
        "event": "sendMessage",
        "_createdAt": iso(when),
        "_updatedAt": iso(when),
        "ranPrepareScript": False,
        "finished": True,
        "url": integration["urls"][0],
        "httpResult": '{"ok":true}',
    }


async def fill(hub: Hub, owners: list[dict[str, str]], integrations: int, history: int) -> dict[str, Any]:
    """Insert the rows; returns the outgoing integration that holds the history."""
    start = utcnow() - timedelta(days=30)
    rng = random.Random(7)
    hot: dict[str, Any] | None = None
    batch: list[dict[str, Any]] = []
    for i in range(integrations):
        doc = integration_doc(i, owners[rng.randrange(len(owners))], start + timedelta(seconds=i))
        if hot is None and doc["type"] == "webhook-outgoing":
            hot = doc
        batch.append(doc)
        if len(batch) == CHUNK:
            async with hub.tx() as ctx:
                await store.insert_integrations(ctx.conn, batch)
            batch = []
    async with hub.tx() as ctx:
        await store.insert_integrations(ctx.conn, batch)
    assert hot is not None
    rows: list[dict[str, Any]] = []
    for n in range(history):
        rows.append(history_doc(hot, n, start + timedelta(milliseconds=n)))
        if len(rows) == CHUNK * 4:
            async with hub.tx() as ctx:
                await store.insert_history_many(ctx.conn, rows)
            rows = []
    async with hub.tx() as ctx:
        await store.insert_history_many(ctx.conn, rows)
    return hot


async def timed(call: Callable[[], Awaitable[httpx.Response]], repeat: int) -> float:
    """Median milliseconds of `repeat` sequential calls (after two warm-ups)."""
    for _ in range(2):
        r = await call()
        assert r.status_code == 200, r.text
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = await call()
        samples.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, r.text
    return statistics.median(samples)


async def measure(size: int, history: int, repeat: int) -> tuple[dict[str, float], int]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), argon2_time_cost=1, argon2_memory_kib=64)
        upgrade(settings.effective_database_url)
        hub = Hub(settings)
        await hub.start()
        app = create_app(settings, hub=hub)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            r = await client.post(
                "/api/v1/users.register",
                json={"username": "boss", "email": "b@example.com", "pass": "pw-12345", "name": "Boss"},
            )
            assert r.status_code == 200, r.text
            login = (await client.post("/api/v1/login", json={"user": "boss", "password": "pw-12345"})).json()
            headers = {"X-User-Id": login["data"]["userId"], "X-Auth-Token": login["data"]["authToken"]}
            owners = [{"_id": login["data"]["userId"], "username": "boss"}] + [
                {"_id": random_id(), "username": f"owner{n}"} for n in range(OWNERS - 1)
            ]
            t0 = time.perf_counter()
            hot = await fill(hub, owners, size, history)
            fill_s = time.perf_counter() - t0
            print(f"  filled {size:,} integrations and {history:,} history rows in {fill_s:.1f} s")

            def get(path: str, **params: Any) -> Callable[[], Awaitable[httpx.Response]]:
                return lambda: client.get(f"/api/v1/{path}", params=params, headers=headers)

            by_owner = orjson.dumps({"_createdBy.username": "owner3"}).decode()
            by_channel = orjson.dumps({"channel": {"$in": ["#room-7"]}}).decode()
            deep = max(size - 100, 0)
            deep_history = max(history - 100, 0)
            scenarios = {
                "list offset 0": get("integrations.list", count=50),
                "list deep offset": get("integrations.list", count=50, offset=deep),
                "list type filter": get("integrations.list", count=50, type="webhook-outgoing"),
                "list name filter": get("integrations.list", count=50, name="backup"),
                "list query _createdBy": get("integrations.list", count=50, query=by_owner),
                "list query channel $in": get("integrations.list", count=50, query=by_channel),
                "channels.getIntegrations": get("channels.getIntegrations", roomId="GENERAL", count=50),
                "history offset 0": get("integrations.history", id=hot["_id"], count=50),
                "history deep offset": get(
                    "integrations.history", id=hot["_id"], count=50, offset=deep_history
                ),
            }
            results = {name: await timed(call, repeat) for name, call in scenarios.items()}
            page_bytes = len((await scenarios["list offset 0"]()).content)
        await hub.close()
    return results, page_bytes


async def bare_baseline(page_bytes: int, repeat: int) -> float:
    """A bare Starlette endpoint answering a prepared body of the same size."""
    body = b'{"integrations":[' + b"x" * max(page_bytes - 20, 0) + b"]}"

    async def endpoint(_request: Request) -> Response:
        return Response(body, media_type="application/json")

    app = Starlette(routes=[Route("/page", endpoint)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        return await timed(lambda: client.get("/page"), repeat)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1,000 vs 10,000 rows")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    small = (1_000, 1_000)
    large = (10_000, 10_000) if args.quick else (100_000, 1_000_000)
    print(f"small: {small[0]:,} integrations / {small[1]:,} history rows")
    base, page_bytes = await measure(*small, args.repeat)
    print(f"large: {large[0]:,} integrations / {large[1]:,} history rows")
    grown, _ = await measure(*large, args.repeat)
    bare = await bare_baseline(page_bytes, args.repeat)
    print()
    print(f"{'scenario (median ms per page of 50)':<40}{'small':>9}{'large':>9}{'growth':>9}")
    for name, small_ms in base.items():
        print(f"{name:<40}{small_ms:>9.2f}{grown[name]:>9.2f}{grown[name] / small_ms:>8.1f}x")
    print(f"{'bare Starlette endpoint, same body size':<40}{bare:>9.2f}")


if __name__ == "__main__":
    asyncio.run(main())
