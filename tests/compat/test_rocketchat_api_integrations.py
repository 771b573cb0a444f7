"""The `rocketchat_API` client's integration methods against a running hookhub, called the way the
client's own test-suite and its users call them."""

from __future__ import annotations

import itertools
import uuid

import pytest
from rocketchat_API.APIExceptions.RocketExceptions import RocketApiException
from rocketchat_API.rocketchat import RocketChat

from tests.e2e.conftest import ADMIN_USERNAME

_names = itertools.count()


def _create_incoming(rocket: RocketChat, channel: str = "#general") -> dict[str, object]:
    created = rocket.integrations_create(
        integrations_type="webhook-incoming",
        name=f"incoming-{uuid.uuid4()}",
        enabled=True,
        username=ADMIN_USERNAME,
        channel=channel,
        script_enabled=False,
    )
    assert created["success"] is True
    integration: dict[str, object] = created["integration"]
    return integration


def test_create_incoming_and_outgoing(rocket: RocketChat) -> None:
    incoming = _create_incoming(rocket)
    assert incoming["type"] == "webhook-incoming"
    assert incoming["channel"] == ["#general"]
    assert isinstance(incoming["token"], str) and len(incoming["token"]) == 48

    outgoing = rocket.integrations_create(
        integrations_type="webhook-outgoing",
        name=f"outgoing-{uuid.uuid4()}",
        enabled=True,
        event="sendMessage",
        username=ADMIN_USERNAME,
        urls=["http://127.0.0.1:9/never-called"],
        channel="#general",
        script_enabled=False,
    )
    assert outgoing["success"] is True
    assert outgoing["integration"]["event"] == "sendMessage"
    assert outgoing["integration"]["urls"] == ["http://127.0.0.1:9/never-called"]


def test_get(rocket: RocketChat) -> None:
    incoming = _create_incoming(rocket)
    got = rocket.integrations_get(incoming["_id"])
    assert got["integration"] == incoming | {"_updatedAt": got["integration"]["_updatedAt"]}


def test_get_unknown_is_an_api_exception(rocket: RocketChat) -> None:
    with pytest.raises(RocketApiException) as info:
        rocket.integrations_get("does-not-exist")
    assert info.value.error == "The integration does not exists."


def test_history_of_an_incoming_integration_is_an_empty_page(rocket: RocketChat) -> None:
    incoming = _create_incoming(rocket)
    assert list(rocket.integrations_history(incoming["_id"])) == []


def test_list_walks_every_page(rocket: RocketChat) -> None:
    created = {str(_create_incoming(rocket)["_id"]) for _ in range(3)}
    listed = [i["_id"] for i in rocket.integrations_list(count=1)]
    assert created <= set(listed)
    assert len(listed) == len(set(listed))
    assert [i["_id"] for i in rocket.integrations_list()] == listed


def test_update(rocket: RocketChat) -> None:
    incoming = _create_incoming(rocket)
    updated = rocket.integrations_update(
        integrations_type="webhook-incoming",
        name="renamed",
        enabled=False,
        username=ADMIN_USERNAME,
        channel="#general",
        script_enabled=False,
        integration_id=incoming["_id"],
    )
    assert updated["success"] is True
    assert (updated["integration"]["name"], updated["integration"]["enabled"]) == ("renamed", False)
    assert updated["integration"]["token"] == incoming["token"]


def test_remove(rocket: RocketChat) -> None:
    incoming = _create_incoming(rocket)
    removed = rocket.integrations_remove(incoming["type"], incoming["_id"])
    assert removed["integration"]["_id"] == incoming["_id"]
    with pytest.raises(RocketApiException):
        rocket.integrations_get(incoming["_id"])


def test_channels_get_integrations(rocket: RocketChat) -> None:
    incoming = _create_incoming(rocket)
    # the client pages through `integrations` itself
    found = list(rocket.channels_get_integrations("GENERAL", count=1))
    assert incoming["_id"] in {i["_id"] for i in found}
    assert len({i["_id"] for i in found}) == len(found)


def test_groups_get_integrations(rocket: RocketChat) -> None:
    group = rocket.groups_create(f"ops-{next(_names)}-{uuid.uuid4().hex[:6]}")["group"]
    incoming = _create_incoming(rocket, f"#{group['name']}")
    found = list(rocket.groups_get_integrations(group["_id"]))
    assert [i["_id"] for i in found] == [incoming["_id"]]
