"""The PostgreSQL SQL of the incoming-hook fast path (store/pg_rows.py) keeps the contract of the
general path it replaces: `store.integrations`/`store.users` reads, and `store.messages`,
`store.rooms.bump_message_count` and `store.events.append` writes.

The database tests run on PostgreSQL only (skipped on SQLite, whose fast path
tests/store/test_sqlite_rows.py covers); each gets a fresh copy of the bootstrapped template
through the `hub` fixture. `EventPayload` is pure: its tests run on the SQLite pass.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import delete, func, insert, select, text, update

from hookhub.hub import Hub
from hookhub.runtime import incoming
from hookhub.runtime.rate_limit import RateLimiter
from hookhub.services import outbox
from hookhub.services.documents import message_doc, room_doc
from hookhub.services.messages import message_row
from hookhub.store import events, integrations, pg_rows, rooms, users
from hookhub.store.rows import Row, all_rows
from hookhub.store.tables import events as events_table
from hookhub.store.tables import integrations as integrations_table
from hookhub.store.tables import messages as messages_table
from hookhub.store.tables import rooms as rooms_table
from hookhub.store.tables import subscriptions as subscriptions_table
from tests import databases
from tests.api.test_hooks import json_call, url_of
from tests.conftest import assert_ok
from tests.runtime.test_hook_fast_path import member_hook
from tests.services.test_hook_cost import counting

# The database tests need PostgreSQL. The pure ones (`EventPayload`) run on the SQLite pass: the
# PostgreSQL pass deselects tests that use no database (tests/conftest.py).
on_postgres = pytest.mark.skipif(not databases.ON_POSTGRES, reason="store.pg_rows is PostgreSQL's")

# Microseconds on purpose; not the time of anything the template or a joining post wrote.
NOW = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


@asynccontextmanager
async def driver(hub: Hub) -> AsyncIterator[Any]:
    async with hub.db.driver_connection() as conn:
        yield conn


async def message_rows(hub: Hub, *ids: str) -> list[Row]:
    async with hub.tx(write=False) as ctx:
        rows = all_rows(await ctx.conn.execute(select(messages_table).where(messages_table.c.id.in_(ids))))
    return sorted(rows, key=lambda row: ids.index(row["id"]))


async def room_row(hub: Hub, room_id: str) -> Row:
    async with hub.tx(write=False) as ctx:
        room = await rooms.get_room(ctx.conn, room_id)
    assert room is not None
    return room


async def sent_events(hub: Hub) -> list[Row]:
    async with hub.tx(write=False) as ctx:
        return [e for e in await events.list_events(ctx.conn) if e["type"] == outbox.MESSAGE_SENT]


async def raw_payload(hub: Hub, event_id: int) -> str:
    """The payload as stored (text, before any decoding)."""
    async with hub.tx(write=False) as ctx:
        stored = (
            await ctx.conn.execute(text("SELECT payload FROM events WHERE id = :id"), {"id": event_id})
        ).scalar_one()
    assert isinstance(stored, str)
    return stored


def replaced(value: Any, old: str, new: str) -> Any:
    """`value` with every string equal to `old` replaced by `new`, at any depth."""
    if isinstance(value, dict):
        return {key: replaced(item, old, new) for key, item in value.items()}
    if isinstance(value, list):
        return [replaced(item, old, new) for item in value]
    return new if value == old else value


@on_postgres
async def test_the_fast_path_writes_what_the_general_path_writes(hub: Hub, http: httpx.AsyncClient) -> None:
    hook = await member_hook(
        hub, http, alias="CI", emoji=":robot:", channel=["#general"], scriptEnabled=False
    )
    body = {
        "text": '  build "msgs": passed  ',
        "attachments": [{"title": "main", "msg": 'all "msgs":1 green', "color": "#00ff00"}],
        "parseUrls": False,
        "customFields": {"build": 7, "msgs": 3},
    }
    before = await room_row(hub, "GENERAL")
    assert before["lm"] != NOW and before["updated_at"] != NOW
    hub.clock = lambda: NOW  # both posts at the same instant: only ids and counts may differ

    with counting(hub) as general:
        assert_ok(await http.post(url_of(hook), json=body))
    assert general == []  # served by the fast path
    after_fast = await room_row(hub, "GENERAL")
    call = json_call(hook, body)
    with counting(hub) as general:
        answer = await incoming.execute(hub, RateLimiter(), call, {})  # the general path, directly
    assert (answer.status, answer.body) == (200, {"success": True})
    assert general, "the general path did not run"
    after_general = await room_row(hub, "GENERAL")

    fast_event, general_event = (await sent_events(hub))[-2:]
    fast_id, general_id = fast_event["message_id"], general_event["message_id"]
    assert fast_id != general_id

    # the message rows: the same but for the id
    fast_row, general_row = await message_rows(hub, fast_id, general_id)
    assert fast_row["ts"] == fast_row["updated_at"] == NOW
    assert fast_row["msg"] == 'build "msgs": passed'
    assert {k: v for k, v in fast_row.items() if k != "id"} == {
        k: v for k, v in general_row.items() if k != "id"
    }

    # the room rows: one more message each, the last one's document
    assert after_fast["msgs"] == before["msgs"] + 1
    assert after_general["msgs"] == before["msgs"] + 2
    assert after_fast["lm"] == after_fast["updated_at"] == NOW
    assert after_fast["last_message"] == message_doc(fast_row)
    assert after_general["last_message"] == message_doc(general_row)
    changed = ("msgs", "last_message")
    assert {k: v for k, v in after_fast.items() if k not in changed} == {
        k: v for k, v in after_general.items() if k not in changed
    }
    assert {k: v for k, v in before.items() if k not in (*changed, "lm", "updated_at")} == {
        k: v for k, v in after_fast.items() if k not in (*changed, "lm", "updated_at")
    }

    # the event rows: the same but for their ids, message ids and room counts
    volatile = ("id", "message_id", "payload")
    assert {k: v for k, v in fast_event.items() if k not in volatile} == {
        k: v for k, v in general_event.items() if k not in volatile
    }
    assert fast_event["created_at"] == NOW and fast_event["room_id"] == "GENERAL"
    assert fast_event["processed_at"] is None
    assert fast_event["payload"]["room"]["msgs"] == after_fast["msgs"]
    assert general_event["payload"]["room"]["msgs"] == after_general["msgs"]
    assert fast_event["payload"]["room"] == room_doc(after_fast)
    assert fast_event["payload"]["message"] == message_doc(fast_row)
    assert fast_event["payload"]["message"]["customFields"] == {"build": 7, "msgs": 3}

    def comparable(payload: dict[str, Any], message_id: str) -> dict[str, Any]:
        out: dict[str, Any] = replaced(payload, message_id, "<message id>")
        out["room"] = dict(out["room"], msgs="<count>")
        return out

    assert comparable(fast_event["payload"], fast_id) == comparable(general_event["payload"], general_id)
    # and as stored: the same text (key order, number format) but for those values
    fast_text = await raw_payload(hub, fast_event["id"])
    general_text = await raw_payload(hub, general_event["id"])
    assert fast_text.replace(fast_id, "<message id>").replace(
        f'"msgs":{after_fast["msgs"]},', '"msgs":<count>,', 1
    ) == general_text.replace(general_id, "<message id>").replace(
        f'"msgs":{after_general["msgs"]},', '"msgs":<count>,', 1
    )


# --- EventPayload (pure) -------------------------------------------------------------------------


def _room(msgs: int, **values: Any) -> Row:
    row: Row = {
        "id": "ROOM1",
        "t": "c",
        "name": "alerts",
        "fname": "alerts",
        "creator_id": "u1",
        "creator_username": "boss",
        "ts": NOW - timedelta(days=1),
        "updated_at": NOW,
        "msgs": msgs,
        "users_count": 2,
        "ro": False,
        "archived": False,
        "is_default": False,
        "broadcast": False,
        "join_code": None,
        "team_id": None,
        "team_main": False,
        "uids": None,
        "usernames": None,
        "lm": NOW,
        "last_message": None,
        "extra": {},
    }
    return {**row, **values}


_USER: Row = {
    "id": "rocket.cat",
    "username": "rocket.cat",
    "name": "Rocket.Cat",
    "type": "bot",
    "active": True,
    "roles": ["bot"],
    "status": "online",
    "created_at": NOW - timedelta(days=2),
    "updated_at": NOW,
    "last_login": None,
    "extra": {},
}


def _payload_text(msgs: int, *, text: str = "hello", extra: dict[str, Any] | None = None) -> tuple[str, Row]:
    """A `messageSent` payload serialised as the fast path serialises it, and its room."""
    room = _room(msgs)
    message = message_row(room, _USER, text=text, now=NOW, extra=extra)
    payload = outbox.event_payload(room=room, message=message, actor=_USER)
    encoded = pg_rows.EVENTS.encode("payload", payload)
    assert isinstance(encoded, str)
    assert encoded == orjson.dumps(payload).decode()
    return encoded, room


@pytest.mark.parametrize("msgs", [0, 7, 10, 1234567])
def test_the_payload_is_split_around_the_rooms_count(msgs: int) -> None:
    encoded, room = _payload_text(msgs)
    split = pg_rows.EventPayload(encoded)
    assert split.head.startswith('{"room":{"_id":"ROOM1","t":"c",')
    assert split.head.endswith('"msgs":')
    assert split.tail.startswith(',"usersCount":2,')
    assert split.head + str(msgs) + split.tail == encoded
    # what the post statement stores for another count: the same payload with that count
    parsed = orjson.loads(split.head + "31" + split.tail)
    assert parsed == dict(orjson.loads(encoded), room=room_doc(dict(room, msgs=31)))


@pytest.mark.parametrize(
    ("text", "extra"),
    [
        ('"msgs":', None),
        ('count "msgs":12, "msgs": 3', None),
        ("plain", {"attachments": [{"text": '"msgs":5', "msgs": 6}]}),
        ('"msgs":1', {"customFields": {"msgs": 2}, "msgs": 9}),
    ],
)
def test_msgs_in_the_message_does_not_move_the_split(text: str, extra: dict[str, Any] | None) -> None:
    encoded, room = _payload_text(42, text=text, extra=extra)
    original = orjson.loads(encoded)
    split = pg_rows.EventPayload(encoded)
    assert split.head == encoded[: encoded.index(',"usersCount"')].removesuffix("42")
    assert split.head + "42" + split.tail == encoded
    parsed = orjson.loads(split.head + "8" + split.tail)
    assert parsed["room"] == room_doc(dict(room, msgs=8))
    assert parsed["message"] == original["message"]  # its text and fields untouched
    assert parsed["message"]["msg"] == text
    assert parsed["actor"] == original["actor"]


@pytest.mark.parametrize(
    "encoded",
    [
        orjson.dumps(outbox.event_payload(message=message_row(_room(1), _USER, text="x", now=NOW))).decode(),
        orjson.dumps(outbox.event_payload(user=_USER, actor=_USER)).decode(),
        '{"message":{"_id":"m"},"room":{"_id":"r","t":"c","msgs":3}}',
        ' {"room":{"_id":"r","t":"c","msgs":3}}',
        "",
    ],
)
def test_a_payload_not_starting_with_its_room_is_refused(encoded: str) -> None:
    with pytest.raises(ValueError, match="room snapshot"):
        pg_rows.EventPayload(encoded)


@pytest.mark.parametrize(
    "encoded", ['{"room":{"_id":"r","t":"c","msgs":null}}', '{"room":{"_id":"r","t":"c","msgs":"7"}}']
)
def test_a_room_count_that_is_not_a_number_is_refused(encoded: str) -> None:
    with pytest.raises(ValueError, match="not a number"):
        pg_rows.EventPayload(encoded)


# --- post_message, integration_and_user (database) -------------------------------------------------


CHANGES_SINCE_READ: dict[str, Any] = {
    "deleted": delete(rooms_table).where(rooms_table.c.id == "DOOMED"),
    "archived": update(rooms_table).where(rooms_table.c.id == "DOOMED").values(archived=True),
    "read-only": update(rooms_table).where(rooms_table.c.id == "DOOMED").values(ro=True),
    "left": delete(subscriptions_table).where(subscriptions_table.c.rid == "DOOMED"),
}


async def _insert_room(hub: Hub, room_id: str) -> None:
    """A channel with rocket.cat as its one member."""
    async with hub.tx() as ctx:
        await ctx.conn.execute(
            insert(rooms_table).values(id=room_id, t="c", name=room_id.lower(), ts=NOW, updated_at=NOW)
        )
        await ctx.conn.execute(
            insert(subscriptions_table).values(
                id=f"sub-{room_id}", rid=room_id, user_id="rocket.cat", t="c", ts=NOW, updated_at=NOW
            )
        )


async def _post(hub: Hub, room_id: str, user: Row) -> tuple[int | None, Row]:
    """What `hook_fast_path._post_postgresql` does once it has read the room: the post statement."""
    async with driver(hub) as conn:
        found = await pg_rows.room_for_post(conn, room_id, user["id"])
        assert found is not None
        return await _post_found(hub, conn, found[1], user)


async def _post_found(hub: Hub, conn: Any, room: Row, user: Row) -> tuple[int | None, Row]:
    row = message_row(room, user, text="to a room", now=NOW)
    payload = outbox.event_payload(
        room=dict(room, lm=NOW, last_message=message_doc(row), updated_at=NOW, msgs=0),
        message=row,
        actor=user,
    )
    written = await pg_rows.post_message(
        conn,
        message=row,
        last_message=message_doc(row),
        when=NOW,
        event_type=outbox.MESSAGE_SENT,
        event_user_id=user["id"],
        payload=pg_rows.EventPayload(pg_rows.EVENTS.encode("payload", payload)),
    )
    return written, row


async def _counts(hub: Hub) -> tuple[int, int]:
    async with hub.tx(write=False) as ctx:
        messages = (await ctx.conn.execute(select(func.count()).select_from(messages_table))).scalar_one()
        sent = (await ctx.conn.execute(select(func.count()).select_from(events_table))).scalar_one()
    return messages, sent


async def _rocket_cat(hub: Hub) -> Row:
    async with hub.tx(write=False) as ctx:
        user = await users.get_by_id(ctx.conn, "rocket.cat")
    assert user is not None
    return user


@on_postgres
async def test_post_message_returns_the_events_id(hub: Hub) -> None:
    await _insert_room(hub, "ROOMX")
    user = await _rocket_cat(hub)
    before = await _counts(hub)
    written, row = await _post(hub, "ROOMX", user)
    assert isinstance(written, int)
    assert await _counts(hub) == (before[0] + 1, before[1] + 1)
    async with hub.tx(write=False) as ctx:
        event = (await ctx.conn.execute(select(events_table).where(events_table.c.id == written))).one()
    assert event.message_id == row["id"] and event.room_id == "ROOMX"
    assert (await room_row(hub, "ROOMX"))["msgs"] == 1


@on_postgres
@pytest.mark.parametrize("change", list(CHANGES_SINCE_READ))
async def test_post_message_to_a_room_changed_since_it_was_read_writes_nothing(hub: Hub, change: str) -> None:
    """The room was deleted, archived or made read-only, or the poster left it, between the
    fast path's read and its post: the statement writes nothing (the general path decides)."""
    await _insert_room(hub, "DOOMED")
    user = await _rocket_cat(hub)
    async with driver(hub) as conn:
        found = await pg_rows.room_for_post(conn, "DOOMED", user["id"])
        assert found is not None and found[0].member
        async with hub.tx() as ctx:  # another connection, committed before the post
            await ctx.conn.execute(CHANGES_SINCE_READ[change])
        before = await _counts(hub)
        written, row = await _post_found(hub, conn, found[1], user)
    assert written is None
    assert await _counts(hub) == before
    assert await message_rows(hub, row["id"]) == []
    async with hub.tx(write=False) as ctx:
        stray = await ctx.conn.execute(
            select(events_table.c.id).where(
                (events_table.c.message_id == row["id"]) | (events_table.c.room_id == "DOOMED")
            )
        )
        assert stray.all() == []
        if change != "deleted":
            room = await rooms.get_room(ctx.conn, "DOOMED")
            assert room is not None and room["msgs"] == 0


