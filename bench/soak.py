"""Soak benchmark: minutes of steady mixed load on one `hookhub serve` (issue #10; not in CI).

In one run it starts

* a receiver: a bare Starlette app under uvicorn (subprocess) that answers 20% of requests (a
  seeded pseudo-random choice per request) with a 500 and an **empty** body (webhook-runtime.md
  §3.8: a 500 *with* a body is final, without one it is retried like any failure) and the others
  with 200 `{"ok": true}` (no `text`, so no reply message); it counts, per `message_id`, the
  requests and the 200s;
* `hookhub serve` (subprocess, fresh data dir, SQLite default or `--database-url`, `--workers N`,
  `HOOKHUB_EGRESS_ALLOW=127.0.0.1/32`, the hooks' rate limiter counting but never refusing,
  `HOOKHUB_RETRY_TIME_SCALE=0.1`) with, created through the REST API: 3 channels, a no-script and
  a script hook into each, and one outgoing integration (`sendMessage` on the 3 channels) to the
  receiver with `retryFailedCalls`, `retryCount` 10, `retryDelay` `increments-of-two` (scaled:
  0.2 s, 0.4 s, ... 2 s; a message is lost only after 11 failed attempts in a row);

and drives, for `--seconds`, from asyncio httpx clients in this process:

* 16 hook posters at a steady open-loop rate (default 5 posts/s each, 80/s in all): 12 on the
  no-script hooks, 4 on the script hooks. 80 posts/s is ~5% of what a no-script hook takes on this
  machine (~1,500/s), ~20% of the script path (~100/s) and, with the 20% of attempts that fail and
  are retried, ~100 delivery attempts/s: ~20% of what one process delivers (~500/s). The run
  measures whether the server stays the same over time, not how much it takes;
* 4 readers, one per call, 2 calls/s each: `integrations.list`, `channels.getIntegrations`,
  `integrations.history` (the outgoing integration, whose history grows through the run) and
  `channels.messages` (growing rooms).

Every 10 s it samples requests/s by kind, errors (any non-2xx answer or transport error of the
load clients; the receiver's deliberate 500s are counted apart), hook latency p99, the server's
CPU, resident memory (VmRSS, and its RssAnon part: heaps rather than mapped files) and open file
descriptors summed over its process tree (the workers and their children too), deliveries and
failures at the receiver, the backlog (posts accepted minus messages delivered) and the pending
rows of the `deliveries` table. The clients drop idle connections after 2 s, before the server's
5 s keep-alive timeout (see `drive`).

At the end it waits (at most `--drain-timeout`) for the backlog to drain and checks that nothing
was lost: every accepted post is one message in its room (the rooms' `total` through
`channels.messages`, against the count before the load) and every one of those messages reached
the receiver with a 200 (matched by text and `message_id`); no `deliveries` row ended `failed`.
Duplicates (a message answered 200 more than once) are reported apart: delivery is at-least-once
(outgoing.py: a lost lease sends again), but without a crash or a stall past the 60 s lease there
should be none.

Baseline (same run): the same server idle after set-up and a warm-up post through every hook,
before the load: its RSS and fds, so the table shows what the load and time add to an idle
process; the memory verdict compares the first sample after `--warmup` seconds with the last
(goal: < 10% growth).

    python bench/soak.py                       # 5 minutes, SQLite, one worker
    python bench/soak.py --seconds 40          # a quick check of the bench itself
    python bench/soak.py --workers 2 --database-url postgresql://.../empty_db

`--database-url` must name an empty database (PostgreSQL: a fresh one per run).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from hooks_throughput import create_hook
from processes import ADMIN_PASS, ADMIN_USERNAME, clean_env, free_port, hookhub_env, start, stop, wait_ready

CHANNELS = 3
POSTERS = 16
SCRIPT_POSTERS = 4
READ_KINDS = ("integrations.list", "channels.getIntegrations", "integrations.history", "channels.messages")
SAMPLE_SECONDS = 10.0
# The receiver answers this share of requests with an empty 500, chosen per request by a seeded
# generator, so that whether an attempt fails does not depend on the order attempts arrive in (with
# "every 5th request" it does, and retries of one batch can keep meeting the failing slot).
FAIL_SHARE = 0.2
FAIL_SEED = 10
RETRY_COUNT = 10
RETRY_TIME_SCALE = "0.1"
# Keeps the text the same (so the receiver can match it) and runs the sandbox on every post.
SCRIPT = (
    "class Script { process_incoming_request({request}) "
    "{ return {content: {text: request.content.text, alias: 'soak script'}} } }"
)
TEXT_PREFIX = "soak "


# -- the receiver ----------------------------------------------------------------------------------


def serve_receiver(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    chooser = random.Random(FAIL_SEED)
    requests = [0]
    failed = [0]
    tried: Counter[str] = Counter()  # message_id -> requests
    ok: Counter[str] = Counter()  # message_id -> 200 answers
    texts: dict[str, str] = {}  # message_id -> text
    hook_ids: set[str] = set()  # webhook-id headers of 200 answers

    async def receive(request: Request) -> Response:
        body = orjson.loads(await request.body())
        message_id = str(body.get("message_id", ""))
        requests[0] += 1
        tried[message_id] += 1
        if chooser.random() < FAIL_SHARE:
            failed[0] += 1
            return Response(b"", status_code=500)
        ok[message_id] += 1
        texts[message_id] = str(body.get("text", ""))
        hook_ids.add(request.headers.get("webhook-id", ""))
        return Response(b'{"ok": true}', media_type="application/json")

    async def stats(_request: Request) -> Response:
        summary = {
            "requests": requests[0],
            "failed": failed[0],
            "ok": sum(ok.values()),
            "delivered": len(ok),
            "duplicates": sum(n - 1 for n in ok.values()),
            "webhook_ids": len(hook_ids),
        }
        return Response(orjson.dumps(summary), media_type="application/json")

    async def delivered(_request: Request) -> Response:
        rows = [[mid, texts[mid], n, tried[mid]] for mid, n in ok.items()]
        undelivered = [mid for mid in tried if mid not in ok]
        return Response(
            orjson.dumps({"rows": rows, "undelivered": undelivered}), media_type="application/json"
        )

    app = Starlette(
        routes=[
            Route("/receive", receive, methods=["POST"]),
            Route("/stats", stats),
            Route("/delivered", delivered),
        ]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", server_header=False)


# -- the server's process tree ---------------------------------------------------------------------


def process_tree(root: int) -> list[int]:
    """`root` and every descendant alive now (from each process's parent in /proc/<pid>/stat)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # the command name is in parentheses and may hold spaces: fields start after the last ")"
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, ppid in parents.items() if ppid in frontier]
        tree.extend(frontier)
    return tree


