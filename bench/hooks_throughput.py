"""Benchmark: incoming-webhook throughput and latency (issue #4), against the real server process.

In one run it starts

* `hookhub serve` (subprocess, fresh data dir, SQLite default, one uvicorn worker) with an admin
  from `ADMIN_USERNAME`/`ADMIN_PASS`, creates incoming integrations through `integrations.create`
  and loads `/hooks/<id>/<token>` with a small JSON message;
* the baseline: a bare Starlette app under uvicorn (same options as `hookhub serve`) whose one
  endpoint parses the JSON body and inserts one row into a messages-like table of a SQLite
  database in WAL mode (synchronous=NORMAL, one commit per request) in the same temp directory,
  through the same driver (aiosqlite).

Load: `wrk` (Debian package `wrk`) when it is on PATH, else an asyncio keep-alive load generator
written here; each target is measured at 1 and at 32 concurrent connections. With `--repeat N`
every measurement is taken N times and the best run is printed with the spread of requests/s.

    python bench/hooks_throughput.py                     # 10 s per measurement, once
    python bench/hooks_throughput.py --seconds 5 --repeat 3
    python bench/hooks_throughput.py --loader python     # without wrk

The goal (issue #4): the no-script hook reaches at least 50% of the bare endpoint's requests/s
on one worker, with p99 under 50 ms at 32 connections.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from processes import ADMIN_PASS, ADMIN_USERNAME, clean_env, free_port, hookhub_env, start, stop, wait_ready

MESSAGE = {"text": "build #1234 passed on main", "username": "ci"}
SCRIPT = (
    "class Script { process_incoming_request({request}) { return {content: {text: request.content.text}} } }"
)
# Only used to find out whether /hooks runs scripts: its output differs from its input.
PROBE_SCRIPT = (
    "class Script { process_incoming_request({request}) "
    "{ return {content: {text: 'probe:' + request.content.text}} } }"
)
# uvicorn options of `hookhub serve` (cli.py), for the baseline too.
UVICORN_OPTIONS: dict[str, Any] = {
    "log_level": "warning",
    "timeout_graceful_shutdown": 30,
    "server_header": False,
}


# -- processes ---------------------------------------------------------------------------------


def start_hookhub(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = hookhub_env(
        data_dir,
        # the limiter still counts every call (its cost is measured); it just never refuses
        HOOKHUB_HOOKS_RATE_LIMIT="1000000000",
    )
    log = data_dir.parent / "hookhub.log"
    proc = start([sys.executable, "-m", "hookhub", "serve", "--port", str(port)], env, log)
    wait_ready(proc, f"http://127.0.0.1:{port}/api/info", log)
    return proc


def start_bare(db_path: Path, port: int) -> subprocess.Popen[bytes]:
    log = db_path.parent / "bare.log"
    proc = start([sys.executable, __file__, "--serve-bare", str(port), str(db_path)], clean_env(), log)
    wait_ready(proc, f"http://127.0.0.1:{port}/ready", log)
    return proc


# -- the baseline app ------------------------------------------------------------------------------

BARE_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id VARCHAR(64) PRIMARY KEY,
    rid VARCHAR(64) NOT NULL,
    ts DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    u_id VARCHAR(64) NOT NULL,
    u_username VARCHAR(255),
    msg TEXT NOT NULL,
    extra TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_messages_rid_ts ON messages (rid, ts);
"""


