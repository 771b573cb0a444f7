"""The durable delivery queue (store/deliveries.py) and outbox consumption (store/events.py), against
a real migrated database: SQLite always, PostgreSQL too when HOOKHUB_TEST_POSTGRES_URL names one
(its `public` schema is dropped and rebuilt for every test)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from hookhub.store import deliveries, events
from hookhub.store.database import Database
from hookhub.store.rows import Row
from hookhub.store.tables import events as events_table

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def delivery(key: str, *, integration: str = "int-1", created: datetime = T0, **extra: Any) -> dict[str, Any]:
    return {
        "dedupe_key": key,
        "integration_id": integration,
        "url": f"https://receiver.example/{key}",
        "event": "sendMessage",
        "payload": {"event": {"id": key}},
        "created_at": created,
        **extra,
    }


async def enqueue(db: Database, rows: list[dict[str, Any]]) -> int:
    async with db.transaction() as conn:
        return await deliveries.enqueue(conn, rows)


async def claim(db: Database, owner: str, now: datetime, *, limit: int = 100, lease: float = 30) -> list[Row]:
    async with db.transaction() as conn:
        return await deliveries.claim_due(conn, now=now, owner=owner, lease_seconds=lease, limit=limit)


async def fetch(db: Database, delivery_id: str) -> Row:
    async with db.transaction(write=False) as conn:
        row = await deliveries.get_delivery(conn, delivery_id)
    assert row is not None
    return row


async def keys_of(db: Database) -> dict[str, Row]:
    async with db.transaction(write=False) as conn:
        rows = (await conn.execute(deliveries.deliveries.select())).mappings().all()
    return {r["dedupe_key"]: dict(r) for r in rows}


# -- enqueue ---------------------------------------------------------------------------------------------


async def test_enqueue_fills_defaults(db: Database) -> None:
    assert await enqueue(db, [delivery("a", trigger_word="deploy", depth=2)]) == 1
    row = (await keys_of(db))["a"]
    assert len(row["id"]) == 17
    assert row["status"] == "pending"
    assert row["tries"] == 0
    assert row["next_attempt_at"] == T0
    assert row["updated_at"] == T0
    assert row["lease_owner"] is None and row["lease_until"] is None
    assert row["trigger_word"] == "deploy"
    assert row["depth"] == 2
    assert row["payload"] == {"event": {"id": "a"}}


async def test_enqueue_is_idempotent_per_dedupe_key(db: Database) -> None:
    key = deliveries.event_dedupe_key(41, "int-1", "https://receiver.example/hook")
    assert key == "41:int-1:https://receiver.example/hook"
    assert await enqueue(db, [delivery(key, event_id=41), delivery("other")]) == 2
    first_ids = {k: r["id"] for k, r in (await keys_of(db)).items()}

    # Consuming the same event again (e.g. after a crash before it was marked processed).
    assert await enqueue(db, [delivery(key, event_id=41)]) == 0
    # A mixed batch, with a key repeated inside the batch itself.
    assert await enqueue(db, [delivery(key), delivery("new"), delivery("new"), delivery("other")]) == 1

    rows = await keys_of(db)
    assert sorted(rows) == sorted([key, "other", "new"])
    # The webhook-id of an existing delivery is never replaced.
    assert rows[key]["id"] == first_ids[key]
    assert rows["other"]["id"] == first_ids["other"]


async def test_enqueue_keeps_given_ids_and_schedules(db: Database) -> None:
    assert await enqueue(db, [delivery("a", id="fixed-webhook-id", next_attempt_at=at(60))]) == 1
    row = await fetch(db, "fixed-webhook-id")
    assert row["dedupe_key"] == "a"
    assert row["next_attempt_at"] == at(60)


async def test_enqueue_nothing(db: Database) -> None:
    assert await enqueue(db, []) == 0


async def test_enqueue_rejects_incomplete_or_unknown_rows(db: Database) -> None:
    incomplete = delivery("a")
    del incomplete["url"]
    with pytest.raises(ValueError, match=r"lacks \['url'\]"):
        await enqueue(db, [incomplete])
    with pytest.raises(ValueError, match=r"unknown columns \['colour'\]"):
        await enqueue(db, [delivery("a", colour="red")])
    assert await keys_of(db) == {}


# -- claiming --------------------------------------------------------------------------------------------


async def test_claim_takes_due_rows_oldest_first_up_to_the_limit(db: Database) -> None:
    await enqueue(
        db,
        [
            delivery("late", next_attempt_at=at(5)),
            delivery("first", next_attempt_at=at(-30)),
            delivery("future", next_attempt_at=at(3600)),
            delivery("second", next_attempt_at=at(-10)),
            delivery("third", next_attempt_at=at(0)),
        ],
    )
    now = at(10)
    got = await claim(db, "w1", now, limit=2)
    assert [r["dedupe_key"] for r in got] == ["first", "second"]
    for r in got:
        assert r["lease_owner"] == "w1"
        assert r["lease_until"] == now + timedelta(seconds=30)
        assert r["status"] == "pending"

    got = await claim(db, "w1", now, limit=10)
    assert [r["dedupe_key"] for r in got] == ["third", "late"]
    assert await claim(db, "w2", now) == []
    # An hour later "future" is due and every lease above (until 40 s) has run out.
    got = await claim(db, "w2", at(3600))
    assert [r["dedupe_key"] for r in got] == ["first", "second", "third", "late", "future"]
    assert {r["lease_owner"] for r in got} == {"w2"}


async def test_claim_with_zero_limit(db: Database) -> None:
    await enqueue(db, [delivery("a")])
    assert await claim(db, "w1", at(1), limit=0) == []
    assert (await keys_of(db))["a"]["lease_owner"] is None
    with pytest.raises(ValueError, match="lease_seconds must be positive"):
        await claim(db, "w1", at(1), lease=0)


async def test_ties_on_next_attempt_at_are_ordered_by_id(db: Database) -> None:
    await enqueue(db, [delivery(f"k{i}", id=f"id-{i:02d}") for i in (7, 3, 9, 1, 5)])
    got = await claim(db, "w1", at(0), limit=3)
    assert [r["id"] for r in got] == ["id-01", "id-03", "id-05"]


async def test_a_leased_row_is_taken_again_only_after_its_lease_expires(db: Database) -> None:
    """The worker died: nobody completes the row, its lease runs out, another worker takes it."""
    await enqueue(db, [delivery("a", id="d1")])
    (row,) = await claim(db, "w1", at(0), lease=30)
    assert row["id"] == "d1"

    assert await claim(db, "w2", at(10)) == []
    assert await claim(db, "w2", at(29.999)) == []
    (again,) = await claim(db, "w2", at(30), lease=30)
    assert again["id"] == "d1"
    assert again["lease_owner"] == "w2"
    assert again["lease_until"] == at(60)

    # The first worker comes back to life: its lease is gone, every change is refused.
    async with db.transaction() as conn:
        assert not await deliveries.complete(conn, "d1", "w1", status="done", now=at(31))
        assert not await deliveries.renew_lease(conn, "d1", "w1", now=at(31), lease_seconds=30)
        assert not await deliveries.reschedule(
            conn, "d1", "w1", tries=1, next_attempt_at=at(40), last_error="boom", now=at(31)
        )
    assert (await fetch(db, "d1"))["lease_owner"] == "w2"

    async with db.transaction() as conn:
        assert await deliveries.complete(conn, "d1", "w2", status="done", now=at(32), history_id="h-1")
    done = await fetch(db, "d1")
    assert done["status"] == "done"
    assert done["history_id"] == "h-1"
    assert done["lease_owner"] is None and done["lease_until"] is None
    assert done["updated_at"] == at(32)
    assert await claim(db, "w3", at(1000)) == []


async def test_renewing_a_lease_keeps_others_away(db: Database) -> None:
    await enqueue(db, [delivery("a", id="d1")])
    await claim(db, "w1", at(0), lease=30)
    async with db.transaction() as conn:
        assert await deliveries.renew_lease(conn, "d1", "w1", now=at(25), lease_seconds=30)
    assert await claim(db, "w2", at(40)) == []
    assert [r["id"] for r in await claim(db, "w2", at(55))] == ["d1"]


async def test_complete_refuses_a_stale_owner_and_a_finished_row(db: Database) -> None:
    await enqueue(db, [delivery("a", id="d1")])
    await claim(db, "w1", at(0))
    async with db.transaction() as conn:
        assert not await deliveries.complete(conn, "d1", "intruder", status="failed", now=at(1))
        assert not await deliveries.complete(conn, "missing", "w1", status="done", now=at(1))
        with pytest.raises(ValueError, match="not a final delivery status: 'pending'"):
            await deliveries.complete(conn, "d1", "w1", status="pending", now=at(1))
        assert await deliveries.complete(conn, "d1", "w1", status="failed", now=at(1))
    assert (await fetch(db, "d1"))["status"] == "failed"
    async with db.transaction() as conn:
        # Finished rows have no lease any more; a repeated completion changes nothing.
        assert not await deliveries.complete(conn, "d1", "w1", status="done", now=at(2))
    assert (await fetch(db, "d1"))["status"] == "failed"


async def test_reschedule_releases_the_lease_until_the_next_attempt(db: Database) -> None:
    await enqueue(db, [delivery("a", id="d1")])
    await claim(db, "w1", at(0))
    async with db.transaction() as conn:
        assert not await deliveries.reschedule(
            conn, "d1", "w2", tries=1, next_attempt_at=at(100), last_error="nope", now=at(1)
        )
        assert await deliveries.reschedule(
            conn,
            "d1",
            "w1",
            tries=1,
            next_attempt_at=at(100),
            last_error="connect timeout",
            now=at(1),
            history_id="h-1",
        )
    row = await fetch(db, "d1")
    assert row["tries"] == 1
    assert row["next_attempt_at"] == at(100)
    assert row["last_error"] == "connect timeout"
    assert row["history_id"] == "h-1"
    assert row["lease_owner"] is None and row["lease_until"] is None
    assert row["status"] == "pending"

    assert await claim(db, "w2", at(99)) == []
    (again,) = await claim(db, "w2", at(100))
    assert again["tries"] == 1
    assert again["id"] == "d1"  # the same webhook-id on every attempt


async def test_finish_many_completes_and_reschedules_only_what_the_owner_holds(db: Database) -> None:
    await enqueue(db, [delivery(k, id=f"d-{k}") for k in ("a", "b", "c", "d", "e")])
    await claim(db, "w1", at(0), limit=4)  # d-e stays unleased
    async with db.transaction() as conn:
        # another worker took d-d over after a stall
        assert await deliveries.complete(conn, "d-d", "w1", status="cancelled", now=at(1))
    F = deliveries.Finish
    async with db.transaction() as conn:
        held = await deliveries.finish_many(
            conn,
            "w1",
            [
                F("d-a", "h-a", status="done"),
                F("d-b", "h-b", status="failed"),
                F("d-c", "h-c", tries=2, next_attempt_at=at(60), last_error="HTTP 503"),
                F("d-d", "h-d", status="done"),  # no longer pending
                F("d-e", "h-e", status="done"),  # never leased to w1
                F("d-missing", "h-x", status="done"),
            ],
            now=at(2),
        )
    assert held == {"d-a", "d-b", "d-c"}
    a, b, c, d, e = [await fetch(db, f"d-{k}") for k in "abcde"]
    assert (a["status"], a["history_id"], a["lease_owner"], a["updated_at"]) == ("done", "h-a", None, at(2))
    assert (b["status"], b["history_id"]) == ("failed", "h-b")
    assert (c["status"], c["tries"], c["next_attempt_at"], c["last_error"], c["history_id"]) == (
        "pending",
        2,
        at(60),
        "HTTP 503",
        "h-c",
    )
    assert c["lease_owner"] is None and c["lease_until"] is None
    assert (d["status"], d["history_id"]) == ("cancelled", None)
    assert (e["status"], e["history_id"]) == ("pending", None)
    async with db.transaction() as conn:
        assert await deliveries.finish_many(conn, "w1", [], now=at(3)) == set()
        with pytest.raises(ValueError, match="not a final delivery status"):
            await deliveries.finish_many(conn, "w1", [F("d-e", "h", status="pending")], now=at(3))
        with pytest.raises(ValueError, match="neither a final status nor a next attempt"):
            await deliveries.finish_many(conn, "w1", [F("d-e", "h")], now=at(3))


async def test_concurrent_claimers_on_two_engines_never_share_a_row(db: Database, db_url: str) -> None:
    total = 60
    await enqueue(db, [delivery(f"k{i:02d}", next_attempt_at=at(-i)) for i in range(total)])
    other = Database(db_url)
    claimed: list[str] = []

    async def worker(database: Database, owner: str) -> None:
        while True:
            rows = await claim(database, owner, at(0), limit=4)
            if not rows:
                return
            claimed.extend(r["id"] for r in rows)
            assert all(r["lease_owner"] == owner for r in rows)
            await asyncio.sleep(0)

    try:
        await asyncio.gather(*(worker(d, f"{n}-{i}") for n, d in (("a", db), ("b", other)) for i in range(3)))
    finally:
        await other.dispose()
    assert len(claimed) == total
    assert len(set(claimed)) == total


async def test_a_claim_in_an_open_transaction_is_invisible_to_another_claimer(
    db: Database, db_url: str
) -> None:
    await enqueue(db, [delivery(f"k{i}") for i in range(6)])
    other = Database(db_url)
    try:
        async with db.transaction() as conn:
            first = await deliveries.claim_due(conn, now=at(0), owner="a", lease_seconds=30, limit=3)
            rival = asyncio.create_task(claim(other, "b", at(0)))
            await asyncio.sleep(0.3)
            if db_url.startswith("sqlite"):
                # SQLite: one writer at a time, the rival waits for this transaction.
                assert not rival.done()
            else:
                # PostgreSQL: SKIP LOCKED, the rival takes the other rows without waiting.
                assert rival.done()
        second = await rival
    finally:
        await other.dispose()
    assert len(first) == 3
    assert len(second) == 3
    assert not {r["id"] for r in first} & {r["id"] for r in second}


# -- cancelling, counting, waking up, pruning --------------------------------------------------------------


async def test_cancel_for_integration(db: Database) -> None:
    await enqueue(
        db,
        [
            delivery("a1", id="a1", integration="A"),
            delivery("a2", id="a2", integration="A", next_attempt_at=at(500)),
            delivery("a3", id="a3", integration="A"),
            delivery("b1", id="b1", integration="B"),
        ],
    )
    async with db.transaction() as conn:
        rows = await deliveries.claim_due(conn, now=at(0), owner="w1", lease_seconds=30, limit=10)
        assert {r["id"] for r in rows} == {"a1", "a3", "b1"}
        assert await deliveries.complete(conn, "a3", "w1", status="done", now=at(1))
        assert await deliveries.cancel_for_integration(conn, "A", at(2)) == 2
    statuses = {k: (r["status"], r["lease_owner"]) for k, r in (await keys_of(db)).items()}
    assert statuses == {
        "a1": ("cancelled", None),
        "a2": ("cancelled", None),
        "a3": ("done", None),
        "b1": ("pending", "w1"),
    }
    async with db.transaction() as conn:
        # The worker busy with a1 finds its delivery cancelled under it.
        assert not await deliveries.complete(conn, "a1", "w1", status="done", now=at(3))
        assert await deliveries.cancel_for_integration(conn, "A", at(3)) == 0
    # Only B's delivery is left to do (once w1's lease on it runs out).
    assert [r["id"] for r in await claim(db, "w2", at(1000))] == ["b1"]


async def test_next_due_at(db: Database) -> None:
    async with db.transaction(write=False) as conn:
        assert await deliveries.next_due_at(conn) is None
    await enqueue(db, [delivery("a", next_attempt_at=at(50)), delivery("b", next_attempt_at=at(20))])
    async with db.transaction(write=False) as conn:
        assert await deliveries.next_due_at(conn) == at(20)

    # b is taken with a 10 s lease: the next wake-up is a's time or b's lease expiry, whichever first.
    await claim(db, "w1", at(20), lease=10)
    async with db.transaction(write=False) as conn:
        assert await deliveries.next_due_at(conn) == at(30)
    await claim(db, "w1", at(50), lease=100)  # takes a (and b again, its lease ran out)
    async with db.transaction(write=False) as conn:
        assert await deliveries.next_due_at(conn) == at(150)

    for row in (await keys_of(db)).values():
        async with db.transaction() as conn:
            assert await deliveries.complete(conn, row["id"], "w1", status="done", now=at(60))
    async with db.transaction(write=False) as conn:
        assert await deliveries.next_due_at(conn) is None


async def test_due_count_and_oldest_due_at(db: Database) -> None:
    await enqueue(
        db,
        [
            delivery("a", next_attempt_at=at(-40)),
            delivery("b", next_attempt_at=at(-5)),
            delivery("c", next_attempt_at=at(30)),
        ],
    )
    async with db.transaction(write=False) as conn:
        assert await deliveries.due_count(conn, at(0)) == 2
        assert await deliveries.oldest_due_at(conn, at(0)) == at(-40)
        assert await deliveries.due_count(conn, at(30)) == 3
        assert await deliveries.due_count(conn, at(-100)) == 0
        assert await deliveries.oldest_due_at(conn, at(-100)) is None
    await claim(db, "w1", at(0), limit=1, lease=20)  # takes a until 20 s
    async with db.transaction(write=False) as conn:
        assert await deliveries.due_count(conn, at(0)) == 1
        assert await deliveries.oldest_due_at(conn, at(0)) == at(-5)
        # Once the lease runs out, a counts again.
        assert await deliveries.oldest_due_at(conn, at(20)) == at(-40)
        assert await deliveries.due_count(conn, at(30)) == 3


async def test_prune_finished(db: Database) -> None:
    await enqueue(
        db, [delivery(k, id=k) for k in ("done-old", "failed-old", "cancel-old", "done-new", "pend")]
    )
    await claim(db, "w", at(0))
    async with db.transaction() as conn:
        assert await deliveries.complete(conn, "done-old", "w", status="done", now=at(10))
        assert await deliveries.complete(conn, "failed-old", "w", status="failed", now=at(11))
        assert await deliveries.complete(conn, "cancel-old", "w", status="cancelled", now=at(12))
        assert await deliveries.complete(conn, "done-new", "w", status="done", now=at(500))
        assert await deliveries.reschedule(
            conn, "pend", "w", tries=1, next_attempt_at=at(1), last_error="x", now=at(1)
        )
    async with db.transaction() as conn:
        assert await deliveries.prune_finished(conn, at(100), batch=2) == 2
        assert await deliveries.prune_finished(conn, at(100), batch=0) == 0
        assert await deliveries.prune_finished(conn, at(100)) == 1
        assert await deliveries.prune_finished(conn, at(100)) == 0
    # Pending rows stay however old they are; recent finished ones stay until they age.
    assert sorted(await keys_of(db)) == ["done-new", "pend"]


# -- outbox consumption ------------------------------------------------------------------------------------


async def test_claim_and_mark_events(db: Database) -> None:
    async with db.transaction() as conn:
        # Start from an outbox with nothing left to consume.
        leftovers = await events.claim_events(conn, limit=100_000)
        await events.mark_events_processed(conn, [r["id"] for r in leftovers], at(0))
        for i in range(5):
            await events.append(conn, type="messageSent", payload={"n": i}, created_at=at(i), room_id="r1")
    async with db.transaction() as conn:
        assert await events.claim_events(conn, limit=0) == []
        first = await events.claim_events(conn, limit=3)
        assert [r["payload"]["n"] for r in first] == [0, 1, 2]
        assert [r["id"] for r in first] == sorted(r["id"] for r in first)
        assert await events.mark_events_processed(conn, [r["id"] for r in first], at(10)) == 3
        # Marking again keeps the first stamp and reports nothing new.
        assert await events.mark_events_processed(conn, [first[0]["id"]], at(11)) == 0
        assert await events.mark_events_processed(conn, [], at(11)) == 0
    async with db.transaction() as conn:
        rest = await events.claim_events(conn, limit=10)
        assert [r["payload"]["n"] for r in rest] == [3, 4]
        assert all(r["processed_at"] is None for r in rest)
        await events.mark_events_processed(conn, [r["id"] for r in rest], at(12))
        assert await events.claim_events(conn, limit=10) == []
        stamped = await events.list_events(conn, after_id=first[0]["id"] - 1)
        assert [r["processed_at"] for r in stamped] == [at(10)] * 3 + [at(12)] * 2


# -- the SQL each dialect gets ---------------------------------------------------------------------------


class _Captured(Exception):
    pass


class _RecordingConnection:
    """Stands in for an AsyncConnection of a given dialect and keeps the first statement."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.statement: Any = None

    async def execute(self, statement: Any, *args: Any) -> Any:
        self.statement = statement
        raise _Captured


