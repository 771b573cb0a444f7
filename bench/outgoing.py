"""Benchmark: outgoing-webhook deliveries per second and event-to-arrival latency (issue #5).

In one run it starts

* a receiver: a bare Starlette app under uvicorn (subprocess) that answers every POST with
  `{"ok": true}` and records, per request, the arrival time and the `timestamp` (the message's
  `ts`) and `message_id` of the payload;
* `hookhub serve` (subprocess, fresh data dir, SQLite default, one worker, `HOOKHUB_EGRESS_ALLOW`
  set to the loopback receiver) with N outgoing integrations (`sendMessage` on `#general`, all
  pointing at the receiver);

and measures

* **throughput**: M messages posted through an incoming hook as fast as the API takes them; the
  figure is deliveries (M x N) divided by the time from the first post to the last arrival;
* **latency with an empty queue**: 50 messages posted one at a time, each only once every
  delivery of the previous one arrived; the figure is arrival time minus the message's `ts` (both
  taken on this machine's clock) over all deliveries, p50 and p99;
* **baseline**: the same receiver loaded directly with the same number of concurrent requests
  (`--concurrency`, the server's HOOKHUB_OUTGOING_CONCURRENCY) sending the same payload: what the
  receiver can take at all on this machine.

Posts and the baseline use hookhub's own HTTP/1.1 pool (`hookhub.runtime.http_pool`) as the client:
httpx tops out near 500 requests/s on this machine and would be the limit of the one-integration
run instead of the server.

    python bench/outgoing.py                          # 1 and 50 integrations
    python bench/outgoing.py --messages 2000 --integrations 1 50

Goal (issue #5): at least 500 deliveries/s on one process, and p50 under 50 ms when the queue is
empty.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from processes import ADMIN_PASS, ADMIN_USERNAME, clean_env, free_port, hookhub_env, start, stop, wait_ready

from hookhub.runtime.http_pool import HttpPool, Origin

# -- the receiver ----------------------------------------------------------------------------------


def serve_receiver(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    arrivals: list[tuple[float, str, str]] = []  # (arrival unix time, message ts, message id)

    async def receive(request: Request) -> Response:
        body = orjson.loads(await request.body())
        arrivals.append((time.time(), str(body.get("timestamp", "")), str(body.get("message_id", ""))))
        return Response(b'{"ok": true}', media_type="application/json")

    async def stats(_request: Request) -> Response:
        return Response(orjson.dumps(arrivals), media_type="application/json")

    async def reset(_request: Request) -> Response:
        arrivals.clear()
        return Response(b"{}", media_type="application/json")

    app = Starlette(
        routes=[
            Route("/receive", receive, methods=["POST"]),
            Route("/stats", stats),
            Route("/reset", reset, methods=["POST"]),
        ]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", server_header=False)


def arrivals(base: str) -> list[tuple[float, str, str]]:
    data: list[tuple[float, str, str]] = httpx.get(f"{base}/stats", timeout=30, trust_env=False).json()
    return data


# -- measurements ----------------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def wait_arrivals(receiver: str, expected: int, timeout: float) -> list[tuple[float, str, str]]:
    deadline = time.monotonic() + timeout
    while True:
        got = arrivals(receiver)
        if len(got) >= expected:
            return got
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(got)} of {expected} deliveries arrived within {timeout}s")
        time.sleep(0.1)


async def post_burst(hook_url: str, messages: int, concurrency: int) -> None:
    """Post `messages` through the hook from `concurrency` keep-alive connections. The client is
    hookhub's own lean HTTP/1.1 pool: httpx tops out near 500 requests/s here, which would make the
    load generator, not the server, the limit of the one-integration run."""
    parts = urlsplit(hook_url)
    origin = Origin("http", parts.hostname or "127.0.0.1", parts.port or 80, None)
    headers = [("Host", parts.netloc), ("Content-Type", "application/json")]
    queue = list(range(messages))
    pool = HttpPool()

    async def worker() -> None:
        while queue:
            n = queue.pop()
            body = orjson.dumps({"text": f"bench message {n}"})
            response = await pool.request(origin, "POST", parts.path, headers, body, max_body=1 << 20)
            if response.status != 200:
                raise SystemExit(f"the hook answered {response.status}: {response.body[:200]!r}")

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await pool.aclose()


def throughput(receiver: str, hook_url: str, messages: int, integrations: int) -> tuple[float, float]:
    """(deliveries per second, seconds) for `messages` posts fanned out to `integrations`."""
    httpx.post(f"{receiver}/reset", trust_env=False)
    started = time.time()
    asyncio.run(post_burst(hook_url, messages, 16))
    got = wait_arrivals(receiver, messages * integrations, timeout=300)
    last = max(a[0] for a in got)
    return len(got) / (last - started), last - started


def latency(receiver: str, hook_url: str, count: int, integrations: int) -> tuple[float, float]:
    """p50 and p99 in ms of arrival minus message ts over every delivery, posting the next message
    only when all deliveries of the previous one arrived (the queue is empty each time)."""
    httpx.post(f"{receiver}/reset", trust_env=False)
    with httpx.Client(trust_env=False) as client:
        for n in range(count):
            client.post(hook_url, json={"text": f"latency probe {n}"}).raise_for_status()
            wait_arrivals(receiver, (n + 1) * integrations, timeout=60)
    got = arrivals(receiver)
    delays = [
        (arrived - datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()) * 1000
        for arrived, ts, _ in got
    ]
    return percentile(delays, 50), percentile(delays, 99)


async def _baseline(receiver: str, requests: int, concurrency: int) -> float:
    """Requests/s of the receiver loaded directly with the delivery's payload shape, from the same
    lean client as the poster: what the receiver can take on this machine at all."""
    body = orjson.dumps({"token": "t", "bot": False, "channel_id": "GENERAL", "text": "x", "timestamp": ""})
    parts = urlsplit(receiver)
    origin = Origin("http", parts.hostname or "127.0.0.1", parts.port or 80, None)
    headers = [("Host", parts.netloc), ("Content-Type", "application/json")]
    remaining = [requests]
    pool = HttpPool()

    async def worker() -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            response = await pool.request(origin, "POST", "/receive", headers, body, max_body=1 << 20)
            if response.status != 200:
                raise SystemExit(f"the receiver answered {response.status}")

    started = time.monotonic()
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await pool.aclose()
    return requests / (time.monotonic() - started)


# -- set-up ----------------------------------------------------------------------------------------


def setup(base: str, receiver: str, integrations: int) -> str:
    with httpx.Client(base_url=base, trust_env=False, timeout=30) as client:
        r = client.post("/api/v1/login", json={"user": ADMIN_USERNAME, "password": ADMIN_PASS})
        r.raise_for_status()
        data = r.json()["data"]
        client.headers.update({"X-User-Id": data["userId"], "X-Auth-Token": data["authToken"]})
        for n in range(integrations):
            r = client.post(
                "/api/v1/integrations.create",
                json={
                    "type": "webhook-outgoing",
                    "name": f"bench {n}",
                    "enabled": True,
                    "username": "rocket.cat",
                    "urls": [f"{receiver}/receive"],
                    "event": "sendMessage",
                    "channel": "#general",
                    "scriptEnabled": False,
                },
            )
            r.raise_for_status()
        r = client.post(
            "/api/v1/integrations.create",
            json={
                "type": "webhook-incoming",
                "name": "bench source",
                "enabled": True,
                "username": "rocket.cat",
                "channel": "#general",
                "scriptEnabled": False,
            },
        )
        r.raise_for_status()
        hook = r.json()["integration"]
        return f"{base}/hooks/{hook['_id']}/{hook['token']}"


def run(integrations: int, messages: int, concurrency: int, workdir: Path) -> dict[str, Any]:
    receiver_port, hookhub_port = free_port(), free_port()
    receiver = f"http://127.0.0.1:{receiver_port}"
    base = f"http://127.0.0.1:{hookhub_port}"
    data_dir = workdir / f"data-{integrations}"
    rproc = start(
        [sys.executable, __file__, "--serve-receiver", str(receiver_port)],
        clean_env(),
        workdir / "receiver.log",
    )
    hproc = start(
        [sys.executable, "-m", "hookhub", "serve", "--port", str(hookhub_port)],
        hookhub_env(
            data_dir,
            HOOKHUB_HOOKS_RATE_LIMIT="0",
            HOOKHUB_EGRESS_ALLOW="127.0.0.1/32",
            HOOKHUB_OUTGOING_CONCURRENCY=str(concurrency),
        ),
        workdir / f"hookhub-{integrations}.log",
    )
    try:
        wait_ready(rproc, f"{receiver}/stats", workdir / "receiver.log")
        wait_ready(hproc, f"{base}/api/info", workdir / f"hookhub-{integrations}.log")
        hook_url = setup(base, receiver, integrations)
        rate, seconds = throughput(receiver, hook_url, messages, integrations)
        p50, p99 = latency(receiver, hook_url, 50, integrations)
        baseline = asyncio.run(_baseline(receiver, max(2000, messages), concurrency))
        return {"rate": rate, "seconds": seconds, "p50": p50, "p99": p99, "baseline": baseline}
    finally:
        stop(hproc)
        stop(rproc)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--messages",
        type=int,
        default=0,
        help="messages per throughput run (default: 5000 deliveries' worth)",
    )
    parser.add_argument("--integrations", type=int, nargs="+", default=[1, 50])
    parser.add_argument("--concurrency", type=int, default=32, help="HOOKHUB_OUTGOING_CONCURRENCY")
    parser.add_argument("--serve-receiver", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_receiver:
        serve_receiver(args.serve_receiver)
        return
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs; load average before the run {load}")
    workdir = Path(tempfile.mkdtemp(prefix="hookhub-bench-outgoing-"))
    try:
        for n in args.integrations:
            messages = args.messages or max(100, 5000 // n)
            result = run(n, messages, args.concurrency, workdir)
            print(
                f"{n:3d} integration(s): {messages} messages -> {messages * n} deliveries"
                f" in {result['seconds']:.1f} s = {result['rate']:.0f} deliveries/s;"
                f" latency (empty queue) p50 {result['p50']:.1f} ms p99 {result['p99']:.1f} ms;"
                f" baseline (receiver loaded directly, {args.concurrency} concurrent)"
                f" {result['baseline']:.0f} req/s"
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
