"""Child processes for the benchmarks: free ports, a clean environment, start, wait, stop.

The benchmark scripts run as `python bench/<name>.py`, so this directory is on `sys.path`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

STARTUP_TIMEOUT = 30.0
# The admin every benchmark logs in as (created by `hookhub serve` from ADMIN_USERNAME/ADMIN_PASS).
ADMIN_USERNAME = "admin"
ADMIN_PASS = "bench-Admin-pass"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOOKHUB_", "ADMIN_"))}
    env.update(extra)
    return env


def wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: process exited with {proc.returncode}\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1.0, trust_env=False).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{url} did not answer within {STARTUP_TIMEOUT}s\n{log.read_text()}")


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def hookhub_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a benchmarked `hookhub serve`: fresh data dir, loopback, quiet logs,
    the benchmark admin, cheap hashing for its one login; `extra` adds or overrides settings."""
    return clean_env(
        HOOKHUB_DATA_DIR=str(data_dir),
        HOOKHUB_HOST="127.0.0.1",
        HOOKHUB_LOG_LEVEL="warning",
        ADMIN_USERNAME=ADMIN_USERNAME,
        ADMIN_PASS=ADMIN_PASS,
        HOOKHUB_ARGON2_TIME_COST="1",
        HOOKHUB_ARGON2_MEMORY_KIB="64",
        **extra,
    )
