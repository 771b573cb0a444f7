"""Benchmark: hookhub on PostgreSQL with 1, 2 and 4 worker processes (issue #6).

For each worker count it creates a fresh database on the PostgreSQL server named by
`HOOKHUB_BENCH_POSTGRES_URL` (or `HOOKHUB_TEST_POSTGRES_URL`, which `.ci/with-postgres` sets: a
role that may create databases), starts `hookhub serve --workers N` on it, and measures

* **/hooks throughput**: a no-script incoming hook loaded at 32 connections for `--seconds`
  (`wrk` when installed, else the asyncio load generator of `bench/hooks_throughput.py`), with
  the share of the machine's CPU busy meanwhile; every post updates that one room's row;
* **/hooks over 8 rooms** (with wrk): the same load spread over 8 hooks posting to 8 channels,
  so posts do not queue for one room's row lock;
* **outgoing deliveries/s**: `--messages` posts through that hook with one outgoing integration
  pointing at the loopback receiver of `bench/outgoing.py`, divided by the time from the first
  post to the last arrival;

and, in the same run, the baseline of the incoming benchmark: the bare Starlette endpoint that
parses the body and inserts one row into SQLite, at 32 connections.

    .ci/with-postgres python bench/scale.py
    .ci/with-postgres python bench/scale.py --workers 1 2 --seconds 5 --messages 2000

The scaling factor printed is each figure divided by the one-worker figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import hooks_throughput as incoming
import httpx
import outgoing
from processes import ADMIN_PASS, ADMIN_USERNAME, clean_env, free_port, hookhub_env, start, stop, wait_ready
from sqlalchemy import make_url


def admin_url() -> str:
    url = os.environ.get("HOOKHUB_BENCH_POSTGRES_URL") or os.environ.get("HOOKHUB_TEST_POSTGRES_URL")
    if not url:
        raise SystemExit(
            "set HOOKHUB_BENCH_POSTGRES_URL (or run under .ci/with-postgres) to a PostgreSQL server"
        )
    return url


async def _admin(statements: list[str]) -> None:
    import asyncpg

    dsn = make_url(admin_url()).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def fresh_database(name: str) -> str:
    asyncio.run(_admin([f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"']))
    return make_url(admin_url()).set(database=name).render_as_string(hide_password=False)


def drop_database(name: str) -> None:
    asyncio.run(_admin([f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)']))


ROOMS = 8


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine so far (Linux /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total else 0.0


@contextmanager
def logged_in(base: str) -> Iterator[httpx.Client]:
    """A client of `base` logged in as the benchmark admin."""
    with httpx.Client(base_url=base, trust_env=False, timeout=30.0) as client:
        r = client.post("/api/v1/login", json={"user": ADMIN_USERNAME, "password": ADMIN_PASS})
        r.raise_for_status()
        data = r.json()["data"]
        client.headers.update({"X-User-Id": data["userId"], "X-Auth-Token": data["authToken"]})
        yield client


def spread_hooks(client: httpx.Client, rooms: int) -> list[str]:
    """`rooms` channels with a no-script hook each; the hooks' paths."""
    paths = []
    for n in range(rooms):
        r = client.post("/api/v1/channels.create", json={"name": f"bench-spread-{n}"})
        r.raise_for_status()
        hook = incoming.create_hook(client, f"bench spread {n}", channel=f"#bench-spread-{n}")
        paths.append(f"/hooks/{hook['_id']}/{hook['token']}")
    return paths


