"""Incoming webhooks: add, update, delete (rest-integrations.md §11.1, §11.2, §11.5).

Each function follows Rocket.Chat's order of checks, because the first failing check decides the
error a client sees."""

from __future__ import annotations

from typing import Any

from hookhub.ids import iso, random_id
from hookhub.services.context import Ctx
from hookhub.services.errors import MeteorError
from hookhub.services.integrations import records, scripts, targets
from hookhub.services.integrations.permissions import INCOMING, manageable, rights_of
from hookhub.store import integrations as store
from hookhub.store.rows import Row

_ADD = "addIncomingIntegration"
_UPDATE = "updateIncomingIntegration"
_DELETE = "deleteIncomingIntegration"

# Keys a create body may carry into the stored document (the create schema's incoming branch).
_CREATE_KEYS = (
    "name", "enabled", "username", "alias", "avatar", "emoji", "scriptEnabled", "script",
    "scriptEngine", "overrideDestinationChannelEnabled", "rateLimit",
)  # fmt: skip


def check_rate_limit(body: dict[str, Any], method: str) -> None:
    """hookhub's `rateLimit` (calls per minute for this hook, 0 = unlimited; absent = the server
    default): Rocket.Chat has no such field, so its error is ours."""
    value = body.get("rateLimit")
    if value is None:
        return
    if isinstance(value, float) and value.is_integer():
        value = body["rateLimit"] = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MeteorError(
            "Invalid rate limit: a whole number of calls per minute, 0 for no limit",
            "error-invalid-rate-limit",
            {"method": method},
        )


def parse_channels(channel: Any, method: str) -> list[str]:
    if not isinstance(channel, str) or not channel.strip():
        raise MeteorError("Invalid channel", "error-invalid-channel", {"method": method})
    items = targets.split_channels(channel)
    if not all(targets.starts_with_prefix(item) for item in items):
        # sic: Rocket.Chat names the update method here for creates too
        raise MeteorError(
            "Invalid channel. Start with @ or #",
            "error-invalid-channel-start-with-chars",
            {"method": _UPDATE},
        )
    return items


async def _check_targets(ctx: Ctx, channels: list[str], caller: Row, *, both: bool, method: str) -> None:
    for item in channels:
        await targets.check_target(
            ctx, item, caller["id"], membership_required=not both, details={"method": method}
        )


async def add_incoming(ctx: Ctx, caller: Row, body: dict[str, Any]) -> dict[str, Any]:
    """`addIncomingIntegration`: validate, compile the script, store; returns the stored document."""
    rights = await rights_of(ctx, caller)
    if not rights.manage_any("incoming"):
        raise MeteorError("Unauthorized", "not_authorized", {"method": _ADD})
    channels = parse_channels(body.get("channel"), _ADD)
    check_rate_limit(body, _ADD)
    username = body.get("username")
    if scripts.is_blank(username):
        raise MeteorError("Invalid username", "error-invalid-username", {"method": _ADD})
    assert isinstance(username, str)
    script = body.get("script")
    engine = scripts.engine_of(body)
    if not scripts.is_blank(script):
        scripts.check_engine_on_create(ctx.settings, engine)
    post_as = await targets.find_user_exact(ctx, username)
    if post_as is None:
        raise MeteorError("Invalid user", "error-invalid-user", {"method": _ADD})

    now = iso(ctx.now())
    document: dict[str, Any] = {k: body[k] for k in _CREATE_KEYS if k in body}
    document.update(
        _id=random_id(17),
        scriptEngine=engine,
        type=INCOMING,
        channel=channels,
        overrideDestinationChannelEnabled=body.get("overrideDestinationChannelEnabled") or False,
        token=random_id(48),
        userId=post_as["id"],
        _createdAt=now,
        _createdBy=records.author(caller),
        # we return the stored document, and storage stamps every write
        _updatedAt=now,
    )
    if scripts.wants_compilation(ctx.settings, engine, body.get("scriptEnabled"), script):
        assert isinstance(script, str)
        document.update(await scripts.compiled_fields(script))

    await _check_targets(ctx, channels, caller, both=rights.manage_both("incoming"), method=_ADD)
    await targets.add_bot_role(ctx, post_as)
    return await records.save_new(ctx, document)


async def update_incoming(ctx: Ctx, caller: Row, integration_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """`updateIncomingIntegration`: fields the body omits keep their stored values; `token`,
    `type`, `_createdAt` and `_createdBy` never change. Returns the re-read document."""
    channels = parse_channels(body.get("channel"), _UPDATE)
    check_rate_limit(body, _UPDATE)
    rights = await rights_of(ctx, caller)
    current = await manageable(ctx, rights, "incoming", integration_id, caller["id"], method=_UPDATE)
    if current is None:
        raise MeteorError("Invalid integration", "error-invalid-integration", {"method": _UPDATE})

    document = dict(current)
    script = body.get("script")
    engine = scripts.engine_of(body, current)
    if not scripts.is_blank(script) and (
        engine != current.get("scriptEngine") or script != current.get("script")
    ):
        scripts.check_engine_on_update(ctx.settings, engine)
    frozen = scripts.is_frozen(ctx.settings, engine)
    if not frozen and body.get("scriptEnabled") is True and not scripts.is_blank(script):
        assert isinstance(script, str)
        outcome = await scripts.compiled_fields(script)
        document.pop("scriptError" if "scriptCompiled" in outcome else "scriptCompiled", None)
        document.update(outcome)

    await _check_targets(ctx, channels, caller, both=rights.manage_both("incoming"), method=_UPDATE)
    username = body["username"] if "username" in body else current.get("username")
    post_as = await targets.find_user_exact(ctx, username) if isinstance(username, str) else None
    if post_as is None:
        raise MeteorError("Invalid Post As User", "error-invalid-post-as-user", {"method": _UPDATE})
    await targets.add_bot_role(ctx, post_as)

    document["enabled"] = body.get("enabled")
    document["name"] = body.get("name")
    document["channel"] = channels
    for key in ("alias", "avatar", "emoji", "overrideDestinationChannelEnabled", "rateLimit"):
        if key in body:
            document[key] = body[key]
    if "username" in body:
        document["username"] = post_as["username"]
        document["userId"] = post_as["id"]
    if not frozen:
        for key in ("script", "scriptEnabled"):
            if key in body:
                document[key] = body[key]
        document["scriptEngine"] = engine
    return await records.save_update(ctx, caller, document)


async def delete_incoming(ctx: Ctx, caller: Row, integration_id: str) -> None:
    """`deleteIncomingIntegration`: all-incoming deletes any; own-incoming only the caller's."""
    rights = await rights_of(ctx, caller)
    current = await manageable(ctx, rights, "incoming", integration_id, caller["id"], method=_DELETE)
    if current is None:
        raise MeteorError("Invalid integration", "error-invalid-integration", {"method": _DELETE})
    await store.delete_integration(ctx.conn, integration_id)


async def find_by_id(ctx: Ctx, integration_id: Any) -> dict[str, Any] | None:
    """The REST handlers' lookup by `integrationId` (the stored type is not checked)."""
    if not isinstance(integration_id, str):
        return None
    return await store.get_integration(ctx.conn, integration_id)
