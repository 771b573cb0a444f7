"""/healthz and /readyz (issue #10): liveness, and readiness naming the failing check."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from hookhub.app import create_app
from hookhub.config import Settings
from hookhub.hub import Hub
from hookhub.runtime.outgoing import OutgoingEngine
from tests.conftest import make_settings


@pytest.fixture
async def app(hub: Hub, settings: Settings) -> AsyncIterator[FastAPI]:
    """The app with its delivery engine running, as `hookhub serve` starts it."""
    application = create_app(settings, hub=hub)
    engine = OutgoingEngine(hub)
    await engine.start()
    application.state.outgoing = engine
    yield application
    await engine.stop()


def client_of(application: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_healthz_answers_without_a_login(http: httpx.AsyncClient) -> None:
    r = await http.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_readyz_is_ready_when_every_check_passes(app: FastAPI) -> None:
    async with client_of(app) as client:
        r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "deliveryWorker": "ok"},
    }


async def test_readyz_names_a_stopped_delivery_worker(app: FastAPI) -> None:
    await app.state.outgoing.stop()
    async with client_of(app) as client:
        r = await client.get("/readyz")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "not ready" and body["failing"] == ["deliveryWorker"]
    assert body["checks"]["deliveryWorker"] == "not running: not started"


async def test_readyz_names_migrations_that_are_behind(app: FastAPI, hub: Hub) -> None:
    async with hub.tx() as ctx:
        await ctx.conn.execute(text("UPDATE alembic_version SET version_num = '0004'"))
    async with client_of(app) as client:
        r = await client.get("/readyz")
    assert r.status_code == 503
    body = r.json()
    assert body["failing"] == ["migrations"]
    assert body["checks"]["migrations"].startswith("at 0004, expected ")


async def test_readyz_names_an_unreachable_database(tmp_path: Path) -> None:
    # a PostgreSQL server that is not there (port 1 on loopback refuses at once)
    settings = make_settings(tmp_path, database_url="postgresql+asyncpg://nobody:pw@127.0.0.1:1/none")
    application = create_app(settings, hub=Hub(settings))
    async with client_of(application) as client:
        r = await client.get("/readyz")
    await application.state.hub.close()
    assert r.status_code == 503
    body = r.json()
    assert body["failing"] == ["database", "migrations", "deliveryWorker"]
    assert body["checks"]["database"].startswith("unreachable: ")
