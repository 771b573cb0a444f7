"""The outgoing-webhook engine end to end (webhook-runtime.md §3.4-3.11, §5; issue #5): messages
posted through the API, integrations created through `integrations.create`, the engine running
in-process and real HTTP receivers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from standardwebhooks import Webhook

from hookhub.hub import Hub
from hookhub.ids import iso, random_id
from hookhub.runtime import signing
from hookhub.runtime.egress import EgressClient
from hookhub.runtime.outgoing import LOOP_DEPTH_EXCEEDED, OutgoingEngine
from hookhub.runtime.outgoing_payloads import USER_AGENT
from hookhub.store import deliveries, events
from hookhub.store import integrations as integration_store
from tests.conftest import RC, assert_ok

# -- a tiny HTTP/1.1 receiver ----------------------------------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Reply = tuple[int, dict[str, str], bytes]


@dataclass
class Receiver:
    """Answers every request with `respond(request)`; keeps what it received."""

    respond: Callable[[Received], Reply] = lambda _r: (200, {"Content-Type": "text/plain"}, b"ok")
    requests: list[Received] = field(default_factory=list)
    server: asyncio.Server | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    handlers: set[asyncio.Task[None]] = field(default_factory=set)
    # Seconds to wait before answering (a slow receiver).
    delay: float = 0.0

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hook"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            # Idle keep-alive connections end their handlers; the loop must not cancel them.
            for task in list(self.handlers):
                task.cancel()
            await asyncio.gather(*self.handlers, return_exceptions=True)
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, path, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    header = (await reader.readline()).decode("latin-1").rstrip("\r\n")
                    if not header:
                        break
                    name, _, value = header.partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Received(method, path, headers, body)
                self.requests.append(request)
                self.arrived.set()
                if self.delay:
                    await asyncio.sleep(self.delay)
                status, reply_headers, reply_body = self.respond(request)
                head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(reply_body)}"]
                head += [f"{k}: {v}" for k, v in reply_headers.items()]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + reply_body)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            self.handlers.discard(task)
            writer.close()

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"expected {count} requests, got {len(self.requests)}"
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), remaining)
        return self.requests


def json_reply(status: int, body: Any) -> Callable[[Received], Reply]:
    return lambda _r: (status, {"Content-Type": "application/json"}, json.dumps(body).encode())


def text_reply(status: int, body: str) -> Callable[[Received], Reply]:
    return lambda _r: (status, {"Content-Type": "text/plain"}, body.encode())


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.close()


# -- the engine -------------------------------------------------------------------------------------


@pytest.fixture
def fast_hub(hub: Hub) -> Hub:
    # Retries 1000x faster, replies deeper than 2 are cut (settings the engine reads with getattr).
    hub.settings = hub.settings.model_copy(update={"retry_time_scale": 0.001, "outgoing_max_depth": 2})
    return hub


def make_engine(hub: Hub, **kwargs: Any) -> OutgoingEngine:
    return OutgoingEngine(hub, egress=EgressClient(allow=["127.0.0.1/32"]), poll_seconds=0.05, **kwargs)


@pytest.fixture
async def engine(fast_hub: Hub) -> AsyncIterator[OutgoingEngine]:
    the_engine = make_engine(fast_hub)
    await the_engine.start()
    yield the_engine
    await the_engine.stop()


async def create_outgoing(hub: Hub, admin: RC, url: str, **overrides: Any) -> dict[str, Any]:
    """integrations.create, then a signing secret when the document has none yet."""
    body: dict[str, Any] = {
        "type": "webhook-outgoing",
        "name": "Deploy bot",
        "enabled": True,
        "username": "rocket.cat",
        "urls": [url],
        "scriptEnabled": False,
        "channel": "#general",
        "triggerWords": ["deploy"],
        "event": "sendMessage",
        "token": "tok-123",
        "alias": "Deployer",
    }
    body.update(overrides)
    doc: dict[str, Any] = assert_ok(await admin.post("integrations.create", body))["integration"]
    if not doc.get("signingSecret"):
        async with hub.tx() as ctx:
            doc = {**doc, "signingSecret": signing.new_secret()}
            await integration_store.replace_integration(ctx.conn, doc)
    return doc


async def post(admin: RC, text: str, channel: str = "#general") -> dict[str, Any]:
    message: dict[str, Any] = assert_ok(await admin.post("chat.postMessage", channel=channel, text=text))[
        "message"
    ]
    return message


async def history(admin: RC, integration_id: str) -> list[dict[str, Any]]:
    body = assert_ok(await admin.get("integrations.history", id=integration_id, sort='{"_createdAt": 1}'))
    records: list[dict[str, Any]] = body["history"]
    return records


async def wait_until(check: Callable[[], Any], timeout: float = 10.0) -> Any:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def settled(hub: Hub) -> bool:
    """No pending delivery and no unprocessed event left."""
    async with hub.tx(write=False) as ctx:
        pending = await ctx.conn.exec_driver_sql(
            "SELECT (SELECT count(*) FROM deliveries WHERE status = 'pending')"
            " + (SELECT count(*) FROM events WHERE processed_at IS NULL)"
        )
        return int(pending.scalar_one()) == 0


async def delivery_rows(hub: Hub, integration_id: str) -> list[dict[str, Any]]:
    async with hub.tx(write=False) as ctx:
        result = await ctx.conn.execute(
            text("SELECT id FROM deliveries WHERE integration_id = :i ORDER BY created_at"),
            {"i": integration_id},
        )
        ids = [r[0] for r in result]
        rows = [await deliveries.get_delivery(ctx.conn, i) for i in ids]
    return [r for r in rows if r is not None]


async def steps_of(admin: RC, integration_id: str, count: int) -> list[str]:
    async def enough() -> list[str] | None:
        records = await history(admin, integration_id)
        steps = [r["step"] for r in records]
        return steps if len(records) >= count and all(_final(s) for s in steps) else None

    result: list[str] = await wait_until(enough)
    return result


def _final(step: str) -> bool:
    return step not in ("start-execute-trigger-url", "mapped-args-to-data", "pre-http-call")


# -- the happy path ----------------------------------------------------------------------------------


async def test_message_with_trigger_word_is_delivered_signed(
    fast_hub: Hub, admin: RC, receiver: Receiver, engine: OutgoingEngine
) -> None:
    integration = await create_outgoing(fast_hub, admin, receiver.url)
    message = await post(admin, "deploy api now")
    engine.wake()
    [request] = await receiver.wait_for(1)

    assert request.method == "POST" and request.path == "/hook"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == USER_AGENT
    assert request.json() == {
        "token": "tok-123",
        "bot": False,
        "trigger_word": "deploy",
        "channel_id": "GENERAL",
        "channel_name": "general",
        "message_id": message["_id"],
        "timestamp": message["ts"],
        "user_id": admin.user_id,
        "user_name": "boss",
        "text": "deploy api now",
        "siteUrl": fast_hub.settings.site_url,
    }
    # Standard Webhooks: our verifier and the reference library both accept the signature.
    secret = integration.get("signingSecret")
    if secret is None:
        async with fast_hub.tx(write=False) as ctx:
            stored = await integration_store.get_integration(ctx.conn, integration["_id"])
        assert stored is not None
        secret = stored["signingSecret"]
    assert signing.verify(secret, request.headers, request.body)
    assert Webhook(secret).verify(request.body, request.headers) == request.json()
    assert not signing.verify(signing.new_secret(), request.headers, request.body)

    [delivery] = await delivery_rows(fast_hub, integration["_id"])
    assert request.headers["webhook-id"] == delivery["id"]
    await wait_until(lambda: settled(fast_hub))
    [record] = await history(admin, integration["_id"])
    assert record["step"] == "after-http-call"
    assert record["event"] == "sendMessage"
    assert record["integration"]["_id"] == integration["_id"]
    # what was sent, its token masked (history never holds secrets)
    sent = {**request.json(), "token": "[redacted]"}
    assert record["data"] == sent
    assert record["triggerWord"] == "deploy"
    assert record["ranPrepareScript"] is True
    assert record["url"] == receiver.url
    assert record["httpCallData"] == sent
    assert record["httpResult"] == '"ok"'
    assert "httpError" not in record and "error" not in record and "finished" not in record
    [delivery] = await delivery_rows(fast_hub, integration["_id"])
    assert delivery["status"] == "done" and delivery["history_id"] == record["_id"]


async def test_messages_without_trigger_word_or_elsewhere_do_not_fire(
    fast_hub: Hub, admin: RC, receiver: Receiver, engine: OutgoingEngine
) -> None:
    integration = await create_outgoing(fast_hub, admin, receiver.url)
    assert_ok(await admin.post("channels.create", name="other"))
    await post(admin, "please deploy")  # not a prefix
    await post(admin, "Deploy")  # case-sensitive
    await post(admin, "deploy elsewhere", channel="#other")
    engine.wake()
    await wait_until(lambda: settled(fast_hub))
    assert receiver.requests == []
    assert await history(admin, integration["_id"]) == []


async def test_reply_text_is_posted_back_as_the_integration_user(
    fast_hub: Hub, admin: RC, receiver: Receiver, engine: OutgoingEngine
) -> None:
    receiver.respond = json_reply(200, {"text": "deployed!", "emoji": ":rocket:"})
    integration = await create_outgoing(fast_hub, admin, receiver.url)
    await post(admin, "deploy it")
    engine.wake()
    await receiver.wait_for(1)

    async def reply() -> dict[str, Any] | None:
        body = assert_ok(await admin.get("channels.messages", roomId="GENERAL"))
        return next((m for m in body["messages"] if m.get("msg") == "deployed!"), None)

    message = await wait_until(reply)
    assert message["u"]["username"] == "rocket.cat"
    assert message["bot"]["i"] == integration["_id"]
    assert message["alias"] == "Deployer"
    assert message["emoji"] == ":rocket:"
    await wait_until(lambda: settled(fast_hub))
    [record] = await history(admin, integration["_id"])
    assert record["step"] == "url-response-sent-message"
    assert record["finished"] is True
    [sent] = record["resultMessage"]
    assert sent["message"]["_id"] == message["_id"]


async def test_reply_goes_to_the_target_room_and_falls_back_to_the_event_room(
    fast_hub: Hub, admin: RC, receiver: Receiver, engine: OutgoingEngine
) -> None:
    assert_ok(await admin.post("channels.create", name="ops"))

    def respond(request: Received) -> Reply:
        # A reply naming a room that does not exist lands in the integration's targetRoom (first
        # integration) or, without one, in the event's room (second).
        body = (
            {"text": "to ops", "channel": "#nowhere"}
            if "first" in request.path
            else {"text": "lost", "channel": "#nowhere"}
        )
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    receiver.respond = respond
    await create_outgoing(fast_hub, admin, receiver.url + "?first", targetRoom="#ops")
    await create_outgoing(fast_hub, admin, receiver.url + "?second", triggerWords=["ship"])
    await post(admin, "deploy a")
    await post(admin, "ship b")
    engine.wake()
    await receiver.wait_for(2)
    await wait_until(lambda: settled(fast_hub))
    ops = assert_ok(await admin.get("channels.messages", roomName="ops"))["messages"]
    assert [m["msg"] for m in ops if m.get("bot")] == ["to ops"]
    general = assert_ok(await admin.get("channels.messages", roomId="GENERAL"))["messages"]
    assert [m["msg"] for m in general if m.get("bot")] == ["lost"]


# -- response handling ------------------------------------------------------------------------------


async def test_410_with_a_body_disables_the_integration(
    fast_hub: Hub, admin: RC, receiver: Receiver, engine: OutgoingEngine
) -> None:
    receiver.respond = text_reply(410, "gone")
    integration = await create_outgoing(fast_hub, admin, receiver.url, retryFailedCalls=True, retryCount=3)
    await post(admin, "deploy 1")
    engine.wake()
    await receiver.wait_for(1)
    await wait_until(lambda: settled(fast_hub))
    doc = assert_ok(await admin.get("integrations.get", integrationId=integration["_id"]))["integration"]
    assert doc["enabled"] is False
    assert doc["_updatedAt"] > integration["_updatedAt"]
    [record] = await history(admin, integration["_id"])
    assert record["step"] == "after-process-http-status-410"
    assert record["error"] is True
    assert record["httpResult"] == '"gone"'

    await post(admin, "deploy 2")
    engine.wake()
    await wait_until(lambda: settled(fast_hub))
    assert len(receiver.requests) == 1


async def test_500_with_a_body_is_not_retried(
    fast_hub: Hub, admin: RC, receiver: Receiver, engine: OutgoingEngine
) -> None:
    receiver.respond = text_reply(500, "boom")
    integration = await create_outgoing(fast_hub, admin, receiver.url, retryFailedCalls=True, retryCount=3)
    await post(admin, "deploy")
    engine.wake()
    assert await steps_of(admin, integration["_id"], 1) == ["after-process-http-status-500"]
    await wait_until(lambda: settled(fast_hub))
    await asyncio.sleep(0.2)
    assert len(receiver.requests) == 1
    [delivery] = await delivery_rows(fast_hub, integration["_id"])
    assert delivery["status"] == "failed" and delivery["tries"] == 0


async def test_failures_are_retried_with_the_same_webhook_id_until_too_many(
    fast_hub: Hub, admin: RC, receiver: Receiver, engine: OutgoingEngine
) -> None:
    receiver.respond = text_reply(503, "busy")
    integration = await create_outgoing(
        fast_hub, admin, receiver.url, retryFailedCalls=True, retryCount=2, retryDelay="powers-of-two"
    )
    await post(admin, "deploy")
    engine.wake()
    requests = await receiver.wait_for(3)
    assert await steps_of(admin, integration["_id"], 3) == [
        "going-to-retry-1",
        "going-to-retry-2",
        "too-many-retries",
    ]
    await wait_until(lambda: settled(fast_hub))
    assert len(receiver.requests) == 3
    ids = {r.headers["webhook-id"] for r in requests}
    [delivery] = await delivery_rows(fast_hub, integration["_id"])
    assert ids == {delivery["id"]}
    assert delivery["status"] == "failed" and delivery["tries"] == 2
    assert delivery["last_error"] == "HTTP 503"
    records = await history(admin, integration["_id"])
    assert all(r["error"] is True for r in records)
    assert len({r["_id"] for r in records}) == 3


async def test_a_retry_that_succeeds_ends_the_delivery(
    fast_hub: Hub, admin: RC, receiver: Receiver, engine: OutgoingEngine
) -> None:
    answers = iter([(200, {}, b""), (200, {"Content-Type": "text/plain"}, b"fine")])
    receiver.respond = lambda _r: next(answers)
    integration = await create_outgoing(fast_hub, admin, receiver.url, retryFailedCalls=True, retryCount=4)
    await post(admin, "deploy")
    engine.wake()
    await receiver.wait_for(2)
    # A 200 with an empty body is a failure (upstream issue #25562), retried.
    assert await steps_of(admin, integration["_id"], 2) == ["going-to-retry-1", "after-http-call"]
    await wait_until(lambda: settled(fast_hub))
    [delivery] = await delivery_rows(fast_hub, integration["_id"])
    assert delivery["status"] == "done" and delivery["tries"] == 1


async def test_connection_refused_is_retried(fast_hub: Hub, admin: RC, engine: OutgoingEngine) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/nobody"
    integration = await create_outgoing(fast_hub, admin, url, retryFailedCalls=True, retryCount=2)
    await post(admin, "deploy")
    engine.wake()
    steps = await steps_of(admin, integration["_id"], 3)
    assert steps == ["going-to-retry-1", "going-to-retry-2", "too-many-retries"]
    for record in await history(admin, integration["_id"]):
        assert record["httpResult"] == "null"
        assert record["httpError"]["name"] == "FetchError"
        assert "connection failed" in record["httpError"]["message"]


async def test_egress_refusal_is_recorded_and_not_retried(
    fast_hub: Hub, admin: RC, engine: OutgoingEngine
) -> None:
    integration = await create_outgoing(
        fast_hub, admin, "http://169.254.169.254/latest/meta-data", retryFailedCalls=True, retryCount=3
    )
    await post(admin, "deploy")
    engine.wake()
    await steps_of(admin, integration["_id"], 1)
    await wait_until(lambda: settled(fast_hub))
    [record] = await history(admin, integration["_id"])
    assert record["step"] == "after-http-call"
    assert record["httpResult"] == "null"
    assert record["httpError"] == {
        "name": "EgressRefused",
        "message": "refused: 169.254.169.254 is a cloud metadata address",
    }
    [delivery] = await delivery_rows(fast_hub, integration["_id"])
    assert delivery["status"] == "failed" and delivery["tries"] == 0


async def test_retry_after_on_503_delays_the_next_attempt(
    fast_hub: Hub, admin: RC, receiver: Receiver, engine: OutgoingEngine
) -> None:
    answers = iter([(503, {"Retry-After": "400"}, b"later"), (200, {}, b"ok")])
    arrivals: list[float] = []

    def respond(_request: Received) -> Reply:
        arrivals.append(time.monotonic())
        return next(answers)

    receiver.respond = respond
    await create_outgoing(fast_hub, admin, receiver.url, retryFailedCalls=True, retryCount=1)
    await post(admin, "deploy")
    engine.wake()
    await receiver.wait_for(2)
    # 400 s x the 0.001 time scale: 0.4 s instead of powers-of-ten's 0.1 ms. (Measured between the
    # two arrivals: the rescheduled row itself may already be claimed again when a slow test
    # database is read.)
    assert 0.39 <= arrivals[1] - arrivals[0] < 10


# -- durability -------------------------------------------------------------------------------------


async def test_a_lease_of_a_dead_worker_is_taken_again_after_it_expires(
    fast_hub: Hub, admin: RC, receiver: Receiver
) -> None:
    integration = await create_outgoing(fast_hub, admin, receiver.url)
    await post(admin, "deploy once")
    engine = make_engine(fast_hub)
    _, enqueued = await engine.consume_once()
    assert enqueued == 1
    async with fast_hub.tx() as ctx:
        [taken] = await deliveries.claim_due(
            ctx.conn, now=fast_hub.clock(), owner="dead-worker", lease_seconds=0.6, limit=10
        )
    claimed_at = time.monotonic()
    await engine.start()
    try:
        [request] = await receiver.wait_for(1)
        assert time.monotonic() - claimed_at >= 0.5
        assert request.headers["webhook-id"] == taken["id"]
        await wait_until(lambda: settled(fast_hub))
    finally:
        await engine.stop()
    [delivery] = await delivery_rows(fast_hub, integration["_id"])
    assert delivery["status"] == "done" and delivery["lease_owner"] is None
    # The dead worker cannot overwrite the outcome any more.
    async with fast_hub.tx() as ctx:
        assert not await deliveries.complete(
            ctx.conn, taken["id"], "dead-worker", status="failed", now=fast_hub.clock()
        )


async def test_deliveries_survive_an_engine_restart(fast_hub: Hub, admin: RC, receiver: Receiver) -> None:
    receiver.respond = text_reply(502, "down")
    integration = await create_outgoing(
        fast_hub, admin, receiver.url, retryFailedCalls=True, retryCount=1, retryDelay="increments-of-two"
    )
    first = make_engine(fast_hub)
    await first.start()
    await post(admin, "deploy")
    first.wake()
    await receiver.wait_for(1)
    await steps_of(admin, integration["_id"], 1)
    await first.stop()
    # The retry is due in 2 ms; a new engine (a restarted process) sends it.
    receiver.respond = text_reply(200, "ok")
    second = make_engine(fast_hub)
    await second.start()
    try:
        requests = await receiver.wait_for(2)
        await wait_until(lambda: settled(fast_hub))
    finally:
        await second.stop()
    assert requests[0].headers["webhook-id"] == requests[1].headers["webhook-id"]


async def test_stop_lets_a_running_attempt_finish(fast_hub: Hub, admin: RC, receiver: Receiver) -> None:
    receiver.delay = 0.3
    integration = await create_outgoing(fast_hub, admin, receiver.url)
    engine = make_engine(fast_hub)
    await engine.start()
    await post(admin, "deploy")
    engine.wake()
    await receiver.wait_for(1)
    await engine.stop()
    [delivery] = await delivery_rows(fast_hub, integration["_id"])
    assert delivery["status"] == "done"
    assert [r["step"] for r in await history(admin, integration["_id"])] == ["after-http-call"]


async def test_an_attempt_abandoned_at_stop_keeps_its_lease_and_is_sent_again(
    fast_hub: Hub, admin: RC, receiver: Receiver
) -> None:
    receiver.delay = 5.0
    integration = await create_outgoing(fast_hub, admin, receiver.url)
    first = make_engine(fast_hub, lease_seconds=0.5, stop_grace_seconds=0.1)
    await first.start()
    await post(admin, "deploy")
    first.wake()
    await receiver.wait_for(1)
    await first.stop()
    [delivery] = await delivery_rows(fast_hub, integration["_id"])
    assert delivery["status"] == "pending" and delivery["lease_owner"] == first.owner

    receiver.delay = 0.0
    second = make_engine(fast_hub)
    await second.start()
    try:
        requests = await receiver.wait_for(2)
        await wait_until(lambda: settled(fast_hub))
    finally:
        await second.stop()
    assert requests[0].headers["webhook-id"] == requests[1].headers["webhook-id"] == delivery["id"]
    [delivery] = await delivery_rows(fast_hub, integration["_id"])
    assert delivery["status"] == "done"


async def test_a_delivery_cancelled_in_flight_posts_no_reply(
    fast_hub: Hub, admin: RC, receiver: Receiver, engine: OutgoingEngine
) -> None:
    receiver.delay = 0.3
    receiver.respond = json_reply(200, {"text": "too late"})
    integration = await create_outgoing(fast_hub, admin, receiver.url)
    await post(admin, "deploy")
    engine.wake()
    await receiver.wait_for(1)
    async with fast_hub.tx() as ctx:
        assert await deliveries.cancel_for_integration(ctx.conn, integration["_id"], fast_hub.clock()) == 1

    async def recorded() -> bool:
        return [r["step"] for r in await history(admin, integration["_id"])] == ["after-http-call"]

    await wait_until(recorded)
    await asyncio.sleep(0.1)
    general = assert_ok(await admin.get("channels.messages", roomId="GENERAL"))["messages"]
    assert [m["msg"] for m in general if m.get("bot")] == []
    [delivery] = await delivery_rows(fast_hub, integration["_id"])
    assert delivery["status"] == "cancelled"


# -- loop breaker ------------------------------------------------------------------------------------


async def test_an_integration_never_fires_on_its_own_reply(
    fast_hub: Hub, admin: RC, receiver: Receiver, engine: OutgoingEngine
) -> None:
    receiver.respond = json_reply(200, {"text": "echo"})
    integration = await create_outgoing(fast_hub, admin, receiver.url, triggerWords=[])
    await post(admin, "hello")
    engine.wake()
    await receiver.wait_for(1)
    await wait_until(lambda: settled(fast_hub))
    await asyncio.sleep(0.2)
    await wait_until(lambda: settled(fast_hub))
    assert len(receiver.requests) == 1
    assert [r["step"] for r in await history(admin, integration["_id"])] == ["url-response-sent-message"]


async def test_reply_chains_stop_past_the_maximum_depth(
    fast_hub: Hub, admin: RC, receiver: Receiver, engine: OutgoingEngine
) -> None:
    receiver.respond = json_reply(200, {"text": "ping"})
    first = await create_outgoing(fast_hub, admin, receiver.url, triggerWords=[], name="A")
    second = await create_outgoing(fast_hub, admin, receiver.url, triggerWords=[], name="B")
    await post(admin, "start")
    engine.wake()
    # Depths 0, 1 and 2 are delivered (two integrations each), depth 3 is cut (outgoing_max_depth 2).
    await receiver.wait_for(6)

    async def cut() -> bool:
        steps = [r["step"] for i in (first, second) for r in await history(admin, i["_id"])]
        return steps.count(LOOP_DEPTH_EXCEEDED) == 2

    await wait_until(cut)
    await wait_until(lambda: settled(fast_hub))
    await asyncio.sleep(0.2)
    assert len(receiver.requests) == 6
    records = await history(admin, first["_id"])
    exceeded = [r for r in records if r["step"] == LOOP_DEPTH_EXCEEDED]
    assert len(exceeded) == 1
    assert exceeded[0]["error"] is True
    assert "not delivered" in exceeded[0]["errorStack"]
    assert exceeded[0]["data"]["text"] == "ping"


# -- events, edits and scripts ---------------------------------------------------------------------


async def test_edits_fire_only_with_run_on_edits(
    fast_hub: Hub, admin: RC, receiver: Receiver, engine: OutgoingEngine
) -> None:
    await create_outgoing(fast_hub, admin, receiver.url, runOnEdits=True, name="edits")
    await create_outgoing(fast_hub, admin, receiver.url + "?plain", name="no edits")
    message = await post(admin, "deploy v1")
    engine.wake()
    await receiver.wait_for(2)
    assert_ok(await admin.post("chat.update", roomId="GENERAL", msgId=message["_id"], text="deploy v2"))
    engine.wake()
    requests = await receiver.wait_for(3)
    await wait_until(lambda: settled(fast_hub))
    await asyncio.sleep(0.1)
    assert len(receiver.requests) == 3
    edited = requests[2]
    assert edited.path == "/hook"
    assert edited.json()["text"] == "deploy v2" and edited.json()["isEdited"] is True


async def test_room_events_send_their_payload(
    fast_hub: Hub, admin: RC, receiver: Receiver, engine: OutgoingEngine
) -> None:
    integration = await create_outgoing(
        fast_hub, admin, receiver.url, event="roomCreated", triggerWords=[], channel="all_public_channels"
    )
    room = assert_ok(await admin.post("channels.create", name="fresh"))["channel"]
    engine.wake()
    [request] = await receiver.wait_for(1)
    data = request.json()
    assert data["channel_id"] == room["_id"] and data["channel_name"] == "fresh"
    assert data["user_name"] == "boss" and data["owner"]["username"] == "boss"
    assert data["room"]["_id"] == room["_id"]
    await wait_until(lambda: settled(fast_hub))
    [record] = await history(admin, integration["_id"])
    assert record["event"] == "roomCreated"


async def test_user_created_replies_go_to_the_target_room(
    fast_hub: Hub, admin: RC, receiver: Receiver, engine: OutgoingEngine
) -> None:
    receiver.respond = json_reply(200, {"text": "welcome"})
    integration = await create_outgoing(
        fast_hub, admin, receiver.url, event="userCreated", triggerWords=[], targetRoom="#general"
    )
    await admin.register_and_login("carol")
    engine.wake()
    [request] = await receiver.wait_for(1)
    data = request.json()
    assert data["user_name"] == "carol" and data["user"]["username"] == "carol"
    assert "channel_id" not in data
    await wait_until(lambda: settled(fast_hub))
    [record] = await history(admin, integration["_id"])
    assert record["step"] == "url-response-sent-message"
    general = assert_ok(await admin.get("channels.messages", roomId="GENERAL"))["messages"]
    assert [m["msg"] for m in general if m.get("bot")] == ["welcome"]


SCRIPT = """
class Script {
  prepare_outgoing_request({ request }) {
    request.url = request.url + "?via=script";
    request.data = { said: request.data.text, user: request.data.user_name };
    request.headers["X-Extra"] = "1";
    return request;
  }
  process_outgoing_response({ request, response }) {
    const parsed = JSON.parse(response.content);
    return { content: { text: "status " + response.status_code + " " + parsed.answer } };
  }
}
"""


async def test_scripts_shape_the_request_and_the_reply(
    fast_hub: Hub, admin: RC, receiver: Receiver, engine: OutgoingEngine
) -> None:
    receiver.respond = json_reply(202, {"answer": 42})
    integration = await create_outgoing(fast_hub, admin, receiver.url, scriptEnabled=True, script=SCRIPT)
    await post(admin, "deploy now")
    engine.wake()
    [request] = await receiver.wait_for(1)
    assert request.path == "/hook?via=script"
    assert request.json() == {"said": "deploy now", "user": "boss"}
    assert request.headers["x-extra"] == "1"
    await wait_until(lambda: settled(fast_hub))
    [record] = await history(admin, integration["_id"])
    assert record["step"] == "after-process-send-message"
    assert record["finished"] is True
    assert record["url"] == receiver.url + "?via=script"
    assert record["httpCallData"] == {"said": "deploy now", "user": "boss"}
    [sent] = record["processSentMessage"]
    assert sent["message"]["msg"] == "status 202 42"


async def test_prepare_returning_nothing_cancels_the_call(
    fast_hub: Hub, admin: RC, receiver: Receiver, engine: OutgoingEngine
) -> None:
    script = "class Script { prepare_outgoing_request() { return null; } }"
    integration = await create_outgoing(fast_hub, admin, receiver.url, scriptEnabled=True, script=script)
    await post(admin, "deploy")
    engine.wake()
    assert await steps_of(admin, integration["_id"], 1) == ["after-prepare-no-opts"]
    await wait_until(lambda: settled(fast_hub))
    assert receiver.requests == []
    [delivery] = await delivery_rows(fast_hub, integration["_id"])
    assert delivery["status"] == "done"


async def test_a_throwing_prepare_script_is_recorded_and_cancels_the_call(
    fast_hub: Hub, admin: RC, receiver: Receiver, engine: OutgoingEngine
) -> None:
    script = "class Script { prepare_outgoing_request() { throw new Error('nope'); } }"
    integration = await create_outgoing(fast_hub, admin, receiver.url, scriptEnabled=True, script=script)
    await post(admin, "deploy")
    engine.wake()
    await steps_of(admin, integration["_id"], 1)
    await wait_until(lambda: settled(fast_hub))
    [record] = await history(admin, integration["_id"])
    assert record["step"] == "after-prepare-no-opts" and record["finished"] is True
    assert record["error"] is True
    assert record["errorStack"].startswith("  Error: nope")
    assert receiver.requests == []


async def test_a_prepare_message_is_posted_without_a_call(
    fast_hub: Hub, admin: RC, receiver: Receiver, engine: OutgoingEngine
) -> None:
    script = """
