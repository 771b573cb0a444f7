"""`hookhub admin create-user | reset-password | list-users` (issue #10): driven through typer's
CliRunner on a data directory of their own, and once as a real subprocess next to a running server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from hookhub.cli import cli
from hookhub.config import Settings, load_settings
from hookhub.hub import Hub
from hookhub.services import auth
from hookhub.services.errors import HookhubError
from tests.e2e.conftest import ADMIN_PASS, ADMIN_USERNAME, hookhub_command, http_post, serving

_SCRUBBED_PREFIXES = ("HOOKHUB_", "ADMIN_", "ROOT_URL", "CREATE_TOKENS_FOR_USERS", "Accounts_")


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's database (the `settings` fixture: a copy of the template, on PostgreSQL too)
    named through the environment as an operator would, cheap hashing, and an ADMIN_PASS admin
    (so a created user is not made admin by the first-user rule)."""
    for key in list(os.environ):
        if key.startswith(_SCRUBBED_PREFIXES):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOOKHUB_DATA_DIR", str(settings.data_dir))
    if settings.database_url is not None:
        monkeypatch.setenv("HOOKHUB_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HOOKHUB_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("HOOKHUB_ARGON2_MEMORY_KIB", "64")
    monkeypatch.setenv("ADMIN_USERNAME", ADMIN_USERNAME)
    monkeypatch.setenv("ADMIN_PASS", ADMIN_PASS)
    return settings.data_dir


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["admin", *args], input=stdin)


def can_login(user: str, password: str) -> bool:
    """Log in through the same service as POST /api/v1/login."""

    async def attempt() -> bool:
        hub = Hub(load_settings())
        try:
            async with hub.tx() as ctx:
                await auth.login(ctx, hub.hashing, {"user": user, "password": password})
            return True
        except HookhubError:
            return False
        finally:
            await hub.close()

    return asyncio.run(attempt())


def users_json() -> list[dict[str, object]]:
    result = run("list-users", "--json")
    assert result.exit_code == 0, result.output
    data: list[dict[str, object]] = json.loads(result.stdout)
    return data


def create(username: str, *extra: str, password: str = "Pw-one-1") -> Result:
    return run(
        "create-user", username, "--email", f"{username}@example.com", "--name", username.title(),
        "--password", password, *extra,
    )  # fmt: skip


def test_create_user_prints_its_id_and_the_user_can_log_in(env: Path) -> None:
    result = create("alice")
    assert result.exit_code == 0, result.output
    alice = next(u for u in users_json() if u["username"] == "alice")
    assert result.stdout == f"created user alice ({alice['_id']})\n"
    assert alice == {
        "_id": alice["_id"],
        "username": "alice",
        "name": "Alice",
        "roles": ["user"],
        "active": True,
    }
    assert can_login("alice", "Pw-one-1")
    assert not can_login("alice", "wrong")


def test_create_user_with_admin_role(env: Path) -> None:
    assert create("boss", "--role", "admin", "--role", "user").exit_code == 0
    boss = next(u for u in users_json() if u["username"] == "boss")
    assert sorted(boss["roles"]) == ["admin", "user"]  # type: ignore[type-var]


def test_unknown_role_is_refused(env: Path) -> None:
    result = create("carol", "--role", "no-such-role")
    assert result.exit_code == 1
    assert result.stderr == "hookhub: The field Roles consist invalid role id\n"


def test_duplicate_username_is_refused_with_the_service_text(env: Path) -> None:
    assert create("alice").exit_code == 0
    result = run("create-user", "ALICE", "--email", "other@example.com", "--name", "A", "--password", "x")
    assert result.exit_code == 1
    assert result.stderr == "hookhub: ALICE is already in use :(\n"
    assert result.stdout == ""
    assert [u["username"] for u in users_json()].count("alice") == 1


def test_duplicate_email_is_refused(env: Path) -> None:
    assert create("alice").exit_code == 0
    result = run("create-user", "alice2", "--email", "Alice@example.com", "--name", "A", "--password", "x")
    assert result.exit_code == 1
    assert result.stderr == "hookhub: Alice@example.com is already in use :(\n"


def test_bad_email_and_bad_username_are_refused(env: Path) -> None:
    result = run("create-user", "dave", "--email", "not-an-email", "--name", "Dave", "--password", "x")
    assert result.exit_code == 1
    assert result.stderr == "hookhub: not-an-email is not a valid e-mail\n"
    result = run("create-user", "da ve", "--email", "dave@example.com", "--name", "Dave", "--password", "x")
    assert result.exit_code == 1
    assert result.stderr == "hookhub: da ve is not a valid username\n"
    assert "dave" not in [u["username"] for u in users_json()]


