"""Selecting outgoing integrations for outbox events (webhook-runtime.md §3.1-3.4, rest-integrations §14)."""

from __future__ import annotations

from typing import Any

import pytest

from hookhub.runtime.matching import (
    MatchResult,
    integration_channels,
    match_trigger_word,
    matches,
    outgoing_event_of,
    room_channels,
    select,
)

INTEGRATION_ID = "hookOut000000000001"

GENERAL: dict[str, Any] = {
    "_id": "GENERAL",
    "t": "c",
    "name": "general",
    "msgs": 3,
    "usersCount": 2,
    "ts": "2026-11-23T10:00:00.000Z",
    "_updatedAt": "2026-11-23T10:00:00.000Z",
    "ro": False,
    "default": True,
    "sysMes": True,
    "joinCodeRequired": False,
}
PUBLIC = {**GENERAL, "_id": "roomPub0000000001", "name": "devops", "default": False}
PRIVATE = {**GENERAL, "_id": "roomPriv000000001", "t": "p", "name": "secret", "default": False}
DIRECT = {
    "_id": "aliceId0000000001bobId000000000001",
    "t": "d",
    "msgs": 1,
    "usersCount": 2,
    "ts": "2026-11-23T10:00:00.000Z",
    "_updatedAt": "2026-11-23T10:00:00.000Z",
    "ro": False,
    "default": False,
    "sysMes": True,
    "uids": ["aliceId0000000001", "bobId000000000001"],
    "usernames": ["alice", "bob"],
}
ALICE = {"_id": "aliceId0000000001", "username": "alice", "name": "Alice", "type": "user", "active": True}
BOT = {
    "_id": "rocketCatId000001",
    "username": "rocket.cat",
    "name": "Rocket.Cat",
    "type": "bot",
    "active": True,
}


def outgoing(**overrides: Any) -> dict[str, Any]:
    """An outgoing integration as `store.integrations` returns it."""
    doc: dict[str, Any] = {
        "_id": INTEGRATION_ID,
        "type": "webhook-outgoing",
        "name": "deployer",
        "enabled": True,
        "event": "sendMessage",
        "username": "rocket.cat",
        "userId": BOT["_id"],
        "channel": ["#general"],
        "urls": ["https://hooks.example.test/deploy"],
        "token": "tok-123",
        "triggerWordAnywhere": False,
        "runOnEdits": False,
        "scriptEnabled": False,
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}


def message(text: str = "deploy now", room: dict[str, Any] = GENERAL, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": "msg00000000000001",
        "rid": room["_id"],
        "msg": text,
        "ts": "2026-11-23T10:05:00.000Z",
        "u": {"_id": ALICE["_id"], "username": "alice", "name": "Alice"},
        "_updatedAt": "2026-11-23T10:05:00.000Z",
    }
    doc.update(extra)
    return doc


def sent(text: str = "deploy now", room: dict[str, Any] = GENERAL, **extra: Any) -> dict[str, Any]:
    """A messageSent payload as services/outbox.py records it."""
    return {"room": room, "message": message(text, room, **extra), "actor": ALICE}


EDITED_MSG: dict[str, Any] = {
    "editedAt": "2026-11-23T10:06:00.000Z",
    "editedBy": {"_id": ALICE["_id"], "username": "alice"},
}


@pytest.mark.parametrize(
    ("event_type", "expected"),
    [
        ("messageSent", "sendMessage"),
        ("messageEdited", "sendMessage"),
        ("messageDeleted", None),
        ("roomCreated", "roomCreated"),
        ("roomArchived", "roomArchived"),
        ("roomJoined", "roomJoined"),
        ("roomLeft", "roomLeft"),
        ("userCreated", "userCreated"),
        ("fileUploaded", None),
        ("nonsense", None),
    ],
)
def test_outgoing_event_of(event_type: str, expected: str | None) -> None:
    assert outgoing_event_of(event_type) == expected


@pytest.mark.parametrize(
    ("room", "others", "expected"),
    [
        (GENERAL, [], {"all_public_channels", "#GENERAL", "#general"}),
        (PUBLIC, [], {"all_public_channels", "#roomPub0000000001", "#devops"}),
        (PRIVATE, [], {"all_private_groups", "#roomPriv000000001", "#secret"}),
        ({**PRIVATE, "t": "l"}, [], {"all_private_groups", "#roomPriv000000001", "#secret"}),
        ({**GENERAL, "_id": "x", "name": None}, [], {"all_public_channels", "#x"}),
        (
            DIRECT,
            [{"_id": "bobId000000000001", "username": "bob"}],
            {"all_direct_messages", "@bobId000000000001", "@bob"},
        ),
        (DIRECT, [], {"all_direct_messages"}),
    ],
)
def test_room_channels(room: dict[str, Any], others: list[dict[str, Any]], expected: set[str]) -> None:
    assert room_channels(room, others) == expected


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        (None, {"all_public_channels"}),
        ([], {"all_public_channels"}),
        (["#general", "@bob"], {"#general", "@bob"}),
        ("#general, @bob", {"#general", "@bob"}),
        (["ALL_PUBLIC_CHANNELS"], {"ALL_PUBLIC_CHANNELS"}),
    ],
)
def test_integration_channels(channel: Any, expected: set[str]) -> None:
    assert integration_channels(outgoing(channel=channel)) == expected


