"""No secret reaches the log or the history (issue #10): a real server at its most verbose level,
driven through everything that handles a password, a login token, a personal access token, an
`Authorization` header, an integration token, a signing secret or a URL password; then its whole
log and every history record are searched for each of them."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ADMIN_PASS, ADMIN_USERNAME, OUTGOING_ENV, Client, free_port, serving
from tests.e2e.receiver import Answer, Receiver


def _secret(label: str) -> str:
    return f"{label}-{secrets.token_hex(8)}"


def _history(admin: Client, integration_id: str) -> list[dict[str, Any]]:
    r = admin.get("integrations.history", id=integration_id, count=100)
    assert r.status_code == 200, r.text
    records: list[dict[str, Any]] = r.json()["history"]
    return records


def _wait_history(admin: Client, integration_id: str, count: int, finished: set[str]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    while True:
        records = _history(admin, integration_id)
        ended = [r for r in records if r["step"] in finished]
        if len(ended) >= count:
            return records
        if time.monotonic() > deadline:
            raise AssertionError(f"history: {[r['step'] for r in records]}")
        time.sleep(0.05)


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_no_secret_in_the_log_or_history(tmp_path: Path, log_format: str) -> None:
    used: dict[str, str] = {"admin password": ADMIN_PASS}
    env = {**OUTGOING_ENV, "HOOKHUB_LOG_LEVEL": "debug", "HOOKHUB_LOG_FORMAT": log_format}
    with (
        Receiver() as receiver,
        serving(tmp_path / "data", **env) as server,
        Client(server.base_url) as admin,
    ):
        # a failing answer first: the retry path logs and records too
        receiver.script("/hook", Answer(status=500, body=b""), Answer())
        admin.login(ADMIN_USERNAME, ADMIN_PASS)
        used["admin login token"] = admin.headers["X-Auth-Token"]

        # users: created with a password, logged in, password changed, a wrong password tried
        carol_pass, carol_new_pass = _secret("carol-pass"), _secret("carol-new-pass")
        used |= {"carol password": carol_pass, "carol new password": carol_new_pass}
        r = admin.post(
            "users.create", username="carol", email="carol@example.com", name="C", password=carol_pass
        )
        assert r.status_code == 200, r.text
        r = admin.post("users.create", username="bad name!", email="x", name="X", password=_secret("refused"))
        assert r.status_code == 400
        dave_pass = used["dave password"] = _secret("dave-pass")
        r = admin.http.post(
            "/api/v1/users.register",
            json={"username": "dave", "email": "d@example.com", "pass": dave_pass, "name": "D"},
        )
        assert r.status_code == 200, r.text
        with Client(server.base_url) as carol:
            carol.login("carol", carol_pass)
            used["carol login token"] = carol.headers["X-Auth-Token"]
            r = admin.post(
                "users.update", userId=carol.headers["X-User-Id"], data={"password": carol_new_pass}
            )
            assert r.status_code == 200, r.text
            carol.login("carol", carol_new_pass)
            used["carol second login token"] = carol.headers["X-Auth-Token"]
            wrong = _secret("wrong-pass")
            used["wrong password"] = wrong
            r = carol.http.post("/api/v1/login", json={"user": "carol", "password": wrong})
            assert r.status_code == 401
        r = admin.post("users.generatePersonalAccessToken", tokenName="ci", bypassTwoFactor=True)
        assert r.status_code == 200, r.text
        used["personal access token"] = r.json()["token"]
        with Client(server.base_url) as bot:
            bot.headers = {
                "X-User-Id": admin.headers["X-User-Id"],
                "X-Auth-Token": used["personal access token"],
            }
            assert bot.get("me").status_code == 200
        bearer = _secret("bearer")
        used["Authorization header"] = bearer
        r = admin.http.get("/api/v1/me", headers={**admin.headers, "Authorization": f"Bearer {bearer}"})
        assert r.status_code == 200

        # incoming: every hook URL form, a wrong token, a script that fails
        r = admin.post(
            "integrations.create",
            type="webhook-incoming",
            name="in",
            enabled=True,
            username="rocket.cat",
            channel="#general",
            scriptEnabled=True,
            script="class Script { process_incoming_request() { throw new Error('script failed'); } }",
        )
        assert r.status_code == 200, r.text
        incoming = r.json()["integration"]
        used["incoming token"] = incoming["token"]
        hook = f"/hooks/{incoming['_id']}"
        # the script throws: the error is logged (without the URL's token)
        assert admin.http.post(f"{hook}/{incoming['token']}", json={"text": "x"}).status_code >= 400
        r = admin.http.put(
            "/api/v1/integrations.update",
            headers=admin.headers,
            json={
                "type": "webhook-incoming",
                "integrationId": incoming["_id"],
                "name": "in",
                "enabled": True,
                "username": "rocket.cat",
                "channel": "#general",
                "scriptEnabled": False,
            },
        )
        assert r.status_code == 200, r.text
        for path in (f"{hook}/{incoming['token']}", f"{hook}/rocket.cat/{incoming['token']}"):
            assert admin.http.post(path, json={"text": "hello"}).status_code == 200
        assert admin.http.get(f"/hooks/info/{incoming['_id']}/x/{incoming['token']}").status_code == 200
        wrong_token = _secret("wrong-hook-token")
        used["wrong hook token"] = wrong_token
        assert admin.http.post(f"{hook}/{wrong_token}", json={"text": "x"}).status_code in (404, 500)

        # outgoing: a token, a signing secret, a URL with a password; one failure then success,
        # and one to a port nobody listens on
        out_token, url_pass = _secret("out-token"), _secret("url-pass")
        used |= {"outgoing token": out_token, "URL password": url_pass}
        hook_url = receiver.url("/hook").replace("http://", f"http://hookuser:{url_pass}@")
        dead_url = f"http://hookuser:{url_pass}@127.0.0.1:{free_port()}/dead"
        created = []
        for name, url, word in (("out", hook_url, "deploy"), ("dead", dead_url, "deadword")):
            r = admin.post(
                "integrations.create",
                type="webhook-outgoing",
                name=name,
                enabled=True,
                username="rocket.cat",
                urls=[url],
                scriptEnabled=False,
                channel="#general",
                event="sendMessage",
                triggerWords=[word],
                token=out_token,
                retryFailedCalls=True,
                retryCount=1,
            )
            assert r.status_code == 200, r.text
            created.append(r.json()["integration"])
        out, dead = created
        r = admin.get("integrations.get", integrationId=out["_id"])
        assert r.status_code == 200, r.text
        if signing := r.json()["integration"].get("signingSecret"):
            used["signing secret"] = signing
        for text in ("deploy now", "deadword now"):
            assert admin.post("chat.postMessage", channel="#general", text=text).status_code == 200
        receiver.wait_count("/hook", 2)
        assert receiver.at("/hook")[-1].headers.get("authorization", "").startswith("Basic ")
        records = _wait_history(admin, out["_id"], 2, {"after-http-call", "going-to-retry-1"})
        records += _wait_history(admin, dead["_id"], 2, {"going-to-retry-1", "too-many-retries"})
        # a replay sends to the real URL although history only shows it masked
        first_ok = next(rec for rec in records if rec.get("url") and "/hook" in rec["url"])
        r = admin.post("integrations.replayOutgoing", integrationId=out["_id"], historyId=first_ok["_id"])
        assert r.status_code == 200, r.text
        receiver.wait_count("/hook", 3)
        records += _history(admin, out["_id"])
        history_text = json.dumps(records)
        assert "[redacted]" in history_text  # the masking shows, the values do not
        # logging out is the last thing the token does
        assert admin.post("logout").status_code == 200

    log = server.log()
    assert "hookhub.request" in log  # the request lines are there ...
    request_lines = [line for line in log.splitlines() if "hookhub.request" in line]
    assert len(request_lines) >= 25
    if log_format == "json":
        entries = [json.loads(line) for line in request_lines]
        assert all(e["request_id"] != "-" and e["status"] >= 200 for e in entries)
        assert any(e["path"] == f"{hook}/***" for e in entries)
    assert len(used) >= 12
    leaks = [f"{label} in the log" for label, value in used.items() if value in log]
    leaks += [f"{label} in history" for label, value in used.items() if value in history_text]
    assert leaks == []