def test_password_is_prompted_twice(env: Path) -> None:
    result = run(
        "create-user", "erin", "--email", "erin@example.com", "--name", "Erin", stdin="Pw-e-1\nPw-e-1\n"
    )
    assert result.exit_code == 0, result.output
    assert "Pw-e-1" not in result.stdout  # hidden input
    assert can_login("erin", "Pw-e-1")


def test_password_prompt_mismatch_creates_nothing(env: Path) -> None:
    result = run("create-user", "erin", "--email", "erin@example.com", "--name", "Erin", stdin="one\ntwo\n")
    assert result.exit_code == 1
    assert result.stderr.endswith("hookhub: the two passwords do not match\n")
    assert "erin" not in [u["username"] for u in users_json()]


def test_empty_password_is_refused(env: Path) -> None:
    result = run("create-user", "erin", "--email", "erin@example.com", "--name", "Erin", "--password", "")
    assert result.exit_code == 1
    assert result.stderr == "hookhub: The field Password is required\n"


def test_reset_password_then_only_the_new_one_works(env: Path) -> None:
    assert create("frank", password="Old-pw-1").exit_code == 0
    result = run("reset-password", "frank", "--password", "New-pw-2")
    assert result.exit_code == 0, result.output
    assert result.stdout == "password changed for frank\n"
    assert can_login("frank", "New-pw-2")
    assert not can_login("frank", "Old-pw-1")


def test_reset_password_prompted_and_mismatch(env: Path) -> None:
    assert create("gina", password="Old-pw-1").exit_code == 0
    result = run("reset-password", "gina", stdin="a\nb\n")
    assert result.exit_code == 1
    assert result.stderr.endswith("hookhub: the two passwords do not match\n")
    assert can_login("gina", "Old-pw-1")
    assert run("reset-password", "gina", stdin="New-pw-3\nNew-pw-3\n").exit_code == 0
    assert can_login("gina", "New-pw-3")


def test_reset_password_refuses_an_empty_password(env: Path) -> None:
    assert create("hank", password="Old-pw-1").exit_code == 0
    result = run("reset-password", "hank", "--password", "")
    assert result.exit_code == 1
    assert result.stderr == "hookhub: The field Password is required\n"
    assert can_login("hank", "Old-pw-1")


def test_reset_password_of_unknown_user(env: Path) -> None:
    result = run("reset-password", "nobody", "--password", "x")
    assert result.exit_code == 1
    assert result.stderr == "hookhub: no user named nobody\n"
    assert result.stdout == ""


def test_list_users_table_and_json(env: Path) -> None:
    assert create("henry").exit_code == 0
    assert can_login("henry", "Pw-one-1")  # gives henry a last login
    result = run("list-users")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "username" in line)
    for column in ("name", "roles", "active", "last login"):
        assert column in header
    henry = next(line for line in lines if "henry" in line)
    assert "Henry" in henry and "user" in henry and "yes" in henry and "never" not in henry
    admin_line = next(line for line in lines if f" {ADMIN_USERNAME} " in line)
    assert "admin" in admin_line and "never" in admin_line

    listed = {u["username"]: u for u in users_json()}
    assert set(listed) == {ADMIN_USERNAME, "rocket.cat", "henry"}
    assert all(set(u) == {"_id", "username", "name", "roles", "active"} for u in listed.values())
    assert listed[ADMIN_USERNAME]["roles"] == ["admin"]
    assert listed["rocket.cat"]["_id"] == "rocket.cat"


@pytest.mark.usefixtures("settings")  # keeps the test in the PostgreSQL pass (tests/conftest.py)
def test_create_user_while_a_server_runs(tmp_path: Path) -> None:
    """The subprocess writes to the database the running server uses; the server sees the user at once."""
    data_dir = tmp_path / "data"
    with serving(data_dir) as server:
        done = subprocess.run(
            hookhub_command(
                "admin", "create-user", "ivy", "--email", "ivy@example.com", "--name", "Ivy",
                "--password", "Ivy-pw-1",
            ),
            env=server.env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("created user ivy (")
        r = http_post(f"{server.base_url}/api/v1/login", json={"user": "ivy", "password": "Ivy-pw-1"})
        assert r.status_code == 200, r.text
        assert r.json()["data"]["me"]["username"] == "ivy"
        bad = http_post(f"{server.base_url}/api/v1/login", json={"user": "ivy", "password": "wrong"})
        assert bad.status_code == 401