async def _sql(dialect: Dialect, call: Any) -> str:
    conn = _RecordingConnection(dialect)
    with pytest.raises(_Captured):
        await call(conn)
    return " ".join(str(conn.statement.compile(dialect=dialect)).split())


@pytest.mark.parametrize("dialect", [postgresql.dialect(), sqlite.dialect()], ids=["postgresql", "sqlite"])
async def test_claims_skip_locked_rows_on_postgresql_only(dialect: Dialect) -> None:
    is_pg = dialect.name == "postgresql"
    claim_sql = await _sql(
        dialect,
        lambda c: deliveries.claim_due(c, now=T0, owner="w", lease_seconds=5, limit=3),
    )
    # The pick runs once (a materialised CTE on PostgreSQL), then one UPDATE leases what it picked.
    assert claim_sql.startswith("WITH picked AS MATERIALIZED (" if is_pg else "WITH picked AS (")
    assert ") UPDATE deliveries SET" in claim_sql
    assert "RETURNING" in claim_sql
    assert ("FOR UPDATE SKIP LOCKED" in claim_sql) is is_pg

    events_sql = await _sql(dialect, lambda c: events.claim_events(c, limit=3))
    assert ("FOR UPDATE SKIP LOCKED" in events_sql) is is_pg

    enqueue_sql = await _sql(dialect, lambda c: deliveries.enqueue(c, [delivery("a")]))
    assert "ON CONFLICT (dedupe_key) DO NOTHING RETURNING" in enqueue_sql


async def test_enqueue_refuses_other_dialects() -> None:
    from sqlalchemy.dialects import mysql

    conn = _RecordingConnection(mysql.dialect())
    with pytest.raises(NotImplementedError, match="unsupported database dialect 'mysql'"):
        await deliveries.enqueue(conn, [delivery("a")])  # type: ignore[arg-type]


async def test_consumed_events_are_pruned_oldest_first_and_pending_ones_never(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute(events_table.delete())
        for n in range(5):
            await events.append(conn, type="messageSent", payload={"n": n}, created_at=at(n))
        ids = [int(e["id"]) for e in await events.list_events(conn)]
        await events.mark_events_processed(conn, ids[:3], at(10))
        await events.mark_events_processed(conn, ids[3:4], at(30))
    async with db.transaction() as conn:
        assert await events.prune_processed(conn, at(20), batch=2) == 2
        assert await events.prune_processed(conn, at(20), batch=2) == 1
        assert await events.prune_processed(conn, at(20), batch=2) == 0
        left = [(e["payload"]["n"], e["processed_at"]) for e in await events.list_events(conn)]
    assert left == [(3, at(30)), (4, None)]