@dataclass
class ProcessSample:
    processes: int
    rss_kib: int  # VmRSS
    anon_kib: int  # RssAnon: the heaps (Python, SQLite's page caches, V8), not mapped files
    fds: int
    cpu_seconds: float


def sample_processes(root: int) -> ProcessSample:
    """VmRSS, open fds and CPU time (user + system) summed over `root`'s process tree."""
    ticks = os.sysconf("SC_CLK_TCK")
    pids = process_tree(root)
    rss = anon = fds = 0
    cpu = 0.0
    alive = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            fds += len(os.listdir(f"/proc/{pid}/fd"))
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        alive += 1
        cpu += (int(fields[11]) + int(fields[12])) / ticks
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1])
            elif line.startswith("RssAnon:"):
                anon += int(line.split()[1])
    return ProcessSample(alive, rss, anon, fds, cpu)


# -- the deliveries table --------------------------------------------------------------------------


class DeliveryRows:
    """Counts the `deliveries` table's rows by status, read-only, straight from the database (one
    short connection per count: the caller runs it from more than one event loop)."""

    QUERY = "SELECT status, count(*) FROM deliveries GROUP BY status"

    def __init__(self, database_url: str | None, data_dir: Path) -> None:
        self.database_url = database_url
        self.sqlite_path = data_dir / "hookhub.sqlite3"
        if database_url is not None and database_url.startswith("sqlite"):
            self.sqlite_path = Path(database_url.split(":///", 1)[1])

    async def counts(self) -> dict[str, int]:
        if self.database_url is None or self.database_url.startswith("sqlite"):
            return await asyncio.to_thread(self._sqlite_counts)
        import asyncpg  # type: ignore[import-untyped]
        from sqlalchemy import make_url

        dsn = make_url(self.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn)
        try:
            return {str(row[0]): int(row[1]) for row in await conn.fetch(self.QUERY)}
        finally:
            await conn.close()

    def _sqlite_counts(self) -> dict[str, int]:
        conn = sqlite3.connect(f"file:{self.sqlite_path}?mode=ro", uri=True, timeout=10)
        try:
            return {str(status): int(n) for status, n in conn.execute(self.QUERY)}
        finally:
            conn.close()


