"""The outgoing-webhook engine (issue #5): turns outbox events into durable deliveries and sends them.

Three background loops share one `OutgoingEngine`:

* the **consumer** claims unprocessed outbox events in one write transaction, selects the enabled
  `webhook-outgoing` integrations each event fires (`runtime.matching`), enqueues one delivery per
  (integration, URL) and marks the events processed, all or nothing;
* the **worker** leases due deliveries (`store.deliveries.claim_due`) up to the concurrency limit and
  runs one attempt per delivery (webhook-runtime.md §3.4 steps 1-13, §3.8, §3.11), recording the
  history of §5 on the way;
* a **lease renewer** extends the leases of attempts that run long (slow receivers, scripts);
* **retention** prunes old history and finished deliveries every few minutes.

Transactions. SQLite has a single writer, so no write transaction is ever held across an HTTP call
or a script call: an attempt writes (1) in the claim transaction, everything up to `pre-http-call`
when the integration has no script, (2) around a prepare script, its outcome, and (3) after the
response, the history, the reply message and the delivery's outcome together. The last one is
what makes delivery at-least-once: a crash before it commits leaves the delivery leased, the lease
runs out and the request is sent again with the same `webhook-id`; the reply is posted in the same
transaction that completes the delivery, so it is never posted twice for one attempt. The writes
of (2) and (3) that queue up meanwhile share one transaction (group commit, `_checkpoint`), the
ones that post a message each in its own savepoint. Every
outcome is conditional on still holding the lease (`complete`/`reschedule` return False
otherwise); an attempt that lost its lease (its integration was disabled meanwhile, or it stalled
beyond the lease) records its history but posts nothing.

History steps are applied in memory one by one (`history_records.apply_step`) and the record is
written at those three points, so the stored document is the same as with one write per step.

Loop breaker. An integration never fires on a message it posted itself (`matching.matches`). Reply
chains between integrations are bounded: a reply posted for a delivery of depth d is stored with
depth d+1 (kept out of the message document, which stays `bot: {i: <integration id>}`; the outbox
event carries it as `replyDepth`); a message of depth d fires deliveries of depth d, and one deeper
than `outgoing_max_depth` is not delivered but recorded as a history step `loop-depth-exceeded`.

Deliveries store `payload = {"eventId", "eventType", "snapshot"}`: `eventType` is the outbox event
type (`messageSent`, ...) or, for a replay, the integration event name (`sendMessage`, ...);
`snapshot` holds the event's documents (`room`, `user`, `message`, `actor`, as the outbox records
them). See `store.deliveries.delivery_payload`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from hookhub import metrics
from hookhub.hub import Hub
from hookhub.ids import iso, random_id
from hookhub.runtime import history_records, matching, outgoing_rules, signing
from hookhub.runtime.egress import EgressClient, EgressError, EgressRefused, EgressResponse
from hookhub.runtime.incoming import defaults_of
from hookhub.runtime.outgoing_payloads import (
    HttpRequest,
    PayloadError,
    RequestInvalid,
    build_data,
    default_request,
    http_request,
)
from hookhub.runtime.outgoing_rules import (
    PREPARE_METHOD,
    PROCESS_METHOD,
    RetryPlan,
    ScriptVerdict,
)
from hookhub.runtime.sandbox import script_runs
from hookhub.services import chat
from hookhub.services.context import Ctx
from hookhub.services.documents import message_doc
from hookhub.services.errors import HookhubError, MeteorError
from hookhub.store import deliveries, events, history_retention, sqlite_deliveries, sqlite_rows
from hookhub.store import integrations as integration_store
from hookhub.store import users as user_store
from hookhub.store.rows import Row

log = logging.getLogger(__name__)

# The step recorded when a reply chain is deeper than `outgoing_max_depth` (hookhub, beyond
# Rocket.Chat).
LOOP_DEPTH_EXCEEDED = "loop-depth-exceeded"

LEASE_SECONDS = 60.0
# Set in the engine's own tasks: commits made there do not wake the engine (see _wake_on_commit).
_IN_ENGINE: ContextVar[bool] = ContextVar("hookhub_in_outgoing_engine", default=False)
EVENT_BATCH = 200
# Deletions per retention transaction, so pruning never holds the write lock for long.
PRUNE_BATCH = 1000
# Finished deliveries are kept this long (they show what happened to a webhook-id).
FINISHED_DELIVERY_TTL = timedelta(days=1)
# How long `stop()` lets running attempts finish before abandoning them to their leases.
STOP_GRACE_SECONDS = 25.0
# Attempts running at most (calling, or writing their outcome), as a multiple of the concurrency.
OUTSTANDING_FACTOR = 4
# Checkpoints written in one transaction at most.
WRITE_BATCH = 32
# Least time between two consumer transactions (see _consumer_loop): under a burst of posts the
# consumer takes the write lock at most 20 times a second, each time for every event so far.
COALESCE_SECONDS = 0.05
# With no outgoing integration, events are only stamped as consumed, this often.
STAMP_SECONDS = 1.0
# Events stamped per job (SQLite): a few hundred row updates hold the write lock ~1 ms.
STAMP_CHUNK = 256
# Longest sleep of a loop with nothing signalled: a safety net for work nobody woke us for.
POLL_SECONDS = 1.0
RETENTION_SECONDS = 600.0
# A last_error column value is a hint for operators, not a log.
_LAST_ERROR_MAX = 500


def event_depth(event_payload: Mapping[str, Any]) -> int:
    """How many webhook replies led to the event's message: 0 for anything a person or an
    incoming hook posted, d+1 for a reply to a delivery of depth d (`services.outbox` copies the
    stored depth into the event as `replyDepth`)."""
    depth = event_payload.get("replyDepth")
    return depth if isinstance(depth, int) and not isinstance(depth, bool) and depth > 0 else 0


def _short(text: str) -> str:
    return text if len(text) <= _LAST_ERROR_MAX else text[: _LAST_ERROR_MAX - 1] + "…"


def _http_error(name: str, message: str) -> dict[str, str]:
    # Rocket.Chat stores the thrown error object; its serialised form shows name and message.
    return {"name": name, "message": message}


def _response_headers(response: EgressResponse) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in response.headers:
        key = name.lower()
        # Repeated headers are joined as fetch's Headers object joins them.
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


@dataclass
class _Attempt:
    """One attempt at one delivery, from its claim to its outcome."""

    delivery: Row
    integration: dict[str, Any]
    event_type: str
    snapshot: dict[str, Any]
    trigger_word: str | None
    record: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)
    # Set when the prepare stage still has to run (the integration has a script).
    needs_prepare: bool = False
    request: HttpRequest | None = None
    started: float = field(default_factory=time.monotonic)
    lost: bool = False
    # A message was posted: its outbox event is waiting for the consumer.
    posted: bool = False
    # The HTTP call is over (answered or failed): the attempt no longer counts against the
    # concurrency limit (see OutgoingEngine._free_slots).
    answered: bool = False

    @property
    def id(self) -> str:
        return str(self.delivery["id"])

    @property
    def tries(self) -> int:
        return int(self.delivery["tries"])

    @property
    def depth(self) -> int:
        return int(self.delivery["depth"] or 0)


@dataclass
class _Write:
    """A queued checkpoint (see `OutgoingEngine._checkpoint`): exactly one of `plain` (effects that
    only move the record on) and `posting` (effects that post messages through the chat path)."""

    attempt: _Attempt
    plain: Callable[[], _Outcome | None] | None
    posting: Callable[[Ctx], Awaitable[_Outcome | None]] | None
    future: asyncio.Future[bool]


@dataclass
class _PlainWrites:
    """The plain checkpoints of one write batch, their effects applied: records to store,
    attempts that carry on (their lease is checked and renewed) and attempts that ended."""

    records: list[dict[str, Any]] = field(default_factory=list)
    carry_on: list[_Attempt] = field(default_factory=list)
    ended: list[tuple[_Attempt, _Outcome]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.records or self.carry_on or self.ended)


@dataclass(frozen=True)
class _Outcome:
    """How a delivery ends this attempt: `status` (done/failed/cancelled), or a retry at `retry_at`
    as attempt `next_tries`."""

    status: str | None = None
    retry_at: datetime | None = None
    next_tries: int | None = None
    last_error: str | None = None
    disable: bool = False


_DONE = _Outcome(status=deliveries.DONE)


@dataclass(frozen=True)
class _Ending:
    """A delivery that ended when its attempt was being started (see `OutgoingEngine._begin`)."""

    delivery_id: str
    status: str
    history_id: str | None = None
    attempt: int = 1  # the attempt that ended (1 = the first), for metrics


@dataclass
class _Begun:
    """What starting a claim's deliveries produced: the attempts to run, the history records to
    insert, and the deliveries that ended there."""

    attempts: list[_Attempt] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    endings: list[_Ending] = field(default_factory=list)


@dataclass
class _Planned:
    """The delivery rows a batch of outbox events makes, and the history records of the ones the
    loop breaker stopped."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Consumed:
    """What one consume did: `listening` is False when no outgoing integration is enabled (nothing
    was read)."""

    events: int = 0
    enqueued: int = 0
    # enqueued for the worker to claim (no free slot)
    queued: int = 0
    started: list[_Attempt] = field(default_factory=list)
    listening: bool = True


