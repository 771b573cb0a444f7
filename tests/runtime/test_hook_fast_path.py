"""The incoming-hook fast path (runtime.hook_fast_path): which calls it serves, that what it
stores is what the general path stores, and that a call it hands over is counted once.

Runs on both databases: on SQLite the fast path is a job on the batch writer (its sqlite3
connection is traced), on PostgreSQL two reads and one self-committing statement through
`hub.db.driver_connection` (its asyncpg connection is logged). tests/store/test_pg_rows.py checks
the PostgreSQL SQL itself."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from hookhub.hub import Hub
from hookhub.runtime import incoming
from hookhub.runtime.rate_limit import RateLimiter
from hookhub.store import events, integrations, rooms
from hookhub.store.rows import all_rows
from hookhub.store.tables import messages
from hookhub.store.tables import rooms as rooms_table
from tests import databases
from tests.api.test_hooks import json_call, make_hook, url_of
from tests.conftest import assert_ok
from tests.services.test_hook_cost import counting

# SQLite: integration, user, room with membership, message INSERT, room UPDATE ... RETURNING,
# event INSERT. PostgreSQL (store.pg_rows): integration with its user, room with membership, and
# one statement writing the message, the room's counters and the event.
FAST_PATH_STATEMENTS = 3 if databases.ON_POSTGRES else 6
_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
_WRITES = ("INSERT", "UPDATE", "DELETE")
# a write keyword as a word (not `updated_at`), anywhere in the statement
_WRITE_WORD = re.compile(r"\b(?:INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


@asynccontextmanager
async def fast_path_statements(hub: Hub) -> AsyncIterator[list[str]]:
    """Statements run by the fast path's own connection while the block runs: the batch writer's
    on SQLite, the asyncpg connections `hub.db.driver_connection` hands out on PostgreSQL (the
    general path runs through SQLAlchemy and is not seen here: `counting` sees it)."""
    if hub.db.is_postgresql:
        async with _driver_statements(hub) as statements:
            yield statements
        return
    writer = hub.db.batch_writer
    assert writer is not None
    statements = []

    def trace(conn: sqlite3.Connection, callback: Any) -> None:
        conn.set_trace_callback(callback)

    await writer.run(lambda conn: trace(conn, statements.append))
    try:
        yield statements
    finally:
        await writer.run(lambda conn: trace(conn, None))


@asynccontextmanager
async def _driver_statements(hub: Hub) -> AsyncIterator[list[str]]:
    """Statements run on the asyncpg connections `hub.db.driver_connection` yields in the block
    (each gets a query logger for as long as it is lent out)."""
    database = hub.db
    lend = database.driver_connection
    statements: list[str] = []

    def log(query: Any) -> None:  # an asyncpg LoggedQuery
        statements.append(query.query)

    @asynccontextmanager
    async def logged() -> AsyncIterator[Any]:
        async with lend() as conn:
            conn.add_query_logger(log)
            try:
                yield conn
            finally:
                conn.remove_query_logger(log)
                # asyncpg calls a logger through loop.call_soon once the query is done: a
                # callback scheduled after those runs after them
                flushed = asyncio.get_running_loop().create_future()
                asyncio.get_running_loop().call_soon(flushed.set_result, None)
                await flushed

    database.driver_connection = logged  # type: ignore[method-assign]  # shadows the method
    try:
        yield statements
    finally:
        del database.driver_connection


async def stored_messages(hub: Hub) -> dict[str, dict[str, Any]]:
    """Every message row of #general by id."""
    async with hub.tx(write=False) as ctx:
        rows = all_rows(await ctx.conn.execute(select(messages).where(messages.c.rid == "GENERAL")))
    return {row["id"]: row for row in rows}


def data_statements(statements: list[str]) -> list[str]:
    return [s for s in statements if not s.lstrip().upper().startswith(_TRANSACTION_CONTROL)]


def writes(statements: list[str]) -> list[str]:
    """The data statements that write: on PostgreSQL the post statement starts with
    `WITH room AS (UPDATE ...`, so any statement with a write keyword counts there."""
    if databases.ON_POSTGRES:
        return [s for s in data_statements(statements) if _WRITE_WORD.search(s)]
    return [s for s in data_statements(statements) if s.lstrip().upper().startswith(_WRITES)]


