"""`hookhub serve` as a real process: HTTP on 127.0.0.1, graceful SIGTERM, data kept across
restarts, and a clear refusal of bad configuration."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import (
    ADMIN_PASS,
    ADMIN_USERNAME,
    Client,
    Server,
    hookhub_command,
    http_get,
    http_post,
    server_env,
    serving,
    start_server,
)


def ok(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, f"{r.request.method} {r.request.url} -> {r.status_code} {r.text}"
    assert r.headers["content-type"] == "application/json"
    body: dict[str, Any] = r.json()
    assert body["success"] is True, body
    return body


def test_info_over_real_http(shared_server: Server) -> None:
    r = http_get(f"{shared_server.base_url}/api/info", timeout=5)
    body = ok(r)
    assert body["version"].count(".") == 1
    assert r.headers["cache-control"] == "no-store"
    assert "server" not in r.headers


def test_health_and_readiness_of_a_running_server(shared_server: Server) -> None:
    """The real server: alive, and ready (database, migrations, delivery worker all ok)."""
    assert http_get(f"{shared_server.base_url}/healthz").json() == {"status": "ok"}
    ready = http_get(f"{shared_server.base_url}/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok", "deliveryWorker": "ok"}


def test_unknown_route_and_no_auth(shared_server: Server) -> None:
    with Client(shared_server.base_url) as anon:
        r = anon.get("me")
        assert r.status_code == 401
        assert r.json()["error"] == "You must be logged in to do this."
        assert anon.get("no.such.route").status_code == 404


def test_full_flow_then_restart_keeps_data(server: Server, data_dir: Path) -> None:
    with Client(server.base_url) as admin:
        admin_id = admin.login(ADMIN_USERNAME, ADMIN_PASS)
        me = ok(admin.get("me"))
        assert (me["_id"], me["username"]) == (admin_id, ADMIN_USERNAME)
        assert "admin" in me["roles"]

        with Client(server.base_url) as anon:
            user = ok(
                anon.post(
                    "users.register",
                    username="walker",
                    email="walker@example.com",
                    name="Walker",
                    **{"pass": "walk-pw-1"},
                )
            )["user"]
        assert user["username"] == "walker"

        channel = ok(admin.post("channels.create", name="e2e-room", members=["walker"]))["channel"]
        assert channel["name"] == "e2e-room" and channel["t"] == "c"

        posted = ok(admin.post("chat.postMessage", roomId=channel["_id"], text="hello over http"))
        assert posted["message"]["msg"] == "hello over http"
        assert posted["message"]["rid"] == channel["_id"]

        listed = ok(admin.get("channels.messages", roomId=channel["_id"]))
        assert "hello over http" in [m["msg"] for m in listed["messages"]]
        history = ok(admin.get("channels.history", roomId=channel["_id"]))
        assert history["messages"][0]["msg"] == "hello over http"

    assert server.stop() == 0, server.log()

    again = start_server(data_dir)
    try:
        with Client(again.base_url) as walker:
            walker.login("walker", "walk-pw-1")
            assert ok(walker.get("me"))["username"] == "walker"
            info = ok(walker.get("users.info", username="walker"))
            assert info["user"]["_id"] == user["_id"]
            messages = ok(walker.get("channels.messages", roomId=channel["_id"]))["messages"]
            assert "hello over http" in [m["msg"] for m in messages]
        with Client(again.base_url) as admin:
            # same admin, not a second one created from ADMIN_PASS
            assert admin.login(ADMIN_USERNAME, ADMIN_PASS) == admin_id
            admins = [u for u in ok(admin.get("users.list", count=0))["users"] if "admin" in u["roles"]]
            assert [u["username"] for u in admins] == [ADMIN_USERNAME]
    finally:
        assert again.stop() == 0, again.log()


def test_concurrent_writes_all_succeed(shared_server: Server) -> None:
    """Parallel writers over real connections: SQLite's single writer must queue them
    (BEGIN IMMEDIATE + busy timeout), never answer "database is locked"."""
    with Client(shared_server.base_url) as admin:
        admin.login(ADMIN_USERNAME, ADMIN_PASS)
        headers = dict(admin.headers)
        room_id = ok(admin.post("channels.create", name="busy-room"))["channel"]["_id"]

    def post(i: int) -> int:
        r = http_post(
            f"{shared_server.base_url}/api/v1/chat.postMessage",
            json={"roomId": room_id, "text": f"message {i}"},
            headers=headers,
            timeout=30,
        )
        return r.status_code

    def register(i: int) -> int:
        body = {"username": f"crowd{i}", "email": f"crowd{i}@example.com", "pass": "crowd-pw-1"}
        return http_post(f"{shared_server.base_url}/api/v1/users.register", json=body, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        posts = list(pool.map(post, range(30)))
        registrations = list(pool.map(register, range(12)))
    assert posts == [200] * 30
    assert registrations == [200] * 12

    with Client(shared_server.base_url) as admin:
        admin.login(ADMIN_USERNAME, ADMIN_PASS)
        body = ok(admin.get("channels.messages", roomId=room_id, count=0))
        assert sorted(m["msg"] for m in body["messages"]) == sorted(f"message {i}" for i in range(30))
        assert ok(admin.get("channels.info", roomId=room_id))["channel"]["msgs"] == 30
        users = ok(admin.get("users.list", count=0))["users"]
        assert len([u for u in users if u["username"].startswith("crowd")]) == 12


def test_sigterm_lets_the_in_flight_request_finish(data_dir: Path) -> None:
    # Expensive hashing makes a login take most of a second: long enough to signal mid-request.
    slow = start_server(data_dir, HOOKHUB_ARGON2_TIME_COST="30", HOOKHUB_ARGON2_MEMORY_KIB="32768")
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            started = time.monotonic()
            pending = pool.submit(
                http_post,
                f"{slow.base_url}/api/v1/login",
                json={"user": ADMIN_USERNAME, "password": ADMIN_PASS},
                timeout=30,
            )
            time.sleep(0.3)
            assert not pending.done(), "the login finished before the signal; make hashing slower"
            slow.proc.send_signal(signal.SIGTERM)
            response = pending.result()
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "success"
        assert slow.proc.wait(timeout=10) == 0, slow.log()
        assert time.monotonic() - started < 15
    finally:
        if slow.proc.poll() is None:
            slow.stop(signal.SIGKILL)


def test_sigterm_exits_zero_promptly_and_tokens_survive_a_restart(server: Server, data_dir: Path) -> None:
    with Client(server.base_url) as admin:
        admin.login(ADMIN_USERNAME, ADMIN_PASS)
        headers = dict(admin.headers)
    assert server.stop(timeout=5) == 0, server.log()
    again = start_server(data_dir)
    try:
        r = http_get(f"{again.base_url}/api/v1/me", headers=headers, timeout=5)
        assert ok(r)["username"] == ADMIN_USERNAME
    finally:
        assert again.stop() == 0


def _run_serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        hookhub_command("serve"),
        env=server_env(tmp_path / "data", **env),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"HOOKHUB_PORT": "abc"}, "HOOKHUB_PORT"),
        ({"HOOKHUB_DATABASE_URL": "mysql://nope"}, "HOOKHUB_DATABASE_URL"),
        ({"HOOKHUB_LOG_LEVEL": "verbose"}, "HOOKHUB_LOG_LEVEL"),
    ],
)
def test_bad_setting_is_refused_with_one_line(tmp_path: Path, env: dict[str, str], variable: str) -> None:
    result = _run_serve(tmp_path, **env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"hookhub: invalid value for {variable}"), lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    # nothing was started or created
    assert not (tmp_path / "data").exists()


def test_unusable_data_dir_is_refused_with_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = subprocess.run(
        hookhub_command("serve"),
        # the data directory is where the embedded SQLite database lives
        env=server_env(blocker / "data", HOOKHUB_DATABASE_URL=""),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "HOOKHUB_DATA_DIR" in lines[0], result.stderr


def test_unreachable_database_is_one_line_without_the_password(tmp_path: Path) -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    result = _run_serve(tmp_path, HOOKHUB_DATABASE_URL="postgresql://hub:Db-Secret-9@127.0.0.1:1/hub")
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "hookhub: cannot prepare the database postgresql+asyncpg://***@127.0.0.1:1/hub"
    )
    assert "Db-Secret-9" not in result.stderr + result.stdout


def test_port_already_taken_exits_non_zero(shared_server: Server, tmp_path: Path) -> None:
    result = subprocess.run(
        hookhub_command("serve", "--port", str(shared_server.port)),
        env=server_env(tmp_path / "other"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert "address already in use" in (result.stderr + result.stdout).lower()
    # the first server is unaffected
    assert http_get(f"{shared_server.base_url}/api/info", timeout=5).status_code == 200


def test_migrate_command(tmp_path: Path) -> None:
    result = subprocess.run(
        hookhub_command("migrate"),
        env=server_env(tmp_path / "data", HOOKHUB_LOG_LEVEL="warning", HOOKHUB_DATABASE_URL=""),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "migrations applied" in result.stdout
    assert (tmp_path / "data" / "hookhub.sqlite3").exists()


def _idle_until_closed(port: int, limit: float) -> float:
    """Seconds an idle keep-alive connection stays open after one request (up to `limit`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=limit) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200"), answer
        started = time.monotonic()
        try:
            while sock.recv(65536):
                pass
        except TimeoutError:
            pass
        return time.monotonic() - started


def test_keep_alive_timeout_is_the_setting(data_dir: Path) -> None:
    """HOOKHUB_KEEP_ALIVE_SECONDS: idle connections close after it, not after uvicorn's 5 s, which
    is shorter than the idle timeout of the proxies in front (a reused connection closing = 502)."""
    with serving(data_dir, HOOKHUB_KEEP_ALIVE_SECONDS="1") as server:
        assert 0.8 < _idle_until_closed(server.port, limit=4) < 3
