"""Posting, editing, deleting and reading messages (core-api.md §9): target resolution for
webhook-style posts, message validation, and the edit/delete permission rules."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hookhub.ids import iso, parse_iso
from hookhub.services import outbox, room_admin
from hookhub.services.context import Ctx
from hookhub.services.documents import REPLY_DEPTH, message_doc
from hookhub.services.errors import Failure, FailureObject, InvalidParams, MeteorError
from hookhub.services.messages import check_can_post, insert_message
from hookhub.services.room_access import can_access_room
from hookhub.services.rooms import get_or_create_direct
from hookhub.store import messages, rooms, users
from hookhub.store.rows import Row
from hookhub.store.tables import messages as messages_table

INVALID_HREF = "Invalid href value provided"
NO_PERMISSION_TO_IMPERSONATE = "Not enough permission"

# Message ids are stored in 64-character columns (store/tables.py `ID`).
_MAX_ID_LENGTH = 64

# A client `ts` further than this from the server clock is refused (RC's executeSendMessage).
_TS_TOLERANCE = timedelta(seconds=60)

# An absolute URL: a scheme followed by `//` and something; Rocket.Chat's isURL wants the same.
_ABSOLUTE_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://\S+")
_JAVASCRIPT = re.compile(r"^\s*javascript:", re.IGNORECASE)
# Uploaded files are referenced by a server-relative path, which RC accepts as a full URL.
_UPLOAD_PREFIX = "/file-upload/"


# -- validation (RC's validateMessage / validateAttachment) ---------------------------------


def _kind(value: Any) -> str:
    """How Meteor's `check` names a value's type in its error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object"


def _match_error(expected: str, value: Any, field: str) -> Failure:
    return Failure(f"Match error: Expected {expected}, got {_kind(value)} in field {field}")


def _full_url(value: Any, field: str) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise _match_error("string", value, field)
    if not (_ABSOLUTE_URL.match(value) or value.startswith(_UPLOAD_PREFIX)) or _JAVASCRIPT.match(value):
        raise Failure(INVALID_HREF)


def _partial_url(value: Any, field: str) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise _match_error("string", value, field)
    if _JAVASCRIPT.match(value):
        raise Failure(INVALID_HREF)


def _typed(value: Any, field: str, kinds: tuple[str, ...]) -> None:
    if _kind(value) not in kinds:
        raise _match_error(" or ".join(kinds), value, field)


_ATTACHMENT_TYPES: dict[str, tuple[str, ...]] = {
    "color": ("string",),
    "text": ("string",),
    "ts": ("string", "number"),
    "button_alignment": ("string",),
    "collapsed": ("boolean",),
    "author_name": ("string",),
    "title": ("string",),
    "title_link_download": ("boolean",),
    "image_preview": ("string",),
    "image_type": ("string",),
    "image_size": ("number",),
    "audio_type": ("string",),
    "audio_size": ("number",),
    "video_type": ("string",),
    "video_size": ("number",),
}
_ATTACHMENT_URLS = (
    "thumb_url",
    "message_link",
    "author_link",
    "author_icon",
    "title_link",
    "image_url",
    "audio_url",
    "video_url",
)
_ACTION_TYPES: dict[str, tuple[str, ...]] = {
    "type": ("string",),
    "text": ("string",),
    "is_webview": ("boolean",),
    "webview_height_ratio": ("string",),
    "msg": ("string",),
    "msg_in_chat_window": ("boolean",),
}


def _check_object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _match_error("object", value, field)
    return value


