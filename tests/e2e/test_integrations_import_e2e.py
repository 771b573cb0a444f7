"""`hookhub integrations import --from-server` between two real `hookhub serve` processes (issue
#10): integrations made on server A through its REST API are copied into server B's database
while B runs; B then answers the same hook URLs and fires the outgoing integration with the same
token and signing secret."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from hookhub import cli_integrations
from hookhub.cli import cli
from tests.e2e.conftest import (
    ADMIN_PASS,
    ADMIN_USERNAME,
    OUTGOING_ENV,
    Client,
    Server,
    hookhub_command,
    serving,
)
from tests.e2e.receiver import Receiver
from tests.e2e.test_hooks_e2e import post, texts

SCRIPT = (
    "class Script {\n  process_incoming_request({ request }) {\n"
    "    return { content: { text: 'moved: ' + request.content.text } };\n  }\n}\n"
)
OUT_SCRIPT = (
    "class Script {\n  prepare_outgoing_request({ request }) {\n"
    "    request.data.moved = true;\n    return request;\n  }\n}\n"
)
_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
_VOLATILE = ("_updatedAt", "_updatedBy", "userId", "_createdBy", "lastExecutionLogs")


def ok(r: Any) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def admin_of(server: Server) -> Client:
    client = Client(server.base_url)
    client.login(ADMIN_USERNAME, ADMIN_PASS)
    return client


def prepare(admin: Client) -> str:
    """The post-as user and the channel (other ids on each server); returns the channel's id."""
    ok(
        admin.post(
            "users.create", username="alertbot", email="bot@example.com", name="Bot", password="Pw-bot-1"
        )
    )
    room: str = ok(admin.post("channels.create", name="alerts"))["channel"]["_id"]
    return room


@pytest.fixture
def servers(tmp_path: Any) -> Iterator[tuple[Server, Server]]:
    with (
        serving(tmp_path / "a", **OUTGOING_ENV) as a,
        serving(tmp_path / "b", **OUTGOING_ENV) as b,
    ):
        yield a, b


def import_env(server: Server) -> dict[str, str]:
    """B's environment for the command, without proxies (everything here is on 127.0.0.1)."""
    env = {k: v for k, v in server.env.items() if k not in _PROXIES}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def test_import_from_a_running_server(servers: tuple[Server, Server]) -> None:
    a, b = servers
    with admin_of(a) as on_a, admin_of(b) as on_b, Receiver() as receiver:
        prepare(on_a)
        room_b = prepare(on_b)
        incoming = ok(
            on_a.post(
                "integrations.create", type="webhook-incoming", name="deploys", enabled=True,
                username="alertbot", channel="#alerts", scriptEnabled=True, script=SCRIPT, alias="Deploy",
            )
        )["integration"]  # fmt: skip
        outgoing = ok(
            on_a.post(
                "integrations.create", type="webhook-outgoing", name="echo", enabled=True,
                event="sendMessage", channel="#alerts", urls=[receiver.url("/echo")], triggerWords=["!echo"],
                username="alertbot", scriptEnabled=True, script=OUT_SCRIPT, token="out-token",
                retryFailedCalls=True, retryCount=2, retryDelay="powers-of-two",
            )
        )["integration"]  # fmt: skip
        plain = ok(
            on_a.post(
                "integrations.create", type="webhook-incoming", name="plain", enabled=False,
                username="alertbot", channel="#alerts", scriptEnabled=False,
            )
        )["integration"]  # fmt: skip
        originals = [incoming, outgoing, plain]
        user_id, token = on_a.headers["X-User-Id"], on_a.headers["X-Auth-Token"]

        args = ["integrations", "import", "--from-server", a.base_url, "--user-id", user_id, "--token", token]
        command = hookhub_command(*args, "--json")
        done = subprocess.run(
            command, env=import_env(b), capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
        )
        assert done.returncode == 0, done.stderr + done.stdout
        report = json.loads(done.stdout)
        assert {o["_id"]: o["result"] for o in report["integrations"]} == {
            i["_id"]: "created" for i in originals
        }
        assert token not in done.stderr

        # B has them, with the same settings (users and owner are B's own)
        bot_b = ok(on_b.get("users.info", username="alertbot"))["user"]["_id"]
        for original in originals:
            copy = ok(on_b.get("integrations.get", integrationId=original["_id"]))["integration"]
            assert {k: v for k, v in copy.items() if k not in _VOLATILE} == {
                k: v for k, v in original.items() if k not in _VOLATILE
            }
            assert copy["userId"] == bot_b != original["userId"]
            assert copy["_createdBy"] == {"_id": on_b.headers["X-User-Id"], "username": ADMIN_USERNAME}
        assert ok(on_b.get("integrations.list"))["total"] == 3

        # the same hook URL works on B, running the moved script
        r = post(f"{b.base_url}/hooks/{incoming['_id']}/{incoming['token']}", json={"text": "hello B"})
        assert r.status_code == 200, r.text
        assert "moved: hello B" in texts(on_b, room_b)

        # and the outgoing one fires from B with the token and signing secret it had on A
        ok(on_b.post("chat.postMessage", roomId=room_b, text="!echo ping"))
        (delivery,) = receiver.wait_count("/echo", 1)
        payload = delivery.json()
        assert payload["token"] == "out-token"
        assert payload["text"] == "!echo ping"
        assert payload["moved"] is True
        assert delivery.headers["webhook-id"]
        assert "webhook-signature" in delivery.headers

        # again, in process and one integration per page: all there, nothing changes
        previous = os.environ.copy()
        try:
            os.environ.clear()
            os.environ.update(import_env(b))
            original_page = cli_integrations.PAGE_SIZE
            cli_integrations.PAGE_SIZE = 1
            again = CliRunner().invoke(cli, [*args, "--json"])
        finally:
            cli_integrations.PAGE_SIZE = original_page
            os.environ.clear()
            os.environ.update(previous)
        assert again.exit_code == 0, again.output
        assert sorted(o["result"] for o in json.loads(again.stdout)["integrations"]) == ["unchanged"] * 3
        assert ok(on_b.get("integrations.list"))["total"] == 3


def test_bad_token_is_refused_and_nothing_is_written(servers: tuple[Server, Server]) -> None:
    a, b = servers
    with admin_of(a) as on_a, admin_of(b) as on_b:
        command = hookhub_command(
            "integrations", "import", "--from-server", a.base_url,
            "--user-id", on_a.headers["X-User-Id"], "--token", "not-the-token",
        )  # fmt: skip
        done = subprocess.run(
            command, env=import_env(b), capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
        )
        assert done.returncode == 1
        assert done.stderr == (
            f"hookhub: the server at {a.base_url} refused the credentials (401): "
            "check --user-id and --token\n"
        )
        assert ok(on_b.get("integrations.list"))["total"] == 0
