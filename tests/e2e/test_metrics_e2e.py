"""`GET /metrics` of a real `hookhub serve --workers 2` after an end-to-end run (issue #10): every
family has a non-zero sample, and the counts are the sums over both workers (a replaced worker's
included), whichever worker answers the scrape."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import (
    ADMIN_PASS,
    ADMIN_USERNAME,
    OUTGOING_ENV,
    Client,
    Server,
    http_get,
    start_server,
)
from tests.e2e.receiver import Answer, Receiver
from tests.e2e.test_workers_e2e import _worker_pids

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

RUNAWAY = """
class Script {
  process_incoming_request({ request }) {
    const c = request.content;
    if (c.loop) { while (true) {} }
    if (c.grow) { const a = []; while (true) { a.push(new Array(100000).fill(a.length)); } }
    if (c.fail) { throw new Error('boom'); }
    return { content: { text: c.text } };
  }
}
"""
PREPARE = "class Script { prepare_outgoing_request({ request }) { return request; } }"
INFO_REQUESTS = 20


def scrape(server: Server) -> Samples:
    r = http_get(f"{server.base_url}/metrics", timeout=10.0, headers={"authorization": "Bearer scrape-me"})
    assert r.status_code == 200, r.text
    samples: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def wait_metrics(
    server: Server, condition: Callable[[Samples], bool], what: str, timeout: float = 20.0
) -> Samples:
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(server)
        if condition(samples):
            return samples
        if time.monotonic() > deadline:
            raise AssertionError(f"metrics: {what} not reached in {timeout}s: {samples}\n{server.log()}")
        time.sleep(0.2)


def hook(admin: Client, **fields: Any) -> dict[str, Any]:
    body = {
        "type": "webhook-incoming",
        "name": "metrics",
        "enabled": True,
        "username": "rocket.cat",
        "scriptEnabled": False,
        "channel": "#general",
        **fields,
    }
    r = admin.post("integrations.create", **body)
    assert r.status_code == 200, r.text
    integration: dict[str, Any] = r.json()["integration"]
    return integration


def outgoing(admin: Client, url: str, channel: str, **fields: Any) -> None:
    body = {
        "type": "webhook-outgoing",
        "name": "metrics out",
        "enabled": True,
        "username": "rocket.cat",
        "urls": [url],
        "scriptEnabled": False,
        "channel": channel,
        "event": "sendMessage",
        "token": "metrics-out-token",
        **fields,
    }
    r = admin.post("integrations.create", **body)
    assert r.status_code == 200, r.text


def post(url: str, client: httpx.Client | None = None, **kwargs: Any) -> int:
    if client is not None:
        return client.post(url, **kwargs).status_code
    return httpx.post(url, trust_env=False, timeout=10.0, **kwargs).status_code


def worker_counts(directory: str, route: str) -> dict[str, float]:
    """Requests to `route` per metrics file (one per worker process) in the multiprocess dir."""
    counts: dict[str, float] = {}
    for path in Path(directory).glob("counter_*.db"):
        for key, value, _timestamp, _pos in MmapedDict.read_all_values_from_file(str(path)):  # type: ignore[no-untyped-call]
            _metric, name, labels, _help = json.loads(key)
            if name == "hookhub_http_requests_total" and labels.get("route") == route:
                counts[path.name] = counts.get(path.name, 0.0) + value
    return counts


def multiproc_dir(pid: int) -> str:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    [value] = [e.split(b"=", 1)[1] for e in environ if e.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
    return value.decode()


def test_every_family_is_counted_over_two_workers(tmp_path: Path) -> None:
    blackhole = socket.socket()  # accepts connections (kernel backlog), never answers
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(64)
    with Receiver() as receiver:
        server = start_server(
            tmp_path / "data",
            HOOKHUB_WORKERS="2",
            **OUTGOING_ENV,
            HOOKHUB_METRICS_TOKEN="scrape-me",
            HOOKHUB_SCRIPT_TIMEOUT_SECONDS="0.5",
            HOOKHUB_SCRIPT_MEMORY_MB="16",
            HOOKHUB_HISTORY_MAX_PER_INTEGRATION="1",
            HOOKHUB_OUTGOING_CONCURRENCY="1",
        )
        try:
            assert http_get(f"{server.base_url}/metrics").status_code == 401
            workers = _worker_pids(server.proc.pid)
            assert len(workers) == 2, server.log()
            directory = multiproc_dir(min(workers))

            # HTTP requests: fresh connections land on both workers; the scrape sums them
            before = scrape(server)
            for _ in range(INFO_REQUESTS):
                assert http_get(f"{server.base_url}/api/info").status_code == 200
            after = scrape(server)
            info = {"method": "GET", "route": "/api/info", "status": "200"}
            grew = total(after, "hookhub_http_requests_total", **info)
            assert grew - total(before, "hookhub_http_requests_total", **info) == INFO_REQUESTS
            per_worker = worker_counts(directory, "/api/info")
            assert len([n for n in per_worker.values() if n > 0]) == 2, per_worker
            assert sum(per_worker.values()) == grew

            with Client(server.base_url) as admin:
                admin.login(ADMIN_USERNAME, ADMIN_PASS)
                for name in ("metrics-out", "metrics-slow"):
                    assert admin.post("channels.create", name=name).status_code == 200

                # incoming hooks: posted, refused, rate limited, duplicate
                plain = hook(admin)
                url = f"{server.base_url}/hooks/{plain['_id']}/{plain['token']}"
                assert post(url, json={"text": "posted"}) == 200
                assert (
                    post(f"{server.base_url}/hooks/{plain['_id']}/not-the-token", json={"text": "x"}) == 404
                )
                keyed = {"Idempotency-Key": "metrics-e2e-key"}
                assert post(url, json={"text": "once"}, headers=keyed) == 200
                assert post(url, json={"text": "once"}, headers=keyed) == 200
                limited = hook(admin, rateLimit=1)
                limited_url = f"{server.base_url}/hooks/{limited['_id']}/{limited['token']}"
                # one keep-alive connection: one worker, whose limiter counts both calls
                with httpx.Client(trust_env=False, timeout=10.0) as one_connection:
                    assert post(limited_url, one_connection, json={"text": "first"}) == 200
                    assert post(limited_url, one_connection, json={"text": "second"}) == 429

                # incoming scripts: ok, error, timeout, out of memory
                scripted = hook(admin, scriptEnabled=True, script=RUNAWAY)
                scripted_url = f"{server.base_url}/hooks/{scripted['_id']}/{scripted['token']}"
                assert post(scripted_url, json={"text": "scripted"}) == 200
                for runaway in ({"fail": True}, {"loop": True}, {"grow": True}):
                    assert post(scripted_url, json=runaway) == 400

                # outgoing: delivered (through a prepare script), retried until failed, and a
                # retry scheduled a day (scaled: 86 s) away by Retry-After
                receiver.script("/flaky", Answer(status=503, body=b"busy"))
                receiver.script(
                    "/later", Answer(status=503, body=b"later", headers=(("retry-after", "86400"),))
                )
                outgoing(admin, receiver.url("/ok"), "#metrics-out", scriptEnabled=True, script=PREPARE)
                outgoing(admin, receiver.url("/flaky"), "#metrics-out", retryFailedCalls=True, retryCount=2)
                outgoing(admin, receiver.url("/later"), "#metrics-out", retryFailedCalls=True, retryCount=5)
                for n in range(2):
                    assert (
                        admin.post("chat.postMessage", channel="#metrics-out", text=f"out {n}").status_code
                        == 200
                    )
                receiver.wait_count("/ok", 2)
                receiver.wait_count("/flaky", 6)
                samples = wait_metrics(
                    server,
                    lambda s: (
                        total(s, "hookhub_outgoing_deliveries_total", outcome="failed", attempt="3") >= 2
                        and total(s, "hookhub_outgoing_deliveries_total", outcome="delivered") >= 2
                        and total(s, "hookhub_outgoing_deliveries_scheduled") >= 2
                    ),
                    "deliveries settled",
                )

                # history retention runs when an engine starts: a replacement worker prunes
                victim = min(workers)
                os.kill(victim, signal.SIGKILL)
                wait_metrics(
                    server, lambda s: total(s, "hookhub_history_pruned_total") > 0, "history pruned", 30
                )
                # the killed worker's counts are still in the sums
                after_kill = scrape(server)
                assert total(after_kill, "hookhub_http_requests_total", **info) >= grew

                # a backlog: one delivery in flight per worker (never answered), the rest due
                outgoing(admin, f"http://127.0.0.1:{blackhole.getsockname()[1]}/", "#metrics-slow")
                for n in range(4):
                    assert (
                        admin.post("chat.postMessage", channel="#metrics-slow", text=f"slow {n}").status_code
                        == 200
                    )
                backlog = wait_metrics(
                    server,
                    lambda s: (
                        total(s, "hookhub_outgoing_deliveries_due") >= 1
                        and total(s, "hookhub_outgoing_oldest_due_age_seconds") > 0
                    ),
                    "a due backlog",
                )
                blackhole.close()  # the waiting requests fail; the backlog drains
                # each of them fails at its first attempt (connection reset, then refused)
                final = wait_metrics(
                    server,
                    lambda s: (
                        total(s, "hookhub_outgoing_deliveries_due") == 0
                        and total(s, "hookhub_outgoing_deliveries_total", outcome="failed", attempt="1") >= 4
                    ),
                    "drained",
                )
        finally:
            blackhole.close()
            code = server.stop(signal.SIGTERM)
        assert code == 0, server.log()
        assert not Path(directory).exists(), "the supervisor removes its metrics directory"

    def counted(name: str, **labels: str) -> float:
        return total(final, name, **labels)

    assert counted("hookhub_http_requests_total", route="/hooks/{integrationId}/{token}") >= 10
    assert counted("hookhub_http_request_duration_seconds_count", route="/api/v1/chat.postMessage") >= 6
    assert counted("hookhub_incoming_hooks_total", outcome="posted") >= 4
    assert counted("hookhub_incoming_hooks_total", outcome="refused", reason="invalid_token") == 1
    assert counted("hookhub_incoming_hooks_total", outcome="refused", reason="script_error") == 3
    assert counted("hookhub_incoming_hooks_total", outcome="rate_limited") == 1
    assert counted("hookhub_incoming_hooks_total", outcome="duplicate") == 1
    for outcome in ("ok", "error", "timeout", "out_of_memory"):
        assert counted("hookhub_script_runs_total", kind="incoming", outcome=outcome) >= 1, outcome
    assert counted("hookhub_script_runs_total", kind="outgoing", outcome="ok") >= 2
    assert counted("hookhub_script_duration_seconds_count", kind="incoming") >= 4
    assert counted("hookhub_script_duration_seconds_sum", kind="incoming") >= 0.5
    assert counted("hookhub_outgoing_deliveries_total", outcome="delivered", attempt="1") >= 2
    for attempt in ("1", "2"):
        assert counted("hookhub_outgoing_deliveries_total", outcome="retrying", attempt=attempt) >= 2
    assert counted("hookhub_outgoing_deliveries_total", outcome="failed", attempt="3") >= 2
    assert counted("hookhub_outgoing_deliveries_total", outcome="failed", attempt="1") >= 4  # the blackhole
    assert counted("hookhub_outgoing_deliveries_scheduled") >= 2  # the Retry-After ones
    assert total(samples, "hookhub_outgoing_deliveries_scheduled") >= 2
    assert total(backlog, "hookhub_outgoing_deliveries_due") >= 1
    assert total(backlog, "hookhub_outgoing_oldest_due_age_seconds") > 0
    assert counted("hookhub_history_pruned_total") >= 2
