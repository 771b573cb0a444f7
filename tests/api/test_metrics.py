"""`GET /metrics` through the in-process app (issue #10): the exposition parses, the bearer token
guards it, HTTP requests are labelled by route template (never by a path that carries a hook's
token), and each hook, script, queue and retention figure is counted.

The counters live in the process (tests build many apps), so every check compares a value
before and after the requests it is about."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hookhub import metrics
from hookhub.hub import Hub
from hookhub.ids import random_id
from hookhub.metrics import attempt_label, hook_route, method_label
from hookhub.runtime.outgoing import OutgoingEngine
from hookhub.store import deliveries
from hookhub.store.integrations import insert_history_many
from tests.api.test_hooks_scripts import create_hook, url_of
from tests.conftest import RC

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

FAMILIES = {
    "hookhub_http_requests": "counter",
    "hookhub_http_request_duration_seconds": "histogram",
    "hookhub_incoming_hooks": "counter",
    "hookhub_script_runs": "counter",
    "hookhub_script_duration_seconds": "histogram",
    "hookhub_outgoing_deliveries": "counter",
    "hookhub_outgoing_deliveries_due": "gauge",
    "hookhub_outgoing_deliveries_scheduled": "gauge",
    "hookhub_outgoing_oldest_due_age_seconds": "gauge",
    "hookhub_history_pruned": "counter",
}


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


async def scrape(http: httpx.AsyncClient) -> tuple[str, Samples]:
    r = await http.get("/metrics")
    assert r.status_code == 200, r.text
    return r.text, parse(r.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def hooks_counted(samples: Samples, outcome: str, reason: str = "") -> float:
    return value(samples, "hookhub_incoming_hooks_total", outcome=outcome, reason=reason)


async def test_exposition_parses_with_every_family(http: httpx.AsyncClient) -> None:
    r = await http.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f.type for f in text_string_to_metric_families(r.text)}
    assert {name: families.get(name) for name in FAMILIES} == FAMILIES
    assert not [name for name in families if not name.startswith("hookhub_")]


async def test_not_in_the_openapi_document(http: httpx.AsyncClient) -> None:
    r = await http.get("/api/openapi.json")
    assert "/metrics" not in r.json()["paths"]


class TestToken:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"metrics_token": "s3cret-scrape-token"}

    @pytest.mark.parametrize(
        "authorization",
        [
            None,
            "Bearer wrong",
            "Bearer s3cret-scrape-tok",
            "Basic s3cret-scrape-token",
            "s3cret-scrape-token",
        ],
    )
    async def test_refused_without_the_token(
        self, http: httpx.AsyncClient, authorization: str | None
    ) -> None:
        headers = {"authorization": authorization} if authorization is not None else {}
        r = await http.get("/metrics", headers=headers)
        assert r.status_code == 401
        assert r.json() == {"success": False, "error": "You must be logged in to do this."}
        assert "hookhub_" not in r.text

    @pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
    async def test_served_with_it(self, http: httpx.AsyncClient, scheme: str) -> None:
        r = await http.get("/metrics", headers={"authorization": f"{scheme} s3cret-scrape-token"})
        assert r.status_code == 200
        assert "hookhub_http_requests_total" in r.text


async def test_requests_are_labelled_by_route_template(http: httpx.AsyncClient, admin: RC) -> None:
    hook = await create_hook(admin)
    _, before = await scrape(http)
    assert (await http.get("/api/info")).status_code == 200
    assert (await http.get("/api/v1/channels.info", params={"roomName": "general"})).status_code == 401
    assert (await http.post(url_of(hook), json={"text": "hi"})).status_code == 200
    legacy = f"/hooks/{hook['_id']}/someone/{hook['token']}"
    assert (await http.post(legacy, json={"text": "hi"})).status_code == 200
    assert (await http.get(f"/hooks/info/{hook['_id']}/{hook['token']}")).status_code == 200
    assert (await http.get("/no-such-page/private-looking-path")).status_code == 404
    assert (await http.request("BREW", "/api/info")).status_code == 405
    text, after = await scrape(http)

    def grew(method: str, route: str, status: str) -> float:
        name = "hookhub_http_requests_total"
        labels = {"method": method, "route": route, "status": status}
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("GET", "/api/info", "200") == 1
    assert grew("GET", "/api/v1/channels.info", "401") == 1
    assert grew("POST", "/hooks/{integrationId}/{token}", "200") == 1
    assert grew("POST", "/hooks/{integrationId}/{userId}/{token}", "200") == 1
    assert grew("GET", "/hooks/info/{integrationId}/{token}", "200") == 1
    assert grew("GET", "unmatched", "404") == 1
    assert grew("other", "/api/info", "405") == 1
    duration = "hookhub_http_request_duration_seconds_count"
    route = {"method": "POST", "route": "/hooks/{integrationId}/{token}"}
    assert value(after, duration, **route) - value(before, duration, **route) == 1
    # no path value reaches a label: not the hook's token, not its id, not an unmatched path
    for secret in (hook["token"], hook["_id"], "private-looking-path", "someone"):
        assert secret not in text


def test_hook_routes_never_carry_path_values() -> None:
    assert hook_route("/hooks/abc/tok") == "/hooks/{integrationId}/{token}"
    assert hook_route("/hooks/abc/tok%2Fwith%2Fslashes") == "/hooks/{integrationId}/{token}"
    assert hook_route("/hooks/abc/user/tok") == "/hooks/{integrationId}/{userId}/{token}"
    assert hook_route("/hooks/sample/abc/tok") == "/hooks/sample/{integrationId}/{token}"
    assert hook_route("/hooks/remove/abc/user/tok") == "/hooks/remove/{integrationId}/{userId}/{token}"
    for path in ("/hooks/", "/hooks/abc", "/hooks/a/b/c/d/e", "/hooks/tok/a/b/c"):
        assert hook_route(path) == "/hooks/{path}"
    assert [attempt_label(n) for n in (1, 2, 3, 4, 17)] == ["1", "2", "3", "4+", "4+"]
    assert method_label("GET") == "GET" and method_label("X-ANYTHING") == "other"


def test_any_method_is_one_label_and_one_cache_entry() -> None:
    for n in range(50):
        metrics.record_request(f"METHOD{n}", "/methods-test", 200, 0.001)
    assert [k for k in metrics._http_children if k[1] == "/methods-test"] == [("other", "/methods-test", 200)]
    assert metrics.HTTP_REQUESTS.labels("other", "/methods-test", "200")._value.get() == 50


async def test_hook_outcomes(http: httpx.AsyncClient, admin: RC) -> None:
    hook = await create_hook(admin)
    disabled = await create_hook(admin, enabled=False)
    _, before = await scrape(http)
    assert (await http.post(url_of(hook), json={"text": "one"})).status_code == 200
    assert (await http.post(url_of(hook), json={"text": "two", "channel": "#general"})).status_code == 400
    assert (await http.post(f"/hooks/{hook['_id']}/wrong-token", json={"text": "x"})).status_code == 404
    assert (await http.post(url_of(disabled), json={"text": "x"})).status_code == 503
    keyed = {"Idempotency-Key": random_id()}
    assert (await http.post(url_of(hook), json={"text": "once"}, headers=keyed)).status_code == 200
    r = await http.post(url_of(hook), json={"text": "once"}, headers=keyed)
    assert r.status_code == 200 and r.headers["idempotent-replayed"] == "true"
    # a Zapier helper is not a hook call
    assert (await http.get(f"/hooks/info/{hook['_id']}/wrong-token")).status_code == 404
    _, after = await scrape(http)

    def grew(outcome: str, reason: str = "") -> float:
        return hooks_counted(after, outcome, reason) - hooks_counted(before, outcome, reason)

    assert grew("posted") == 2
    assert grew("duplicate") == 1
    assert grew("refused", "override_disabled") == 1
    assert grew("refused", "invalid_token") == 1
    assert grew("refused", "disabled") == 1
    total = sum(v for (name, _), v in after.items() if name == "hookhub_incoming_hooks_total")
    total_before = sum(v for (name, _), v in before.items() if name == "hookhub_incoming_hooks_total")
    assert total - total_before == 6


class TestRateLimited:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"hooks_rate_limit": 1}

    async def test_counted(self, http: httpx.AsyncClient, admin: RC) -> None:
        hook = await create_hook(admin)
        _, before = await scrape(http)
        assert (await http.post(url_of(hook), json={"text": "one"})).status_code == 200
        assert (await http.post(url_of(hook), json={"text": "two"})).status_code == 429
        _, after = await scrape(http)
        assert hooks_counted(after, "rate_limited") - hooks_counted(before, "rate_limited") == 1
        assert hooks_counted(after, "posted") - hooks_counted(before, "posted") == 1


RUNAWAY = """
class Script {
  process_incoming_request({ request }) {
    const c = request.content;
    if (c.loop) { while (true) {} }
    if (c.grow) { const a = []; while (true) { a.push(new Array(100000).fill(a.length)); } }
    if (c.fail) { throw new Error('boom'); }
    if (c.refuse) { return { error: 'refused: ' + c.refuse }; }
    return { content: { text: c.text } };
  }
}
"""


class TestScripts:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"script_timeout_seconds": 0.5, "script_memory_mb": 16}

    async def test_runs_counted_by_outcome_with_duration(self, http: httpx.AsyncClient, admin: RC) -> None:
        hook = await create_hook(admin, RUNAWAY)
        _, before = await scrape(http)
        bodies: list[tuple[dict[str, Any], int]] = [
            ({"text": "fine"}, 200),
            ({"fail": True}, 400),
            ({"refuse": "any text at all"}, 400),
            ({"loop": True}, 400),
            ({"grow": True}, 400),
        ]
        for body, status in bodies:
            assert (await http.post(url_of(hook), json=body)).status_code == status
        text, after = await scrape(http)

        def grew(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        runs = "hookhub_script_runs_total"
        assert grew(runs, kind="incoming", outcome="ok") == 2  # the refusal is the script's own answer
        assert grew(runs, kind="incoming", outcome="error") == 1
        assert grew(runs, kind="incoming", outcome="timeout") == 1
        assert grew(runs, kind="incoming", outcome="out_of_memory") == 1
        assert grew("hookhub_script_duration_seconds_count", kind="incoming") == 5
        assert grew("hookhub_script_duration_seconds_sum", kind="incoming") >= 0.5  # the timeout alone
        # every refusal of a script, whatever its text, is one reason
        assert grew("hookhub_incoming_hooks_total", outcome="refused", reason="script_error") == 4
        assert "any text at all" not in text


async def test_delivery_queue_gauges(hub: Hub, http: httpx.AsyncClient) -> None:
    now = hub.clock()

    def row(**fields: Any) -> dict[str, Any]:
        return {
            "dedupe_key": random_id(),
            "integration_id": "gauge-test",
            "url": "http://127.0.0.1:9/",
            "event": "sendMessage",
            "payload": {},
            "created_at": now - timedelta(minutes=5),
            **fields,
        }

    async with hub.tx() as ctx:
        await deliveries.enqueue(
            ctx.conn,
            [
                row(next_attempt_at=now - timedelta(seconds=90)),  # due, the oldest
                row(next_attempt_at=now - timedelta(seconds=10)),  # due
                row(next_attempt_at=now + timedelta(minutes=10)),  # a retry later on
                # being sent: leased, neither due nor scheduled
                row(
                    next_attempt_at=now - timedelta(seconds=300),
                    lease_owner="w",
                    lease_until=now + timedelta(1),
                ),
                row(next_attempt_at=now - timedelta(seconds=500), status=deliveries.DONE),
            ],
        )
    _, samples = await scrape(http)
    assert value(samples, "hookhub_outgoing_deliveries_due") == 2
    assert value(samples, "hookhub_outgoing_deliveries_scheduled") == 1
    assert 90 <= value(samples, "hookhub_outgoing_oldest_due_age_seconds") < 150


async def test_empty_queue_gauges_are_zero(http: httpx.AsyncClient) -> None:
    _, samples = await scrape(http)
    assert value(samples, "hookhub_outgoing_deliveries_due") == 0
    assert value(samples, "hookhub_outgoing_deliveries_scheduled") == 0
    assert value(samples, "hookhub_outgoing_oldest_due_age_seconds") == 0


class TestHistoryPruned:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"history_max_per_integration": 2}

    async def test_counted(self, hub: Hub, http: httpx.AsyncClient) -> None:
        now = hub.clock()
        records = [
            {
                "_id": random_id(),
                "type": "outgoing",
                "step": "finished",
                "integration": {"_id": "pruned-integration"},
                "event": "sendMessage",
                "_createdAt": now - timedelta(seconds=n),
                "_updatedAt": now - timedelta(seconds=n),
            }
            for n in range(5)
        ]
        async with hub.tx() as ctx:
            await insert_history_many(ctx.conn, records)
        _, before = await scrape(http)
        assert (await OutgoingEngine(hub).prune_once())[0] == 3
        _, after = await scrape(http)
        pruned = "hookhub_history_pruned_total"
        assert value(after, pruned) - value(before, pruned) == 3
