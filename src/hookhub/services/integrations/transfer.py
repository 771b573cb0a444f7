"""Moving integrations between servers: the versioned export format and the import rules
(`hookhub integrations export | import`, issue #10).

The file is `{"format": "hookhub-integrations", "version": 1, "exportedAt": ISO, "integrations":
[document, ...]}`, each document as `integrations.get` answers it (so `integrations.get` of a
running Rocket.Chat-compatible server gives importable documents too).

An import keeps each integration's `_id` and `token`, so hook URLs (`/hooks/<_id>/<token>`) keep
working on the new server. It is idempotent: an `_id` already present with the same settings is
left alone ("unchanged"), present with other settings is updated, absent is created. The post-as
user, the owner (`_createdBy`) and the channels are looked up on this server by name (their ids
differ between servers); an integration whose user, owner or channel is missing here is skipped
with the reason, as is one the create rules of the integration services refuse (a script that
does not compile, a frozen script engine, bad URLs...). The whole file is checked before anything
is written, and the writes are one transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard

from hookhub.ids import iso, parse_iso
from hookhub.runtime.signing import new_secret
from hookhub.services.context import Ctx
from hookhub.services.errors import HookhubError
from hookhub.services.integrations import incoming, outgoing, scripts, targets
from hookhub.services.integrations.permissions import INCOMING, OUTGOING, Rights
from hookhub.store import integrations as store
from hookhub.store.rows import Row

FORMAT = "hookhub-integrations"
VERSION = 1

# Runtime state and values derived on this server, never taken from a file: the compiled script
# (recompiled here: it is what the sandbox runs, so it must be the checked `script`), the last
# script logs, and the write stamps.
_DERIVED = frozenset({"scriptCompiled", "scriptError", "lastExecutionLogs", "_updatedAt", "_updatedBy"})
# Left out of an export: the last script logs are runtime state (and may hold anything a script printed).
_NOT_EXPORTED = frozenset({"lastExecutionLogs"})
# The importer acts with every integration permission; its id matches no user.
_IMPORTER: Row = {"id": "hookhub-cli", "username": None, "roles": ["admin"], "type": "user", "active": True}
_ALL_RIGHTS = Rights(all_incoming=True, own_incoming=True, all_outgoing=True, own_outgoing=True)
_ID_MAX = 64

Action = Literal["created", "updated", "unchanged", "skipped"]


class TransferError(Exception):
    """A file (or server answer) that cannot be imported at all; the message is one line."""


@dataclass(frozen=True)
class Outcome:
    """What the import did (or would do) with one integration."""

    integration_id: str
    type: str
    name: str | None
    action: Action
    reason: str | None = None


@dataclass(frozen=True)
class ImportReport:
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, action: Action) -> int:
        return sum(1 for o in self.outcomes if o.action == action)

    @property
    def problems(self) -> list[Outcome]:
        """The integrations skipped for a reason (not the unchanged ones)."""
        return [o for o in self.outcomes if o.action == "skipped"]

    def summary(self) -> str:
        created, updated = self.count("created"), self.count("updated")
        unchanged, skipped = self.count("unchanged"), self.count("skipped")
        return (
            f"{created} created, {updated} updated, {unchanged + skipped} skipped "
            f"({unchanged} unchanged, {skipped} not importable)"
        )


# -- export ----------------------------------------------------------------------------------------


async def export_document(ctx: Ctx) -> dict[str, Any]:
    """Every integration, oldest first, in the export format."""
    docs, _total = await store.list_integrations(ctx.conn, where=[])
    return {
        "format": FORMAT,
        "version": VERSION,
        "exportedAt": iso(ctx.now()),
        "integrations": [{k: v for k, v in d.items() if k not in _NOT_EXPORTED} for d in docs],
    }


# -- reading a file --------------------------------------------------------------------------------


def parse_export(text: str) -> list[dict[str, Any]]:
    """The checked integration documents of an export file; TransferError when it is not one."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        detail = f"{exc.msg} at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise TransferError(f"is not JSON ({detail})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise TransferError(f'is not a hookhub integrations export (no "format": "{FORMAT}")')
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise TransferError(
            f"has an unknown format version {json.dumps(version)} (this version reads version {VERSION})"
        )
    if version > VERSION:
        raise TransferError(
            f"was written by a newer hookhub (format version {version}); this version reads version {VERSION}"
        )
    entries = data.get("integrations")
    if not isinstance(entries, list):
        raise TransferError('has no "integrations" array')
    return check_entries(entries)


def check_entries(entries: list[Any]) -> list[dict[str, Any]]:
    """Every entry must be an integration document with what an import relies on; the first
    that is not is named (1-based) with the reason. `_id`s must be unique."""
    seen: set[str] = set()
    for number, entry in enumerate(entries, start=1):
        problem = _shape_problem(entry)
        if problem is None and entry["_id"] in seen:
            problem = "the same _id appears twice"
        if problem is not None:
            ident = entry.get("_id") if isinstance(entry, dict) else None
            label = f"integration {number}" + (f" (_id {ident!r})" if isinstance(ident, str) else "")
            raise TransferError(f"has a malformed {label}: {problem}")
        seen.add(entry["_id"])
    return list(entries)


def _is_text(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value.strip())


def _is_strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _shape_problem(entry: Any) -> str | None:
    """Why `entry` is not an importable integration document (None: it is)."""
    if not isinstance(entry, dict):
        return "not a JSON object"
    ident = entry.get("_id")
    if not _is_text(ident) or len(ident) > _ID_MAX or any(c in ident for c in "/?# \t\r\n"):
        return f"_id must be a string of 1 to {_ID_MAX} characters without '/', '?', '#' or spaces"
    kind = entry.get("type")
    if kind not in (INCOMING, OUTGOING):
        return f"type must be {INCOMING!r} or {OUTGOING!r}, not {json.dumps(kind)}"
    if not _is_text(entry.get("username")):
        return "username (the post-as user) must be a non-empty string"
    if kind == INCOMING:
        if not _is_strings(entry.get("channel")):
            return "channel must be an array of strings"
        token = entry.get("token")
        if not _is_text(token) or "/" in token:
            return "token must be a non-empty string without '/'"
    else:
        if "channel" in entry and not _is_strings(entry["channel"]):
            return "channel must be an array of strings"
        if not isinstance(entry.get("event"), str):
            return "event must be a string"
        if not _is_strings(entry.get("urls")):
            return "urls must be an array of strings"
        if "token" in entry and not isinstance(entry["token"], str | None):
            return "token must be a string"
    for key in ("name", "script", "scriptEngine", "alias", "avatar", "emoji", "signingSecret"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            return f"{key} must be a string"
    for key in ("enabled", "scriptEnabled"):
        if entry.get(key) is not None and not isinstance(entry[key], bool):
            return f"{key} must be true or false"
    if entry.get("triggerWords") is not None and not _is_strings(entry["triggerWords"]):
        return "triggerWords must be an array of strings"
    created_at = entry.get("_createdAt")
    if created_at is not None and not _is_date(created_at):
        return "_createdAt must be an ISO-8601 date"
    owner = entry.get("_createdBy")
    if owner is not None and not (isinstance(owner, dict) and isinstance(owner.get("username"), str | None)):
        return "_createdBy must be an object with a username"
    return None


def _is_date(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse_iso(value)
    except ValueError:
        return False
    return True


# -- importing -------------------------------------------------------------------------------------


class _Skip(Exception):
    """This integration cannot be imported here; the message says why."""


@dataclass
class _Planned:
    outcome: Outcome
    document: dict[str, Any] | None = None  # what to write (created/updated)
    post_as: Row | None = None


async def import_integrations(ctx: Ctx, entries: list[dict[str, Any]], *, write: bool = True) -> ImportReport:
    """Import checked documents (`check_entries`) in `ctx`'s transaction: every one is planned
    (looked up and validated) before the first write. `write=False`: plan and report only."""
    existing = await store.get_integrations(ctx.conn, [e["_id"] for e in entries])
    planned = [await _plan(ctx, entry, existing.get(entry["_id"])) for entry in entries]
    if write:
        for plan in planned:
            if plan.document is None:
                continue
            if plan.post_as is not None:
                await targets.add_bot_role(ctx, plan.post_as)
            if plan.outcome.action == "created":
                await store.insert_integration(ctx.conn, plan.document)
            else:
                await store.replace_integration(ctx.conn, plan.document)
    return ImportReport([plan.outcome for plan in planned])


async def _plan(ctx: Ctx, entry: dict[str, Any], current: dict[str, Any] | None) -> _Planned:
    name = entry.get("name") if isinstance(entry.get("name"), str) else None

    def outcome(action: Action, reason: str | None = None) -> Outcome:
        return Outcome(entry["_id"], entry["type"], name, action, reason)

    if current is not None and current.get("type") != entry["type"]:
        reason = f"an integration with this _id exists here as {current.get('type')}"
        return _Planned(outcome("skipped", reason))
    try:
        document, post_as = await _document_for(ctx, entry)
    except _Skip as exc:
        return _Planned(outcome("skipped", str(exc)))
    except HookhubError as exc:
        return _Planned(outcome("skipped", _error_text(exc)))

    now = iso(ctx.now())
    if current is None:
        if document["type"] == OUTGOING:
            document.setdefault("signingSecret", new_secret())
        document["_updatedAt"] = now
        return _Planned(outcome("created"), document, post_as)
    if document["type"] == OUTGOING:
        # a file from a server without signing secrets keeps the one receivers here verify with
        document.setdefault("signingSecret", current.get("signingSecret") or new_secret())
    if _comparable(document) == _comparable(current):
        return _Planned(outcome("unchanged"))
    if "lastExecutionLogs" in current:
        document["lastExecutionLogs"] = current["lastExecutionLogs"]
    # a new `_updatedAt` also makes running servers reload the script (the sandbox's version key)
    document["_updatedAt"] = now
    return _Planned(outcome("updated"), document, post_as)


def _error_text(exc: HookhubError) -> str:
    body = exc.body()
    return str(body.get("error") or exc)


def _comparable(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in _DERIVED and v is not None}


async def _document_for(ctx: Ctx, entry: dict[str, Any]) -> tuple[dict[str, Any], Row]:
    """The document to store for `entry` on this server (users and channels resolved here, the
    script checked and compiled), and its post-as user. Raises _Skip / HookhubError."""
    username = entry["username"]
    post_as = await targets.find_user_exact(ctx, username)
    if post_as is None:
        raise _Skip(f"post-as user {username!r} does not exist here")
    owner = await _owner(ctx, entry.get("_createdBy"))
    channels = [item.strip() for item in entry.get("channel") or [] if item.strip()]
    for item in channels:
        if item.lower() in outgoing.SCOPED_CHANNELS and entry["type"] == OUTGOING:
            continue
        if targets.starts_with_prefix(item) and await targets.target_id(ctx, item) is None:
            what = "channel" if item.startswith("#") else "user"
            raise _Skip(f"{what} {item!r} does not exist here")

    source = {k: v for k, v in entry.items() if k in store.INTEGRATION_KEYS and k not in _DERIVED}
    if entry["type"] == INCOMING:
        document = await _incoming_document(ctx, source, channels, post_as)
    else:
        document = await _outgoing_document(ctx, source, channels)
    document["_id"] = entry["_id"]
    created_at = entry.get("_createdAt")
    document["_createdAt"] = iso(parse_iso(created_at)) if created_at else iso(ctx.now())
    if owner is not None:
        document["_createdBy"] = owner
    else:
        document.pop("_createdBy", None)
    if "scriptError" in document:
        error = document["scriptError"]
        raise _Skip(f"the script does not compile: {error.get('name')}: {error.get('message')}")
    return {k: v for k, v in document.items() if v is not None}, post_as


async def _owner(ctx: Ctx, created_by: Any) -> dict[str, Any] | None:
    """`_createdBy` on this server: the user of the same username (None: the file has no owner)."""
    if not isinstance(created_by, dict) or not isinstance(created_by.get("username"), str):
        return None
    user = await targets.find_user_exact(ctx, created_by["username"])
    if user is None:
        raise _Skip(f"owner {created_by['username']!r} does not exist here")
    return {"_id": user["id"], "username": user["username"]}


async def _incoming_document(
    ctx: Ctx, source: dict[str, Any], channels: list[str], post_as: Row
) -> dict[str, Any]:
    """`addIncomingIntegration`'s rules (services.integrations.incoming), keeping the token."""
    method = "addIncomingIntegration"
    parsed = incoming.parse_channels(",".join(channels), method)
    incoming.check_rate_limit(source, method)
    script = source.get("script")
    engine = scripts.engine_of(source)
    if not scripts.is_blank(script):
        scripts.check_engine_on_create(ctx.settings, engine)
    document = dict(source)
    document.update(
        scriptEngine=engine,
        channel=parsed,
        overrideDestinationChannelEnabled=source.get("overrideDestinationChannelEnabled") or False,
        userId=post_as["id"],
    )
    if scripts.wants_compilation(ctx.settings, engine, source.get("scriptEnabled"), script):
        assert isinstance(script, str)
        document.update(await scripts.compiled_fields(script))
    return document


async def _outgoing_document(ctx: Ctx, source: dict[str, Any], channels: list[str]) -> dict[str, Any]:
    """`addOutgoingIntegration`'s rules (`validate_outgoing`), keeping the token and signing secret."""
    if not scripts.is_blank(source.get("script")):
        scripts.check_engine_on_create(ctx.settings, scripts.engine_of(source))
    body = {**source, "channel": ",".join(channels)}
    record = await outgoing.validate_outgoing(ctx, _IMPORTER, body, _ALL_RIGHTS)
    if isinstance(source.get("signingSecret"), str) and source["signingSecret"]:
        record["signingSecret"] = source["signingSecret"]
    return record
