"""Which outgoing integrations fire for an outbox event (webhook-runtime.md §3.1-3.4).

Pure functions over wire documents: integrations as stored by `hookhub.store.integrations`
(`type`, `enabled`, `event`, `channel`, `triggerWords`, ...) and outbox events as written by
`hookhub.services.outbox` (a type plus a payload of `room`/`user`/`message`/`actor` snapshots).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

OUTGOING_TYPE = "webhook-outgoing"

ALL_PUBLIC_CHANNELS = "all_public_channels"
ALL_PRIVATE_GROUPS = "all_private_groups"
ALL_DIRECT_MESSAGES = "all_direct_messages"

SEND_MESSAGE = "sendMessage"

# Outbox event type -> integration `event`. messageEdited maps to sendMessage too, but only
# runOnEdits integrations take it (checked in `matches`); messageDeleted has no outgoing event.
_OUTGOING_EVENTS: dict[str, str] = {
    "messageSent": SEND_MESSAGE,
    "messageEdited": SEND_MESSAGE,
    "roomCreated": "roomCreated",
    "roomArchived": "roomArchived",
    "roomJoined": "roomJoined",
    "roomLeft": "roomLeft",
    "userCreated": "userCreated",
}

# Events whose integrations ignore `channel` and fire for every room/user (§3.2 bucket `__any`).
EVENTS_WITHOUT_CHANNEL = frozenset({"roomArchived", "roomCreated", "userCreated"})


@dataclass(frozen=True, slots=True)
class MatchResult:
    """An integration selected for an event: what it fires as, and the trigger word that matched."""

    integration: Mapping[str, Any]
    event: str
    trigger_word: str | None = None


def outgoing_event_of(event_type: str) -> str | None:
    """The integration `event` value an outbox event type fires, or None if nothing listens to it."""
    return _OUTGOING_EVENTS.get(event_type)


def room_channels(room: Mapping[str, Any], other_participants: Iterable[Mapping[str, Any]] = ()) -> set[str]:
    """The channel keys (§3.3) a room answers to.

    Public `c` rooms: `all_public_channels`, `#<id>`, `#<name>`. DMs `d`: `all_direct_messages`
    plus `@<_id>` / `@<username>` of each entry of `other_participants` (either key may be
    missing). Every other type (`p`, and e.g. omnichannel `l`) is treated as a private group,
    as upstream does.
    """
    if room.get("t") == "d":
        keys = {ALL_DIRECT_MESSAGES}
        for participant in other_participants:
            for field in ("_id", "username"):
                value = participant.get(field)
                if value:
                    keys.add(f"@{value}")
        return keys
    keys = {ALL_PUBLIC_CHANNELS if room.get("t") == "c" else ALL_PRIVATE_GROUPS}
    for field in ("_id", "name"):
        value = room.get(field)
        if value:
            keys.add(f"#{value}")
    return keys


def _dm_participants(room: Mapping[str, Any], author: str | None) -> list[dict[str, Any]]:
    """The participants a DM answers to, from the room snapshot's `uids` / `usernames`.

    Upstream quirk kept for compatibility (§3.3 notes): every uid counts, the author's own
    included, but the author's username is excluded.
    """
    participants: list[dict[str, Any]] = [{"_id": uid} for uid in room.get("uids") or ()]
    participants += [{"username": name} for name in room.get("usernames") or () if name != author]
    return participants


def integration_channels(integration: Mapping[str, Any]) -> set[str]:
    """The channel keys an integration listens on; no channel at all means public channels (§3.2)."""
    channels = integration.get("channel")
    if isinstance(channels, str):
        # Defensive: the REST layer stores a list, but a raw CSV string must not be iterated per character.
        channels = [c.strip() for c in channels.split(",")]
    # Keys stay case-sensitive: upstream compares the raw strings (§3.2).
    keys = {c for c in channels or () if isinstance(c, str) and c}
    return keys or {ALL_PUBLIC_CHANNELS}


def match_trigger_word(text: str, words: Iterable[str], *, anywhere: bool) -> str | None:
    """The first word (in stored order) that starts `text`, or occurs in it when `anywhere`.

    Case-sensitive and without word boundaries, as upstream: `deploy` matches `deployment`.
    """
    for word in words:
        if not word:
            continue
        if (word in text) if anywhere else text.startswith(word):
            return word
    return None


def matches(
    integration: Mapping[str, Any], event_type: str, payload: Mapping[str, Any]
) -> MatchResult | None:
    """Whether `integration` fires for the outbox event `event_type` with `payload` (§3.3-3.4).

    Checks, in order: outgoing type and `enabled is True`; event equality (edits only for
    `runOnEdits`); channel buckets; the loop breaker (a message the integration posted itself,
    `message.bot.i == integration._id`, never fires it); trigger words for `sendMessage`.
    """
    if integration.get("type", OUTGOING_TYPE) != OUTGOING_TYPE or integration.get("enabled") is not True:
        return None
    event = outgoing_event_of(event_type)
    if event is None or integration.get("event") != event:
        return None

    message: Mapping[str, Any] = payload.get("message") or {}
    # An edit is either the messageEdited event or a snapshot carrying editedAt (§3.4 step 3).
    if (event_type == "messageEdited" or message.get("editedAt")) and not integration.get("runOnEdits"):
        return None

    if event not in EVENTS_WITHOUT_CHANNEL:
        room: Mapping[str, Any] | None = payload.get("room")
        if room is None:
            return None
        author = (message.get("u") or {}).get("username")
        participants = _dm_participants(room, author) if room.get("t") == "d" else []
        if not room_channels(room, participants) & integration_channels(integration):
            return None

    # Loop breaker, first half: upstream has no author filter (§3.3 notes) and loops forever when a
    # reply triggers its own integration; we never let an integration react to its own messages.
    bot = message.get("bot")
    if isinstance(bot, Mapping) and bot.get("i") is not None and bot.get("i") == integration.get("_id"):
        return None

    trigger_word: str | None = None
    if event == SEND_MESSAGE:
        words = [w for w in integration.get("triggerWords") or () if isinstance(w, str) and w]
        if words:
            trigger_word = match_trigger_word(
                message.get("msg") or "", words, anywhere=integration.get("triggerWordAnywhere") is True
            )
            if trigger_word is None:
                return None
    return MatchResult(integration=integration, event=event, trigger_word=trigger_word)


def select(
    integrations: Iterable[Mapping[str, Any]], event_type: str, payload: Mapping[str, Any]
) -> list[MatchResult]:
    """All integrations (in the given order) that fire for one outbox event."""
    results = []
    for integration in integrations:
        result = matches(integration, event_type, payload)
        if result is not None:
            results.append(result)
    return results