def serve_bare(port: int, db_path: Path) -> None:
    """The bare endpoint: parse the JSON body, insert one row, commit, answer `{"success": true}`."""
    import secrets
    from collections.abc import AsyncIterator
    from contextlib import asynccontextmanager
    from datetime import UTC, datetime

    import aiosqlite
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        db = await aiosqlite.connect(db_path, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000"):
            await db.execute(f"PRAGMA {pragma}")
        await db.executescript(BARE_SCHEMA)
        state["db"], state["lock"] = db, asyncio.Lock()
        yield
        await db.close()

    async def insert(request: Request) -> Response:
        body = orjson.loads(await request.body())
        now = datetime.now(UTC).isoformat()
        # one connection, one writer at a time, one transaction per request: as hookhub does
        async with state["lock"]:
            db = state["db"]
            await db.execute("BEGIN IMMEDIATE")
            await db.execute(
                "INSERT INTO messages (id, rid, ts, updated_at, u_id, u_username, msg, extra)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    secrets.token_hex(9),
                    "GENERAL",
                    now,
                    now,
                    "rocket.cat",
                    "rocket.cat",
                    str(body.get("text", "")),
                    orjson.dumps({"alias": body.get("username")}).decode(),
                ),
            )
            await db.execute("COMMIT")
        return Response(b'{"success":true}', media_type="application/json")

    async def ready(_request: Request) -> Response:
        return Response(b"ok")

    app = Starlette(
        routes=[Route("/insert", insert, methods=["POST"]), Route("/ready", ready)], lifespan=lifespan
    )
    uvicorn.run(app, host="127.0.0.1", port=port, **UVICORN_OPTIONS)


# -- set-up through the REST API -------------------------------------------------------------------


def create_hook(client: httpx.Client, name: str, **fields: Any) -> dict[str, Any]:
    body = {
        "type": "webhook-incoming",
        "name": name,
        "enabled": True,
        "username": "rocket.cat",
        "channel": "#general",
        "scriptEnabled": False,
        **fields,
    }
    r = client.post("/api/v1/integrations.create", json=body)
    r.raise_for_status()
    hook: dict[str, Any] = r.json()["integration"]
    return hook


def scripts_wired(client: httpx.Client, base: str) -> bool:
    """Post through a hook whose script rewrites the text and look at what was stored."""
    probe = create_hook(client, "probe", scriptEnabled=True, script=PROBE_SCRIPT)
    r = httpx.post(f"{base}/hooks/{probe['_id']}/{probe['token']}", json={"text": "x"}, trust_env=False)
    r.raise_for_status()
    r = client.get("/api/v1/channels.messages", params={"roomId": "GENERAL", "count": 5})
    r.raise_for_status()
    return any(m.get("msg") == "probe:x" for m in r.json()["messages"])


# -- load generation -------------------------------------------------------------------------------


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


_WRK_LUA = """wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
"""
# Each request to the next of `paths`, in turn (per wrk thread).
_WRK_LUA_PATHS = """
paths = {{{paths}}}
counter = 0
request = function()
    counter = counter + 1
    return wrk.format(nil, paths[(counter % #paths) + 1])
end
"""
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def run_wrk(
    url: str,
    connections: int,
    seconds: float,
    workdir: Path,
    timeout: float | None = None,
    paths: list[str] | None = None,
) -> Result:
    """wrk POSTing MESSAGE to `url`, or in turn to each of `paths` on `url`'s server."""
    lua = workdir / "post.lua"
    script = _WRK_LUA.format(body=orjson.dumps(orjson.dumps(MESSAGE).decode()).decode())
    if paths:
        script += _WRK_LUA_PATHS.format(paths=", ".join(orjson.dumps(path).decode() for path in paths))
    lua.write_text(script)
    threads = min(connections, 2)
    # wrk counts a request slower than its timeout (default 2 s) as an error
    wait = [f"--timeout={timeout:g}s"] if timeout is not None else []
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{int(seconds)}s",
            *wait,
            "--latency",
            "-s",
            str(lua),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def latency(pct: str) -> float:
        m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
        assert m, out
        return float(m.group(1)) * _UNITS[m.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert rps, out
    errors = 0
    for pattern in (r"Non-2xx or 3xx responses:\s+(\d+)", r"Socket errors:.*?timeout (\d+)"):
        m = re.search(pattern, out)
        errors += int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+)", out)
    if m:
        errors += sum(int(g) for g in m.groups())
    return Result(float(rps.group(1)), latency("50"), latency("99"), errors)