# -- load ------------------------------------------------------------------------------------------


@dataclass
class Kind:
    """What the load clients of one kind did, in all and since the last sample."""

    ok: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, since the last sample
    last_ok: int = 0
    error_samples: list[str] = field(default_factory=list)

    def record(self, started: float, error: str | None) -> None:
        if error is None:
            self.ok += 1
            self.latencies.append(time.perf_counter() - started)
        else:
            self.errors += 1
            if len(self.error_samples) < 5:
                self.error_samples.append(error)


@dataclass
class Hook:
    url: str
    channel: str
    script: bool


@dataclass
class Load:
    kinds: dict[str, Kind]
    accepted: dict[str, str] = field(default_factory=dict)  # text -> channel, posts answered 200
    stop_at: float = 0.0


async def request(client: httpx.AsyncClient, kind: Kind, method: str, url: str, **kw: Any) -> bool:
    started = time.perf_counter()
    try:
        r = await client.request(method, url, **kw)
    except httpx.HTTPError as exc:
        kind.record(started, f"{type(exc).__name__}: {exc}")
        return False
    if not 200 <= r.status_code < 300:
        kind.record(started, f"{r.status_code} {r.text[:200]}")
        return False
    kind.record(started, None)
    return True


async def steady(interval: float, stop_at: float, offset: float) -> AsyncIterator[None]:
    """Yields at `offset`, `offset + interval`, ... until `stop_at` (monotonic), open loop: a slow
    call delays the next one but the schedule does not drift."""
    next_at = time.monotonic() + offset
    while True:
        delay = next_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if time.monotonic() >= stop_at:
            return
        yield
        next_at += interval


async def poster(client: httpx.AsyncClient, load: Load, hook: Hook, number: int, rate: float) -> None:
    kind = load.kinds["hook, script" if hook.script else "hook"]
    n = 0
    async for _ in steady(1 / rate, load.stop_at, number / (rate * POSTERS)):
        n += 1
        text = f"{TEXT_PREFIX}{number}-{n}"
        if await request(client, kind, "POST", hook.url, json={"text": text}):
            load.accepted[text] = hook.channel


async def reader(
    client: httpx.AsyncClient, load: Load, name: str, params: dict[str, str], rate: float
) -> None:
    kind = load.kinds[name]
    async for _ in steady(1 / rate, load.stop_at, 0.1):
        await request(client, kind, "GET", f"/api/v1/{name}", params=params)


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))]


# -- sampling --------------------------------------------------------------------------------------


