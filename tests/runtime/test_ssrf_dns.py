"""The SSRF suite's name cases (issue #10), through the delivery engine: outgoing webhooks whose
host NAMES resolve to addresses the egress guard must refuse (a test resolver answers them; no
DNS is used), each refused with its reason in the integration's history while a canary on
127.0.0.1 receives nothing; and a name whose answer changes between check and connect, where the
checked (pinned) address is the one connected to.

The address-literal forms and redirects run end to end in tests/e2e/test_ssrf_suite_e2e.py."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hookhub.hub import Hub
from hookhub.runtime.egress import EgressClient
from hookhub.runtime.outgoing import OutgoingEngine
from tests.conftest import RC
from tests.runtime.test_outgoing_engine import Receiver, create_outgoing, history, post, wait_until

# name -> what the test resolver answers, and the word the refusal must name
PRIVATE_NAMES: dict[str, tuple[list[str], str]] = {
    "loopback.test": (["127.0.0.1"], "loopback"),
    "loopback-other.test": (["127.0.0.53"], "loopback"),
    "ipv6-loopback.test": (["::1"], "loopback"),
    "mapped-loopback.test": (["::ffff:127.0.0.1"], "loopback"),
    "private-10.test": (["10.1.2.3"], "private"),
    "private-172.test": (["172.16.0.9"], "private"),
    "private-192.test": (["192.168.1.1"], "private"),
    "ula.test": (["fd12:3456::1"], "private"),
    "metadata.test": (["169.254.169.254"], "cloud metadata"),
    "link-local.test": (["169.254.10.10"], "link-local"),
    "cgnat.test": (["100.64.0.1"], "carrier-grade NAT"),
    "unspecified.test": (["0.0.0.0"], "unspecified"),
    "ipv6-unspecified.test": (["::"], "unspecified"),
    # one bad address among public ones refuses the whole request
    "mixed.test": (["93.184.216.34", "10.0.0.7"], "private"),
    "mixed-v6.test": (["2606:2800:220:1::1", "::1"], "loopback"),
}


class FlippingResolver:
    """A resolver with a table; names in `flips` answer their first list once, then the second
    (DNS rebinding). Every lookup is recorded."""

    def __init__(self, table: dict[str, list[str]], flips: dict[str, tuple[list[str], list[str]]]) -> None:
        self.table = table
        self.flips = flips
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        if host in self.flips:
            first, later = self.flips[host]
            return first if self.calls.count(host) == 1 else later
        if host not in self.table:
            raise socket.gaierror(f"unknown host {host}")
        return self.table[host]


@pytest.fixture
async def canary() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.close()


def _port(receiver: Receiver) -> int:
    assert receiver.server is not None
    port: int = receiver.server.sockets[0].getsockname()[1]
    return port


async def _engine(hub: Hub, resolver: FlippingResolver, allow: list[str]) -> OutgoingEngine:
    hub.settings = hub.settings.model_copy(update={"retry_time_scale": 0.001})
    engine = OutgoingEngine(hub, egress=EgressClient(allow=allow, resolver=resolver), poll_seconds=0.05)
    await engine.start()
    return engine


async def _ended(admin: RC, integration_id: str, count: int) -> list[dict[str, Any]]:
    async def done() -> list[dict[str, Any]] | None:
        records = await history(admin, integration_id)
        ended = [r for r in records if r["step"] == "after-http-call" or r.get("error")]
        return ended if len(ended) >= count else None

    records: list[dict[str, Any]] = await wait_until(done)
    return records


async def test_names_resolving_to_refused_addresses(hub: Hub, admin: RC, canary: Receiver) -> None:
    resolver = FlippingResolver({name: addresses for name, (addresses, _) in PRIVATE_NAMES.items()}, {})
    engine = await _engine(hub, resolver, allow=[])
    try:
        integrations = {
            name: await create_outgoing(
                hub,
                admin,
                f"http://{name}:{_port(canary)}/hook",
                name=name,
                triggerWords=[f"go{i}x"],
                retryFailedCalls=False,
            )
            for i, name in enumerate(PRIVATE_NAMES)
        }
        for i in range(len(PRIVATE_NAMES)):
            await post(admin, f"go{i}x now")
        engine.wake()
        for name, (_, reason) in PRIVATE_NAMES.items():
            records = await _ended(admin, integrations[name]["_id"], 1)
            assert len(records) == 1, [(r["step"], r.get("httpError")) for r in records]
            [record] = records
            error = record.get("httpError")
            assert isinstance(error, dict), (name, record)
            assert error.get("name") == "EgressRefused", (name, error)
            message = str(error.get("message"))
            assert message.startswith("refused: ") and reason in message, (name, message)
            assert record.get("httpResult", "null") == "null", (name, record)  # no response
    finally:
        await engine.stop()
    assert canary.requests == []
    assert set(PRIVATE_NAMES) <= set(resolver.calls)


async def test_dns_rebinding_uses_the_checked_address(hub: Hub, admin: RC, canary: Receiver) -> None:
    """`rebind.test` answers 127.0.0.1 (allowed) when checked, then 127.0.0.2 (not allowed). The
    delivery connects to the address it checked; the next delivery resolves again and is refused.
    A second receiver on 127.0.0.2, same port, must see nothing. The system resolver does not know
    `rebind.test`: a client that resolved the name again at connect time would fail, not pass."""
    port = _port(canary)
    rebound = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        rebound.bind(("127.0.0.2", port))
    except OSError:
        rebound.close()
        pytest.skip("127.0.0.2 is not usable on this machine")
    rebound.listen()
    rebound.setblocking(False)
    resolver = FlippingResolver({}, {"rebind.test": (["127.0.0.1"], ["127.0.0.2"])})
    engine = await _engine(hub, resolver, allow=["127.0.0.1/32"])
    try:
        integration = await create_outgoing(
            hub, admin, f"http://rebind.test:{port}/hook", triggerWords=["rebind"], retryFailedCalls=False
        )
        await post(admin, "rebind one")
        engine.wake()
        [request] = await canary.wait_for(1)
        assert request.headers["host"] == f"rebind.test:{port}"
        await _ended(admin, integration["_id"], 1)
        await post(admin, "rebind two")
        engine.wake()
        records = await _ended(admin, integration["_id"], 2)
    finally:
        await engine.stop()
    refused = [r for r in records if isinstance(r.get("httpError"), dict)]
    assert len(refused) == 1, records
    message = refused[0]["httpError"]["message"]
    assert message.startswith("refused: ") and "127.0.0.2" in message and "loopback" in message
    assert len(canary.requests) == 1
    assert resolver.calls == ["rebind.test", "rebind.test"]  # once per delivery, never at connect
    with pytest.raises(BlockingIOError):
        rebound.accept()  # nobody connected to the rebound address
    rebound.close()
