"""`hookhub serve --workers N` (issue #6): several processes share the port and the database;
every message is stored once and every outgoing delivery is sent by exactly one of them."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.e2e.conftest import ADMIN_PASS, ADMIN_USERNAME, OUTGOING_ENV, Client, start_server
from tests.e2e.receiver import Receiver

MESSAGES = 30


def _worker_pids(parent: int) -> set[int]:
    """The processes the supervisor started (its direct children)."""
    children = Path(f"/proc/{parent}/task/{parent}/children")
    return {int(pid) for pid in children.read_text().split()} if children.exists() else set()


def test_two_workers_serve_one_port_and_deliver_each_event_once(tmp_path: Path) -> None:
    with Receiver() as receiver:
        server = start_server(tmp_path / "data", HOOKHUB_WORKERS="2", **OUTGOING_ENV)
        try:
            # uvicorn's supervisor plus two workers (each answered /api/info through one port)
            assert len(_worker_pids(server.proc.pid)) >= 2, server.log()
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