@dataclass
class Sample:
    t: float
    hooks: float  # posts/s answered 200, both hook kinds
    scripted: float  # of which through the script hooks
    reads: float
    errors: int  # so far
    hook_p99_ms: float  # no-script hooks
    script_p99_ms: float
    delivered: float  # 200s/s at the receiver
    refused: float  # deliberate 500s/s at the receiver
    backlog: int  # accepted posts not yet delivered
    pending: int  # deliveries rows pending
    cpu: float  # share of one core, server tree
    rss_mib: float
    anon_mib: float
    fds: int
    processes: int


HEADER = (
    f"{'t s':>5} {'hooks/s':>8} {'script':>7} {'reads/s':>7} {'errors':>6} {'p99 ms':>7}"
    f" {'deliv/s':>7} {'500s/s':>6} {'backlog':>7} {'pending':>7} {'cpu':>5} {'RSS MiB':>8}"
    f" {'anon':>6} {'fds':>5}"
)


def row(s: Sample) -> str:
    return (
        f"{s.t:5.0f} {s.hooks:8.1f} {s.scripted:7.1f} {s.reads:7.1f} {s.errors:6d} {s.hook_p99_ms:7.1f}"
        f" {s.script_p99_ms:7.1f}"
        f" {s.delivered:7.1f} {s.refused:6.1f} {s.backlog:7d} {s.pending:7d} {s.cpu:5.0%}"
        f" {s.rss_mib:8.1f} {s.anon_mib:6.1f} {s.fds:5d}"
    )


async def receiver_stats(client: httpx.AsyncClient, receiver: str) -> dict[str, int]:
    r = await client.get(f"{receiver}/stats")
    r.raise_for_status()
    data: dict[str, int] = r.json()
    return data


class Sampler:
    def __init__(
        self, root: int, receiver: str, load: Load, rows: DeliveryRows, started: float, base_delivered: int
    ) -> None:
        self.root, self.receiver, self.load, self.rows = root, receiver, load, rows
        self.started = started
        self.base_delivered = base_delivered
        self.samples: list[Sample] = []
        self._last_t = started
        self._last_cpu = sample_processes(root).cpu_seconds
        self._last_receiver: dict[str, int] = {}

    async def begin(self, client: httpx.AsyncClient) -> None:
        """The receiver's counts at the start (rates are differences from one sample to the next)."""
        self._last_receiver = await receiver_stats(client, self.receiver)

    async def take(self, client: httpx.AsyncClient) -> Sample:
        now = time.monotonic()
        dt = max(now - self._last_t, 1e-9)
        proc = sample_processes(self.root)
        stats = await receiver_stats(client, self.receiver)
        last = self._last_receiver
        pending = (await self.rows.counts()).get("pending", 0)
        kinds = self.load.kinds
        rates = {name: (k.ok - k.last_ok) / dt for name, k in kinds.items()}
        sample = Sample(
            t=now - self.started,
            hooks=rates["hook"] + rates["hook, script"],
            scripted=rates["hook, script"],
            reads=sum(rates[name] for name in READ_KINDS),
            errors=sum(k.errors for k in kinds.values()),
            hook_p99_ms=percentile(kinds["hook"].latencies, 99) * 1000,
            script_p99_ms=percentile(kinds["hook, script"].latencies, 99) * 1000,
            delivered=(stats["ok"] - last["ok"]) / dt,
            refused=(stats["failed"] - last["failed"]) / dt,
            backlog=len(self.load.accepted) - (stats["delivered"] - self.base_delivered),
            pending=pending,
            cpu=(proc.cpu_seconds - self._last_cpu) / dt,
            rss_mib=proc.rss_kib / 1024,
            anon_mib=proc.anon_kib / 1024,
            fds=proc.fds,
            processes=proc.processes,
        )
        for k in kinds.values():
            k.last_ok = k.ok
            k.latencies.clear()
        self._last_t, self._last_cpu, self._last_receiver = now, proc.cpu_seconds, stats
        self.samples.append(sample)
        return sample


