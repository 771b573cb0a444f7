"""`hookhub serve --workers N` (issue #6): several processes share the port and the database;
every message is stored once and every outgoing delivery is sent by exactly one of them."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx

from tests.e2e.conftest import ADMIN_PASS, ADMIN_USERNAME, OUTGOING_ENV, Client, serving, start_server
from tests.e2e.receiver import Receiver

MESSAGES = 30


def _worker_pids(parent: int) -> set[int]:
    """The worker processes the supervisor started (its direct children but multiprocessing's
    resource tracker)."""
    children = Path(f"/proc/{parent}/task/{parent}/children")
    pids = {int(pid) for pid in children.read_text().split()} if children.exists() else set()
    return {pid for pid in pids if b"resource_tracker" not in _cmdline(pid)}


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_two_workers_serve_one_port_and_deliver_each_event_once(tmp_path: Path) -> None:
    with Receiver() as receiver:
        server = start_server(tmp_path / "data", HOOKHUB_WORKERS="2", **OUTGOING_ENV)
        try:
            # the supervisor's two workers (each answered /api/info through one port)
            assert len(_worker_pids(server.proc.pid)) == 2, server.log()
            with Client(server.base_url) as admin:
                admin.login(ADMIN_USERNAME, ADMIN_PASS)
                fields = {
                    "type": "webhook-outgoing",
                    "name": "workers",
                    "enabled": True,
                    "username": "rocket.cat",
                    "urls": [receiver.url("/workers")],
                    "scriptEnabled": False,
                    "channel": "#general",
                    "event": "sendMessage",
                    "token": "workers-token",
                }
                r = admin.post("integrations.create", **fields)
                assert r.status_code == 200, r.text
                integration_id = r.json()["integration"]["_id"]
                for n in range(MESSAGES):
                    r = admin.post("chat.postMessage", channel="#general", text=f"w{n}")
                    assert r.status_code == 200, r.text
                received = receiver.wait_count("/workers", MESSAGES, timeout=30)
                texts = sorted(str(request.json()["text"]) for request in received)
                assert texts == sorted(f"w{n}" for n in range(MESSAGES))
                ids = [request.headers["webhook-id"] for request in received]
                assert len(set(ids)) == MESSAGES
                stored = admin.get("channels.messages", roomName="general", count=0).json()["messages"]
                assert sorted(m["msg"] for m in stored if m["msg"].startswith("w")) == texts
                # disabled through whichever worker takes the request: no worker fires it any more
                r = admin.http.put(
                    "/api/v1/integrations.update",
                    json={**fields, "integrationId": integration_id, "enabled": False},
                    headers=admin.headers,
                )
                assert r.status_code == 200, r.text
                time.sleep(1.0)
                for n in range(10):
                    r = admin.post("chat.postMessage", channel="#general", text=f"off{n}")
                    assert r.status_code == 200, r.text
                time.sleep(2.0)
        finally:
            code = server.stop(signal.SIGTERM)
        assert code == 0, server.log()
        # nothing arrives twice after the fact either
        assert len(receiver.at("/workers")) == MESSAGES


def _established_inodes(port: int) -> set[str]:
    """Socket inodes of the established TCP connections whose local port is `port`."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                    inodes.add(fields[9])
    return inodes


def _connections_by_worker(parent: int, port: int) -> dict[int, int]:
    """How many of the port's established connections each worker holds."""
    inodes = _established_inodes(port)
    counts: dict[int, int] = {}
    for pid in _worker_pids(parent):
        fds = Path(f"/proc/{pid}/fd")
        held = 0
        for fd in fds.iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                held += 1
        counts[pid] = held
    return counts


def test_keep_alive_connections_are_spread_over_the_workers(tmp_path: Path) -> None:
    """Each worker has its own SO_REUSEPORT socket, so the kernel spreads connections; with one
    shared socket a few long-lived connections could all end in one worker."""
    server = start_server(tmp_path / "data", HOOKHUB_WORKERS="2")
    clients = [httpx.Client(base_url=server.base_url, trust_env=False) for _ in range(16)]
    try:
        for client in clients:
            assert client.get("/api/info").status_code == 200
        counts = _connections_by_worker(server.proc.pid, server.port)
        assert sum(counts.values()) == 16, counts
        # 16 connections all hashed to one of two sockets: a chance of 1 in 32768
        assert len([n for n in counts.values() if n > 0]) == 2, counts
    finally:
        for client in clients:
            client.close()
        code = server.stop(signal.SIGTERM)
    assert code == 0, server.log()


def test_a_killed_worker_is_replaced(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", HOOKHUB_WORKERS="2")
    try:
        workers = _worker_pids(server.proc.pid)
        assert len(workers) == 2, server.log()
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            now = _worker_pids(server.proc.pid)
            if len(now) == 2 and victim not in now:
                break
            time.sleep(0.2)
        assert len(now) == 2 and victim not in now, server.log()
        for _ in range(20):  # fresh connections, whichever worker they reach
            with httpx.Client(base_url=server.base_url, trust_env=False) as client:
                assert _eventually_ok(client), server.log()
    finally:
        code = server.stop(signal.SIGTERM)
    assert code == 0, server.log()
    assert not any(Path(f"/proc/{pid}").exists() for pid in now), "a worker outlived its supervisor"


def _eventually_ok(client: httpx.Client) -> bool:
    """/api/info answers 200 within 20 s (a replacement worker may still be starting: its
    socket accepts before its app is ready, and the connection waits)."""
    return client.get("/api/info", timeout=20).status_code == 200


def test_workers_end_with_their_supervisor(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    server = start_server(tmp_path / "data", HOOKHUB_WORKERS="2", TMPDIR=str(temp))
    workers = _worker_pids(server.proc.pid)
    assert len(workers) == 2, server.log()
    server.stop(signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in workers):
        time.sleep(0.2)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers), "a worker outlived its supervisor"
    # the killed supervisor's metrics directory is left behind; the next supervisor removes it
    [orphan] = list(temp.glob("hookhub-metrics-*"))
    with serving(tmp_path / "data", HOOKHUB_WORKERS="2", TMPDIR=str(temp)) as again:
        assert not orphan.exists()
        assert len(list(temp.glob("hookhub-metrics-*"))) == 1, again.log()
