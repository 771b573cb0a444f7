"""Scripts' `fetch` against the real `hookhub serve` process (webhook-runtime.md §4.4, issue #5): an
incoming hook's script fetches from a loopback receiver (allowed by HOOKHUB_EGRESS_ALLOW), sends
what it got on, and posts it; the egress guard still refuses the cloud metadata address."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ADMIN_PASS, ADMIN_USERNAME, Client, Server, serving
from tests.e2e.receiver import Answer, Receiver
from tests.e2e.test_hooks_e2e import create_hook, hook_url, post, texts

SCRIPT = """
class Script {
  async process_incoming_request({ request }) {
    const build = request.content.build;
    const r = await fetch(BASE + '/lookup', { params: { build }, headers: { 'x-from': 'hookhub' } });
    const info = await r.json();
    await fetch(BASE + '/audit', { method: 'POST', body: { build, state: info.state } });
    let metadata;
    try {
      await fetch('http://169.254.169.254/latest/meta-data/');
      metadata = 'reachable?';
    } catch (e) {
      metadata = e.message;
    }
    return {
      content: { text: `build ${info.build} is ${info.state} (${r.status} ${r.statusText}); ${metadata}` },
      response: { looked_up: info.build },
    };
  }
}
"""


@pytest.fixture(scope="module")
def fetch_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir: Path = tmp_path_factory.mktemp("fetch") / "data"
    with serving(
        data_dir, HOOKHUB_EGRESS_ALLOW="127.0.0.1/32", HOOKHUB_SCRIPT_TIMEOUT_SECONDS="5"
    ) as running:
        yield running


def test_incoming_script_fetches_from_a_receiver(fetch_server: Server, receiver: Receiver) -> None:
    build = int(time.time())
    receiver.script(
        f"/lookup?build={build}", Answer(body=json.dumps({"build": build, "state": "green"}).encode())
    )
    with Client(fetch_server.base_url) as admin:
        admin.login(ADMIN_USERNAME, ADMIN_PASS)
        hook = create_hook(
            admin, scriptEnabled=True, script=SCRIPT.replace("BASE", json.dumps(receiver.url("")))
        )
        r = post(hook_url(fetch_server, hook), json={"build": build})
        assert r.status_code == 200, r.text + fetch_server.log()
        assert r.json() == {"looked_up": build, "success": True}
        expected = f"build {build} is green (200 OK); refused: 169.254.169.254 is a cloud metadata address"
        assert expected in texts(admin)
    [lookup] = receiver.at(f"/lookup?build={build}")
    assert lookup.method == "GET" and lookup.headers["x-from"] == "hookhub"
    [audit] = [a for a in receiver.at("/audit") if a.json().get("build") == build]
    assert audit.method == "POST"
    assert audit.headers["content-type"] == "application/json"
    assert audit.json() == {"build": build, "state": "green"}
