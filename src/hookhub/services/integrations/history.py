"""The delivery history of outgoing integrations: `integrations.history`,
`integrations.clearHistory` and `integrations.replayOutgoing` (rest-integrations.md §3, §9, §10.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hookhub.runtime import history_records
from hookhub.runtime.outgoing_payloads import PayloadError, build_data
from hookhub.services.context import Ctx
from hookhub.services.documents import message_doc, room_doc, user_doc
from hookhub.services.errors import Failure, MeteorError, PermissionRequired
from hookhub.services.integrations.listing import ListRequest
from hookhub.services.integrations.permissions import OUTGOING, history_filter, manageable, rights_of
from hookhub.services.list_query import compile_list_params
from hookhub.store import deliveries, messages, rooms, users
from hookhub.store import integrations as store
from hookhub.store.rows import Row

CLEAR_METHOD = "clearIntegrationHistory"
REPLAY_METHOD = "replayOutgoingIntegration"


@dataclass(frozen=True)
class HistoryPage:
    """One page of (projected) history entries and the number of all matches."""

    history: list[dict[str, Any]]
    total: int


async def list_history(ctx: Ctx, user: Row, integration_id: str, request: ListRequest) -> HistoryPage:
    """`integrations.history`: the caller must manage outgoing integrations (all or own; the
    incoming permissions do not count). Own-only callers see only entries of integrations they
    created. The integration need not exist: an unknown id is an empty page. Newest first."""
    rights = await rights_of(ctx, user)
    if not (rights.all_outgoing or rights.own_outgoing):
        raise PermissionRequired()
    if not integration_id.strip():
        raise Failure("Invalid integration id.")
    params = compile_list_params(store.HISTORY, sort=request.sort, fields=request.fields, query=request.query)
    where = [*history_filter(rights, str(user["id"]), integration_id), *params.where]
    docs, total = await store.list_history(
        ctx.conn, where=where, order_by=params.order_by, offset=request.offset, limit=request.limit
    )
    return HistoryPage([params.project(d) for d in docs], total)


def _invalid_integration(method: str) -> MeteorError:
    return MeteorError("Invalid integration", "error-invalid-integration", {"method": method})


async def clear_history(ctx: Ctx, user: Row, integration_id: str) -> int:
    """`integrations.clearHistory`: delete every history entry of the integration; returns how
    many. Without either outgoing permission: `not_authorized`; unknown (or, for own-only
    callers, someone else's) integration: `error-invalid-integration`."""
    rights = await rights_of(ctx, user)
    integration = await manageable(
        ctx, rights, "outgoing", integration_id, str(user["id"]), method=CLEAR_METHOD
    )
    if integration is None:
        raise _invalid_integration(CLEAR_METHOD)
    return await store.clear_history(ctx.conn, integration_id)


async def check_replay(
    ctx: Ctx, user: Row, integration_id: str, history_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every check `integrations.replayOutgoing` makes before it re-sends a recorded delivery;
    returns the integration and the history entry to replay.

    Rocket.Chat's method falls through to `error-invalid-integration` for a caller with neither
    outgoing permission, but its own tests expect `not_authorized`; we answer `not_authorized`
    (rest-integrations.md §16.5). An own-only caller's match must be an outgoing integration."""
    rights = await rights_of(ctx, user)
    integration = await manageable(
        ctx, rights, "outgoing", integration_id, str(user["id"]), method=REPLAY_METHOD
    )
    if integration is not None and not rights.all_outgoing and "event" not in integration:
        integration = None
    if integration is None:
        raise _invalid_integration(REPLAY_METHOD)
    history = await store.get_history(ctx.conn, integration["_id"], history_id)
    if history is None:
        raise MeteorError(
            "Invalid Integration History", "error-invalid-integration-history", {"method": REPLAY_METHOD}
        )
    if integration.get("type") != OUTGOING:
        raise MeteorError(
            "The integration type to replay must be an outgoing webhook.", "integration-type-must-be-outgoing"
        )
    if not history.get("data"):
        raise MeteorError(
            "The history data must be defined to replay an integration.", "history-data-must-be-defined"
        )
    return integration, history


async def _replay_snapshot(ctx: Ctx, event: str, data: dict[str, Any]) -> dict[str, Any]:
    """The documents a replayed event carries, re-read from the database as they are now
    (§3.12: room by `channel_id`, message by `message_id`, user by `user_id`, owner by
    `owner._id`), in the shape of an outbox event's snapshot."""
    snapshot: dict[str, Any] = {}
    room_id = data.get("channel_id")
    if isinstance(room_id, str) and (room := await rooms.get_room(ctx.conn, room_id)) is not None:
        snapshot["room"] = room_doc(room)
    message_id = data.get("message_id")
    if (
        isinstance(message_id, str)
        and (message := await messages.get_message(ctx.conn, message_id)) is not None
    ):
        snapshot["message"] = message_doc(message)
    owner = data.get("owner")
    subject_id = (
        owner.get("_id") if event == "roomCreated" and isinstance(owner, dict) else data.get("user_id")
    )
    if isinstance(subject_id, str) and (subject := await users.get_by_id(ctx.conn, subject_id)) is not None:
        snapshot["actor" if event in ("sendMessage", "fileUploaded") else "user"] = user_doc(
            subject, full=True
        )
    return snapshot


def _recorded_url(recorded: Any, integration: Row) -> str | None:
    """The URL a record was sent to. History masks a URL's password, so a masked one is matched
    with the integration's URLs as they are now (None: no URL, or it is no longer configured)."""
    if not isinstance(recorded, str) or not recorded:
        return None
    if history_records.REDACTED not in recorded:
        return recorded
    for url in integration.get("urls") or ():
        if isinstance(url, str) and history_records.redacted_url(url) == recorded:
            return url
    return None


async def replay_outgoing(ctx: Ctx, user: Row, integration_id: str, history_id: str) -> bool:
    """`integrations.replayOutgoing`: queue the recorded event again for the recorded (final)
    URL, as a new delivery with its own history record (§3.12). The documents are re-read; the
    worker re-checks the trigger words against the message as it is now and does nothing for a
    disabled integration. Nothing is queued when the record never reached `pre-http-call` (no
    `url`) or a document the event needs is gone. Returns whether a delivery was queued."""
    integration, history = await check_replay(ctx, user, integration_id, history_id)
    url = _recorded_url(history.get("url"), integration)
    event = history.get("event") or integration.get("event")
    if url is None or not isinstance(event, str):
        return False
    snapshot = await _replay_snapshot(ctx, event, history["data"])
    try:
        build_data(
            event, snapshot, integration, trigger_word=None, site_url=ctx.settings.site_url, now=ctx.now()
        )
    except PayloadError:
        return False
    now = ctx.now()
    inserted = await deliveries.enqueue(
        ctx.conn,
        [
            {
                "dedupe_key": deliveries.replay_dedupe_key(),
                "replay_of": history["_id"],
                "integration_id": integration["_id"],
                "url": url,
                "event": event,
                "payload": deliveries.delivery_payload(event, snapshot),
                "created_at": now,
            }
        ],
    )
    return inserted == 1