async def member_hook(hub: Hub, http: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    """A hook whose user already belongs to #general (the first post joined it)."""
    hook = await make_hook(hub, **fields)
    assert_ok(await http.post(url_of(hook), json={"text": "joins #general"}))
    return hook


async def test_a_member_posting_is_served_in_a_few_statements(hub: Hub, http: httpx.AsyncClient) -> None:
    hook = await member_hook(hub, http)
    with counting(hub) as general:
        async with fast_path_statements(hub) as fast:
            r = await http.post(url_of(hook), json={"text": "fast"})
    assert r.status_code == 200 and r.json() == {"success": True}
    assert general == []
    assert len(data_statements(fast)) == FAST_PATH_STATEMENTS, fast
    assert len(writes(fast)) == (1 if databases.ON_POSTGRES else 3), fast


def _comparable(doc: dict[str, Any]) -> dict[str, Any]:
    """A document without what differs between two posts of the same text (ids, dates)."""
    volatile = {"_id", "ts", "_updatedAt", "lm", "msgs", "lastMessage"}
    out = {k: v for k, v in doc.items() if k not in volatile}
    for key in ("room", "message", "actor"):
        if isinstance(out.get(key), dict):
            out[key] = _comparable(out[key])
    return out


async def test_the_fast_path_stores_what_the_general_path_stores(hub: Hub, http: httpx.AsyncClient) -> None:
    hook = await member_hook(
        hub, http, alias="CI", emoji=":robot:", channel=["#general"], scriptEnabled=False
    )
    body = {
        "text": "  build passed  ",
        "attachments": [{"title": "main", "msg": "all green", "color": "#00ff00"}],
        "parseUrls": False,
        "customFields": {"build": 7},
    }
    with counting(hub) as general:
        assert_ok(await http.post(url_of(hook), json=body))
    assert general == []  # served by the fast path
    call = json_call(hook, body)
    answer = await incoming.execute(hub, RateLimiter(), call, {})  # the general path, directly
    assert (answer.status, answer.body) == (200, {"success": True})

    async with hub.tx(write=False) as ctx:
        sent = [e for e in await events.list_events(ctx.conn) if e["type"] == "messageSent"][-2:]
        room = await rooms.get_room(ctx.conn, "GENERAL")
    stored = await stored_messages(hub)
    fast_row, general_row = (stored[e["message_id"]] for e in sent)
    assert {k: v for k, v in fast_row.items() if k not in ("id", "ts", "updated_at")} == {
        k: v for k, v in general_row.items() if k not in ("id", "ts", "updated_at")
    }
    assert fast_row["msg"] == "build passed"
    assert fast_row["extra"]["attachments"] == [{"title": "main", "text": "all green", "color": "#00ff00"}]
    fast_event, general_event = sent
    assert fast_event["payload"]["message"]["_id"] == fast_row["id"]
    assert _comparable(fast_event["payload"]) == _comparable(general_event["payload"])
    assert {
        k: v for k, v in fast_event.items() if k not in ("id", "payload", "created_at", "message_id")
    } == {k: v for k, v in general_event.items() if k not in ("id", "payload", "created_at", "message_id")}
    assert room is not None
    assert (
        fast_event["payload"]["room"]["msgs"] + 1 == general_event["payload"]["room"]["msgs"] == room["msgs"]
    )


HANDED_OVER: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # name: (integration fields, body)
    "payload destination": (
        {"overrideDestinationChannelEnabled": True},
        {"text": "x", "channel": "#general"},
    ),
    "separate response": ({}, {"text": "x", "separateResponse": True}),
    "thread reply": ({}, {"text": "x", "tmid": "nope"}),
    "two destinations": ({"channel": ["#general", "@rocket.cat"]}, {"text": "x"}),
    "a direct message": ({"channel": ["@boss"]}, {"text": "x"}),
    "message too long": ({}, {"text": "x" * 6000}),
    "bad attachment": ({}, {"text": "x", "attachments": [{"title_link": "javascript:alert(1)"}]}),
}


