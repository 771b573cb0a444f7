"""The incoming-hook fast path: the common post in a few statements, without the general path.

Most hook traffic is the same request again and again: a CI server or a monitor posts JSON to a
hook without a script, the message goes to the integration's own channel, and the posting user
already belongs to it. That request is served here with the checks of
`runtime.incoming.execute` made in the same order on the same data (`_admit`, `_message`):

* on SQLite, by one job on `store.sqlite_batches` (one thread round trip, a commit shared with
  the requests that queued meanwhile);
* on PostgreSQL, by two reads and one self-committing statement (`store.pg_rows`), which holds
  the room's row lock only while the server runs it.

Everything else — a script, an idempotency key, a destination in the payload, several
destinations, a DM, a room to join first, a read-only or archived room, a thread reply, a
refusal whose exact answer the general path knows — is handed to `incoming.execute`, before
anything was written. The hand-over says whether the call was already counted by the rate
limiter, so it is counted once.
"""

from __future__ import annotations

import hmac
import sqlite3
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from hookhub.config import Settings
from hookhub.hub import Hub
from hookhub.runtime import incoming
from hookhub.runtime.rate_limit import RateLimiter, integration_limit
from hookhub.services import chat, outbox
from hookhub.services.documents import message_doc
from hookhub.services.errors import HookhubError
from hookhub.services.messages import message_row
from hookhub.store import pg_rows, sqlite_rows
from hookhub.store.rooms import RoomForPost
from hookhub.store.rows import Row


@dataclass(frozen=True)
class HandOver:
    """The fast path does not serve this call; nothing was written. `rate_headers` is set when
    the call was counted by the rate limiter (and holds the headers that count produced)."""

    rate_headers: dict[str, str] | None = None


@dataclass(frozen=True)
class Posted:
    """The call was served: 200 `{"success": true}` with these rate-limit headers."""

    rate_headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Admitted:
    """The call passed every check that does not need its room: the post's content and the
    room it goes to (by id or name)."""

    integration: dict[str, Any]
    user: Row
    composed: chat.Composed
    room: str
    rate_headers: dict[str, str]


def _admit(
    settings: Settings,
    limiter: RateLimiter,
    call: incoming.HookCall,
    body: dict[str, Any],
    integration: dict[str, Any] | None,
    user: Row | None,
) -> _Admitted | Posted | HandOver:
    """Steps 1-7 of webhook-runtime.md §2.4 up to the destination, on the stored integration and
    its user (pure but for the rate limiter's count)."""
    stored = integration.get("token") if integration is not None else None
    if (
        integration is None
        or integration.get("type") != incoming.INCOMING
        or not isinstance(stored, str)
        or not hmac.compare_digest(stored.encode(), call.token.encode())
        or user is None
    ):
        return HandOver()
    # raises RateLimited (with its headers) when the budget is spent: nothing is written
    rate_headers = limiter.check(
        call.url, call.method, call.client_ip, integration_limit(integration, settings.hooks_rate_limit)
    )
    counted = HandOver(rate_headers)
    if integration.get("enabled") is not True or incoming.script_applies(settings, integration, call):
        return counted
    if not body and integration.get("scriptEnabled") is not True:
        return Posted(rate_headers)
    if body.get("channel") or body.get("roomId") or body.get("separateResponse") is True:
        return counted
    payload = incoming.message_payload(integration, body)
    payload.pop("separateResponse", None)
    try:
        composed = chat.compose_post(settings.message_max_size, payload, incoming.defaults_of(integration))
    except HookhubError:
        return counted
    if len(composed.targets) != 1 or not composed.targets[0].startswith("#") or composed.tmid:
        return counted
    return _Admitted(integration, user, composed, composed.targets[0][1:], rate_headers)


def _message(admitted: _Admitted, room: RoomForPost | None, now: datetime) -> Row | HandOver:
    """The message row to store in `room`, or the hand-over when the general path must decide."""
    counted = HandOver(admitted.rate_headers)
    if room is None or not room.member or room.archived or room.read_only:
        return counted
    try:
        chat.check_trusted_fields(admitted.composed)
    except HookhubError:
        return counted
    return message_row(
        {"id": room.id},
        admitted.user,
        text=admitted.composed.text,
        now=now,
        extra=dict(admitted.composed.fields),
    )