# -- set-up ----------------------------------------------------------------------------------------


@dataclass
class Setup:
    headers: dict[str, str]
    hooks: list[Hook]
    outgoing_id: str


def setup(base: str, receiver: str) -> Setup:
    with httpx.Client(base_url=base, trust_env=False, timeout=30) as client:
        r = client.post("/api/v1/login", json={"user": ADMIN_USERNAME, "password": ADMIN_PASS})
        r.raise_for_status()
        data = r.json()["data"]
        headers = {"X-User-Id": data["userId"], "X-Auth-Token": data["authToken"]}
        client.headers.update(headers)
        hooks = []
        for n in range(CHANNELS):
            channel = f"soak-{n}"
            client.post("/api/v1/channels.create", json={"name": channel}).raise_for_status()
            for script in (False, True):
                extra: dict[str, Any] = {"scriptEnabled": True, "script": SCRIPT} if script else {}
                hook = create_hook(
                    client, f"soak {channel}{' script' if script else ''}", channel=f"#{channel}", **extra
                )
                hooks.append(Hook(f"{base}/hooks/{hook['_id']}/{hook['token']}", channel, script))
        r = client.post(
            "/api/v1/integrations.create",
            json={
                "type": "webhook-outgoing",
                "name": "soak receiver",
                "enabled": True,
                "username": "rocket.cat",
                "urls": [f"{receiver}/receive"],
                "event": "sendMessage",
                "channel": ",".join(f"#soak-{n}" for n in range(CHANNELS)),
                "scriptEnabled": False,
                "retryFailedCalls": True,
                "retryCount": RETRY_COUNT,
                "retryDelay": "increments-of-two",
            },
        )
        r.raise_for_status()
        return Setup(headers, hooks, r.json()["integration"]["_id"])


def room_totals(client: httpx.Client) -> dict[str, int]:
    totals = {}
    for n in range(CHANNELS):
        r = client.get("/api/v1/channels.messages", params={"roomName": f"soak-{n}", "count": 1})
        r.raise_for_status()
        totals[f"soak-{n}"] = int(r.json()["total"])
    return totals