@pytest.mark.parametrize("case", list(HANDED_OVER))
async def test_other_calls_are_handed_to_the_general_path(
    hub: Hub, http: httpx.AsyncClient, case: str
) -> None:
    fields, body = HANDED_OVER[case]
    hook = (
        await member_hook(hub, http, **fields) if "channel" not in fields else await make_hook(hub, **fields)
    )
    with counting(hub) as general:
        async with fast_path_statements(hub) as fast:
            await http.post(url_of(hook), json=body)
    assert general, "the general path did not run"
    assert data_statements(fast), "the fast path did not look at the call"
    assert writes(fast) == []


async def test_a_room_to_join_first_is_handed_over(hub: Hub, http: httpx.AsyncClient) -> None:
    hook = await make_hook(hub)
    with counting(hub) as general:
        assert_ok(await http.post(url_of(hook), json={"text": "joins"}))
    assert any("INSERT INTO subscriptions" in s for s in general)


@pytest.mark.parametrize("flag", ["ro", "archived"])
async def test_read_only_and_archived_rooms_are_handed_over(
    hub: Hub, http: httpx.AsyncClient, flag: str
) -> None:
    hook = await member_hook(hub, http)
    async with hub.tx() as ctx:
        await ctx.conn.execute(update(rooms_table).where(rooms_table.c.id == "GENERAL").values({flag: True}))
    with counting(hub) as general:
        r = await http.post(url_of(hook), json={"text": "x"})
    assert general
    assert r.status_code == 400


async def test_a_handed_over_call_is_counted_once(hub: Hub, http: httpx.AsyncClient) -> None:
    """A disabled integration: the fast path counts the call, the general path answers 503."""
    hook = await member_hook(hub, http, rateLimit=3)
    async with hub.tx() as ctx:
        await integrations.replace_integration(ctx.conn, dict(hook, enabled=False))
    first = await http.post(url_of(hook), json={"text": "x"})
    assert first.status_code == 503
    assert first.headers["x-ratelimit-remaining"] == "1"
    second = await http.post(url_of(hook), json={"text": "x"})
    assert second.headers["x-ratelimit-remaining"] == "0"
    assert (await http.post(url_of(hook), json={"text": "x"})).status_code == 429


async def test_a_rate_limited_call_writes_nothing(hub: Hub, http: httpx.AsyncClient) -> None:
    hook = await member_hook(hub, http, rateLimit=2)  # the joining post counted once
    assert_ok(await http.post(url_of(hook), json={"text": "second"}))
    refused = await http.post(url_of(hook), json={"text": "third"})
    assert refused.status_code == 429
    assert refused.headers["x-ratelimit-remaining"] == "0"
    texts = [m["msg"] for m in (await stored_messages(hub)).values()]
    assert "third" not in texts and "second" in texts


async def test_a_burst_loses_nothing_and_doubles_nothing(hub: Hub, http: httpx.AsyncClient) -> None:
    hook = await member_hook(hub, http)
    async with hub.tx(write=False) as ctx:
        before = await rooms.get_room(ctx.conn, "GENERAL")
    assert before is not None
    texts = [f"burst {n}" for n in range(60)]
    answers = await asyncio.gather(*(http.post(url_of(hook), json={"text": t}) for t in texts))
    assert all(r.status_code == 200 for r in answers)
    stored = [m["msg"] for m in (await stored_messages(hub)).values()]
    async with hub.tx(write=False) as ctx:
        sent = [e for e in await events.list_events(ctx.conn) if e["type"] == "messageSent"]
        after = await rooms.get_room(ctx.conn, "GENERAL")
    assert after is not None
    assert sorted(t for t in stored if t.startswith("burst")) == sorted(texts)
    assert after["msgs"] == before["msgs"] + 60
    assert sorted(
        e["payload"]["message"]["msg"] for e in sent if e["payload"]["message"]["msg"].startswith("burst")
    ) == sorted(texts)
    counts = sorted(e["payload"]["room"]["msgs"] for e in sent[-60:])
    assert counts == list(range(before["msgs"] + 1, before["msgs"] + 61))