def validate_attachments(attachments: Sequence[Any]) -> None:
    """Raise RC's errors for a malformed attachment; `fields[].value` is turned into a string
    as Rocket.Chat does."""
    for attachment in attachments:
        att = _check_object(attachment, "attachments")
        for key, kinds in _ATTACHMENT_TYPES.items():
            if key in att:
                _typed(att[key], key, kinds)
        for key in _ATTACHMENT_URLS:
            if key in att:
                _full_url(att[key], key)
        if "image_dimensions" in att:
            _check_object(att["image_dimensions"], "image_dimensions")
        for list_key in ("fields", "actions"):
            if list_key in att and not isinstance(att[list_key], list):
                raise _match_error("array", att[list_key], list_key)
        for item in att.get("fields") or []:
            entry = _check_object(item, "fields")
            if "short" in entry:
                _typed(entry["short"], "short", ("boolean",))
            if "title" in entry:
                _typed(entry["title"], "title", ("string",))
            if "value" in entry:
                _typed(entry["value"], "value", ("string", "number", "boolean"))
                entry["value"] = _js_string(entry["value"])
        for item in att.get("actions") or []:
            action = _check_object(item, "actions")
            for key, kinds in _ACTION_TYPES.items():
                if key in action:
                    _typed(action[key], key, kinds)
            for key in ("url", "image_url"):
                if key in action:
                    _full_url(action[key], key)


def _js_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


async def check_impersonation(ctx: Ctx, user: Row, room: Row, fields: dict[str, Any]) -> None:
    """`alias` and `avatar` make a message look like someone else's: `message-impersonate` only."""
    if "avatar" in fields:
        _partial_url(fields["avatar"], "avatar")
    if (fields.get("alias") or fields.get("avatar")) and not await ctx.can(
        user, "message-impersonate", room["id"]
    ):
        raise Failure(NO_PERMISSION_TO_IMPERSONATE)


async def _thread_root(ctx: Ctx, tmid: str) -> Row | None:
    """The message a reply with `tmid` belongs under: replies to replies go to the root."""
    parent = await messages.get_message(ctx.conn, tmid)
    if parent is not None and parent["tmid"] is not None:
        root = await messages.get_message(ctx.conn, parent["tmid"])
        return root or parent
    return parent


async def _count_reply(ctx: Ctx, root: Row, author: Row) -> None:
    extra = dict(root["extra"] or {})
    extra["tcount"] = int(extra.get("tcount", 0)) + 1
    extra["tlm"] = iso(ctx.now())
    replies = list(extra.get("replies", []))
    if author["id"] not in replies:
        replies.append(author["id"])
    extra["replies"] = replies
    await messages.update_message(ctx.conn, root["id"], {"extra": extra})


async def _store(
    ctx: Ctx,
    room: Row,
    author: Row,
    *,
    text: str,
    extra: dict[str, Any],
    tmid: str | None,
    message_id: str | None = None,
) -> Row:
    root = await _thread_root(ctx, tmid) if tmid else None
    if root is not None:
        tmid = root["id"]
    row = await insert_message(ctx, room, author, text=text, extra=extra, tmid=tmid, message_id=message_id)
    if root is not None:
        await _count_reply(ctx, root, author)
    return row


# -- chat.postMessage ----------------------------------------------------------------------------


@dataclass
class Posted:
    """One stored message and the target string it was posted to (as the client sent it)."""

    channel: str
    message: Row


async def _auto_join(ctx: Ctx, room: Row, user: Row, member: bool) -> bool:
    """Posting to a public channel joins it, with `channels.join`'s rules. Rooms the user may
    not join are left alone: the post checks then give the precise refusal.

    `member` is the membership read together with the room; returns it as it stands afterwards,
    so the post checks need not read the subscription again (on the hot path, a poster that is
    already a member, the room read is the only membership read of the post)."""
    if room["t"] != "c" or room["archived"] or member:
        # a member "joining" again would be room_admin.join's quiet no-op
        return member
    if not await can_access_room(ctx, room, user, member=False):
        return False
    await room_admin.join(ctx, room, user, None)
    return True


async def _direct_with(ctx: Ctx, user: Row, other: Row) -> Row:
    return await get_or_create_direct(ctx, user, [other])