class OutgoingEngine:
    """The outgoing-webhook runtime of one process: `await start()`, `wake()` whenever new outbox
    events may exist, `await stop()` on shutdown.

    `egress`: the HTTP client for deliveries (default: the hub's, which the hub closes);
    `clock`: defaults to the hub's.
    """

    def __init__(
        self,
        hub: Hub,
        *,
        egress: EgressClient | None = None,
        clock: Callable[[], datetime] | None = None,
        poll_seconds: float = POLL_SECONDS,
        retention_seconds: float = RETENTION_SECONDS,
        lease_seconds: float = LEASE_SECONDS,
        stop_grace_seconds: float = STOP_GRACE_SECONDS,
    ) -> None:
        self.hub = hub
        self._egress = egress
        self._clock = clock or hub.clock
        self._poll = poll_seconds
        self._retention_every = retention_seconds
        self._lease = lease_seconds
        self._stop_grace = stop_grace_seconds
        # Unique per engine: a restarted process must not mistake an old lease for its own.
        self.owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{random_id(8)}"
        self._events_signal = asyncio.Event()
        self._work_signal = asyncio.Event()
        self._stopping = False
        self._loops: list[asyncio.Task[None]] = []
        self._inflight: dict[str, _Attempt] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._concurrency = 1
        self._writes: list[_Write] = []
        self._writer: asyncio.Task[None] | None = None
        self._claim_min = 1
        # Worker slots the consumer is about to fill with deliveries it starts itself.
        self._reserved = 0
        # Running attempts past their HTTP call, writing their outcome (see _free_slots).
        self._answered = 0
        # Whether due deliveries may be waiting for a claim (rows queued because no slot was
        # free, a replay, rows left from before the start), bumped with a generation so that a
        # claim that found nothing does not clear a hint given while it ran. Finished attempts
        # wake the worker only then: otherwise every answer would cost an empty claim.
        self._backlog = True
        self._backlog_generation = 0
        self._unlisten: Callable[[], None] | None = None
        # Whether the last consume found an enabled outgoing integration (see _consumer_loop).
        self._listening = True

    # ---- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the consumer, worker, lease-renewal and retention loops."""
        if self._loops:
            return
        self._stopping = False
        self._concurrency = max(1, self.hub.settings.outgoing_concurrency)
        self._claim_min = max(1, self._concurrency // 4)
        if self._egress is None:
            self._egress = self.hub.egress
        # every committed write may have written outbox events or deliveries (a replay)
        self._unlisten = self.hub.on_commit(self._wake_on_commit)
        self._loops = [
            asyncio.create_task(self._consumer_loop(), name="hookhub-outgoing-consumer"),
            asyncio.create_task(self._worker_loop(), name="hookhub-outgoing-worker"),
            asyncio.create_task(self._renewal_loop(), name="hookhub-outgoing-leases"),
            asyncio.create_task(self._retention_loop(), name="hookhub-outgoing-retention"),
        ]

    def loops_down(self) -> list[str]:
        """The engine's loops that are not running: all of them (as "not started") before `start`
        and after `stop`, else those that ended (a crashed loop ends; a healthy one never does)."""
        if not self._loops:
            return ["not started"]
        return [task.get_name() for task in self._loops if task.done()]

    async def stop(self) -> None:
        """Stop claiming work, let running attempts finish (up to a grace period; ones still
        running then are cancelled and keep their lease, so another worker retries them after it
        runs out)."""
        self._stopping = True
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        self._events_signal.set()
        self._work_signal.set()
        loops, self._loops = self._loops, []
        # The consumer and the worker finish the transaction they are in and see the flag; the
        # renewal and retention loops only sleep and can be cancelled at once.
        graceful, sleepers = loops[:2], loops[2:]
        for task in sleepers:
            task.cancel()
        if graceful:
            _, stuck = await asyncio.wait(graceful, timeout=self._stop_grace)
            for task in stuck:
                task.cancel()
        for task in loops:
            with suppress(asyncio.CancelledError):
                await task
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=self._stop_grace)
            for task in pending:
                task.cancel()
            for task in pending:
                with suppress(asyncio.CancelledError):
                    await task
        writer = self._writer
        if writer is not None and not writer.done():
            with suppress(Exception):
                await asyncio.wait_for(asyncio.shield(writer), self._stop_grace)

    def _wake_on_commit(self) -> None:
        # The engine's own transactions (claims, history, completions) commit all the time; waking
        # on them would spin its loops. Its loops run with the flag set, and so do the tasks they
        # start (a task copies its creator's context).
        # Only the consumer: it wakes the worker itself when it queued deliveries. (A replay's
        # delivery is claimed at the worker's next poll.)
        if not _IN_ENGINE.get():
            self._events_signal.set()

    def wake(self) -> None:
        """New outbox events or deliveries (a replay) may exist: look now instead of at the next
        poll."""
        self._events_signal.set()
        self._note_backlog()

    def _note_backlog(self) -> None:
        self._backlog = True
        self._backlog_generation += 1
        self._work_signal.set()

    @property
    def in_flight(self) -> int:
        """Attempts running right now."""
        return len(self._tasks)

    def _free_slots(self) -> int:
        """How many more attempts may start now. The concurrency limit counts attempts that have
        not had their answer yet (or are reserved for a claim): one that only waits for its
        outcome to be written holds no connection and does not keep the next one waiting (under
        load the group-committed write takes several milliseconds). All attempts together stay
        within `OUTSTANDING_FACTOR` times the limit, so a slow database pushes back."""
        calling = len(self._tasks) - self._answered + self._reserved
        outstanding = len(self._tasks) + self._reserved
        return max(0, min(self._concurrency - calling, OUTSTANDING_FACTOR * self._concurrency - outstanding))

    def _now(self) -> datetime:
        return self._clock()

    @staticmethod
    async def _wait(signal: asyncio.Event, timeout: float) -> None:  # noqa: ASYNC109
        with suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, timeout)):
                await signal.wait()

    # ---- consumer ---------------------------------------------------------------------------------

    async def _consumer_loop(self) -> None:
        _IN_ENGINE.set(True)
        last = 0.0
        while not self._stopping:
            # Under a burst every committed post wakes the consumer; a short gap between its
            # transactions lets the events of many posts share one (the write lock is the
            # scarce resource), and costs nothing when events come one at a time.
            # With no outgoing integration the events are only stamped (see STAMP_SECONDS).
            spacing = COALESCE_SECONDS if self._listening else STAMP_SECONDS
            gap = spacing - (time.monotonic() - last)
            if gap > 0:
                await asyncio.sleep(gap)
            last = time.monotonic()
            self._events_signal.clear()
            try:
                consumed, _ = await self.consume_once()
            except Exception:
                log.exception("outgoing: consuming outbox events failed")
                consumed = 0
                await asyncio.sleep(self._poll)
            if consumed >= EVENT_BATCH:
                continue
            await self._wait(self._events_signal, self._poll)

    async def consume_once(self, limit: int = EVENT_BATCH) -> tuple[int, int]:
        """Consume one batch of outbox events in one write transaction; returns how many events
        were consumed and how many deliveries enqueued."""
        # Deliveries for free worker slots are enqueued already leased to this engine and started
        # straight away, skipping a claim transaction and reading their payload back; the others
        # wait for the worker loop. (Should the process die, such a lease expires like any other.)
        # The slots are reserved until the attempts are spawned, so that a claim running meanwhile
        # cannot fill the same slots (the worker reserves its claims likewise).
        direct = self._free_slots() if self._loops else 0
        self._reserved += direct
        try:
            writer = self.hub.db.batch_writer
            if writer is not None:
                consumed = await writer.run(partial(self._consume_sqlite, limit=limit, direct=direct))
            else:
                consumed = await self._consume(limit=limit, direct=direct)
            self._listening = consumed.listening
            if not consumed.listening:
                # No outgoing integration at all: stamp the events without reading them.
                return await self._stamp_unread(), 0
            # only once committed: a delivery's row and first record exist before it is sent
            for attempt in consumed.started:
                self._spawn(attempt)
            if consumed.queued:
                self._note_backlog()
            return consumed.events, consumed.enqueued
        finally:
            if direct:
                self._reserved -= direct
                if self._backlog:
                    # the worker may have found no free slot while they were reserved
                    self._work_signal.set()

    async def _consume(self, *, limit: int, direct: int) -> _Consumed:
        """`consume_once`'s transaction through SQLAlchemy (PostgreSQL; SQLite in memory)."""
        async with self.hub.tx(write=False) as ctx:
            if not await integration_store.any_enabled(ctx.conn, matching.OUTGOING_TYPE):
                return _Consumed(listening=False)
        async with self.hub.tx() as ctx:
            now = self._now()
            batch = await events.claim_events(ctx.conn, limit=limit)
            if not batch:
                return _Consumed()
            candidates: list[dict[str, Any]] = []
            if _any_outgoing(batch):
                candidates, _ = await integration_store.list_integrations(
                    ctx.conn, where=[integration_store.of_type(matching.OUTGOING_TYPE)]
                )
                candidates = [c for c in candidates if c.get("enabled") is True]
            planned = self._plan_deliveries(batch, candidates, direct, now)
            inserted = await deliveries.enqueue_rows(ctx.conn, planned.rows) if planned.rows else []
            leased = self._leased(inserted)
            direct_count = len(leased)
            begun = self._begin_all(leased, _by_id(candidates), now)
            await self._write_begun(ctx, begun, now, also=planned.records)
            await events.mark_events_processed(ctx.conn, [int(e["id"]) for e in batch], now)
        return _Consumed(len(batch), len(inserted), len(inserted) - direct_count, begun.attempts)

    def _consume_sqlite(self, conn: sqlite3.Connection, *, limit: int, direct: int) -> _Consumed:
        """`_consume` as one batch-writer job (runs on the writer's thread: it only reads the
        engine's settings and pure helpers)."""
        if not sqlite_deliveries.any_enabled(conn, matching.OUTGOING_TYPE):
            return _Consumed(listening=False)
        now = self._now()
        batch = sqlite_deliveries.claim_events(conn, limit=limit)
        if not batch:
            return _Consumed()
        candidates: list[dict[str, Any]] = []
        if _any_outgoing(batch):
            candidates = sqlite_deliveries.enabled_integrations(conn, matching.OUTGOING_TYPE)
        planned = self._plan_deliveries(batch, candidates, direct, now)
        inserted = sqlite_deliveries.enqueue_rows(conn, planned.rows) if planned.rows else []
        leased = self._leased(inserted)
        direct_count = len(leased)
        begun = self._begin_all(leased, _by_id(candidates), now)
        self._write_begun_sqlite(conn, begun, now, also=planned.records)
        sqlite_deliveries.mark_events_processed(conn, [int(e["id"]) for e in batch], now)
        return _Consumed(len(batch), len(inserted), len(inserted) - direct_count, begun.attempts)

    def _leased(self, inserted: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return [row for row in inserted if row["lease_owner"] == self.owner]

    async def _stamp_unread(self) -> int:
        """Mark every pending event consumed without reading it. On SQLite in short batched jobs
        (interleaved with incoming posts on the same writer), elsewhere in one statement."""
        now = self._now()
        writer = self.hub.db.batch_writer
        if writer is None:
            async with self.hub.tx() as ctx:
                return await events.mark_all_processed(ctx.conn, now)
        total = 0
        while True:
            stamped = await writer.run(partial(sqlite_rows.stamp_events, now=now, limit=STAMP_CHUNK))
            total += stamped
            if stamped < STAMP_CHUNK:
                return total

    def _plan_deliveries(
        self, batch: Sequence[Row], candidates: list[dict[str, Any]], direct: int, now: datetime
    ) -> _Planned:
        """The delivery rows a batch of events makes (the first `direct` of them leased to this
        engine) and the history records of deliveries the loop breaker stopped."""
        planned = _Planned()
        if not candidates:
            return planned
        max_depth = self.hub.settings.outgoing_max_depth
        for event in batch:
            planned.rows += self._deliveries_for(event, candidates, max_depth, now, planned.records)
        lease_until = now + timedelta(seconds=self._lease)
        for row in planned.rows[:direct]:
            row["lease_owner"], row["lease_until"] = self.owner, lease_until
        return planned

    def _deliveries_for(
        self,
        event: Row,
        candidates: list[dict[str, Any]],
        max_depth: int,
        now: datetime,
        records: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        event_type = str(event["type"])
        snapshot: dict[str, Any] = dict(event["payload"] or {})
        selected = matching.select(candidates, event_type, snapshot)
        if not selected:
            return []
        depth = event_depth(snapshot)
        if depth > max_depth:
            for match in selected:
                records.append(self._depth_exceeded(match, event_type, snapshot, depth, max_depth, now))
            return []
        rows = []
        for match in selected:
            integration_id = str(match.integration["_id"])
            for url in match.integration.get("urls") or ():
                if not isinstance(url, str) or not url:
                    continue
                rows.append(
                    {
                        "dedupe_key": deliveries.event_dedupe_key(int(event["id"]), integration_id, url),
                        "event_id": int(event["id"]),
                        "integration_id": integration_id,
                        "url": url,
                        "event": match.event,
                        "trigger_word": match.trigger_word,
                        "depth": depth,
                        "payload": deliveries.delivery_payload(
                            event_type, snapshot, event_id=int(event["id"])
                        ),
                        "created_at": now,
                    }
                )
        return rows

    def _depth_exceeded(
        self,
        match: matching.MatchResult,
        event_type: str,
        snapshot: dict[str, Any],
        depth: int,
        max_depth: int,
        now: datetime,
    ) -> dict[str, Any]:
        """The history record of a delivery the loop breaker stopped."""
        record = history_records.new_record(match.integration, match.event, now)
        try:
            data = build_data(
                event_type,
                snapshot,
                match.integration,
                trigger_word=match.trigger_word,
                site_url=self.hub.settings.site_url,
                now=now,
            )
            record = history_records.apply_step(
                record, "mapped-args-to-data", now, data=data, triggerWord=match.trigger_word
            )
        except PayloadError:
            pass
        stack = (
            f"Error: the webhook reply chain is {depth} deep, more than the "
            f"{max_depth} HOOKHUB_OUTGOING_MAX_DEPTH allows; not delivered"
        )
        log.warning(
            "outgoing: integration %s not fired: reply chain depth %d > %d",
            match.integration.get("_id"),
            depth,
            max_depth,
        )
        return history_records.apply_step(record, LOOP_DEPTH_EXCEEDED, now, errorStack=stack)

    # ---- worker -----------------------------------------------------------------------------------

    async def _worker_loop(self) -> None:
        _IN_ENGINE.set(True)
        while not self._stopping:
            self._work_signal.clear()
            free = self._free_slots()
            claimed: list[_Attempt] = []
            if 0 < free < self._claim_min and self._tasks:
                # Busy: claim in batches rather than one row per finished attempt, which would
                # spend a write transaction per delivery on claiming alone.
                await self._wait(self._work_signal, self._poll)
                continue
            if free > 0:
                self._reserved += free
                generation = self._backlog_generation
                try:
                    claimed, taken = await self.claim_once(free)
                except Exception:
                    log.exception("outgoing: claiming deliveries failed")
                    await asyncio.sleep(self._poll)
                    continue
                finally:
                    self._reserved -= free
                for attempt in claimed:
                    self._spawn(attempt)
                if taken >= free:
                    # There may be more due: claim again as soon as a slot frees up.
                    continue
                # nothing more was due; unless somebody queued more meanwhile
                self._backlog = self._backlog_generation != generation
            if free <= 0:
                await self._wait(self._work_signal, self._poll)
                continue
            await self._wait(self._work_signal, await self._sleep_seconds())

    async def _sleep_seconds(self) -> float:
        writer = self.hub.db.batch_writer
        if writer is not None:
            due = await writer.run(sqlite_deliveries.next_due_at)
        else:
            async with self.hub.tx(write=False) as ctx:
                due = await deliveries.next_due_at(ctx.conn)
        if due is None:
            return self._poll
        # At least a millisecond: a row due "now" that a claim just missed must not spin the loop.
        return min(self._poll, max(0.001, (due - self._now()).total_seconds()))

    def _spawn(self, attempt: _Attempt) -> None:
        self._inflight[attempt.id] = attempt
        task = asyncio.create_task(self._run(attempt), name=f"hookhub-delivery-{attempt.id}")
        self._tasks.add(task)

        def _done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            self._inflight.pop(attempt.id, None)
            if attempt.answered:
                self._answered -= 1
            if self._backlog:
                self._work_signal.set()

        task.add_done_callback(_done)

    async def claim_once(self, limit: int) -> tuple[list[_Attempt], int]:
        """Lease up to `limit` due deliveries and, in the same transaction, start their attempts
        (checks, history record, and for script-less integrations everything up to
        `pre-http-call`). Returns the attempts to run and how many rows were leased."""
        writer = self.hub.db.batch_writer
        if writer is not None:
            return await writer.run(partial(self._claim_sqlite, limit=limit))
        async with self.hub.tx() as ctx:
            now = self._now()
            rows = await deliveries.claim_due(
                ctx.conn, now=now, owner=self.owner, lease_seconds=self._lease, limit=limit
            )
            # every integration the claim needs, in one query
            found = await integration_store.get_integrations(
                ctx.conn, [str(r["integration_id"]) for r in rows]
            )
            begun = self._begin_all(rows, found, now)
            await self._write_begun(ctx, begun, now)
        return begun.attempts, len(rows)

    def _claim_sqlite(self, conn: sqlite3.Connection, *, limit: int) -> tuple[list[_Attempt], int]:
        """`claim_once` as one batch-writer job."""
        now = self._now()
        rows = sqlite_deliveries.claim_due(
            conn, now=now, owner=self.owner, lease_seconds=self._lease, limit=limit
        )
        found = sqlite_deliveries.get_integrations(conn, [str(r["integration_id"]) for r in rows])
        begun = self._begin_all(rows, found, now)
        self._write_begun_sqlite(conn, begun, now)
        return begun.attempts, len(rows)

    async def _write_begun(
        self, ctx: Ctx, begun: _Begun, now: datetime, also: Sequence[dict[str, Any]] = ()
    ) -> None:
        """Insert the started attempts' history records (and the records `also`), and end the
        deliveries that ended while starting."""
        await integration_store.insert_history_many(ctx.conn, [*also, *begun.records])
        for end in begun.endings:
            await deliveries.complete(
                ctx.conn, end.delivery_id, self.owner, status=end.status, now=now, history_id=end.history_id
            )
        _count_endings(begun.endings)

    def _write_begun_sqlite(
        self, conn: sqlite3.Connection, begun: _Begun, now: datetime, also: Sequence[dict[str, Any]] = ()
    ) -> None:
        """`_write_begun` inside a batch-writer job."""
        sqlite_deliveries.insert_history_many(conn, [*also, *begun.records])
        for end in begun.endings:
            sqlite_deliveries.complete(
                conn, end.delivery_id, self.owner, status=end.status, now=now, history_id=end.history_id
            )
        _count_endings(begun.endings)

    def _begin_all(
        self, rows: Sequence[Row], integrations: Mapping[str, dict[str, Any]], now: datetime
    ) -> _Begun:
        """`_begin` for deliveries leased to this engine (`integrations`: the documents of their
        integrations by id; a missing one was deleted). Pure: the caller writes the records and
        endings it returns, in the transaction that leased the rows."""
        begun = _Begun()
        for row in rows:
            try:
                attempt = self._begin(row, integrations.get(str(row["integration_id"])), now, begun)
            except Exception:
                log.exception("outgoing: starting delivery %s failed", row["id"])
                # A bug must not make the row come back forever: it fails for good.
                begun.endings.append(_Ending(str(row["id"]), deliveries.FAILED, attempt=_attempt_of(row)))
                continue
            if attempt is not None:
                begun.attempts.append(attempt)
        return begun

    def _begin(
        self, row: Row, integration: dict[str, Any] | None, now: datetime, begun: _Begun
    ) -> _Attempt | None:
        """§3.4 steps 1-5 (and 6, 11, 12 without a script) for one leased delivery; None when the
        delivery ended here (cancelled or failed, added to `begun.endings`). The attempt's history
        record goes to `begun.records`. Writes nothing itself, so an exception leaves nothing to
        undo."""
        payload: Mapping[str, Any] = row["payload"] or {}
        event_type = str(payload.get("eventType") or row["event"])
        snapshot: dict[str, Any] = dict(payload.get("snapshot") or {})
        fires, trigger_word = (
            _still_fires(integration, row, event_type, snapshot) if integration is not None else (False, None)
        )
        if integration is None or not fires:
            # Gone, disabled, changed, or the message no longer qualifies: stop silently (§3.4 1-3).
            begun.endings.append(_Ending(str(row["id"]), deliveries.CANCELLED, attempt=_attempt_of(row)))
            return None
        record = history_records.new_record(integration, str(row["event"]), now)
        attempt = _Attempt(
            delivery=row,
            integration=integration,
            event_type=event_type,
            snapshot=snapshot,
            trigger_word=trigger_word,
            record=record,
        )
        try:
            attempt.data = build_data(
                event_type,
                snapshot,
                integration,
                trigger_word=trigger_word,
                site_url=self.hub.settings.site_url,
                now=now,
            )
        except PayloadError as exc:
            begun.records.append(record)
            begun.endings.append(
                _Ending(str(row["id"]), deliveries.FAILED, str(record["_id"]), attempt=_attempt_of(row))
            )
            log.warning("outgoing: delivery %s has no payload: %s", row["id"], exc)
            return None
        attempt.record = history_records.apply_step(
            record, "mapped-args-to-data", now, data=attempt.data, triggerWord=trigger_word
        )
        if script_runs(self.hub.settings, integration):
            attempt.needs_prepare = True
            begun.records.append(attempt.record)
            return attempt
        attempt.record = history_records.apply_step(attempt.record, "after-maybe-ran-prepare", now)
        request = default_request(str(row["url"]), attempt.data)
        attempt.request = http_request(request)  # the default request always has a valid form
        attempt.record = history_records.apply_step(
            attempt.record, "pre-http-call", now, url=attempt.request.url, httpCallData=request.get("data")
        )
        begun.records.append(attempt.record)
        return attempt

    async def _run(self, attempt: _Attempt) -> None:
        try:
            if attempt.needs_prepare and not await self._prepare(attempt):
                return
            await self._send(attempt)
        except asyncio.CancelledError:
            # Shutdown: the lease stays, the delivery is taken again once it runs out.
            raise
        except Exception as exc:
            # A database hiccup must not lose the delivery: it is retried like a network error
            # (when the integration retries at all); if even that cannot be written, the lease
            # runs out and the delivery is taken again.
            log.exception("outgoing: delivery %s failed unexpectedly", attempt.id)
            reason = _short(f"internal error: {exc!r}")
            plan = outgoing_rules.retry_plan(
                attempt.integration,
                attempt.tries,
                retry_after_seconds=None,
                time_scale=self.hub.settings.retry_time_scale,
            )
            with suppress(Exception):
                await self._settle(attempt, self._plan_outcome(attempt, plan, reason, self._now()))

    # ---- the prepare stage (§3.7) ----------------------------------------------------------------

    async def _call_script(self, attempt: _Attempt, method: str, argument: dict[str, Any]) -> ScriptVerdict:
        outcome = await self.hub.sandbox.call(attempt.integration, method, argument)
        verdict = outgoing_rules.interpret_script_outcome(method, outcome)
        now = self._now()
        for step in verdict.steps:
            fields = {"errorStack": verdict.error_stack} if step.startswith("execute-script-error") else {}
            attempt.record = history_records.apply_step(attempt.record, step, now, **fields)
        if outcome.status not in ("ok", "compile_error", "disabled"):
            log.warning(
                "outgoing: integration %s: %s %s: %s",
                attempt.integration.get("_id"),
                method,
                outcome.status,
                outcome.error,
            )
        return verdict

    async def _prepare(self, attempt: _Attempt) -> bool:
        """Run `prepare_outgoing_request` (outside any transaction) and act on its result; False
        when the attempt ended here."""
        request = default_request(str(attempt.delivery["url"]), attempt.data)
        verdict = await self._call_script(attempt, PREPARE_METHOD, {"request": request})
        attempt.record = history_records.apply_step(attempt.record, "after-maybe-ran-prepare", self._now())
        prepared = outgoing_rules.interpret_prepare_result(verdict, request)

        built: HttpRequest | None = None
        invalid: str | None = None
        if prepared.request is not None:
            try:
                built = http_request(prepared.request)
            except RequestInvalid as exc:
                invalid = exc.message

        def carry_on(now: datetime) -> _Outcome | None:
            if prepared.request is None:
                attempt.record = history_records.apply_step(
                    attempt.record, prepared.end_step or "after-prepare-no-opts", now
                )
                return _DONE
            if invalid is not None:
                # §3.4 step 10: the execution aborts; the record stays at its last step.
                return _Outcome(status=deliveries.FAILED, last_error=invalid)
            assert built is not None
            attempt.record = history_records.apply_step(
                attempt.record,
                "pre-http-call",
                now,
                url=built.url,
                httpCallData=prepared.request.get("data"),
            )
            return None

        async def post_then_carry_on(ctx: Ctx) -> _Outcome | None:
            now = self._now()
            sent = await self._post(ctx, attempt, prepared.message)
            if sent is None:
                attempt.record = history_records.apply_step(
                    attempt.record, outgoing_rules.AFTER_PREPARE_SEND_MESSAGE_FAILED, now
                )
                return _DONE
            attempt.record = history_records.apply_step(
                attempt.record, outgoing_rules.AFTER_PREPARE_SEND_MESSAGE, now, prepareSentMessage=sent
            )
            return carry_on(now)

        if prepared.message is not None:
            ended = await self._checkpoint(attempt, posting=post_then_carry_on)
        else:
            ended = await self._checkpoint(attempt, plain=lambda: carry_on(self._now()))
        if ended or built is None or invalid is not None:
            return False
        attempt.request = built
        return True

    # ---- sending and response handling (§3.8) ----------------------------------------------------

    async def _send(self, attempt: _Attempt) -> None:
        request = attempt.request
        assert request is not None
        integration = attempt.integration
        if request.problem is not None:
            # The HTTP client would refuse it every time: final, like an egress refusal.
            await self._network_end(attempt, "TypeError", request.problem, refused=True)
            return
        body = request.body or b""
        headers = dict(request.headers)
        secret = integration.get("signingSecret")
        if isinstance(secret, str) and secret:
            try:
                headers.update(signing.headers(secret, attempt.id, int(time.time()), body))
            except ValueError as exc:
                log.warning("outgoing: integration %s: bad signing secret: %s", integration.get("_id"), exc)
        assert self._egress is not None
        try:
            response = await self._egress.send(
                request.method,
                request.url,
                headers=headers,
                content=request.body,
                timeout=request.timeout_seconds,
            )
        except EgressRefused as exc:
            self._answer(attempt)
            await self._network_end(attempt, "EgressRefused", exc.reason, refused=True)
            return
        except EgressError as exc:
            self._answer(attempt)
            await self._network_end(attempt, "FetchError", exc.reason, refused=False)
            return
        self._answer(attempt)
        await self._handle_response(attempt, request, response)

    def _answer(self, attempt: _Attempt) -> None:
        """The attempt's HTTP call is over: its slot is free for the next one."""
        if not attempt.answered:
            attempt.answered = True
            self._answered += 1
            if self._backlog:
                self._work_signal.set()

    async def _network_end(self, attempt: _Attempt, name: str, reason: str, *, refused: bool) -> None:
        """The attempt ended without a response (`name` is the error's class for `httpError`);
        `refused`: asking again would fail the same way, so it is not retried."""
        failure = outgoing_rules.network_failure(
            _http_error(name, reason),
            attempt.integration,
            attempt.tries,
            refused=refused,
            time_scale=self.hub.settings.retry_time_scale,
        )
        now = self._now()
        attempt.record = history_records.apply_step(
            attempt.record, outgoing_rules.AFTER_HTTP_CALL, now, **failure.fields
        )
        if failure.retry is None:
            outcome = _Outcome(status=deliveries.FAILED, last_error=reason)
        else:
            outcome = self._plan_outcome(attempt, failure.retry, reason, now)
        await self._settle(attempt, outcome)

    def _plan_outcome(self, attempt: _Attempt, plan: RetryPlan, reason: str, now: datetime) -> _Outcome:
        fields = {"errorStack": plan.error_stack} if plan.error_stack else {}
        attempt.record = history_records.apply_step(attempt.record, plan.step, now, **fields)
        if plan.retry and plan.delay_seconds is not None and plan.next_tries is not None:
            return _Outcome(
                retry_at=now + timedelta(seconds=plan.delay_seconds),
                next_tries=plan.next_tries,
                last_error=reason,
            )
        return _Outcome(status=deliveries.FAILED, last_error=reason)

    def _posting(
        self, attempt: _Attempt, message: Any, *, failed: str, sent: tuple[str, str]
    ) -> Callable[[Ctx], Awaitable[_Outcome]]:
        """The checkpoint effect that posts a reply (§3.9) and records `failed`, or `sent[0]` with
        the posted messages in field `sent[1]`; the delivery is done either way."""

        async def effect(ctx: Ctx) -> _Outcome:
            posted = await self._post(ctx, attempt, message)
            if posted is None:
                attempt.record = history_records.apply_step(attempt.record, failed, self._now())
            else:
                step, field_name = sent
                attempt.record = history_records.apply_step(
                    attempt.record, step, self._now(), **{field_name: posted}
                )
            return _DONE

        return effect

    async def _handle_response(
        self, attempt: _Attempt, request: HttpRequest, response: EgressResponse
    ) -> None:
        text = response.body.decode("utf-8", errors="replace")
        attempt.record = history_records.apply_step(
            attempt.record, outgoing_rules.AFTER_HTTP_CALL, self._now(), httpError=None, httpResult=text
        )
        if not text:
            log.warning("outgoing: delivery %s: empty response (HTTP %d)", attempt.id, response.status)
        if script_runs(self.hub.settings, attempt.integration):
            argument = outgoing_rules.process_response_argument(
                request.request, response.status, text, _response_headers(response)
            )
            script_verdict = await self._call_script(attempt, PROCESS_METHOD, argument)
            processed = outgoing_rules.interpret_process_result(script_verdict)
            if processed.action == "post":
                post_content = self._posting(
                    attempt,
                    processed.message,
                    failed=outgoing_rules.AFTER_PROCESS_SEND_MESSAGE_FAILED,
                    sent=(outgoing_rules.AFTER_PROCESS_SEND_MESSAGE, "processSentMessage"),
                )
                await self._checkpoint(attempt, posting=post_content)
                return
            if processed.action == "stop":
                attempt.record = history_records.apply_step(
                    attempt.record, processed.step or "after-process-false-result", self._now()
                )
                await self._settle(attempt, _DONE)
                return

        parsed = outgoing_rules.parse_response_content(response.header("content-type"), text)
        verdict = outgoing_rules.classify_response(response.status, text, parsed)
        now = self._now()
        reason = f"HTTP {response.status}" + ("" if text else " with an empty body")
        if verdict.kind == "reply":
            reply = self._posting(
                attempt,
                verdict.message,
                failed=outgoing_rules.AFTER_HTTP_CALL_SEND_MESSAGE_FAILED,
                sent=(outgoing_rules.URL_RESPONSE_SENT_MESSAGE, "resultMessage"),
            )
            await self._checkpoint(attempt, posting=reply)
        elif verdict.kind == "done":
            await self._settle(attempt, _DONE)
        elif verdict.kind == "disable":
            attempt.record = history_records.apply_step(
                attempt.record, verdict.step or "after-process-http-status-410", now
            )
            await self._settle(attempt, _Outcome(status=deliveries.FAILED, last_error=reason, disable=True))
        elif verdict.kind == "no-retry":
            attempt.record = history_records.apply_step(
                attempt.record, verdict.step or "after-process-http-status-500", now
            )
            await self._settle(attempt, _Outcome(status=deliveries.FAILED, last_error=reason))
        else:
            retry_after = outgoing_rules.retry_after_for(response.status, response.header("retry-after"), now)
            plan = outgoing_rules.retry_plan(
                attempt.integration,
                attempt.tries,
                retry_after_seconds=retry_after,
                time_scale=self.hub.settings.retry_time_scale,
            )
            await self._settle(attempt, self._plan_outcome(attempt, plan, reason, now))

    # ---- writing outcomes --------------------------------------------------------------------------

    async def _settle(self, attempt: _Attempt, outcome: _Outcome) -> None:
        """Write the record and end the attempt with `outcome`."""
        await self._checkpoint(attempt, plain=lambda: outcome)

    async def _checkpoint(
        self,
        attempt: _Attempt,
        *,
        plain: Callable[[], _Outcome | None] | None = None,
        posting: Callable[[Ctx], Awaitable[_Outcome | None]] | None = None,
    ) -> bool:
        """Apply the effects (`plain`: only moving the record on; `posting`: posting messages in
        the write transaction) and write the outcome they return, or carry on when they return
        None. The record is written and the delivery completed or rescheduled (or, carrying on,
        its lease renewed), only while the lease is ours. Returns True when the attempt ended.

        Checkpoints that queue up meanwhile are written together (group commit): on SQLite every
        write transaction holds the process's single write lock, so one transaction per delivery
        would cap throughput well below what the statements themselves cost. The plain ones go
        to the batch writer as one job (a few statements for the whole batch); the posting ones
        run the chat path in a SQLAlchemy transaction, each in its own savepoint."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._writes.append(_Write(attempt, plain, posting, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_batches(), name="hookhub-outgoing-writes")
        try:
            return await future
        finally:
            if attempt.posted:
                self.wake()

    async def _write_batches(self) -> None:
        while self._writes:
            batch = self._writes[:WRITE_BATCH]
            del self._writes[: len(batch)]
            results: dict[int, bool | BaseException] = {}
            plain = _PlainWrites()
            plain_indexes: list[int] = []
            carrying_on: list[tuple[int, _Attempt]] = []
            for index, write in enumerate(batch):
                if write.plain is None:
                    continue
                attempt = write.attempt
                plain_indexes.append(index)
                if attempt.lost:
                    plain.records.append(attempt.record)
                    log.warning(
                        "outgoing: delivery %s lost its lease; its outcome is not applied", attempt.id
                    )
                    results[index] = True
                    continue
                try:
                    outcome = write.plain()
                except Exception as exc:
                    results[index] = exc
                    continue
                plain.records.append(attempt.record)
                if outcome is None:
                    plain.carry_on.append(attempt)
                    carrying_on.append((index, attempt))
                else:
                    plain.ended.append((attempt, outcome))
                    results[index] = True
            if plain:
                try:
                    kept, held = await self._write_plain(plain)
                except Exception as exc:  # nothing of it was committed: every plain write failed
                    for index in plain_indexes:
                        if not isinstance(results.get(index), BaseException):
                            results[index] = exc
                else:
                    for index, attempt in carrying_on:
                        attempt.lost = attempt.lost or attempt.id not in kept
                        results[index] = attempt.lost
                    self._after_finish(plain.ended, held)
            postings = [(index, write) for index, write in enumerate(batch) if write.posting is not None]
            if postings:
                await self._write_postings(postings, results)
                # a reply is a new message: its outbox event may fire integrations (the engine's
                # own commits do not wake it through the hub, see `_wake_on_commit`)
                self._events_signal.set()
            for index, write in enumerate(batch):
                result = results.get(index, False)
                if write.future.done():
                    continue
                if isinstance(result, BaseException):
                    write.future.set_exception(result)
                else:
                    write.future.set_result(result)

    async def _write_plain(self, plain: _PlainWrites) -> tuple[set[str], set[str]]:
        """Store the records of `plain`, renew the leases of its attempts that carry on and finish
        the ones that ended, in one transaction; returns the ids of the attempts that still held
        their lease: (carrying on, ended)."""
        writer = self.hub.db.batch_writer
        if writer is not None:
            return await writer.run(partial(self._write_plain_sqlite, plain))
        async with self.hub.tx() as ctx:
            now = self._now()
            kept = {
                a.id
                for a in plain.carry_on
                if await deliveries.renew_lease(
                    ctx.conn, a.id, self.owner, now=now, lease_seconds=self._lease
                )
            }
            held = await deliveries.finish_many(ctx.conn, self.owner, _finishes(plain.ended), now=now)
            await integration_store.replace_history_many(ctx.conn, plain.records)
            for integration_id in _disabled_by(plain.ended, held):
                await self._disable(ctx, integration_id, now)
        return kept, held

    def _write_plain_sqlite(self, plain: _PlainWrites, conn: sqlite3.Connection) -> tuple[set[str], set[str]]:
        """`_write_plain` as one batch-writer job."""
        now = self._now()
        kept = {
            a.id
            for a in plain.carry_on
            if sqlite_deliveries.renew_lease(conn, a.id, self.owner, now=now, lease_seconds=self._lease)
        }
        held = sqlite_deliveries.finish_many(conn, self.owner, _finishes(plain.ended), now=now)
        sqlite_deliveries.replace_history_many(conn, plain.records)
        for integration_id in _disabled_by(plain.ended, held):
            current = sqlite_deliveries.get_integration(conn, integration_id)
            if current is not None:
                if current.get("enabled") is not False:
                    sqlite_deliveries.replace_integration(conn, _disabled(current, now))
                _log_disabled(
                    integration_id, sqlite_deliveries.cancel_for_integration(conn, integration_id, now)
                )
        return kept, held

    async def _write_postings(
        self, postings: list[tuple[int, _Write]], results: dict[int, bool | BaseException]
    ) -> None:
        """The posting checkpoints of a batch, in one SQLAlchemy transaction."""
        try:
            async with self.hub.tx() as ctx:
                now = self._now()
                for index, write in postings:
                    # Posting runs the whole chat path; whatever it breaks stays in its savepoint,
                    # and so does the attempt's record.
                    try:
                        async with ctx.conn.begin_nested():
                            results[index] = await self._write_posting(ctx, write, now)
                    except Exception as exc:
                        results[index] = exc
        except Exception as exc:
            # Nothing of this transaction was committed.
            for index, _ in postings:
                results[index] = exc

    async def _write_posting(self, ctx: Ctx, write: _Write, now: datetime) -> bool:
        """A checkpoint that posts messages: only while the lease is ours (checked first, so that a
        delivery taken over by another worker does not post twice)."""
        attempt = write.attempt
        assert write.posting is not None
        if not attempt.lost and not await self._holds_lease(ctx, attempt, now):
            attempt.lost = True
        if attempt.lost:
            log.warning("outgoing: delivery %s lost its lease; its outcome is not applied", attempt.id)
            await integration_store.replace_history_many(ctx.conn, [attempt.record])
            return True
        outcome = await write.posting(ctx)
        if outcome is None:
            await integration_store.replace_history_many(ctx.conn, [attempt.record])
            return False
        ended = [(attempt, outcome)]
        held = await deliveries.finish_many(ctx.conn, self.owner, _finishes(ended), now=now)
        await integration_store.replace_history_many(ctx.conn, [attempt.record])
        for integration_id in _disabled_by(ended, held):
            await self._disable(ctx, integration_id, now)
        self._after_finish(ended, held)
        return True

    def _after_finish(self, ended: list[tuple[_Attempt, _Outcome]], held: set[str]) -> None:
        """Mark the ended attempts whose lease was gone as lost; count the others (metrics)."""
        for attempt, outcome in ended:
            if outcome.retry_at is not None:
                # The worker may be sleeping past this new due time.
                self._work_signal.set()
            if attempt.id not in held:
                # Cancelled meanwhile (integration disabled or removed) or taken over after a stall.
                attempt.lost = True
                log.warning("outgoing: delivery %s lost its lease; its outcome is not applied", attempt.id)
                continue
            if outcome.retry_at is not None:
                metrics.record_delivery("retrying", attempt.tries + 1)
            else:
                metrics.record_delivery(_OUTCOMES.get(outcome.status or "", "failed"), attempt.tries + 1)

    async def _holds_lease(self, ctx: Ctx, attempt: _Attempt, now: datetime) -> bool:
        # Renewing is the conditional check "still ours and pending", and refreshes the lease for
        # whatever the attempt still has to do.
        return await deliveries.renew_lease(
            ctx.conn, attempt.id, self.owner, now=now, lease_seconds=self._lease
        )

    async def _disable(self, ctx: Ctx, integration_id: str, now: datetime) -> None:
        """§3.8 step 4: a 410 with a body switches the integration off and drops its pending
        deliveries."""
        current = await integration_store.get_integration(ctx.conn, integration_id)
        if current is None:
            return
        if current.get("enabled") is not False:
            await integration_store.replace_integration(ctx.conn, _disabled(current, now))
        _log_disabled(integration_id, await deliveries.cancel_for_integration(ctx.conn, integration_id, now))

    # ---- posting messages back (§3.9) --------------------------------------------------------------

    async def _posting_user(self, ctx: Ctx, attempt: _Attempt) -> Row | None:
        integration = attempt.integration
        if integration.get("impersonateUser") is True:
            name = attempt.data.get("user_name")
            if isinstance(name, str) and name:
                user = await user_store.get_by_username(ctx.conn, name)
                if user is not None:
                    return user
        username = integration.get("username")
        if isinstance(username, str) and username:
            return await user_store.get_by_username(ctx.conn, username)
        return None

    async def _post(self, ctx: Ctx, attempt: _Attempt, message: Any) -> list[dict[str, Any]] | None:
        """Post a script's or receiver's message as §3.9 says; the `[{channel, message}]` posted,
        or None when nothing could be (no user, no room, or the message was refused)."""
        if not isinstance(message, Mapping):
            log.warning("outgoing: delivery %s: the message to post is not an object", attempt.id)
            return None
        user = await self._posting_user(ctx, attempt)
        if user is None:
            log.warning("outgoing: integration %s: no user to post as", attempt.integration.get("_id"))
            return None
        integration = attempt.integration
        body = dict(message)
        body["bot"] = {"i": integration["_id"]}
        given = body.get("channel") or body.get("roomId")
        base = {k: v for k, v in body.items() if k not in ("channel", "roomId")}
        # Target room, first that resolves (§3.9): the message's own, the integration's
        # targetRoom, the event's room.
        bodies: list[dict[str, Any]] = [body] if given else []
        target_room = integration.get("targetRoom")
        if isinstance(target_room, str) and target_room.strip():
            bodies.append({**base, "channel": target_room.strip()})
        room = attempt.snapshot.get("room")
        if isinstance(room, Mapping) and isinstance(room.get("_id"), str):
            bodies.append({**base, "channel": room["_id"]})
        for candidate in bodies:
            try:
                async with ctx.conn.begin_nested():
                    posted = await chat.post_message(
                        ctx,
                        user,
                        candidate,
                        defaults=defaults_of(integration),
                        impersonation_allowed=True,
                        reply_depth=attempt.depth + 1,
                    )
            except MeteorError as exc:
                if exc.error_type == "invalid-channel":
                    continue
                log.warning("outgoing: delivery %s: reply refused: %s", attempt.id, exc.body().get("error"))
                return None
            except HookhubError as exc:
                log.warning("outgoing: delivery %s: reply refused: %s", attempt.id, exc.body().get("error"))
                return None
            if not posted:
                return None
            attempt.posted = True
            return [{"channel": p.channel, "message": message_doc(p.message)} for p in posted]
        log.warning("outgoing: delivery %s: no room to post the reply in", attempt.id)
        return None

    # ---- leases and retention ----------------------------------------------------------------------

    async def _renewal_loop(self) -> None:
        _IN_ENGINE.set(True)
        period = self._lease / 3
        while not self._stopping:
            await asyncio.sleep(period)
            old = [
                a for a in self._inflight.values() if time.monotonic() - a.started >= period and not a.lost
            ]
            if not old:
                continue
            try:
                async with self.hub.tx() as ctx:
                    now = self._now()
                    for attempt in old:
                        if not await self._holds_lease(ctx, attempt, now):
                            attempt.lost = True
            except Exception:
                log.exception("outgoing: renewing leases failed")

    async def _retention_loop(self) -> None:
        _IN_ENGINE.set(True)
        while not self._stopping:
            try:
                await self.prune_once()
            except Exception:
                log.exception("outgoing: pruning history failed")
            await asyncio.sleep(self._retention_every)

    async def prune_once(self) -> tuple[int, int]:
        """Delete history older than `history_ttl_days` or beyond `history_max_per_integration`
        per integration, and finished deliveries and consumed outbox events older than a day, in
        short transactions; returns (history records, deliveries) deleted."""
        now = self._now()
        older_than = now - timedelta(days=self.hub.settings.history_ttl_days)
        keep = self.hub.settings.history_max_per_integration
        history_deleted = 0
        while True:
            async with self.hub.tx() as ctx:
                n = await history_retention.prune_history(
                    ctx.conn, older_than=older_than, max_per_integration=keep, batch=PRUNE_BATCH
                )
            history_deleted += n
            if n < PRUNE_BATCH or self._stopping:
                break
        deliveries_deleted = 0
        while True:
            async with self.hub.tx() as ctx:
                n = await deliveries.prune_finished(ctx.conn, now - FINISHED_DELIVERY_TTL, batch=PRUNE_BATCH)
            deliveries_deleted += n
            if n < PRUNE_BATCH or self._stopping:
                break
        # Consumed events are only a record once their deliveries exist (which carry their own
        # snapshot): without this the outbox grows by one row per message forever.
        while True:
            async with self.hub.tx() as ctx:
                n = await events.prune_processed(ctx.conn, now - FINISHED_DELIVERY_TTL, batch=PRUNE_BATCH)
            if n < PRUNE_BATCH or self._stopping:
                break
        metrics.record_history_pruned(history_deleted)
        return history_deleted, deliveries_deleted


# A finished delivery's status as the outcome its attempt is counted under.
_OUTCOMES: dict[str, metrics.DeliveryOutcome] = {
    deliveries.DONE: "delivered",
    deliveries.FAILED: "failed",
    deliveries.CANCELLED: "cancelled",
}


def _attempt_of(row: Row) -> int:
    return int(row["tries"] or 0) + 1


def _count_endings(endings: Sequence[_Ending]) -> None:
    """Deliveries that ended as their attempt was being started (written in the caller's
    transaction, counted as it goes)."""
    for end in endings:
        metrics.record_delivery(_OUTCOMES.get(end.status, "failed"), end.attempt)


def _still_fires(
    integration: Mapping[str, Any], row: Row, event_type: str, snapshot: Mapping[str, Any]
) -> tuple[bool, str | None]:
    """§3.4 steps 1-3 at the time of the attempt: enabled, same event, not its own message, the
    trigger words still match and an edit is still wanted. Returns (fires, trigger word)."""
    if integration.get("type") != matching.OUTGOING_TYPE or integration.get("enabled") is not True:
        return False, None
    if integration.get("event") != row["event"]:
        return False, None
    if row["event"] != matching.SEND_MESSAGE:
        return True, None
    message: Mapping[str, Any] = snapshot.get("message") or {}
    bot = message.get("bot")
    if isinstance(bot, Mapping) and bot.get("i") is not None and bot.get("i") == integration.get("_id"):
        return False, None
    if (event_type == "messageEdited" or message.get("editedAt")) and not integration.get("runOnEdits"):
        return False, None
    words = [w for w in integration.get("triggerWords") or () if isinstance(w, str) and w]
    if not words:
        return True, None
    text = message.get("msg")
    word = matching.match_trigger_word(
        text if isinstance(text, str) else "", words, anywhere=integration.get("triggerWordAnywhere") is True
    )
    return word is not None, word


def _any_outgoing(batch: Sequence[Row]) -> bool:
    return any(matching.outgoing_event_of(str(event["type"])) for event in batch)


def _by_id(integrations: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(integration["_id"]): integration for integration in integrations}


def _finishes(ended: Sequence[tuple[_Attempt, _Outcome]]) -> list[deliveries.Finish]:
    finishes = []
    for attempt, outcome in ended:
        history_id = str(attempt.record["_id"])
        if outcome.retry_at is not None and outcome.next_tries is not None:
            finishes.append(
                deliveries.Finish(
                    attempt.id,
                    history_id,
                    tries=outcome.next_tries,
                    next_attempt_at=outcome.retry_at,
                    last_error=_short(outcome.last_error or ""),
                )
            )
        else:
            finishes.append(
                deliveries.Finish(attempt.id, history_id, status=outcome.status or deliveries.DONE)
            )
    return finishes


def _disabled_by(ended: Sequence[tuple[_Attempt, _Outcome]], held: set[str]) -> list[str]:
    """The integrations that 410 answers disable: those of ended attempts that were still ours."""
    ids = [str(a.integration["_id"]) for a, outcome in ended if outcome.disable and a.id in held]
    return list(dict.fromkeys(ids))


def _disabled(integration: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {**integration, "enabled": False, "_updatedAt": iso(now)}


def _log_disabled(integration_id: str, cancelled: int) -> None:
    log.warning(
        "outgoing: integration %s disabled by an HTTP 410 answer (%d pending deliveries cancelled)",
        integration_id,
        cancelled,
    )
