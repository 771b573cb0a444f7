"""Where an integration points: parsing the `channel` list, and the room/user existence and
membership checks incoming and outgoing integrations share (rest-integrations.md §11.1 step 10,
§11.7 step 9)."""

from __future__ import annotations

from typing import Any

from hookhub.services.context import Ctx
from hookhub.services.errors import MeteorError
from hookhub.store import rooms, users

PREFIXES = ("@", "#")


def split_channels(channel: str) -> list[str]:
    """Comma-separated list, each item trimmed (empty items kept: callers decide)."""
    return [item.strip() for item in channel.split(",")]


def starts_with_prefix(item: str) -> bool:
    return item[:1] in PREFIXES


async def target_id(ctx: Ctx, item: str) -> str | None:
    """`#x`: the room whose id or name is x; `@x`: the user whose id or username is x.
    Anything else (no known prefix) finds nothing."""
    prefix, rest = item[:1], item[1:]
    if prefix == "#":
        room = await rooms.get_room_by_id_or_name(ctx.conn, rest)
        return str(room["id"]) if room is not None else None
    if prefix == "@":
        user = await users.get_by_id_or_username(ctx.conn, rest)
        return str(user["id"]) if user is not None else None
    return None


async def check_target(
    ctx: Ctx, item: str, caller_id: str, *, membership_required: bool, details: dict[str, Any]
) -> None:
    """The target must exist; unless the caller holds both permissions of the kind, they must
    also be subscribed to it. For `@user` the "room" is the user id, which practically never has a
    subscription: Rocket.Chat's quirk, kept."""
    record_id = await target_id(ctx, item)
    if record_id is None:
        raise MeteorError("Invalid room", "error-invalid-room", details)
    if membership_required and await rooms.get_subscription(ctx.conn, record_id, caller_id) is None:
        raise MeteorError("Invalid Channel", "error-invalid-channel", details)


async def find_user_exact(ctx: Ctx, username: str) -> dict[str, Any] | None:
    """The user whose username is exactly `username` (Rocket.Chat matches case-sensitively)."""
    user = await users.get_by_username(ctx.conn, username)
    if user is None or user["username"] != username:
        return None
    return user


async def add_bot_role(ctx: Ctx, user: dict[str, Any]) -> None:
    """The post-as user gets the `bot` role (Rocket.Chat's `addUserRoles`, idempotent)."""
    held = list(user.get("roles") or [])
    if "bot" in held:
        return
    await users.update_user(ctx.conn, user["id"], {"roles": [*held, "bot"], "updated_at": ctx.now()})