@pytest.mark.parametrize(
    ("text", "words", "anywhere", "expected"),
    [
        ("deploy now", ["deploy"], False, "deploy"),
        ("deployment now", ["deploy"], False, "deploy"),  # no word boundary upstream
        (" deploy now", ["deploy"], False, None),  # leading whitespace prevents a prefix match
        ("Deploy now", ["deploy"], False, None),  # case-sensitive
        ("please deploy", ["deploy"], False, None),
        ("please deploy", ["deploy"], True, "deploy"),
        ("please Deploy", ["deploy"], True, None),
        ("ship it and deploy", ["deploy", "ship"], True, "deploy"),  # stored order wins, not position
        ("ship it", ["deploy", "ship"], False, "ship"),
        ("anything", ["", "any"], False, "any"),
    ],
)
def test_match_trigger_word(text: str, words: list[str], anywhere: bool, expected: str | None) -> None:
    assert match_trigger_word(text, words, anywhere=anywhere) == expected


# (integration overrides, event type, payload, expected: None = no match, else trigger_word or "" for match)
CASES: list[Any] = [
    # enabled / type / event equality
    pytest.param({}, "messageSent", sent(), "", id="plain-match-no-trigger-words"),
    pytest.param({"enabled": False}, "messageSent", sent(), None, id="disabled"),
    pytest.param({"enabled": None}, "messageSent", sent(), None, id="enabled-missing"),
    pytest.param({"enabled": 1}, "messageSent", sent(), None, id="enabled-must-be-true"),
    pytest.param({"type": "webhook-incoming"}, "messageSent", sent(), None, id="incoming-never-fires"),
    pytest.param({"event": "roomJoined"}, "messageSent", sent(), None, id="other-event"),
    pytest.param({}, "messageDeleted", sent(), None, id="deleted-never-fires"),
    # channel buckets
    pytest.param({"channel": None}, "messageSent", sent(), "", id="no-channel-means-public"),
    pytest.param({"channel": None}, "messageSent", sent(room=PRIVATE), None, id="no-channel-not-private"),
    pytest.param({"channel": ["#GENERAL"]}, "messageSent", sent(), "", id="by-room-id"),
    pytest.param({"channel": ["#devops"]}, "messageSent", sent(), None, id="other-room"),
    pytest.param({"channel": ["#devops", "#general"]}, "messageSent", sent(), "", id="any-listed-room"),
    pytest.param({"channel": ["ALL_PUBLIC_CHANNELS"]}, "messageSent", sent(), None, id="keys-case-sensitive"),
    pytest.param({"channel": ["all_private_groups"]}, "messageSent", sent(room=PRIVATE), "", id="private"),
    pytest.param({"channel": ["#secret"]}, "messageSent", sent(room=PRIVATE), "", id="private-by-name"),
    pytest.param(
        {"channel": ["all_public_channels"]}, "messageSent", sent(room=PRIVATE), None, id="pub-not-priv"
    ),
    pytest.param({"channel": ["all_direct_messages"]}, "messageSent", sent(room=DIRECT), "", id="all-dms"),
    pytest.param({"channel": ["@bob"]}, "messageSent", sent(room=DIRECT), "", id="dm-other-username"),
    pytest.param(
        {"channel": ["@alice"]}, "messageSent", sent(room=DIRECT), None, id="dm-not-author-username"
    ),
    pytest.param(
        {"channel": ["@bobId000000000001"]}, "messageSent", sent(room=DIRECT), "", id="dm-other-uid"
    ),
    # upstream quirk (§3.3 notes): the uid form includes the sender's own id
    pytest.param(
        {"channel": ["@aliceId0000000001"]}, "messageSent", sent(room=DIRECT), "", id="dm-author-uid"
    ),
    pytest.param({"channel": ["@carol"]}, "messageSent", sent(room=DIRECT), None, id="dm-stranger"),
    pytest.param({"channel": ["all_direct_messages"]}, "messageSent", sent(), None, id="dms-not-public"),
    pytest.param({}, "messageSent", {"message": message()}, None, id="no-room-snapshot"),
    # trigger words
    pytest.param({"triggerWords": ["deploy"]}, "messageSent", sent(), "deploy", id="trigger-prefix"),
    pytest.param(
        {"triggerWords": ["deploy"]}, "messageSent", sent("please deploy"), None, id="trigger-not-prefix"
    ),
    pytest.param(
        {"triggerWords": ["deploy"], "triggerWordAnywhere": True},
        "messageSent",
        sent("please deploy"),
        "deploy",
        id="trigger-anywhere",
    ),
    pytest.param({"triggerWords": ["Deploy"]}, "messageSent", sent(), None, id="trigger-case-sensitive"),
    pytest.param({"triggerWords": ["ship", "dep"]}, "messageSent", sent(), "dep", id="trigger-first-listed"),
    pytest.param({"triggerWords": []}, "messageSent", sent("anything"), "", id="empty-trigger-list"),
    # edits
    pytest.param({}, "messageEdited", sent(**EDITED_MSG), None, id="edit-without-runOnEdits"),
    pytest.param({"runOnEdits": True}, "messageEdited", sent(**EDITED_MSG), "", id="edit-with-runOnEdits"),
    pytest.param(
        {"runOnEdits": True, "triggerWords": ["deploy"]},
        "messageEdited",
        sent("no trigger", **EDITED_MSG),
        None,
        id="edit-still-needs-trigger",
    ),
    pytest.param({}, "messageSent", sent(**EDITED_MSG), None, id="editedAt-snapshot-counts-as-edit"),
    pytest.param({"runOnEdits": True}, "messageSent", sent(), "", id="runOnEdits-still-gets-new"),
    # loop breaker
    pytest.param({}, "messageSent", sent(bot={"i": INTEGRATION_ID}), None, id="own-message"),
    pytest.param({}, "messageSent", sent(bot={"i": "otherHook00000001"}), "", id="other-integration-message"),
    pytest.param(
        {"runOnEdits": True},
        "messageEdited",
        sent(bot={"i": INTEGRATION_ID}, **EDITED_MSG),
        None,
        id="own-message-edited",
    ),
    # events without channels fire everywhere, whatever `channel` says
    pytest.param(
        {"event": "roomCreated", "channel": ["#devops"]},
        "roomCreated",
        {"room": PRIVATE, "user": ALICE, "actor": ALICE},
        "",
        id="roomCreated-any-room",
    ),
    pytest.param(
        {"event": "roomArchived", "channel": None},
        "roomArchived",
        {"room": PRIVATE, "actor": ALICE},
        "",
        id="roomArchived-private",
    ),
    pytest.param(
        {"event": "userCreated", "targetRoom": "#general"},
        "userCreated",
        {"user": ALICE},
        "",
        id="userCreated",
    ),
    pytest.param(
        {"event": "userCreated", "triggerWords": ["x"]},
        "userCreated",
        {"user": ALICE},
        "",
        id="trigger-words-ignored-for-other-events",
    ),
    # events with channels
    pytest.param(
        {"event": "roomJoined"},
        "roomJoined",
        {"room": GENERAL, "user": ALICE, "actor": ALICE},
        "",
        id="roomJoined-listed-room",
    ),
    pytest.param(
        {"event": "roomJoined"},
        "roomJoined",
        {"room": PUBLIC, "user": ALICE, "actor": ALICE},
        None,
        id="roomJoined-other-room",
    ),
    pytest.param(
        {"event": "roomLeft", "channel": ["all_private_groups"]},
        "roomLeft",
        {"room": PRIVATE, "user": ALICE, "actor": BOT},
        "",
        id="roomLeft-private",
    ),
    pytest.param(
        {"event": "roomLeft", "channel": None},
        "roomLeft",
        {"room": PRIVATE, "user": ALICE, "actor": ALICE},
        None,
        id="roomLeft-default-public-only",
    ),
]


@pytest.mark.parametrize(("overrides", "event_type", "payload", "expected"), CASES)
def test_matches(
    overrides: dict[str, Any], event_type: str, payload: dict[str, Any], expected: str | None
) -> None:
    integration = outgoing(**overrides)  # a None override removes the field
    result = matches(integration, event_type, payload)
    if expected is None:
        assert result is None
        return
    assert result == MatchResult(
        integration=integration, event=outgoing_event_of(event_type) or "", trigger_word=expected or None
    )


def test_select_keeps_order_and_filters() -> None:
    first = outgoing(_id="hookA", triggerWords=["deploy"])
    second = outgoing(_id="hookB", enabled=False)
    third = outgoing(_id="hookC", channel=None)
    results = select([first, second, third], "messageSent", sent())
    assert [r.integration["_id"] for r in results] == ["hookA", "hookC"]
    assert [r.trigger_word for r in results] == ["deploy", None]
