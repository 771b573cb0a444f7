"""Outgoing webhooks: validation, add, update, delete (rest-integrations.md §11.3, §11.4, §11.5,
§11.7, §14).

Each function follows Rocket.Chat's order of checks, because the first failing check decides the
error a client sees."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeGuard

from hookhub.ids import iso, random_id
from hookhub.runtime.signing import new_secret
from hookhub.services.context import Ctx
from hookhub.services.errors import MeteorError
from hookhub.services.integrations import records, scripts, targets
from hookhub.services.integrations.permissions import OUTGOING, Rights, manageable, rights_of
from hookhub.store import integrations as store
from hookhub.store.rows import Row

_UPDATE = "updateOutgoingIntegration"
_DELETE = "deleteOutgoingIntegration"
_REQUIRED = {"function": "validateOutgoing._verifyRequiredFields"}
_CHANNELS = {"function": "validateOutgoing"}
_PER_CHANNEL = {"function": "validateOutgoing._verifyUserHasPermissionForChannels"}

ALL_PUBLIC = "all_public_channels"
ALL_PRIVATE = "all_private_groups"
ALL_DIRECT = "all_direct_messages"
SCOPED_CHANNELS = (ALL_PUBLIC, ALL_PRIVATE, ALL_DIRECT)


@dataclass(frozen=True)
class Event:
    uses_channel: bool
    uses_trigger_words: bool
    needs_target_room: bool


# outgoingEvents.ts: what each event listens on and which inputs it uses.
EVENTS: dict[str, Event] = {
    "sendMessage": Event(uses_channel=True, uses_trigger_words=True, needs_target_room=False),
    "fileUploaded": Event(uses_channel=True, uses_trigger_words=False, needs_target_room=False),
    "roomArchived": Event(uses_channel=False, uses_trigger_words=False, needs_target_room=False),
    "roomCreated": Event(uses_channel=False, uses_trigger_words=False, needs_target_room=False),
    "roomJoined": Event(uses_channel=True, uses_trigger_words=False, needs_target_room=False),
    "roomLeft": Event(uses_channel=True, uses_trigger_words=False, needs_target_room=False),
    "userCreated": Event(uses_channel=False, uses_trigger_words=False, needs_target_room=True),
}

# Keys of a body that become part of the record (the create/update schemas' outgoing branch).
_BODY_KEYS = (
    "name", "enabled", "username", "alias", "avatar", "emoji", "event", "targetRoom", "urls",
    "triggerWords", "triggerWordAnywhere", "token", "scriptEnabled", "script", "scriptEngine",
    "runOnEdits", "retryFailedCalls", "retryCount", "retryDelay", "impersonateUser",
)  # fmt: skip

# What updateOutgoingIntegration writes; a key the validated record lacks keeps its stored value.
_UPDATED_KEYS = (
    "event", "enabled", "name", "avatar", "emoji", "alias", "channel", "targetRoom",
    "impersonateUser", "username", "userId", "urls", "token", "triggerWords", "retryFailedCalls",
    "retryCount", "retryDelay", "triggerWordAnywhere", "runOnEdits",
)  # fmt: skip


def _is_string_list(value: Any) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _required_fields(body: dict[str, Any]) -> tuple[Event, list[str]]:
    """`_verifyRequiredFields`: the event, the post-as username, the target room, the URLs."""
    name = body.get("event")
    event = EVENTS.get(name) if isinstance(name, str) and name.strip() else None
    if event is None:
        raise MeteorError("Invalid event type", "error-invalid-event-type", _REQUIRED)
    if scripts.is_blank(body.get("username")):
        raise MeteorError("Invalid username", "error-invalid-username", _REQUIRED)
    if event.needs_target_room and not body.get("targetRoom"):
        raise MeteorError("Invalid Target Room", "error-invalid-targetRoom", _REQUIRED)
    urls = body.get("urls")
    if not _is_string_list(urls):
        raise MeteorError("Invalid URLs", "error-invalid-urls", _REQUIRED)
    kept = [url for url in urls if url.strip()]
    if not kept:
        raise MeteorError("Invalid URLs", "error-invalid-urls", _REQUIRED)
    return event, kept


def _channels(body: dict[str, Any], event: Event, rights: Rights) -> list[str]:
    channel = body.get("channel")
    if isinstance(channel, str) and not channel.strip():
        channel = None
    if not event.uses_channel:
        # events without a room listen on everything: only the global permission may do that
        if not rights.all_outgoing:
            raise MeteorError(
                "Invalid permission for required Integration creation.",
                "error-invalid-permissions",
                _CHANNELS,
            )
        return []
    if not isinstance(channel, str):
        raise MeteorError("Invalid Channel", "error-invalid-channel", _CHANNELS)
    items = [item for item in targets.split_channels(channel) if item]
    for item in items:
        if not targets.starts_with_prefix(item) and item.lower() not in SCOPED_CHANNELS:
            raise MeteorError(
                "Invalid channel. Start with @ or #", "error-invalid-channel-start-with-chars", _CHANNELS
            )
    return items


async def _check_channels(ctx: Ctx, caller: Row, channels: list[str], rights: Rights) -> None:
    """`_verifyUserHasPermissionForChannels`."""
    for item in channels:
        if item == ALL_PUBLIC:
            continue
        if item in (ALL_PRIVATE, ALL_DIRECT):
            if not rights.all_outgoing:
                raise MeteorError("Invalid Channel", "error-invalid-channel", _PER_CHANNEL)
            continue
        await targets.check_target(
            ctx,
            item,
            caller["id"],
            membership_required=not rights.manage_both("outgoing"),
            details=_PER_CHANNEL,
        )


async def validate_outgoing(ctx: Ctx, caller: Row, body: dict[str, Any], rights: Rights) -> dict[str, Any]:
    """`validateOutgoingIntegration`: checks the body in Rocket.Chat's order and returns the record
    to store (channels as a list, post-as user id, trigger words, script verdict, retry defaults)."""
    event, urls = _required_fields(body)
    channels = _channels(body, event, rights)
    username = body["username"]
    post_as = await targets.find_user_exact(ctx, username)
    if post_as is None:
        raise MeteorError(
            "Invalid user (did you delete the `rocket.cat` user?)", "error-invalid-user", _CHANNELS
        )

    record: dict[str, Any] = {k: body[k] for k in _BODY_KEYS if k in body}
    engine = scripts.engine_of(body)
    record.update(
        scriptEngine=engine,
        type=OUTGOING,
        channel=channels,
        urls=urls,
        userId=post_as["id"],
        _createdAt=iso(ctx.now()),
        _createdBy=records.author(caller),
    )
    words = body.get("triggerWords")
    if event.uses_trigger_words and words is not None:
        if not _is_string_list(words):
            raise MeteorError("Invalid triggerWords", "error-invalid-triggerWords", _CHANNELS)
        record["triggerWords"] = [word for word in words if word.strip()]
    else:
        record.pop("triggerWords", None)
    script = body.get("script")
    if scripts.wants_compilation(ctx.settings, engine, body.get("scriptEnabled"), script):
        assert isinstance(script, str)
        record.update(await scripts.compiled_fields(script))
    if "runOnEdits" in body:
        record["runOnEdits"] = body["runOnEdits"] is True
    await _check_channels(ctx, caller, channels, rights)
    if body.get("retryFailedCalls"):
        count = body.get("retryCount")
        # parseInt semantics: 2.7 retries means 2; nothing usable means the default 4
        whole = int(count) if isinstance(count, int | float) and not isinstance(count, bool) else 0
        record["retryCount"] = whole if whole > 0 else 4
        delay = body.get("retryDelay")
        record["retryDelay"] = delay.lower() if isinstance(delay, str) and delay.strip() else "powers-of-ten"
    return record


async def add_outgoing(ctx: Ctx, caller: Row, body: dict[str, Any]) -> dict[str, Any]:
    """`addOutgoingIntegration`: returns the stored document. The token is stored as given."""
    rights = await rights_of(ctx, caller)
    if not rights.manage_any("outgoing"):
        raise MeteorError(None, "not_authorized")
    if not scripts.is_blank(body.get("script")):
        scripts.check_engine_on_create(ctx.settings, scripts.engine_of(body))
    record = await validate_outgoing(ctx, caller, body, rights)
    record["_id"] = random_id(17)
    record["_updatedAt"] = record["_createdAt"]
    # hookhub: the Standard Webhooks secret every delivery is signed with (shown to managers)
    record["signingSecret"] = new_secret()
    return await records.save_new(ctx, record)


async def update_outgoing(ctx: Ctx, caller: Row, integration_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """`updateOutgoingIntegration`: validation first (its errors win over permission errors), then
    the token, the permission lookup and the engine. Returns the re-read document."""
    rights = await rights_of(ctx, caller)
    record = await validate_outgoing(ctx, caller, body, rights)
    if scripts.is_blank(body.get("token")):
        raise MeteorError("Invalid token", "error-invalid-token", {"method": _UPDATE})
    current = await manageable(ctx, rights, "outgoing", integration_id, caller["id"], method=_UPDATE)
    if current is None:
        raise MeteorError(
            "[methods] updateOutgoingIntegration -> integration not found", "invalid_integration"
        )

    script = body.get("script")
    engine = scripts.engine_of(body, current)
    if not scripts.is_blank(script) and (
        engine != current.get("scriptEngine") or script != current.get("script")
    ):
        scripts.check_engine_on_update(ctx.settings, engine)

    document = dict(current)
    document.setdefault("signingSecret", new_secret())
    for key in _UPDATED_KEYS:
        if key in record:
            document[key] = record[key]
    if not scripts.is_frozen(ctx.settings, engine):
        for key in ("script", "scriptEnabled"):
            if key in record:
                document[key] = record[key]
        document["scriptEngine"] = engine
        if "scriptCompiled" in record:
            document["scriptCompiled"] = record["scriptCompiled"]
            document.pop("scriptError", None)
        else:
            document.pop("scriptCompiled", None)
            if "scriptError" in record:
                document["scriptError"] = record["scriptError"]
    return await records.save_update(ctx, caller, document)


async def delete_outgoing(ctx: Ctx, caller: Row, integration_id: str) -> None:
    """`deleteOutgoingIntegration`: like the incoming one, and the history goes with it."""
    rights = await rights_of(ctx, caller)
    current = await manageable(ctx, rights, "outgoing", integration_id, caller["id"], method=_DELETE)
    if current is None:
        raise MeteorError("Invalid integration", "error-invalid-integration", {"method": _DELETE})
    await store.delete_integration(ctx.conn, integration_id)
    await store.clear_history(ctx.conn, integration_id)


async def find_for_request(ctx: Ctx, target_url: Any, integration_id: Any) -> dict[str, Any] | None:
    """The REST handlers' lookup: by a URL the integration calls first, else by id (neither
    given: nothing). The stored type is not checked, as in Rocket.Chat."""
    if isinstance(target_url, str) and target_url:
        return await store.find_integration(ctx.conn, where=[store.has_term("urls", [target_url])])
    if isinstance(integration_id, str) and integration_id:
        return await store.get_integration(ctx.conn, integration_id)
    return None
