"""The delivery history of outgoing integrations: `integrations.history`,
`integrations.clearHistory` and `integrations.replayOutgoing` (rest-integrations.md §3, §9, §10.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hookhub.services.context import Ctx
from hookhub.services.errors import Failure, MeteorError, PermissionRequired
from hookhub.services.integrations.listing import ListRequest
from hookhub.services.integrations.permissions import OUTGOING, history_filter, manageable, rights_of
from hookhub.services.list_query import compile_list_params
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


async def replay_outgoing(ctx: Ctx, user: Row, integration_id: str, history_id: str) -> None:
    """`integrations.replayOutgoing`: validates the request completely, then refuses with
    `error-not-available` because the outgoing delivery runtime does not exist yet."""
    await check_replay(ctx, user, integration_id, history_id)
    raise MeteorError("Replaying outgoing webhooks is not available yet", "error-not-available")