def wait_until(what: str, check: Callable[[], bool], timeout: float) -> float:
    """Polls `check()` until true; the seconds it took (SystemExit after `timeout`)."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.2)
    return time.monotonic() - started


# -- the run ---------------------------------------------------------------------------------------


@dataclass
class Outcome:
    samples: list[Sample]
    idle: ProcessSample
    kinds: dict[str, Kind]
    accepted: int
    room_mismatch: dict[str, tuple[int, int]]  # room -> (accepted, new messages)
    undelivered: int  # accepted texts never answered 200 by the receiver
    unexpected: int  # delivered soak texts that no accepted post produced
    duplicates: int
    double_posted: int  # texts that arrived under more than one message_id
    statuses: dict[str, int]
    receiver: dict[str, int]
    drain_seconds: float
    attempts: Counter[int]  # requests per delivered message -> messages


async def drive(
    args: argparse.Namespace,
    base: str,
    receiver: str,
    server_pid: int,
    s: Setup,
    rows: DeliveryRows,
    base_delivered: int,
) -> tuple[Load, Sampler]:
    """The load for `args.seconds`, sampled every SAMPLE_SECONDS (one table row each)."""
    load = Load({name: Kind() for name in ("hook", "hook, script", *READ_KINDS)})
    started = time.monotonic()
    load.stop_at = started + args.seconds
    # Idle connections are dropped after 2 s, well before the server's keep-alive timeout (uvicorn's
    # 5 s): with httpx's default of 5 s too, a request sent on a connection just as the server
    # closes it fails with a ReadError (seen once in 24,000 posts, and reproduced alone).
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=2.0)
    async with (
        httpx.AsyncClient(
            base_url=base, trust_env=False, timeout=30, limits=limits, headers=s.headers
        ) as client,
        httpx.AsyncClient(trust_env=False, timeout=30) as side,
    ):
        sampler = Sampler(server_pid, receiver, load, rows, started, base_delivered)
        await sampler.begin(side)
        plain = [h for h in s.hooks if not h.script]
        scripted = [h for h in s.hooks if h.script]
        tasks = [
            asyncio.create_task(
                poster(
                    client,
                    load,
                    scripted[i % len(scripted)] if i < SCRIPT_POSTERS else plain[i % len(plain)],
                    i,
                    args.rate,
                )
            )
            for i in range(POSTERS)
        ]
        reads = {
            "integrations.list": {"count": "50"},
            "channels.getIntegrations": {"roomName": "soak-0", "count": "50"},
            "integrations.history": {"id": s.outgoing_id, "count": "50"},
            "channels.messages": {"roomName": "soak-1", "count": "50"},
        }
        tasks += [
            asyncio.create_task(reader(client, load, name, p, args.read_rate)) for name, p in reads.items()
        ]
        print(HEADER, flush=True)
        while time.monotonic() < load.stop_at:
            await asyncio.sleep(min(SAMPLE_SECONDS, max(0.0, load.stop_at - time.monotonic())))
            print(row(await sampler.take(side)), flush=True)
        await asyncio.gather(*tasks)
    return load, sampler


def drain_and_collect(
    base: str, receiver: str, s: Setup, accepted: int, rows: DeliveryRows, timeout: float, base_delivered: int
) -> tuple[float, dict[str, Any]]:
    """Waits until the receiver has every accepted post and no delivery is pending; (seconds it
    took, {"after": room totals, "delivered": the receiver's record})."""

    def drained() -> bool:
        stats = httpx.get(f"{receiver}/stats", trust_env=False, timeout=30).json()
        pending = asyncio.run(rows.counts()).get("pending", 0)
        return bool(stats["delivered"] - base_delivered >= accepted and pending == 0)

    try:
        drain = wait_until("the outgoing backlog draining", drained, timeout)
    except SystemExit as exc:  # report what arrived: the undelivered posts count as lost
        print(exc, flush=True)
        drain = float("inf")
    time.sleep(1.0)  # any late duplicate
    with httpx.Client(base_url=base, trust_env=False, timeout=60, headers=s.headers) as client:
        after = room_totals(client)
    data = httpx.get(f"{receiver}/delivered", trust_env=False, timeout=60).json()
    return drain, {"after": after, "delivered": data}


def run(args: argparse.Namespace, workdir: Path) -> Outcome:
    receiver_port, port = free_port(), free_port()
    receiver, base = f"http://127.0.0.1:{receiver_port}", f"http://127.0.0.1:{port}"
    data_dir = workdir / "data"
    extra = {"HOOKHUB_DATABASE_URL": args.database_url} if args.database_url else {}
    rproc = start(
        [sys.executable, __file__, "--serve-receiver", str(receiver_port)],
        clean_env(),
        workdir / "receiver.log",
    )
    log = workdir / "hookhub.log"
    hproc = start(
        [sys.executable, "-m", "hookhub", "serve", "--port", str(port), "--workers", str(args.workers)],
        hookhub_env(
            data_dir,
            HOOKHUB_HOOKS_RATE_LIMIT="1000000000",  # counts every call, never refuses
            HOOKHUB_EGRESS_ALLOW="127.0.0.1/32",
            HOOKHUB_RETRY_TIME_SCALE=RETRY_TIME_SCALE,
            **extra,
        ),
        log,
    )
    rows = DeliveryRows(args.database_url, data_dir)
    try:
        wait_ready(rproc, f"{receiver}/stats", workdir / "receiver.log")
        wait_ready(hproc, f"{base}/api/info", log)
        time.sleep(1.0)  # every worker up, not only the first that answered
        s = setup(base, receiver)
        # warm-up: one post through every hook (the poster joins each room on its first post), delivered
        for n, hook in enumerate(s.hooks):
            httpx.post(
                hook.url, json={"text": f"warm-up {n}"}, trust_env=False, timeout=30
            ).raise_for_status()

        def warm() -> bool:
            stats = httpx.get(f"{receiver}/stats", trust_env=False, timeout=30).json()
            return bool(stats["delivered"] >= len(s.hooks))

        wait_until("the warm-up deliveries", warm, 60)
        base_delivered = int(httpx.get(f"{receiver}/stats", trust_env=False).json()["delivered"])
        with httpx.Client(base_url=base, trust_env=False, timeout=30, headers=s.headers) as client:
            before = room_totals(client)
        idle_samples = []
        for _ in range(3):  # the baseline: the same server idle
            time.sleep(2.0)
            idle_samples.append(sample_processes(hproc.pid))
        idle = idle_samples[-1]
        print(
            f"baseline: idle server after set-up: {idle.processes} process(es), RSS"
            f" {', '.join(f'{p.rss_kib / 1024:.1f}' for p in idle_samples)} MiB (3 samples 2 s apart),"
            f" {idle.fds} fds",
            flush=True,
        )
        load, sampler = asyncio.run(drive(args, base, receiver, hproc.pid, s, rows, base_delivered))
        print(f"load stopped; {len(load.accepted)} posts accepted; draining ...", flush=True)
        drain, found = drain_and_collect(
            base, receiver, s, len(load.accepted), rows, args.drain_timeout, base_delivered
        )
        statuses = asyncio.run(rows.counts())
        receiver_summary = httpx.get(f"{receiver}/stats", trust_env=False).json()
        final = sample_processes(hproc.pid)
        print(
            f"after the drain ({drain:.1f} s): RSS {final.rss_kib / 1024:.1f} MiB, {final.fds} fds,"
            f" {final.processes} process(es)",
            flush=True,
        )
    finally:
        stop(hproc)
        stop(rproc)
    lines = log.read_text(errors="replace").splitlines()
    for level in ("WARNING", "ERROR", "CRITICAL"):
        found_lines = [line for line in lines if f" {level} " in line]
        if found_lines:
            print(f"server log: {len(found_lines)} {level} line(s), e.g. {found_lines[0][:300]}")
    if any("Traceback" in line for line in lines):
        print("server log: has a Traceback")
    # nothing lost?
    by_channel = Counter(load.accepted.values())
    mismatch = {
        room: (by_channel[room], found["after"][room] - before[room])
        for room in before
        if found["after"][room] - before[room] != by_channel[room]
    }
    delivered_rows: list[list[Any]] = found["delivered"]["rows"]
    ids_by_text: dict[str, set[str]] = {}
    duplicates = 0
    attempts: Counter[int] = Counter()
    for message_id, text, ok_count, tried in delivered_rows:
        if text.startswith(TEXT_PREFIX):
            ids_by_text.setdefault(text, set()).add(message_id)
            duplicates += ok_count - 1
            attempts[tried] += 1
    undelivered = [t for t in load.accepted if t not in ids_by_text]
    unexpected = [t for t in ids_by_text if t not in load.accepted]
    return Outcome(
        samples=sampler.samples,
        idle=idle,
        kinds=load.kinds,
        accepted=len(load.accepted),
        room_mismatch=mismatch,
        undelivered=len(undelivered),
        unexpected=len(unexpected),
        duplicates=duplicates,
        double_posted=sum(1 for ids in ids_by_text.values() if len(ids) > 1),
        statuses=statuses,
        receiver=receiver_summary,
        drain_seconds=drain,
        attempts=attempts,
    )


def report(args: argparse.Namespace, out: Outcome) -> bool:
    kinds = out.kinds
    errors = sum(k.errors for k in kinds.values())
    seconds = args.seconds
    print()
    print("per kind over the run:")
    for name, k in kinds.items():
        print(f"  {name:26s} {k.ok:7d} ok ({k.ok / seconds:6.1f}/s), {k.errors} errors")
        for sample in k.error_samples:
            print(f"      e.g. {sample}")
    warm = [s for s in out.samples if s.t >= args.warmup] or out.samples
    first, last = warm[0], out.samples[-1]
    growth = (last.rss_mib - first.rss_mib) / first.rss_mib
    peak = max(s.rss_mib for s in warm)
    fd_growth = last.fds - first.fds
    rec = out.receiver
    print(
        f"receiver: {rec['requests']} requests, {rec['failed']} answered 500 on purpose"
        f" ({rec['failed'] / max(rec['requests'], 1):.1%}), {rec['ok']} answered 200 for"
        f" {rec['delivered']} messages; soak messages by requests each: {dict(sorted(out.attempts.items()))}"
    )
    print(f"deliveries table: {dict(sorted(out.statuses.items()))}")
    # a post without its message is never delivered either: the undelivered posts include those
    lost = max(out.undelivered, sum(a - m for a, m in out.room_mismatch.values() if m < a))
    extra_messages = sum(m - a for a, m in out.room_mismatch.values() if m > a)
    print(
        f"accepted posts {out.accepted}; room counts off by {out.room_mismatch or 'nothing'};"
        f" accepted but never delivered {out.undelivered}; delivered but never accepted {out.unexpected};"
        f" posted twice {out.double_posted}; duplicate deliveries {out.duplicates};"
        f" {'drained in' if out.drain_seconds != float('inf') else 'not drained within'}"
        f" {out.drain_seconds if out.drain_seconds != float('inf') else args.drain_timeout:.1f} s"
    )
    ok = (
        errors == 0
        and growth < 0.10
        and lost == 0
        and extra_messages == 0
        and out.unexpected == 0
        and out.double_posted == 0
        and out.statuses.get("failed", 0) == 0
    )
    print(
        f"verdict: {'PASS' if ok else 'FAIL'}: errors {errors}; RSS {first.rss_mib:.1f} MiB at"
        f" {first.t:.0f} s (after {args.warmup:.0f} s warm-up) -> {last.rss_mib:.1f} MiB at {last.t:.0f} s"
        f" = {growth:+.1%} (goal < +10%; peak {peak:.1f}); fds {first.fds} -> {last.fds}"
        f" ({fd_growth:+d}); lost {lost}; duplicates {out.duplicates};"
        f" baseline: idle server {out.idle.rss_kib / 1024:.1f} MiB, {out.idle.fds} fds"
        f" (after the load: {last.rss_mib / (out.idle.rss_kib / 1024):.2f}x its RSS)"
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=300.0, help="duration of the load (default 300)")
    parser.add_argument("--workers", type=int, default=1, help="hookhub serve --workers")
    parser.add_argument("--database-url", default=None, help="HOOKHUB_DATABASE_URL (an empty database)")
    parser.add_argument("--rate", type=float, default=5.0, help=f"posts/s per poster ({POSTERS} posters)")
    parser.add_argument("--read-rate", type=float, default=2.0, help="calls/s per reader (4 readers)")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before the memory reference")
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument("--serve-receiver", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_receiver:
        serve_receiver(args.serve_receiver)
        return
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{os.cpu_count()} CPUs; load average before the run {load}; {args.seconds:.0f} s,"
        f" {POSTERS} posters x {args.rate:g}/s ({SCRIPT_POSTERS} on script hooks),"
        f" {len(READ_KINDS)} readers x {args.read_rate:g}/s, {args.workers} worker(s),"
        f" {'SQLite' if not args.database_url else args.database_url.split(':', 1)[0]}",
        flush=True,
    )
    workdir = Path(tempfile.mkdtemp(prefix="hookhub-bench-soak-"))
    try:
        outcome = run(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if not report(args, outcome):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
