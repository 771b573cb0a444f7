"""Shared fixtures: a migrated template database copied per test, an in-process app, and a
small Rocket.Chat-speaking client."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from hookhub.app import create_app
from hookhub.config import Settings
from hookhub.hub import Hub
from hookhub.store.migrate import upgrade
from tests import databases

FAST_HASHING = {"argon2_time_cost": 1, "argon2_memory_kib": 64}


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated and bootstrapped once; each test starts from a copy (bootstrap then finds
    everything in place, as on a server's second start)."""
    directory = tmp_path_factory.mktemp("template")
    path = directory / "hookhub.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")

    async def _bootstrap() -> None:
        template_hub = Hub(make_settings(directory))
        await template_hub.start()
        await template_hub.close()

    asyncio.run(_bootstrap())
    if databases.ON_POSTGRES:
        url = databases.create_database(databases.TEMPLATE)
        upgrade(url)

        async def _bootstrap_postgres() -> None:
            template_hub = Hub(make_settings(directory, database_url=url))
            await template_hub.start()
            await template_hub.close()

        asyncio.run(_bootstrap_postgres())
    return path


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=data_dir, **{**FAST_HASHING, **overrides})


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to start the app with other settings."""
    return {}


@pytest.fixture
def settings(tmp_path: Path, template_db: Path, settings_overrides: dict[str, Any]) -> Iterator[Settings]:
    """A copy of the template database (see `tests.databases` for PostgreSQL runs)."""
    if not databases.ON_POSTGRES:
        shutil.copy(template_db, tmp_path / "hookhub.sqlite3")
        yield make_settings(tmp_path, **settings_overrides)
        return
    name = _template_copies.take()
    try:
        yield make_settings(tmp_path, **{"database_url": databases.url_of(name), **settings_overrides})
    finally:
        _template_copies.give_back(name)


_template_copies = databases.TemplateCopies()


_SERVER_SUITES = ("tests/e2e/", "tests/compat/")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL (HOOKHUB_TEST_DATABASE=postgresql, the second pass of `.ci/run`) run what
    the database changes: tests on the per-test database (the `settings` fixture, which every
    hub and app fixture builds on) and the suites that start servers. The rest would repeat the
    first pass: pure rules, SQLite-only code, and the store tests, which take both databases as
    parameters there already (tests/store/conftest.py)."""
    if not databases.ON_POSTGRES:
        return
    keep: list[pytest.Item] = []
    repeated: list[pytest.Item] = []
    for item in items:
        path = item.path.relative_to(config.rootpath).as_posix()
        uses_database = "settings" in getattr(item, "fixturenames", ())
        (keep if uses_database or path.startswith(_SERVER_SUITES) else repeated).append(item)
    if repeated:
        config.hook.pytest_deselected(items=repeated)
        items[:] = keep


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _template_copies.close()
    if databases.ON_POSTGRES:
        databases.drop_ensured()


@pytest.fixture
async def hub(settings: Settings) -> AsyncIterator[Hub]:
    the_hub = Hub(settings)
    await the_hub.start()
    yield the_hub
    await the_hub.close()


class RC:
    """An httpx client that speaks Rocket.Chat: JSON in, JSON out, auth headers once logged in."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.headers: dict[str, str] = {}
        self.user_id: str | None = None

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(f"/api/v1/{path}", params=params, headers=self.headers)

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return await self.http.post(
            f"/api/v1/{path}", json=body if body is not None else kwargs, headers=self.headers
        )

    async def login(self, user: str, password: str) -> dict[str, Any]:
        r = await self.http.post("/api/v1/login", json={"user": user, "password": password})
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()["data"]
        self.headers = {"X-User-Id": data["userId"], "X-Auth-Token": data["authToken"]}
        self.user_id = data["userId"]
        return data

    def as_anonymous(self) -> RC:
        return RC(self.http)

    async def register_and_login(self, username: str, password: str = "pass-123") -> RC:
        """Register `username` (the first one becomes admin) and return a client logged in as them."""
        other = RC(self.http)
        r = await other.post(
            "users.register",
            username=username,
            email=f"{username}@example.com",
            **{"pass": password},
            name=username.title(),
        )
        assert r.status_code == 200, r.text
        await other.login(username, password)
        return other


_shared_app: list[FastAPI] = []


def _app_for(settings: Settings, hub: Hub) -> FastAPI:
    """One app for every test's in-process client, pointed at the test's hub.

    The app holds no settings of its own (routes and middleware read them from `app.state.hub`,
    and ASGITransport runs no lifespan), but building one costs: FastAPI builds each route's
    dependency model on an app's first requests, ~0.17 s per test, about a third of the suite's
    time. What the app keeps between requests (the hooks' rate limiter) is dropped per test."""
    if not _shared_app:
        _shared_app.append(create_app(settings, hub=hub))
    app = _shared_app[0]
    app.state.hub = hub
    for name in ("hook_rate_limiter", "outgoing"):
        if hasattr(app.state, name):
            delattr(app.state, name)
    return app


@pytest.fixture
async def http(hub: Hub, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = _app_for(settings, hub)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def anon(http: httpx.AsyncClient) -> RC:
    return RC(http)


@pytest.fixture
async def admin(anon: RC) -> RC:
    """The first registered user: admin by the first-user rule."""
    return await anon.register_and_login("boss")


@pytest.fixture
async def alice(admin: RC) -> RC:
    return await admin.register_and_login("alice")


@pytest.fixture
async def bob(admin: RC) -> RC:
    return await admin.register_and_login("bob")


def assert_error(r: httpx.Response, status: int, error: str, error_type: str | None = None) -> dict[str, Any]:
    """Assert a Rocket.Chat failure envelope, literally."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body: dict[str, Any] = r.json()
    assert body["success"] is False, body
    assert body["error"] == error, body
    if error_type is not None:
        assert body.get("errorType") == error_type, body
    return body


def assert_ok(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    body: dict[str, Any] = r.json()
    assert body["success"] is True, body
    return body