@on_postgres
async def test_integration_and_user_of_an_unknown_integration(hub: Hub) -> None:
    async with driver(hub) as conn:
        assert await pg_rows.integration_and_user(conn, "no-such-integration") == (None, None)


@on_postgres
async def test_integration_and_user_reads_what_the_store_reads(hub: Hub, http: httpx.AsyncClient) -> None:
    hook = await member_hook(hub, http)
    async with hub.tx(write=False) as ctx:
        stored = await integrations.get_integration(ctx.conn, hook["_id"])
        user = await users.get_by_id(ctx.conn, "rocket.cat")
    assert stored is not None and user is not None
    async with driver(hub) as conn:
        assert await pg_rows.integration_and_user(conn, hook["_id"]) == (stored, user)


@on_postgres
async def test_integration_and_user_of_an_integration_whose_user_is_gone(
    hub: Hub, http: httpx.AsyncClient
) -> None:
    hook = await member_hook(hub, http)
    async with hub.tx() as ctx:
        await integrations.replace_integration(ctx.conn, dict(hook, userId="nobody-by-that-id"))
        stored = await integrations.get_integration(ctx.conn, hook["_id"])
    assert stored is not None and stored["userId"] == "nobody-by-that-id"
    async with driver(hub) as conn:
        assert await pg_rows.integration_and_user(conn, hook["_id"]) == (stored, None)


@on_postgres
async def test_integration_and_user_when_the_shadow_column_disagrees(
    hub: Hub, http: httpx.AsyncClient, admin: Any
) -> None:
    """The join goes through `user_id`; a user other than the document's `userId` is no user."""
    hook = await member_hook(hub, http)
    async with hub.tx() as ctx:
        await ctx.conn.execute(
            update(integrations_table)
            .where(integrations_table.c.id == hook["_id"])
            .values(user_id=admin.user_id)
        )
        stored = await integrations.get_integration(ctx.conn, hook["_id"])
    assert stored is not None and stored["userId"] == "rocket.cat"
    async with driver(hub) as conn:
        assert await pg_rows.integration_and_user(conn, hook["_id"]) == (stored, None)
