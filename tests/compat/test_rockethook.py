"""The `rockethook` package (PyPI), a real third-party sender of Rocket.Chat webhooks, against a
running hookhub: it posts `payload=<json>` form bodies to `/hooks/<token>` with `http.client`,
where its "token" is the `<integrationId>/<token>` part of the hook URL Rocket.Chat shows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import rockethook

from tests.e2e.conftest import ADMIN_PASS, ADMIN_USERNAME, Client, Server

INVALID_HOOK = "Invalid integration id or token provided."
OVERRIDE_DISABLED = "overriding destination channel is disabled for this integration"


@pytest.fixture(scope="module")
def admin(server: Server) -> Iterator[Client]:
    with Client(server.base_url) as client:
        client.login(ADMIN_USERNAME, ADMIN_PASS)
        yield client


def create_hook(admin: Client, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "webhook-incoming",
        "name": f"rockethook-{uuid.uuid4()}",
        "enabled": True,
        "username": "rocket.cat",
        "scriptEnabled": False,
        "channel": "#general",
        **fields,
    }
    r = admin.post("integrations.create", **body)
    assert r.status_code == 200, r.text
    integration: dict[str, Any] = r.json()["integration"]
    return integration


def webhook(server: Server, hook: dict[str, Any], token: str | None = None) -> rockethook.Webhook:
    return rockethook.Webhook(server.base_url, f"{hook['_id']}/{token or hook['token']}")


def messages_of(admin: Client, room_id: str) -> list[dict[str, Any]]:
    r = admin.get("channels.messages", roomId=room_id, count=0)
    assert r.status_code == 200, r.text
    return [m for m in r.json()["messages"] if "t" not in m]


def only_message(admin: Client, room_id: str, text: str) -> dict[str, Any]:
    found = [m for m in messages_of(admin, room_id) if m["msg"] == text]
    assert len(found) == 1, [m["msg"] for m in messages_of(admin, room_id)]
    return found[0]


def test_quick_post_arrives_in_the_hook_channel(server: Server, admin: Client) -> None:
    hook = create_hook(admin)
    text = f"deploy finished {uuid.uuid4()}"
    webhook(server, hook).quick_post(text)
    message = only_message(admin, "GENERAL", text)
    assert message["u"]["username"] == "rocket.cat"
    assert message["bot"] == {"i": hook["_id"]}


def test_message_with_lines_icon_and_attachment(server: Server, admin: Client) -> None:
    hook = create_hook(admin)
    marker = str(uuid.uuid4())
    msg = rockethook.Message(icon_url="https://example.com/icon.png")
    msg.append_text(f"first {marker}")
    msg.append_text("second line")
    msg.add_attachment(
        title="Build log",
        title_link="https://ci.example.com/build/1",
        text="all green",
        color="#00ff00",
    )
    webhook(server, hook).post(msg)
    message = only_message(admin, "GENERAL", f"first {marker}\nsecond line")
    assert message["avatar"] == "https://example.com/icon.png"
    assert len(message["attachments"]) == 1
    attachment = message["attachments"][0]
    assert attachment["title"] == "Build log"
    assert attachment["title_link"] == "https://ci.example.com/build/1"
    assert attachment["text"] == "all green"
    assert attachment["color"] == "#00ff00"


def test_channel_override_refused_then_allowed(server: Server, admin: Client) -> None:
    name = f"alerts-{uuid.uuid4().hex[:8]}"
    r = admin.post("channels.create", name=name)
    assert r.status_code == 200, r.text
    room_id = r.json()["channel"]["_id"]
    text = f"to {name}"

    locked = create_hook(admin)
    with pytest.raises(rockethook.WebhookError) as refused:
        webhook(server, locked).post(rockethook.Message(text=text, channel=f"#{name}"))
    assert refused.value.status == 400
    assert OVERRIDE_DISABLED in refused.value.message
    assert messages_of(admin, room_id) == []

    open_hook = create_hook(admin, overrideDestinationChannelEnabled=True)
    webhook(server, open_hook).post(rockethook.Message(text=text, channel=f"#{name}"))
    assert only_message(admin, room_id, text)["bot"] == {"i": open_hook["_id"]}


def test_wrong_token_is_reported_as_an_error(server: Server, admin: Client) -> None:
    hook = create_hook(admin)
    with pytest.raises(rockethook.WebhookError) as failed:
        webhook(server, hook, token="not-the-token").quick_post("never stored")
    assert failed.value.status == 404
    assert INVALID_HOOK in failed.value.message
    assert not [m for m in messages_of(admin, "GENERAL") if m["msg"] == "never stored"]