def _post_job(
    conn: sqlite3.Connection,
    *,
    settings: Settings,
    limiter: RateLimiter,
    clock: Callable[[], datetime],
    call: incoming.HookCall,
    body: dict[str, Any],
) -> Posted | HandOver:
    """The SQLite post (runs on the writer thread, inside a savepoint: raising rolls back
    whatever it wrote)."""
    integration = sqlite_rows.integration_doc(conn, call.integration_id)
    user_id = integration.get("userId") if integration is not None else None
    user = sqlite_rows.user_by_id(conn, user_id) if isinstance(user_id, str) else None
    admitted = _admit(settings, limiter, call, body, integration, user)
    if not isinstance(admitted, _Admitted):
        return admitted
    now = clock()
    row = _message(admitted, sqlite_rows.room_for_post(conn, admitted.room, admitted.user["id"]), now)
    if isinstance(row, HandOver):
        return row
    sqlite_rows.insert_message(conn, row)
    room_after = sqlite_rows.bump_message_count(conn, row["rid"], message_doc(row), now)
    if room_after is None:  # cannot happen: the room was read in this transaction
        raise LookupError(f"room {row['rid']} vanished inside a write transaction")
    sqlite_rows.append_event(
        conn,
        type=outbox.MESSAGE_SENT,
        payload=outbox.event_payload(room=room_after, message=row, actor=admitted.user),
        created_at=now,
        room_id=row["rid"],
        user_id=outbox.subject_id(None, admitted.user),
        message_id=row["id"],
    )
    return Posted(admitted.rate_headers)


async def _post_postgresql(
    hub: Hub, limiter: RateLimiter, call: incoming.HookCall, body: dict[str, Any]
) -> Posted | HandOver:
    """The PostgreSQL post: two reads, then one self-committing statement (`store.pg_rows`)."""
    async with hub.db.driver_connection() as conn:
        integration, user = await pg_rows.integration_and_user(conn, call.integration_id)
        admitted = _admit(hub.settings, limiter, call, body, integration, user)
        if not isinstance(admitted, _Admitted):
            return admitted
        found = await pg_rows.room_for_post(conn, admitted.room, admitted.user["id"])
        now = hub.clock()
        row = _message(admitted, found[0] if found is not None else None, now)
        if isinstance(row, HandOver):
            return row
        assert found is not None
        last_message = message_doc(row)
        # the room as the post leaves it; its message count is the statement's to fill in
        room_after = dict(found[1], lm=now, last_message=last_message, updated_at=now, msgs=0)
        payload = outbox.event_payload(room=room_after, message=row, actor=admitted.user)
        written = await pg_rows.post_message(
            conn,
            message=row,
            last_message=last_message,
            when=now,
            event_type=outbox.MESSAGE_SENT,
            event_user_id=outbox.subject_id(None, admitted.user),
            payload=pg_rows.EventPayload(pg_rows.EVENTS.encode("payload", payload)),
        )
    # the room was deleted, archived or made read-only, or the poster left it, since it was read:
    # nothing was written, the general path answers
    return Posted(admitted.rate_headers) if written is not None else HandOver(admitted.rate_headers)


async def execute(
    hub: Hub, limiter: RateLimiter, call: incoming.HookCall, headers: MutableMapping[str, str]
) -> incoming.HookAnswer:
    """Serve one hook call: on the fast path when it applies, else through `incoming.execute`.
    Same contract as `incoming.execute`."""
    writer = hub.db.batch_writer
    if (
        (writer is None and not hub.db.is_postgresql)
        or call.method != "POST"
        or incoming.key_hash(call.idempotency_key) is not None
    ):
        return await incoming.execute(hub, limiter, call, headers)
    parsed = incoming.parse_body(call.content_type, call.raw_body)
    if parsed.error is not None:
        return await incoming.execute(hub, limiter, call, headers)
    if writer is not None:
        job = partial(
            _post_job, settings=hub.settings, limiter=limiter, clock=hub.clock, call=call, body=parsed.body
        )
        outcome = await writer.run(job)
    else:
        outcome = await _post_postgresql(hub, limiter, call, parsed.body)
    if isinstance(outcome, Posted):
        hub.committed()
        headers.update(outcome.rate_headers)
        return incoming.HookAnswer(200, {"success": True})
    if outcome.rate_headers is None:
        return await incoming.execute(hub, limiter, call, headers)
    headers.update(outcome.rate_headers)
    return await incoming.execute(hub, limiter, call, headers, counted=True)
