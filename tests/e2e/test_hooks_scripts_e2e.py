"""Incoming webhook scripts against the real `hookhub serve` process (webhook-runtime.md §2.6, §4):
a script reshaping a real-world payload, and runaway scripts stopped by the per-call limits while
the server keeps serving."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ADMIN_PASS, ADMIN_USERNAME, Client, Server, http_get, start_server
from tests.e2e.test_hooks_e2e import create_hook, hook_url, post, texts

GITHUB = """
class Script {
  process_incoming_request({ request }) {
    const event = request.headers['x-github-event'];
    const push = request.content;
    if (event !== 'push') {
      return { error: { event, message: 'unsupported event' } };
    }
    const commits = push.commits.map((c) => `${c.id.slice(0, 7)} ${c.message}`);
    return {
      content: {
        text: `[${push.repository.full_name}] ${push.pusher.name} pushed ${commits.length} commit(s)`,
        attachments: [{ title: push.ref, text: commits.join('\\n') }],
      },
      response: { accepted: commits.length },
    };
  }
}
"""

PUSH = {
    "ref": "refs/heads/main",
    "repository": {"full_name": "acme/widgets"},
    "pusher": {"name": "octocat"},
    "commits": [
        {"id": "0123456789abcdef", "message": "Fix the frobnicator"},
        {"id": "fedcba9876543210", "message": "Add tests"},
    ],
}

RUNAWAY = """
class Script {
  process_incoming_request({ request }) {
    if (request.content.loop) { while (true) {} }
    if (request.content.grow) {
      const a = [];
      while (true) { a.push(new Array(100000).fill(a.length)); }
    }
    return { content: { text: request.content.text } };
  }
}
"""

TIMEOUT_SECONDS = 1.5


@pytest.fixture(scope="module")
def admin(shared_server: Server) -> Iterator[Client]:
    with Client(shared_server.base_url) as client:
        client.login(ADMIN_USERNAME, ADMIN_PASS)
        yield client


def test_script_reshapes_a_github_push(shared_server: Server, admin: Client) -> None:
    hook = create_hook(admin, scriptEnabled=True, script=GITHUB)
    url = hook_url(shared_server, hook)
    r = post(url, json=PUSH, headers={"X-GitHub-Event": "push"})
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 2, "success": True}
    messages = admin.get("channels.messages", roomId="GENERAL", count=0).json()["messages"]
    [message] = [m for m in messages if m["msg"] == "[acme/widgets] octocat pushed 2 commit(s)"]
    assert message["attachments"][0]["title"] == "refs/heads/main"
    assert message["attachments"][0]["text"] == "0123456 Fix the frobnicator\nfedcba9 Add tests"
    assert message["bot"] == {"i": hook["_id"]}
    assert message["alias"] == "e2e"

    r = post(url, json={"zen": "Keep it simple"}, headers={"X-GitHub-Event": "ping"})
    assert r.status_code == 400
    assert r.json() == {"event": "ping", "message": "unsupported event", "success": False}


class InfoProbe:
    """Polls /api/info in a thread; records the slowest answer."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                status = http_get(f"{self.base_url}/api/info", timeout=5.0).status_code
            except Exception as exc:  # recorded and asserted on, never swallowed
                self.failures.append(repr(exc))
                continue
            self.latencies.append(time.monotonic() - started)
            if status != 200:
                self.failures.append(f"status {status}")
            time.sleep(0.05)

    def __enter__(self) -> InfoProbe:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@pytest.mark.parametrize(
    ("runaway", "min_probes"),
    # the loop runs for the whole time limit; allocation hits the heap limit sooner
    [({"loop": True}, 8), ({"grow": True}, 2)],
    ids=["endless-loop", "allocation"],
)
def test_runaway_scripts_are_stopped_and_the_server_stays_healthy(
    tmp_path: Path, runaway: dict[str, Any], min_probes: int
) -> None:
    server = start_server(
        tmp_path / "data",
        HOOKHUB_SCRIPT_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS),
        HOOKHUB_SCRIPT_MEMORY_MB="16",
    )
    try:
        with Client(server.base_url) as admin:
            admin.login(ADMIN_USERNAME, ADMIN_PASS)
            hook = create_hook(admin, scriptEnabled=True, script=RUNAWAY)
            url = hook_url(server, hook)
            with InfoProbe(server.base_url) as probe:
                time.sleep(0.2)
                started = time.monotonic()
                r = post(url, json=runaway)
                elapsed = time.monotonic() - started
            assert r.status_code == 400, r.text
            assert r.json() == {"success": False, "error": "error-running-script"}
            assert elapsed < TIMEOUT_SECONDS + 1.5, elapsed
            assert not probe.failures, probe.failures
            assert len(probe.latencies) >= min_probes, probe.latencies
            assert max(probe.latencies) < 0.5, probe.latencies

            r = post(url, json={"text": "still alive"})
            assert r.status_code == 200, r.text
            assert "still alive" in texts(admin)
            assert http_get(f"{server.base_url}/api/info", timeout=2.0).status_code == 200
    finally:
        code = server.stop()
    assert code == 0, server.log()
    assert "Traceback" not in server.log()
