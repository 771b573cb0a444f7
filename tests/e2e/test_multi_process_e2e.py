"""Three `hookhub serve` processes on one PostgreSQL database (issue #6): messages posted to all
three are each delivered once (counted at a receiver by webhook-id); with one process SIGKILLed
while deliveries are being retried, none is lost."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from tests import databases
from tests.e2e.conftest import ADMIN_PASS, ADMIN_USERNAME, OUTGOING_ENV, Client, Server, start_server
from tests.e2e.receiver import Answer, Received, Receiver

pytestmark = pytest.mark.skipif(
    databases.POSTGRES_URL is None, reason="needs a PostgreSQL server (HOOKHUB_TEST_POSTGRES_URL)"
)

MESSAGES = 30


def _accepted(requests: list[Received]) -> Counter[str]:
    return Counter(r.json()["message_id"] for r in requests if r.status == 200)


def test_three_processes_share_one_postgresql_queue(tmp_path: Path) -> None:
    name = databases.fresh_name("hookhub_multi")
    url = databases.create_database(name)
    servers: list[Server] = []
    try:
        with Receiver() as receiver:
            # one after the other: the first migrates and bootstraps, the others find it done
            for n in range(3):
                servers.append(start_server(tmp_path / f"p{n}", HOOKHUB_DATABASE_URL=url, **OUTGOING_ENV))
            clients = [Client(server.base_url) for server in servers]
            clients[0].login(ADMIN_USERNAME, ADMIN_PASS)
            for client in clients[1:]:  # a login token is valid on every process
                client.headers = dict(clients[0].headers)
            for path, words in (("/steady", "steady"), ("/crash", "crash")):
                r = clients[0].post(
                    "integrations.create",
                    type="webhook-outgoing",
                    name=f"multi {words}",
                    enabled=True,
                    username="rocket.cat",
                    urls=[receiver.url(path)],
                    scriptEnabled=False,
                    channel="#general",
                    event="sendMessage",
                    triggerWords=[words],
                    retryFailedCalls=True,
                    retryCount=8,
                    retryDelay="powers-of-ten",
                )
                assert r.status_code == 200, r.text

            def say(n: int, text: str) -> str:
                r = clients[n % 3].post("chat.postMessage", channel="#general", text=text)
                assert r.status_code == 200, r.text
                return str(r.json()["message"]["_id"])

            # no crash: every message once, by one of the three
            steady = [say(n, f"steady {n}") for n in range(MESSAGES)]
            receiver.wait_for(
                lambda rs: set(_accepted([r for r in rs if r.path == "/steady"])) >= set(steady)
            )
            at_steady = receiver.at("/steady")
            assert Counter(r.json()["message_id"] for r in at_steady) == Counter(steady)
            assert len({r.headers["webhook-id"] for r in at_steady}) == MESSAGES

            # retries pending everywhere, then one process dies
            receiver.script("/crash", Answer(status=503, body=b"down"))
            crash = [say(n, f"crash {n}") for n in range(MESSAGES)]
            receiver.wait_count("/crash", MESSAGES // 2)
            servers[1].stop(signal.SIGKILL)
            receiver.script("/crash", Answer())
            receiver.wait_for(
                lambda rs: set(_accepted([r for r in rs if r.path == "/crash"])) >= set(crash), timeout=45
            )
            # one webhook-id per message across attempts and processes
            ids: dict[str, set[str]] = {}
            for r in receiver.at("/crash"):
                ids.setdefault(r.json()["message_id"], set()).add(r.headers["webhook-id"])
            assert set(ids) == set(crash) and all(len(v) == 1 for v in ids.values())
            for client in clients:
                client.close()
    finally:
        codes = [server.stop() for server in servers]
        databases.drop_database(name)
    assert codes[0] == codes[2] == 0