class Script {
  prepare_outgoing_request({ request }) {
    return { message: { text: "prepared for " + request.data.user_name } };
  }
}
"""
    integration = await create_outgoing(fast_hub, admin, receiver.url, scriptEnabled=True, script=script)
    await post(admin, "deploy")
    engine.wake()
    await steps_of(admin, integration["_id"], 1)
    await wait_until(lambda: settled(fast_hub))
    [record] = await history(admin, integration["_id"])
    assert record["step"] == "after-prepare-no-url_or_method" and record["finished"] is True
    [sent] = record["prepareSentMessage"]
    assert sent["message"]["msg"] == "prepared for boss"
    assert sent["message"]["bot"]["i"] == integration["_id"]
    assert receiver.requests == []


async def test_disabled_or_removed_integrations_cancel_their_deliveries(fast_hub: Hub, admin: RC) -> None:
    removed = await create_outgoing(fast_hub, admin, "http://127.0.0.1:9/a", name="removed")
    await post(admin, "deploy")
    engine = make_engine(fast_hub)
    assert (await engine.consume_once())[1] == 1
    assert_ok(await admin.post("integrations.remove", type="webhook-outgoing", integrationId=removed["_id"]))
    attempts, taken = await engine.claim_once(10)
    assert attempts == [] and taken == 1
    [delivery] = await delivery_rows(fast_hub, removed["_id"])
    assert delivery["status"] == "cancelled"
    assert await history(admin, removed["_id"]) == []


# -- retention ------------------------------------------------------------------------------------------


async def test_retention_prunes_old_history_and_finished_deliveries(fast_hub: Hub) -> None:
    fast_hub.settings = fast_hub.settings.model_copy(update={"history_max_per_integration": 2})
    now = fast_hub.clock()
    integration = {"_id": random_id(), "_createdBy": {"_id": "x"}}

    def record(age: timedelta) -> dict[str, Any]:
        at = iso(now - age)
        return {
            "_id": random_id(),
            "type": "outgoing-webhook",
            "step": "after-http-call",
            "integration": integration,
            "event": "sendMessage",
            "_createdAt": at,
            "_updatedAt": at,
        }

    ages = [timedelta(days=40), timedelta(minutes=3), timedelta(minutes=2), timedelta(minutes=1)]
    async with fast_hub.tx() as ctx:
        await integration_store.insert_history_many(ctx.conn, [record(a) for a in ages])
        old = now - timedelta(days=2)
        await deliveries.enqueue(
            ctx.conn,
            [
                {
                    "dedupe_key": key,
                    "integration_id": integration["_id"],
                    "url": "http://x",
                    "event": "sendMessage",
                    "payload": {},
                    "created_at": old,
                    "status": status,
                    "updated_at": old,
                }
                for key, status in (("a", "done"), ("b", "pending"))
            ],
        )
    engine = make_engine(fast_hub)
    assert await engine.prune_once() == (2, 1)
    async with fast_hub.tx(write=False) as ctx:
        kept, total = await integration_store.list_history(
            ctx.conn, where=[integration_store.history_of(integration["_id"])]
        )
    assert total == 2
    assert {r["_updatedAt"] for r in kept} == {iso(now - a) for a in ages[2:]}


async def test_without_outgoing_integrations_events_are_stamped_unread(
    fast_hub: Hub, admin: RC, receiver: Receiver
) -> None:
    """Nothing listens: the consumer stamps every pending event in one statement (no payload is
    read, nothing is queued); once an integration exists, events are read and matched again."""
    await post(admin, "nobody listens")
    engine = make_engine(fast_hub)
    consumed, enqueued = await engine.consume_once()
    assert consumed >= 1 and enqueued == 0
    async with fast_hub.tx(write=False) as ctx:
        pending = [e for e in await events.list_events(ctx.conn) if e["processed_at"] is None]
    assert pending == []
    await create_outgoing(fast_hub, admin, receiver.url)
    await post(admin, "deploy now")
    assert (await engine.consume_once())[1] == 1


# -- direct dispatch from the consumer ----------------------------------------------------------------


async def test_the_consumer_starts_deliveries_for_free_slots_without_a_claim(
    fast_hub: Hub, admin: RC, receiver: Receiver
) -> None:
    fast_hub.settings = fast_hub.settings.model_copy(update={"outgoing_concurrency": 2})
    engine = make_engine(fast_hub)
    claimed: list[str] = []
    claim_once = engine.claim_once

    async def counting_claim(limit: int) -> Any:
        attempts, taken = await claim_once(limit)
        claimed.extend(a.id for a in attempts)
        return attempts, taken

    engine.claim_once = counting_claim  # type: ignore[method-assign]
    receiver.delay = 0.3  # slots stay busy while the rest of the burst waits
    await create_outgoing(fast_hub, admin, receiver.url)
    for n in range(5):
        await post(admin, f"deploy {n}")
    await engine.start()
    try:
        await receiver.wait_for(5)
        await wait_until(lambda: settled(fast_hub))
    finally:
        await engine.stop()
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert sorted(ids) == sorted(set(ids))
    # two went out straight from the consumer (two free slots), the other three through claims
    assert len(claimed) == 3 and set(claimed) < set(ids)
    [integration] = [c for c in (await admin.get("integrations.list")).json()["integrations"]]
    steps = await steps_of(admin, integration["_id"], 5)
    assert steps == ["after-http-call"] * 5


async def test_an_answered_attempt_frees_its_slot_while_its_outcome_is_written(
    fast_hub: Hub, admin: RC, receiver: Receiver
) -> None:
    """The concurrency limit counts HTTP calls: attempts that got their answer and only wait for
    the outcome write let the next deliveries go, up to four times the limit in all."""
    fast_hub.settings = fast_hub.settings.model_copy(update={"outgoing_concurrency": 2})
    engine = make_engine(fast_hub)
    gate = asyncio.Event()
    write_plain = engine._write_plain

    async def slow_write(plain: Any) -> Any:
        await gate.wait()
        return await write_plain(plain)

    engine._write_plain = slow_write  # type: ignore[method-assign]
    await create_outgoing(fast_hub, admin, receiver.url)
    for n in range(12):
        await post(admin, f"deploy {n}")
    await engine.start()
    try:
        await receiver.wait_for(8)
        await asyncio.sleep(0.3)
        # no outcome written yet: 8 = 4 x 2 attempts outstanding, and no more
        assert len(receiver.requests) == 8
        assert not await settled(fast_hub)
        gate.set()
        await receiver.wait_for(12)
        await wait_until(lambda: settled(fast_hub))
    finally:
        gate.set()
        await engine.stop()
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert len(ids) == len(set(ids)) == 12


async def test_an_outcome_that_cannot_be_written_is_retried_not_dropped(
    fast_hub: Hub, admin: RC, receiver: Receiver
) -> None:
    """A failed outcome write reaches the attempt (which then reschedules the delivery like a
    network error) instead of ending it as if it had been written: the delivery comes back at
    its retry time, not only when its 60 s lease runs out."""
    engine = make_engine(fast_hub)
    write_plain = engine._write_plain
    failures = [RuntimeError("database hiccup")]

    async def failing_once(plain: Any) -> Any:
        if failures:
            raise failures.pop()
        return await write_plain(plain)

    engine._write_plain = failing_once  # type: ignore[method-assign]
    integration = await create_outgoing(fast_hub, admin, receiver.url, retryFailedCalls=True, retryCount=3)
    await post(admin, "deploy")
    await engine.start()
    try:
        first, second = await receiver.wait_for(2, timeout=5)
        await wait_until(lambda: settled(fast_hub))
    finally:
        await engine.stop()
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    [delivery] = await delivery_rows(fast_hub, integration["_id"])
    assert delivery["status"] == "done" and delivery["tries"] == 1
