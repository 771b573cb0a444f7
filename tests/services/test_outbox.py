"""The transactional outbox: every change writes exactly one event in its own transaction, and a
rolled-back change leaves neither the change nor an event behind."""

from __future__ import annotations

from typing import Any

import pytest

from hookhub.hub import Hub
from hookhub.services import messages as message_service
from hookhub.services import rooms as room_service
from hookhub.services.users import insert_user, register
from hookhub.store import events, messages, rooms, users
from hookhub.store.rows import Row


class Boom(Exception):
    """Raised inside a transaction to force a rollback."""


async def last_event_id(hub: Hub) -> int:
    async with hub.tx(write=False) as ctx:
        rows = await events.list_events(ctx.conn, limit=100_000)
    return int(rows[-1]["id"]) if rows else 0


async def events_after(hub: Hub, after: int) -> list[Row]:
    async with hub.tx(write=False) as ctx:
        return await events.list_events(ctx.conn, after_id=after)


async def new_user(hub: Hub, username: str, *, join_default: bool = False) -> Row:
    async with hub.tx() as ctx:
        return await insert_user(
            ctx,
            username=username,
            name=username.title(),
            email=f"{username}@example.com",
            password_hash=None,
            roles=["user"],
            join_default_channels=join_default,
        )


async def new_channel(hub: Hub, owner: Row, name: str) -> Row:
    async with hub.tx() as ctx:
        return await room_service.create_room(ctx, owner, "c", name)


def kinds(rows: list[Row]) -> list[str]:
    return [r["type"] for r in rows]


@pytest.fixture
async def owner(hub: Hub) -> Row:
    return await new_user(hub, "owner")


@pytest.fixture
async def channel(hub: Hub, owner: Row) -> Row:
    return await new_channel(hub, owner, "town-square")


# -- one event per change -----------------------------------------------------------------------


async def test_user_created(hub: Hub) -> None:
    mark = await last_event_id(hub)
    user = await new_user(hub, "newcomer")
    written = await events_after(hub, mark)
    assert kinds(written) == ["userCreated"]
    event = written[0]
    assert event["user_id"] == user["id"]
    assert event["payload"]["user"]["username"] == "newcomer"
    assert event["processed_at"] is None
    assert "password" not in str(event["payload"])


async def test_registration_creates_the_user_before_it_joins_general(hub: Hub) -> None:
    mark = await last_event_id(hub)
    async with hub.tx() as ctx:
        user = await register(ctx, hub.hashing, {"username": "reg", "email": "reg@example.com", "pass": "pw"})
    written = await events_after(hub, mark)
    assert kinds(written) == ["userCreated", "roomJoined"]
    assert written[1]["room_id"] == "GENERAL" and written[1]["user_id"] == user["id"]
    assert "argon2" not in str(written[0]["payload"])


async def test_room_created(hub: Hub, owner: Row) -> None:
    mark = await last_event_id(hub)
    room = await new_channel(hub, owner, "fresh")
    written = await events_after(hub, mark)
    assert kinds(written) == ["roomCreated"]
    assert written[0]["room_id"] == room["id"]
    assert written[0]["payload"]["room"]["name"] == "fresh"


async def test_user_joined(hub: Hub, channel: Row) -> None:
    guest = await new_user(hub, "guest")
    mark = await last_event_id(hub)
    async with hub.tx() as ctx:
        room = await rooms.get_room(ctx.conn, channel["id"])
        assert room is not None
        assert await room_service.add_member(ctx, room, guest) is True
    written = await events_after(hub, mark)
    assert kinds(written) == ["roomJoined"]
    assert (written[0]["room_id"], written[0]["user_id"]) == (channel["id"], guest["id"])


async def test_joining_twice_writes_nothing(hub: Hub, channel: Row, owner: Row) -> None:
    mark = await last_event_id(hub)
    async with hub.tx() as ctx:
        assert await room_service.add_member(ctx, channel, owner) is False
    assert await events_after(hub, mark) == []


async def test_user_left(hub: Hub, channel: Row) -> None:
    guest = await new_user(hub, "leaver")
    async with hub.tx() as ctx:
        await room_service.add_member(ctx, channel, guest)
    mark = await last_event_id(hub)
    async with hub.tx() as ctx:
        room = await rooms.get_room(ctx.conn, channel["id"])
        assert room is not None
        await room_service.remove_member(ctx, room, guest)
    written = await events_after(hub, mark)
    assert kinds(written) == ["roomLeft"]
    assert (written[0]["room_id"], written[0]["user_id"]) == (channel["id"], guest["id"])