async def _python_load(url: str, connections: int, seconds: float) -> Result:
    """Keep-alive HTTP/1.1 over raw asyncio streams: cheaper per request than a client library,
    so the generator takes less of the CPU it shares with the server."""
    parsed = httpx.URL(url)
    body = orjson.dumps(MESSAGE)
    request = (
        f"POST {parsed.raw_path.decode()} HTTP/1.1\r\nHost: {parsed.host}:{parsed.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - started) * 1000)
            if not head.startswith(b"HTTP/1.1 2"):
                errors += 1
        writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - began
    cuts = statistics.quantiles(latencies, n=100)
    return Result(len(latencies) / elapsed, cuts[49], cuts[98], errors)


def measure(
    loader: str, url: str, connections: int, seconds: float, workdir: Path, timeout: float | None = None
) -> Result:
    if loader == "wrk":
        return run_wrk(url, connections, seconds, workdir, timeout)
    return asyncio.run(_python_load(url, connections, seconds))


# -- the run ---------------------------------------------------------------------------------------


def report(label: str, connections: int, runs: list[Result]) -> Result:
    best = max(runs, key=lambda r: r.rps)
    spread = f"  (runs: {', '.join(f'{r.rps:.0f}' for r in runs)})" if len(runs) > 1 else ""
    errors = sum(r.errors for r in runs)
    print(
        f"{label:<22} c={connections:<3} {best.rps:8.0f} req/s   p50 {best.p50_ms:7.1f} ms"
        f"   p99 {best.p99_ms:7.1f} ms   errors {errors}{spread}",
        flush=True,
    )
    if errors:
        raise SystemExit(f"{label}: {errors} failed requests; the figures are not valid")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each measurement")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement (best is printed)")
    parser.add_argument("--loader", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--serve-bare", nargs=2, metavar=("PORT", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(int(args.serve_bare[0]), Path(args.serve_bare[1]))
        return
    loader = args.loader
    if loader == "auto":
        loader = "wrk" if shutil.which("wrk") else "python"

    with tempfile.TemporaryDirectory(prefix="hooks-bench-") as tmp:
        workdir = Path(tmp)
        hookhub_port, bare_port = free_port(), free_port()
        hookhub = start_hookhub(workdir / "data", hookhub_port)
        bare = start_bare(workdir / "bare.sqlite3", bare_port)
        try:
            base = f"http://127.0.0.1:{hookhub_port}"
            with httpx.Client(base_url=base, trust_env=False, timeout=30.0) as client:
                r = client.post("/api/v1/login", json={"user": ADMIN_USERNAME, "password": ADMIN_PASS})
                r.raise_for_status()
                data = r.json()["data"]
                client.headers.update({"X-User-Id": data["userId"], "X-Auth-Token": data["authToken"]})
                plain = create_hook(client, "bench plain")
                scripted = create_hook(client, "bench script", scriptEnabled=True, script=SCRIPT)
                wired = scripts_wired(client, base)

            targets = [
                ("bare starlette+sqlite", f"http://127.0.0.1:{bare_port}/insert"),
                ("hook, no script", f"{base}/hooks/{plain['_id']}/{plain['token']}"),
            ]
            if wired:
                targets.append(("hook, small script", f"{base}/hooks/{scripted['_id']}/{scripted['token']}"))
            cpus = os.cpu_count()
            load = os.getloadavg()
            print(
                f"loader: {loader}; {cpus} CPUs; load average before the run "
                f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
                f"{args.seconds:g} s per run, {args.repeat} run(s)",
                flush=True,
            )
            best: dict[tuple[str, int], Result] = {}
            for label, url in targets:
                measure(loader, url, 8, 2.0, workdir)  # warm-up: connections, caches, SQLite pages
                for connections in (1, 32):
                    runs = [
                        measure(loader, url, connections, args.seconds, workdir) for _ in range(args.repeat)
                    ]
                    best[(label, connections)] = report(label, connections, runs)
            if not wired:
                print(
                    "hook, small script: script stage not wired (a rewriting script left the text unchanged)"
                )
            for connections in (1, 32):
                ratio = (
                    best[("hook, no script", connections)].rps
                    / best[("bare starlette+sqlite", connections)].rps
                )
                print(f"no-script hook / bare at c={connections}: {ratio:.0%}")
            p99 = best[("hook, no script", 32)].p99_ms
            print(f"no-script hook p99 at c=32: {p99:.1f} ms (goal < 50 ms)")
        finally:
            stop(hookhub)
            stop(bare)


if __name__ == "__main__":
    main()