def run(
    workers: int, seconds: float, messages: int, loader: str, workdir: Path
) -> tuple[incoming.Result, float, incoming.Result | None, float]:
    """(/hooks to one room at 32 connections, the machine's busy share during it, /hooks over
    ROOMS rooms, outgoing deliveries/s) with `workers` processes (the spread figure needs wrk)."""
    name = f"hookhub_bench_scale_{workers}"
    url = fresh_database(name)
    port, receiver_port = free_port(), free_port()
    base, receiver = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{receiver_port}"
    log = workdir / f"hookhub-{workers}.log"
    rproc = start(
        [sys.executable, outgoing.__file__, "--serve-receiver", str(receiver_port)],
        clean_env(),
        workdir / "receiver.log",
    )
    hproc = start(
        [sys.executable, "-m", "hookhub", "serve", "--port", str(port), "--workers", str(workers)],
        hookhub_env(
            workdir / f"data-{workers}",
            HOOKHUB_DATABASE_URL=url,
            HOOKHUB_HOOKS_RATE_LIMIT="0",
            HOOKHUB_EGRESS_ALLOW="127.0.0.1/32",
        ),
        log,
    )
    try:
        wait_ready(rproc, f"{receiver}/stats", workdir / "receiver.log")
        wait_ready(hproc, f"{base}/api/info", log)
        time.sleep(1.0)  # every worker up, not only the first that answered
        with logged_in(base) as client:
            plain = incoming.create_hook(client, "bench plain")
        plain_url = f"{base}/hooks/{plain['_id']}/{plain['token']}"
        incoming.measure(loader, plain_url, 8, 2.0, workdir)  # warm-up
        # past wrk's 2 s default a slow answer would count as a failure, not as latency
        cpu_before = cpu_times()
        hooks = incoming.measure(loader, plain_url, 32, seconds, workdir, timeout=30)
        hooks_cpu = busy_share(cpu_before, cpu_times())
        if hooks.errors:
            raise SystemExit(f"{workers} workers: {hooks.errors} failed hook requests\n{log.read_text()}")
        spread = None
        if loader == "wrk":
            with logged_in(base) as client:
                paths = spread_hooks(client, ROOMS)
            incoming.run_wrk(base, 8, 2.0, workdir, timeout=30, paths=paths)  # warm-up: joins each room
            spread = incoming.run_wrk(base, 32, seconds, workdir, timeout=30, paths=paths)
            if spread.errors:
                raise SystemExit(
                    f"{workers} workers: {spread.errors} failed hook requests\n{log.read_text()}"
                )
        # from here on one outgoing integration fires on every message
        hook_url = outgoing.setup(base, receiver, 1)
        rate, _ = outgoing.throughput(receiver, hook_url, messages, 1)
        return hooks, hooks_cpu, spread, rate
    finally:
        stop(hproc)
        stop(rproc)
        drop_database(name)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each /hooks load")
    parser.add_argument("--messages", type=int, default=3000, help="posts of the outgoing run")
    parser.add_argument("--loader", choices=("auto", "wrk", "python"), default="auto")
    args = parser.parse_args()
    admin_url()
    loader = args.loader
    if loader == "auto":
        loader = "wrk" if shutil.which("wrk") else "python"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs; load average before the run {load}; loader {loader}", flush=True)
    with tempfile.TemporaryDirectory(prefix="hookhub-bench-scale-") as tmp:
        workdir = Path(tmp)
        bare_port = free_port()
        bare = incoming.start_bare(workdir / "bare.sqlite3", bare_port)
        try:
            bare_url = f"http://127.0.0.1:{bare_port}/insert"
            incoming.measure(loader, bare_url, 8, 2.0, workdir)
            baseline = incoming.measure(loader, bare_url, 32, args.seconds, workdir)
        finally:
            stop(bare)
        print(f"baseline: bare Starlette + SQLite insert, c=32: {baseline.rps:.0f} req/s", flush=True)
        first: tuple[float, float, float] | None = None
        for workers in args.workers:
            hooks, hooks_cpu, spread, deliveries = run(workers, args.seconds, args.messages, loader, workdir)
            first = first or (hooks.rps, spread.rps if spread else 0.0, deliveries)
            spread_text = (
                f" /hooks over {ROOMS} rooms {spread.rps:.0f} req/s (p50 {spread.p50_ms:.0f} ms,"
                f" p99 {spread.p99_ms:.0f} ms; x{spread.rps / first[1]:.2f});"
                if spread
                else ""
            )
            print(
                f"{workers} worker(s) on PostgreSQL: /hooks to one room {hooks.rps:.0f} req/s at c=32"
                f" (p50 {hooks.p50_ms:.0f} ms, p99 {hooks.p99_ms:.0f} ms;"
                f" {hooks.rps / baseline.rps:.0%} of the baseline, x{hooks.rps / first[0]:.2f};"
                f" CPU {hooks_cpu:.0%} busy);"
                f"{spread_text} outgoing {deliveries:.0f} deliveries/s (x{deliveries / first[2]:.2f})",
                flush=True,
            )


if __name__ == "__main__":
    main()
