"""The cost of the incoming-webhook hot path in SQL statements (issue #4's benchmark goal): a
regression guard for the reads that used to be repeated, and a check that the statements that
replaced them still produce the same results."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event

from hookhub.hub import Hub
from hookhub.runtime import incoming
from hookhub.runtime.rate_limit import RateLimiter
from hookhub.store import events, rooms
from tests.api.test_hooks import json_call, make_hook, url_of
from tests.conftest import assert_ok

# BEGIN, integration, user, room with the poster's membership, message INSERT, room counters
# UPDATE ... RETURNING, event INSERT. It was 12 (four reads of the same subscription and a re-read
# of the room after its counter update).
HOT_PATH_BUDGET = 7


@contextmanager
def counting(hub: Hub) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = hub.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_a_member_posting_costs_at_most_the_budget(hub: Hub, http: httpx.AsyncClient) -> None:
    """The general path (runtime.incoming.execute), called directly: over HTTP this post would
    take the fast path (tests/runtime/test_hook_fast_path.py), which runs no SQLAlchemy at all."""
    hook = await make_hook(hub)
    assert_ok(await http.post(url_of(hook), json={"text": "first: joins #general"}))
    call = json_call(hook, {"text": "second"})
    with counting(hub) as statements:
        answer = await incoming.execute(hub, RateLimiter(), call, {})
    assert answer.status == 200
    assert len(statements) <= HOT_PATH_BUDGET, "\n".join(statements)
    subscription_reads = [s for s in statements if "FROM subscriptions" in s and "JOIN" not in s]
    assert subscription_reads == [], subscription_reads


async def test_the_event_snapshot_is_the_room_after_the_post(hub: Hub, http: httpx.AsyncClient) -> None:
    """The counter UPDATE's RETURNING row replaces the re-read: the `messageSent` event must
    still carry the room with the new count and last message."""
    hook = await make_hook(hub)
    async with hub.tx(write=False) as ctx:
        before = await rooms.get_room(ctx.conn, "GENERAL")
    assert before is not None
    for text in ("one", "two"):
        assert_ok(await http.post(url_of(hook), json={"text": text}))
    async with hub.tx(write=False) as ctx:
        sent = [e for e in await events.list_events(ctx.conn) if e["type"] == "messageSent"]
        after = await rooms.get_room(ctx.conn, "GENERAL")
    assert after is not None
    last = sent[-1]["payload"]
    assert last["room"]["msgs"] == before["msgs"] + 2 == after["msgs"]
    assert last["room"]["lastMessage"]["_id"] == last["message"]["_id"]
    assert last["message"]["msg"] == "two"
    assert sent[-2]["payload"]["room"]["msgs"] == before["msgs"] + 1


async def test_a_join_still_counts_the_member(hub: Hub, http: httpx.AsyncClient) -> None:
    """`adjust_users_count` reads the new count back through RETURNING now."""
    async with hub.tx(write=False) as ctx:
        before = await rooms.get_room(ctx.conn, "GENERAL")
    assert before is not None
    hook = await make_hook(hub)
    assert_ok(await http.post(url_of(hook), json={"text": "joins"}))
    async with hub.tx(write=False) as ctx:
        after = await rooms.get_room(ctx.conn, "GENERAL")
        joined = [e for e in await events.list_events(ctx.conn) if e["type"] == "roomJoined"]
    assert after is not None
    assert after["users_count"] == before["users_count"] + 1
    assert joined[-1]["payload"]["room"]["usersCount"] == after["users_count"]