async def resolve_target(ctx: Ctx, user: Row, target: str) -> tuple[Row, bool | None]:
    """A webhook-style destination (core-api.md §9.2): `#room`, `@user`, or a bare room id or
    name, falling back to a direct message by user id. Also returns the user's membership of the
    room when it was read on the way (None when not), for the post checks."""
    invalid = MeteorError(None, "invalid-channel")
    if target.startswith("#"):
        room, member = await rooms.get_room_by_id_or_name_for(ctx.conn, target[1:], user["id"])
        if room is None:
            raise invalid
        return room, await _auto_join(ctx, room, user, member)
    if target.startswith("@"):
        other = await users.get_by_id_or_username(ctx.conn, target[1:])
        if other is None:
            raise invalid
        return await _direct_with(ctx, user, other), None
    room, member = await rooms.get_room_by_id_or_name_for(ctx.conn, target, user["id"])
    if room is not None:
        return room, await _auto_join(ctx, room, user, member)
    other = await users.get_by_id(ctx.conn, target)
    if other is None:
        raise invalid
    return await _direct_with(ctx, user, other), None


def _targets(value: Any, field: str) -> list[str]:
    entries = value if isinstance(value, list) else [value]
    out: list[str] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, str):
            path = f"/{field}/{i}" if isinstance(value, list) else f"/{field}"
            raise InvalidParams([f"{path} must be string"])
        if entry and entry not in out:
            out.append(entry)
    return out