async def test_message_sent(hub: Hub, channel: Row, owner: Row) -> None:
    mark = await last_event_id(hub)
    async with hub.tx() as ctx:
        message = await message_service.insert_message(ctx, channel, owner, text="hello")
    written = await events_after(hub, mark)
    assert kinds(written) == ["messageSent"]
    event = written[0]
    assert (event["room_id"], event["message_id"]) == (channel["id"], message["id"])
    assert event["payload"]["message"]["msg"] == "hello"
    # the room snapshot already counts the message
    assert event["payload"]["room"]["msgs"] == 1


async def test_event_ids_increase(hub: Hub, owner: Row) -> None:
    mark = await last_event_id(hub)
    await new_channel(hub, owner, "a1")
    await new_channel(hub, owner, "a2")
    written = await events_after(hub, mark)
    assert [e["payload"]["room"]["name"] for e in written] == ["a1", "a2"]
    assert written[0]["id"] < written[1]["id"]


# -- rolled back: no change, no event -----------------------------------------------------------


async def test_rolled_back_user_creation(hub: Hub) -> None:
    mark = await last_event_id(hub)
    with pytest.raises(Boom):
        async with hub.tx() as ctx:
            await insert_user(
                ctx,
                username="ghost",
                name="Ghost",
                email=None,
                password_hash=None,
                roles=["user"],
                join_default_channels=True,
            )
            raise Boom
    assert await events_after(hub, mark) == []
    async with hub.tx(write=False) as ctx:
        assert await users.get_by_username(ctx.conn, "ghost") is None


async def test_rolled_back_room_creation(hub: Hub, owner: Row) -> None:
    mark = await last_event_id(hub)
    with pytest.raises(Boom):
        async with hub.tx() as ctx:
            await room_service.create_room(ctx, owner, "c", "phantom")
            raise Boom
    assert await events_after(hub, mark) == []
    async with hub.tx(write=False) as ctx:
        assert await rooms.get_room_by_name(ctx.conn, "phantom") is None


async def test_rolled_back_join(hub: Hub, channel: Row) -> None:
    guest = await new_user(hub, "shy")
    mark = await last_event_id(hub)
    with pytest.raises(Boom):
        async with hub.tx() as ctx:
            await room_service.add_member(ctx, dict(channel), guest)
            raise Boom
    assert await events_after(hub, mark) == []
    async with hub.tx(write=False) as ctx:
        assert await rooms.get_subscription(ctx.conn, channel["id"], guest["id"]) is None
        room = await rooms.get_room(ctx.conn, channel["id"])
    assert room is not None and room["users_count"] == channel["users_count"]


async def test_rolled_back_leave(hub: Hub, channel: Row) -> None:
    guest = await new_user(hub, "stayer")
    async with hub.tx() as ctx:
        await room_service.add_member(ctx, channel, guest)
    mark = await last_event_id(hub)
    with pytest.raises(Boom):
        async with hub.tx() as ctx:
            await room_service.remove_member(ctx, dict(channel), guest)
            raise Boom
    assert await events_after(hub, mark) == []
    async with hub.tx(write=False) as ctx:
        assert await rooms.get_subscription(ctx.conn, channel["id"], guest["id"]) is not None


async def test_rolled_back_message(hub: Hub, channel: Row, owner: Row) -> None:
    mark = await last_event_id(hub)
    captured: dict[str, Any] = {}
    with pytest.raises(Boom):
        async with hub.tx() as ctx:
            captured["message"] = await message_service.insert_message(ctx, channel, owner, text="oops")
            raise Boom
    assert await events_after(hub, mark) == []
    async with hub.tx(write=False) as ctx:
        assert await messages.get_message(ctx.conn, captured["message"]["id"]) is None
        room = await rooms.get_room(ctx.conn, channel["id"])
    assert room is not None and room["msgs"] == 0


async def test_failure_after_an_earlier_commit_keeps_only_the_committed_event(hub: Hub, owner: Row) -> None:
    mark = await last_event_id(hub)
    await new_channel(hub, owner, "kept")
    with pytest.raises(Boom):
        async with hub.tx() as ctx:
            await room_service.create_room(ctx, owner, "c", "dropped")
            raise Boom
    written = await events_after(hub, mark)
    assert [e["payload"]["room"]["name"] for e in written] == ["kept"]
