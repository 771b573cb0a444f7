"""Run `hookhub serve` as a real subprocess on 127.0.0.1 and talk to it over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import databases
from tests.e2e.receiver import Receiver

STARTUP_TIMEOUT = 20.0
SHUTDOWN_TIMEOUT = 10.0
ADMIN_USERNAME = "admin"
ADMIN_PASS = "e2e-Admin-pass"

# Variables of the developer's shell that would change how the child behaves.
_SCRUBBED_PREFIXES = ("HOOKHUB_", "ADMIN_", "ROOT_URL", "CREATE_TOKENS_FOR_USERS", "Accounts_")


def http_get(url: str, **kwargs: Any) -> httpx.Response:
    """GET that ignores proxy variables: these tests only ever talk to 127.0.0.1."""
    return httpx.get(url, trust_env=False, **kwargs)


def http_post(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(url, trust_env=False, **kwargs)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    env.update(
        {
            "HOOKHUB_DATA_DIR": str(data_dir),
            "HOOKHUB_HOST": "127.0.0.1",
            "ADMIN_USERNAME": ADMIN_USERNAME,
            "ADMIN_PASS": ADMIN_PASS,
            # Cheap hashing keeps many logins fast; production keeps argon2's defaults.
            "HOOKHUB_ARGON2_TIME_COST": "1",
            "HOOKHUB_ARGON2_MEMORY_KIB": "64",
            "HOOKHUB_LOG_LEVEL": "warning",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if databases.ON_POSTGRES:
        # one database per data directory: a server restarted on the same data finds its data
        env["HOOKHUB_DATABASE_URL"] = databases.ensure_database(databases.name_for(str(data_dir.resolve())))
    env.update(extra)
    return env


def hookhub_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "hookhub", *args]


@dataclass
class Server:
    """A running `hookhub serve` child process."""

    proc: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log_path: Path
    env: dict[str, str] = field(repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = SHUTDOWN_TIMEOUT) -> int:
        """Send `sig` and wait for the exit code; kill (and fail loudly) if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"hookhub did not exit within {timeout}s of signal {sig}\n{self.log()}"
            ) from None


def start_server(data_dir: Path, *, port: int | None = None, **extra_env: str) -> Server:
    """Start the server and wait (bounded) until /api/info answers."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    env = server_env(data_dir, **extra_env)
    log_path = data_dir.parent / f"{data_dir.name}-{port}.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            hookhub_command("serve", "--port", str(port)),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = Server(proc=proc, port=port, data_dir=data_dir, log_path=log_path, env=env)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"hookhub exited early with {proc.returncode}\n{server.log()}")
        try:
            if http_get(f"{server.base_url}/api/info", timeout=1.0).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop(signal.SIGKILL)
    raise AssertionError(f"hookhub did not answer /api/info within {STARTUP_TIMEOUT}s\n{server.log()}")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@contextmanager
def serving(data_dir: Path, **extra_env: str) -> Iterator[Server]:
    """A server for the block, stopped afterwards even when the block fails."""
    running = start_server(data_dir, port=None, **extra_env)
    try:
        yield running
    finally:
        if running.proc.poll() is None:
            running.stop()


@pytest.fixture
def server(data_dir: Path) -> Iterator[Server]:
    """A fresh server per test."""
    with serving(data_dir) as running:
        yield running


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for a module's tests that neither stop it nor depend on a fresh database."""
    with serving(tmp_path_factory.mktemp("shared") / "data") as running:
        yield running


# Outgoing webhooks: loopback receivers are refused by the egress guard unless allowed; the spec's
# retry delays (seconds to hours) are scaled down so schedules run in milliseconds.
OUTGOING_ENV = {
    "HOOKHUB_EGRESS_ALLOW": "127.0.0.1/32",
    "HOOKHUB_RETRY_TIME_SCALE": "0.001",
    "HOOKHUB_DELIVERY_LEASE_SECONDS": "2",
}


@pytest.fixture(scope="module")
def outgoing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server per module with OUTGOING_ENV."""
    with serving(tmp_path_factory.mktemp("outgoing") / "data", **OUTGOING_ENV) as running:
        yield running


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """One HTTP receiver on 127.0.0.1 per module."""
    with Receiver() as running:
        yield running


class Client:
    """A small synchronous Rocket.Chat client over real HTTP."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=10.0, trust_env=False)
        self.headers: dict[str, str] = {}

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def get(self, path: str, **params: object) -> httpx.Response:
        return self.http.get(f"/api/v1/{path}", params=params, headers=self.headers)  # type: ignore[arg-type]

    def post(self, path: str, **body: object) -> httpx.Response:
        return self.http.post(f"/api/v1/{path}", json=body, headers=self.headers)

    def login(self, user: str, password: str) -> str:
        r = self.http.post("/api/v1/login", json={"user": user, "password": password})
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        self.headers = {"X-User-Id": data["userId"], "X-Auth-Token": data["authToken"]}
        return str(data["userId"])