def _optional_str(body: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidParams([f"/{key} must be string"])
        if value:
            return value
    return None


def _drop_empty(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None and v != "" and v != [] and v != {}}


@dataclass(frozen=True)
class Composed:
    """A `chat.postMessage`-style body checked and turned into what is stored, before any room is
    looked at: the distinct targets, the text, the message fields and the thread id."""

    targets: list[str]
    text: str
    fields: dict[str, Any]
    tmid: str | None
    attachments: list[Any] | None


def _without_nul(value: Any) -> Any:
    """`value` with every NUL character of its strings (and keys) made U+FFFD; the same object
    when it holds none (the common case costs one walk, no copy)."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        pairs = [(_without_nul(k), _without_nul(v)) for k, v in value.items()]
        if all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(pairs, value.items(), strict=True)):
            return value
        return dict(pairs)
    if isinstance(value, list):
        items = [_without_nul(item) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


def compose_post(max_size: int, body: dict[str, Any], defaults: dict[str, str]) -> Composed:
    """The pure part of `post_message`: validate the body's own fields (raising its errors, in its
    order) and build the message fields. `max_size` is `Message_MaxAllowedSize`.

    A NUL character (which a webhook payload or a script's result may hold; PostgreSQL's text
    cannot) becomes U+FFFD, on both databases alike: the message is kept, not refused."""
    body = _without_nul(body)
    raw_targets = body.get("channel") if body.get("channel") is not None else body.get("roomId")
    if raw_targets is None:
        raise InvalidParams(
            [
                "must have required property 'roomId'",
                "must have required property 'channel'",
                "must match exactly one schema in oneOf",
            ]
        )
    field = "channel" if body.get("channel") is not None else "roomId"
    targets = _targets(raw_targets, field)
    if not targets:
        raise MeteorError(None, "invalid-channel")

    # where a payload carries both spellings, the webhook one (text, username, icon_*) wins
    text = (_optional_str(body, "text", "msg") or "").strip()
    attachments_in = body.get("attachments")
    # RC ignores a non-array `attachments` instead of refusing the post
    attachments: list[Any] | None = (
        [dict(a) if isinstance(a, dict) else a for a in attachments_in]
        if isinstance(attachments_in, list)
        else None
    )
    if len(text) > max_size:
        raise Failure("error-message-size-exceeded")
    for att in attachments or []:
        if isinstance(att, dict):
            # RC's webhook format calls the attachment text `msg`
            if "msg" in att:
                msg = att.pop("msg")
                att["text"] = msg.strip() if isinstance(msg, str) else msg
            if isinstance(att.get("text"), str) and len(att["text"]) > max_size:
                raise Failure("error-message-size-exceeded")

    alias = _optional_str(body, "username", "alias") or defaults.get("alias") or None
    avatar = _optional_str(body, "icon_url", "avatar")
    emoji = None if avatar else _optional_str(body, "icon_emoji", "emoji")
    if avatar is None and emoji is None:
        avatar = defaults.get("avatar") or None
        emoji = None if avatar else (defaults.get("emoji") or None)
    tmid = _optional_str(body, "tmid")
    if tmid and len(tmid) > _MAX_ID_LENGTH:
        raise InvalidParams([f"/tmid must NOT have more than {_MAX_ID_LENGTH} characters"])
    parse_urls = body.get("parseUrls")
    groupable = body.get("groupable")
    fields = _drop_empty(
        {
            "alias": alias,
            "emoji": emoji,
            "avatar": avatar,
            "attachments": attachments,
            "bot": body.get("bot"),
            "customFields": body.get("customFields"),
        }
    )
    fields["parseUrls"] = parse_urls if isinstance(parse_urls, bool) else not attachments
    fields["groupable"] = groupable if isinstance(groupable, bool) else False
    return Composed(targets=targets, text=text, fields=fields, tmid=tmid, attachments=attachments)


def check_trusted_fields(composed: Composed) -> None:
    """The checks a trusted poster (an incoming integration) still gets once the room is known:
    a well-formed `avatar` URL and valid attachments."""
    if "avatar" in composed.fields:
        _partial_url(composed.fields["avatar"], "avatar")
    if composed.attachments:
        validate_attachments(composed.attachments)


async def post_message(
    ctx: Ctx,
    user: Row,
    body: dict[str, Any],
    *,
    defaults: dict[str, str] | None = None,
    impersonation_allowed: bool = False,
    reply_depth: int = 0,
) -> list[Posted]:
    """`chat.postMessage` and incoming webhooks (RC's processWebhookMessage): one message per
    distinct target. `defaults` (`alias`, `avatar`, `emoji`) are an integration's settings, used
    when the payload has none; `impersonation_allowed` lets a trusted caller (an incoming
    integration) set alias/avatar without `message-impersonate`; `reply_depth` > 0 marks an
    outgoing webhook's reply (stored, not shown: the loop breaker reads it from the outbox)."""
    composed = compose_post(ctx.settings.message_max_size, body, defaults or {})
    fields, attachments, text, tmid = composed.fields, composed.attachments, composed.text, composed.tmid
    if reply_depth > 0:
        fields = {**fields, REPLY_DEPTH: reply_depth}
    posted: list[Posted] = []
    for target in composed.targets:
        resolved, member = await resolve_target(ctx, user, target)
        room = await check_can_post(ctx, resolved, user, member=member)
        if impersonation_allowed:
            check_trusted_fields(composed)
        else:
            await check_impersonation(ctx, user, room, fields)
            if attachments:
                validate_attachments(attachments)
        row = await _store(ctx, room, user, text=text, extra=dict(fields), tmid=tmid)
        posted.append(Posted(channel=target, message=row))
    return posted


# -- chat.sendMessage ----------------------------------------------------------------------------

# chat.sendMessage's schema (rest-typings isChatSendMessageProps): typed, nullable fields on
# `message`; the top level allows only `message` and `previewUrls`.
_SEND_STRINGS = ("_id", "rid", "tmid", "msg", "text", "alias", "emoji", "avatar")
_SEND_LISTS = ("attachments", "blocks")


def _ajv_string(value: Any, path: str) -> str | None:
    """A string field under ajv's `coerceTypes`: numbers and booleans become their JS text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return _js_string(value)
    raise InvalidParams([f"{path} must be string"])


def _ajv_bool(value: Any, path: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    raise InvalidParams([f"{path} must be boolean"])


def parse_send_body(body: Any) -> dict[str, Any]:
    """Validate a chat.sendMessage body; returns the (coerced) `message` object."""
    if not isinstance(body, dict):
        raise InvalidParams(["must be object"])
    if "message" not in body:
        raise InvalidParams(["must have required property 'message'"])
    extra = [k for k in body if k not in ("message", "previewUrls")]
    if extra:
        raise InvalidParams([f"must NOT have additional properties ('{extra[0]}')"])
    previews = body.get("previewUrls")
    if previews is not None and (
        not isinstance(previews, list) or not all(isinstance(u, str) for u in previews)
    ):
        raise InvalidParams(["/previewUrls must be array"])
    raw = body["message"]
    if not isinstance(raw, dict):
        raise InvalidParams(["/message must be object"])
    message = dict(raw)
    for key in _SEND_STRINGS:
        if key in message:
            message[key] = _ajv_string(message[key], f"/message/{key}")
    if "tshow" in message:
        message["tshow"] = _ajv_bool(message["tshow"], "/message/tshow")
    for key in _SEND_LISTS:
        value = message.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            raise InvalidParams([f"/message/{key} must be array"])
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise InvalidParams([f"/message/{key}/{i} must be object"])
    custom = message.get("customFields")
    if custom is not None and not isinstance(custom, dict):
        raise InvalidParams(["/message/customFields must be object"])
    return message


async def send_message(ctx: Ctx, user: Row, body: Any) -> Row:
    """`chat.sendMessage` (RC's executeSendMessage): the client builds the message, may choose
    its `_id`, and may reply in a thread."""
    message = parse_send_body(body)
    if message.get("t"):
        raise Failure("Cannot send system messages using 'chat.sendMessage'")
    tshow = message.get("tshow")
    tmid: str | None = message.get("tmid") or None
    if tmid and len(tmid) > _MAX_ID_LENGTH:
        raise InvalidParams([f"/message/tmid must NOT have more than {_MAX_ID_LENGTH} characters"])
    if tshow and not tmid:
        raise MeteorError("tshow provided but missing tmid", "invalid-params", {"method": "sendMessage"})
    if message.get("ts") is not None:
        _check_client_ts(ctx, message["ts"])
    # RC's own test helpers send the text as `message.text`
    text = str(message.get("msg") if message.get("msg") is not None else (message.get("text") or ""))
    if len(text) > ctx.settings.message_max_size:
        raise MeteorError(
            "Message size exceeds Message_MaxAllowedSize",
            "error-message-size-exceeded",
            {"method": "sendMessage"},
        )

    rid: str | None = message.get("rid") or None
    if tmid:
        parent = await messages.get_message(ctx.conn, tmid)
        if parent is not None:
            tmid = parent["tmid"] or tmid
            rid = parent["rid"]
    if not rid:
        raise Failure("The 'rid' property on the message object is missing.")
    room = await check_can_post(ctx, await rooms.get_room(ctx.conn, rid), user)

    message_id: str | None = message.get("_id") or None
    if message_id is not None and len(message_id) > _MAX_ID_LENGTH:
        raise InvalidParams([f"/message/_id must NOT have more than {_MAX_ID_LENGTH} characters"])
    if message_id is not None and await messages.get_message(ctx.conn, message_id) is not None:
        raise MeteorError(
            f'A message with the id "{message_id}" already exists',
            "error-message-already-exists",
            {"method": "sendMessage"},
        )

    attachments = message.get("attachments")
    blocks = message.get("blocks")
    custom_fields = message.get("customFields")
    fields = _drop_empty(
        {
            "alias": message.get("alias"),
            "emoji": message.get("emoji"),
            "avatar": message.get("avatar"),
            "attachments": [dict(a) if isinstance(a, dict) else a for a in attachments or []],
            "blocks": blocks,
            "customFields": custom_fields,
        }
    )
    if tmid and tshow:
        fields["tshow"] = True
    await check_impersonation(ctx, user, room, fields)
    if fields.get("attachments"):
        validate_attachments(fields["attachments"])
    return await _store(ctx, room, user, text=text, extra=fields, tmid=tmid, message_id=message_id)


def _check_client_ts(ctx: Ctx, value: Any) -> None:
    try:
        if isinstance(value, dict) and "$date" in value:
            value = value["$date"]
        if isinstance(value, int | float) and not isinstance(value, bool):
            when = datetime.fromtimestamp(value / 1000, UTC)
        elif isinstance(value, str):
            when = parse_iso(value)
        else:
            raise ValueError(value)
    except (ValueError, OverflowError, OSError):
        raise _match_error("date", value, "ts") from None
    if abs(ctx.now() - when) > _TS_TOLERANCE:
        raise MeteorError(
            "Message timestamp is out of sync",
            "error-message-ts-out-of-sync",
            {"method": "sendMessage", "message_ts": value, "server_ts": int(ctx.now().timestamp() * 1000)},
        )


# -- chat.update / chat.delete / chat.getMessage -------------------------------------------------


async def _message_in_room(ctx: Ctx, message_id: str, room_id: str) -> Row:
    message = await messages.get_message(ctx.conn, message_id)
    if message is None:
        raise Failure(f'No message found with the id of "{message_id}".')
    if message["rid"] != room_id:
        raise Failure("The room id provided does not match where the message is from.")
    return message


async def update_message(
    ctx: Ctx,
    editor: Row,
    room_id: str,
    message_id: str,
    text: str,
    custom_fields: dict[str, Any] | None,
    preview_urls: list[str] | None = None,
) -> Row:
    """`chat.update`: replace the text, stamp `editedAt`/`editedBy`, record `messageEdited`."""
    original = await _message_in_room(ctx, message_id, room_id)
    rid = original["rid"]
    extra = dict(original["extra"] or {})
    attachments = [dict(a) if isinstance(a, dict) else a for a in extra.get("attachments") or []]
    # a file upload's caption is its first attachment's description: that is what gets edited
    captioned = bool(attachments) and isinstance(attachments[0], dict) and "description" in attachments[0]
    current = attachments[0]["description"] if captioned else original["msg"]
    if current == text and custom_fields is None and not preview_urls:
        # nothing changes: Rocket.Chat returns before any check and stamps nothing
        return original
    own = original["u_id"] == editor["id"]
    if not await ctx.can(editor, "edit-message", rid) and not (ctx.settings.message_allow_editing and own):
        raise MeteorError(
            "Message editing not allowed",
            "error-action-not-allowed",
            {"method": "updateMessage", "action": "Message_editing"},
        )
    block = ctx.settings.message_edit_block_minutes
    if (
        block
        and not await ctx.can(editor, "bypass-time-limit-edit-and-delete", rid)
        and ctx.now() - original["ts"] >= timedelta(minutes=block)
    ):
        raise MeteorError(
            "Message editing is blocked", "error-message-editing-blocked", {"method": "updateMessage"}
        )
    room = await check_can_post(ctx, await rooms.get_room(ctx.conn, rid), editor)
    if len(text) > ctx.settings.message_max_size:
        raise MeteorError(
            "Message size exceeds Message_MaxAllowedSize",
            "error-message-size-exceeded",
            {"method": "updateMessage"},
        )
    now = ctx.now()
    values: Row = {
        "msg": original["msg"] if captioned else text,
        "edited_at": now,
        "edited_by_id": editor["id"],
        "edited_by_username": editor["username"],
        "updated_at": now,
    }
    if captioned:
        attachments[0]["description"] = text
        extra["attachments"] = attachments
    if custom_fields is not None:
        extra["customFields"] = custom_fields
    if captioned or custom_fields is not None:
        values["extra"] = extra
    await messages.update_message(ctx.conn, message_id, values)
    updated = await messages.get_message(ctx.conn, message_id)
    assert updated is not None
    last = room["last_message"]
    if isinstance(last, dict) and last.get("_id") == message_id:
        await rooms.update_room(ctx.conn, rid, {"last_message": message_doc(updated)})
    await outbox.record(ctx, outbox.MESSAGE_EDITED, room=room, message=updated, actor=editor)
    return updated


async def _can_delete(ctx: Ctx, user: Row, message: Row, room: Row) -> bool:
    """RC's canDeleteMessage."""
    rid = room["id"]
    if await ctx.can(user, "force-delete-message", rid):
        return True
    if not ctx.settings.message_allow_deleting:
        return False
    own = message["u_id"] == user["id"]
    if not (
        await ctx.can(user, "delete-message", rid) or (own and await ctx.can(user, "delete-own-message"))
    ):
        return False
    if room["ro"] and not await ctx.can(user, "post-readonly", rid):
        raise Failure("You can't delete messages because the room is readonly.")
    return True


async def delete_message(ctx: Ctx, caller: Row, room_id: str, message_id: str, *, as_user: bool) -> Row:
    """`chat.delete`: remove the message, fix the room's counters and last message, record
    `messageDeleted`. Returns the deleted message."""
    message = await _message_in_room(ctx, message_id, room_id)
    rid = message["rid"]
    own = message["u_id"] == caller["id"]
    if as_user and not own and not await ctx.can(caller, "force-delete-message", rid):
        raise Failure(
            'Unauthorized. You must have the permission "force-delete-message" '
            "to delete other's message as them."
        )
    deleter = caller
    if as_user:
        author = await users.get_by_id(ctx.conn, message["u_id"])
        if author is None:
            raise Failure("User not found")
        deleter = author
    room = await rooms.get_room(ctx.conn, rid)
    if room is None or not await _can_delete(ctx, deleter, message, room):
        raise MeteorError(
            "Not allowed", "error-action-not-allowed", {"method": "deleteMessage", "action": "Delete_message"}
        )
    await messages.delete_message(ctx.conn, message_id)
    if message["tmid"] is not None:
        await _uncount_reply(ctx, message["tmid"])
    values: Row = {"updated_at": ctx.now()}
    if message["t"] is None:
        values["msgs"] = max(room["msgs"] - 1, 0)
    last = room["last_message"]
    if isinstance(last, dict) and last.get("_id") == message_id:
        previous = await _last_user_message(ctx, rid)
        values["last_message"] = message_doc(previous) if previous is not None else None
    await rooms.update_room(ctx.conn, rid, values)
    room_after = await rooms.get_room(ctx.conn, rid)
    await outbox.record(ctx, outbox.MESSAGE_DELETED, room=room_after or room, message=message, actor=caller)
    return message


async def _uncount_reply(ctx: Ctx, root_id: str) -> None:
    root = await messages.get_message(ctx.conn, root_id)
    if root is None:
        return
    extra = dict(root["extra"] or {})
    if int(extra.get("tcount", 0)) > 0:
        extra["tcount"] = int(extra["tcount"]) - 1
        await messages.update_message(ctx.conn, root_id, {"extra": extra})


async def _last_user_message(ctx: Ctx, room_id: str) -> Row | None:
    rows, _ = await messages.list_messages(
        ctx.conn,
        where=[messages_table.c.rid == room_id, messages_table.c.t.is_(None)],
        order_by=[messages_table.c.ts.desc()],
        limit=1,
        with_total=False,
    )
    return rows[0] if rows else None


async def get_message(ctx: Ctx, user: Row, message_id: str) -> Row:
    """`chat.getMessage`: any message of a room the caller can read."""
    message = await messages.get_message(ctx.conn, message_id)
    if message is None:
        raise FailureObject()
    room = await rooms.get_room(ctx.conn, message["rid"])
    if room is None or not await can_access_room(ctx, room, user):
        raise MeteorError("Not allowed", "error-not-allowed")
    return message
