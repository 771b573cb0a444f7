"""The integration script sandbox: runs an integration's `class Script` in embedded V8 (mini-racer).

One V8 isolate per integration, built when a script is first called and reused while the
integration's `_updatedAt` and script text stay the same (webhook-runtime.md §4.5); any change
builds a fresh one, which also resets `Store` and the `Script` instance. At most
`HOOKHUB_SCRIPT_CACHE_SIZE` isolates stay loaded (least recently used are unloaded).

Every call is bounded, not only the load (unlike Rocket.Chat): a V8 heap limit
(`HOOKHUB_SCRIPT_MEMORY_MB`) and a wall-time limit (`HOOKHUB_SCRIPT_TIMEOUT_SECONDS`) that covers the
method, the promise it returns and any promise work it leaves behind. An isolate that hit either
limit is thrown away, so the next call starts from a clean one.

Threads: V8 calls block, so each call runs in a small bounded thread pool (the event loop only
awaits). mini-racer delivers results through an asyncio loop of its own; one private loop thread
serves every isolate. A per-isolate lock keeps two threads from using one isolate at once. Values
cross the boundary only as JSON strings built by the shim (`sandbox_shim.js`): Python never holds
live V8 objects, whose accessors would block on an isolate that is busy running a script.

`Store` lives in the isolate, so it is per process and lost on restart, on script change and on
unloading (Rocket.Chat keeps it in the isolate's memory too).

`fetch` (webhook-runtime.md §4.4): the shim queues each request; the pool thread running the call
collects them while it polls the call's promise, sends them with the `ScriptFetch` the sandbox was
built with (in the server: the hub's one `EgressClient`, so scripts pass the same egress guard as
deliveries) on the event loop that called `Sandbox.call` (the client's connection pool belongs to
that loop), and settles the results back into V8. Time spent waiting on a fetch counts toward the
call's wall-time limit; when the call ends in any way, every fetch it still has outstanding is
cancelled. Limits per call: `FETCH_MAX_PER_CALL` requests, `FETCH_MAX_REQUEST_BYTES` of body each,
and each request's timeout is cut to the call's remaining time. Response bodies reach the script
as text (UTF-8, invalid bytes replaced), at most the egress cap (10 MiB) or the fetch's `size`; the
script's heap limit applies to them like to any other string.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from http import HTTPStatus
from importlib import resources
from typing import Any, Literal

from py_mini_racer import (
    JSEvalException,
    JSOOMException,
    JSTimeoutException,
    MiniRacer,
    mini_racer,
)

from hookhub import metrics
from hookhub.config import Settings
from hookhub.runtime.egress import EgressError, EgressRefused, EgressResponse
from hookhub.runtime.isolates import ISOLATE_THREAD

log = logging.getLogger(__name__)

# The method the /hooks pipeline calls; every other one belongs to outgoing webhooks (metrics).
INCOMING_METHOD = "process_incoming_request"

ScriptStatus = Literal["ok", "error", "timeout", "out_of_memory", "compile_error", "disabled"]

# Console capture per call: entries kept, and characters per entry.
LOG_MAX_ENTRIES = 100
LOG_MAX_TEXT = 2000
# Largest result (JSON characters) a call may hand back; bigger ones are an error outcome.
RESULT_MAX_CHARS = 1_000_000
# Scripts' fetch, per call: how many requests, the largest request body (UTF-8 bytes), and the
# timeout of a request whose options give none (Rocket.Chat's 20 s). A request's timeout is also cut
# to the call's remaining wall time.
FETCH_MAX_PER_CALL = 10
FETCH_MAX_REQUEST_BYTES = 1024 * 1024
FETCH_DEFAULT_TIMEOUT_SECONDS = 20.0

ScriptFetch = Callable[[str, str, dict[str, str], bytes | None, float], Awaitable[EgressResponse]]
"""`(method, url, headers, body, timeout_seconds) -> EgressResponse`: how scripts' `fetch` sends.

Raises `EgressRefused` / `EgressError`, whose `.reason` becomes the message of the `Error` the
script's promise rejects with. Called on the event loop that called `Sandbox.call`.
"""

# Between polls of a promise that waits on the host (fetch): short, then backing off.
_POLL_FIRST_SLEEP = 0.0005
_POLL_MAX_SLEEP = 0.02
# How long to wait for a stopped isolate to settle before freeing it (see Sandbox._discard).
_QUIESCE_SECONDS = 0.5

# Rocket.Chat's DISABLE_INTEGRATION_SCRIPTS values that switch off our (isolated-vm equivalent)
# engine; `vm2` only disabled the legacy engine, which we do not have.
_DISABLE_VALUES = frozenset({"yes", "true", "ivm"})


def scripts_disabled(settings: Settings) -> bool:
    """Whether DISABLE_INTEGRATION_SCRIPTS switches script execution off (§4.7)."""
    return settings.disable_integration_scripts.strip().lower() in _DISABLE_VALUES


def script_runs(settings: Settings, integration: Mapping[str, Any]) -> bool:
    """Whether the integration's script is run at all: scripts not disabled, `scriptEnabled` true
    and a non-blank `scriptCompiled` (a script that failed to compile behaves as absent, §4.2)."""
    compiled = integration.get("scriptCompiled")
    return (
        not scripts_disabled(settings)
        and integration.get("scriptEnabled") is True
        and isinstance(compiled, str)
        and bool(compiled.strip())
    )


@dataclass(frozen=True)
class ScriptOutcome:
    """What one script call produced.

    * `ok`: `value` is the method's (awaited) return value converted through JSON: objects become
      dicts, `undefined` and functions become None. A Script class without the method is also
      `ok` with value None and `missing_method` set.
    * `error`: the method threw or its promise rejected, or the result could not become JSON or
      was larger than `RESULT_MAX_CHARS`; `error` is "Name: message", `stack` the JS stack.
    * `timeout` / `out_of_memory`: the call hit the wall-time / heap limit; the isolate was
      discarded (Store reset), the next call loads the script again.
    * `compile_error`: the script could not be loaded: syntax error, no `class Script`, the
      constructor threw, or loading itself hit a limit. Cached until the integration changes.
    * `disabled`: DISABLE_INTEGRATION_SCRIPTS is set; nothing ran.

    `logs` holds the console lines of this call, `{"level": "log"|"warn"|..., "text": str}`, at most
    `LOG_MAX_ENTRIES` (+1 line telling how many were dropped), each at most `LOG_MAX_TEXT` chars.
    """

    status: ScriptStatus
    value: Any = None
    error: str | None = None
    stack: str | None = None
    logs: list[dict[str, str]] = field(default_factory=list)
    missing_method: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _load_shim(*, fetch_enabled: bool) -> str:
    text = resources.files("hookhub.runtime").joinpath("sandbox_shim.js").read_text(encoding="utf-8")
    return (
        text.replace("__LOG_MAX_ENTRIES__", str(LOG_MAX_ENTRIES))
        .replace("__LOG_MAX_TEXT__", str(LOG_MAX_TEXT))
        .replace("__RESULT_MAX_CHARS__", str(RESULT_MAX_CHARS))
        .replace("__FETCH_ENABLED__", "true" if fetch_enabled else "false")
    )


# Isolates that could not be stopped (see _Loaded.close); referenced so they are never freed.
# Sandbox._collect_garbage: the first heap size that triggers a full collection after a call, and
# how many calls apart two collections must be for that size to be kept (not doubled).
_GC_FIRST_THRESHOLD = 2 * 1024 * 1024
_GC_MIN_CALLS = 64

_QUARANTINE: list[AbstractContextManager[MiniRacer]] = []


class _Loaded:
    """One integration version's isolate. `lock` serialises its use; `users`, `retired` and
    `broken` are guarded by the sandbox's cache lock (broken is also read under `lock`)."""

    def __init__(self, integration_id: str, version: str, source: str, lifecycle: ThreadPoolExecutor) -> None:
        self.integration_id = integration_id
        self._lifecycle = lifecycle
        self.version = version
        self.source = source
        self.lock = threading.Lock()
        self.users = 0
        self.retired = False
        self.broken = False
        self.racer: MiniRacer | None = None
        self.failure: ScriptOutcome | None = None
        # Still running JavaScript no task owns (a runaway promise job): only freeing stops it.
        self.busy = False
        # when a full garbage collection runs (Sandbox._collect_garbage)
        self.gc_threshold = 0
        self.calls_since_gc = 0
        self._maker: AbstractContextManager[MiniRacer] | None = None
        self._closed = False

    def open(self, loop: asyncio.AbstractEventLoop) -> MiniRacer:
        # Isolates are created and freed on one dedicated thread: mini-racer 0.14 crashes in
        # V8 (Isolate::New / heap teardown) when pool threads take turns doing it.
        maker = mini_racer(loop)
        racer = self._lifecycle.submit(maker.__enter__).result()
        self._maker, self.racer = maker, racer
        return racer

    def close(self) -> None:
        """Free the isolate; terminates any JavaScript still running in it."""
        if self._closed:
            return
        self._closed = True
        maker, racer, self._maker, self.racer = self._maker, self.racer, None, None
        if maker is not None:
            self._lifecycle.submit(self._free, maker, racer).result()

    def _free(self, maker: AbstractContextManager[MiniRacer], racer: MiniRacer | None) -> None:
        if self.busy:
            # Spinning without allocating: nothing but freeing stops it, and freeing an isolate
            # that is running JavaScript crashes mini-racer 0.14 (see below). Keep it, loudly.
            _QUARANTINE.append(maker)
            log.error(
                "integration %s: a script keeps running after its call ended and cannot be stopped; "
                "its isolate stays loaded (one CPU busy) until the server restarts",
                self.integration_id,
            )
            return
        try:
            if racer is not None:
                # A full GC before freeing: without it mini-racer 0.14 now and then segfaults in
                # V8's heap teardown of an isolate whose JavaScript was terminated. It blocks
                # until the isolate is idle, hence never on a busy one.
                racer.low_memory_notification()
            maker.__exit__(None, None, None)
        except Exception:  # a failing free must not take the caller down with it
            log.exception("closing the script isolate of integration %s failed", self.integration_id)


class Sandbox:
    """Runs integration scripts; one per process, built from the settings.

    `call` is safe to use from any event loop and from many tasks at once; calls on different
    integrations run in parallel (up to the pool size), calls on one integration one at a time.
    `fetch` is how scripts' `fetch` sends requests; without one, `fetch` rejects in every script.
    """

    def __init__(self, settings: Settings, *, fetch: ScriptFetch | None = None) -> None:
        self.disabled = scripts_disabled(settings)
        self.timeout_seconds = settings.script_timeout_seconds
        self.memory_bytes = settings.script_memory_mb * 1024 * 1024
        self._cache_size = settings.script_cache_size
        workers = settings.script_workers or min(4, os.cpu_count() or 1)
        self._fetch = fetch
        self._shim = _load_shim(fetch_enabled=fetch is not None)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hookhub-script")
        self._lifecycle = ISOLATE_THREAD
        self._cache: OrderedDict[str, _Loaded] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._closed = False
        # mini-racer's callback loop: it only ever runs short callbacks, never JavaScript.
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(
            target=self._loop.run_forever, name="hookhub-script-callbacks", daemon=True
        )
        self._loop_thread.start()

    # ---- public API ------------------------------------------------------------------------

    async def call(self, integration: dict[str, Any], method: str, argument: dict[str, Any]) -> ScriptOutcome:
        """Call `method` of the integration's `Script` instance with `argument` as its only parameter.

        The script is `integration["scriptCompiled"]`, or `integration["script"]` when that is
        missing; the isolate is keyed by `integration["_id"]` and versioned by `_updatedAt` (and
        the script text). `argument` must be JSON-serialisable (other values go through `str`).
        Never raises for anything the script does; see `ScriptOutcome`.
        """
        if self.disabled:
            return ScriptOutcome("disabled")
        if self._closed:
            raise RuntimeError("the script sandbox is closed")
        source = integration.get("scriptCompiled") or integration.get("script") or ""
        if not isinstance(source, str) or not source.strip():
            return ScriptOutcome("compile_error", error="the integration has no script")
        integration_id = str(integration["_id"])
        version = str(integration.get("_updatedAt"))
        argument_json = json.dumps(argument, default=str, ensure_ascii=False)
        # scripts' fetch runs on this loop: the egress client's connection pool belongs to it
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        outcome = await loop.run_in_executor(
            self._pool, self._call_sync, integration_id, version, source, method, argument_json, loop
        )
        kind: metrics.ScriptKind = "incoming" if method == INCOMING_METHOD else "outgoing"
        metrics.record_script(kind, outcome.status, time.perf_counter() - started)
        return outcome

    def forget(self, integration_id: str) -> None:
        """Unload the integration's isolate (e.g. on update or removal); its Store is lost."""
        with self._cache_lock:
            entry = self._cache.get(integration_id)
            to_close = self._retire_locked(entry) if entry is not None else []
        for doomed in to_close:
            # RuntimeError: the sandbox is shutting down, which frees every isolate anyway
            with suppress(RuntimeError):
                self._pool.submit(doomed.close)

    @property
    def loaded(self) -> int:
        """How many integrations currently have an isolate (or a cached load failure)."""
        with self._cache_lock:
            return len(self._cache)

    async def close(self) -> None:
        """Wait for running calls, free every isolate and stop the threads. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(None, self._shutdown_sync)

    # ---- cache bookkeeping -------------------------------------------------------------------

    def _retire_locked(self, entry: _Loaded) -> list[_Loaded]:
        """Take `entry` out of the cache; returns it when nobody uses it (caller closes it)."""
        if self._cache.get(entry.integration_id) is entry:
            del self._cache[entry.integration_id]
        entry.retired = True
        return [entry] if entry.users == 0 else []

    def _checkout(self, integration_id: str, version: str, source: str) -> _Loaded:
        to_close: list[_Loaded] = []
        with self._cache_lock:
            entry = self._cache.get(integration_id)
            if entry is not None and (entry.version != version or entry.source != source):
                to_close += self._retire_locked(entry)
                entry = None
            if entry is None:
                entry = _Loaded(integration_id, version, source, self._lifecycle)
                self._cache[integration_id] = entry
                while len(self._cache) > self._cache_size:
                    _, oldest = self._cache.popitem(last=False)
                    to_close += self._retire_locked(oldest)
            else:
                self._cache.move_to_end(integration_id)
            entry.users += 1
        for doomed in to_close:
            doomed.close()
        return entry

    def _checkin(self, entry: _Loaded) -> None:
        with self._cache_lock:
            entry.users -= 1
            last_out = entry.retired and entry.users == 0
        if last_out:
            entry.close()

    def _discard(self, entry: _Loaded) -> None:
        """Mark an isolate unusable (limit hit); the last user closes it, which stops any JS."""
        _quiesce(entry)
        with self._cache_lock:
            entry.broken = True
            self._retire_locked(entry)  # users > 0 here (the caller), so _checkin closes it

    # ---- the work, in pool threads -------------------------------------------------------------

    def _call_sync(
        self,
        integration_id: str,
        version: str,
        source: str,
        method: str,
        argument_json: str,
        loop: asyncio.AbstractEventLoop,
    ) -> ScriptOutcome:
        while True:
            entry = self._checkout(integration_id, version, source)
            try:
                with entry.lock:
                    if entry.broken:
                        continue  # discarded while we waited: check out a fresh one
                    return self._run(entry, method, argument_json, loop)
            finally:
                self._checkin(entry)

    def _load(self, entry: _Loaded) -> ScriptOutcome | None:
        """Build the isolate: shim, the user's script, `new Script()`. None when it worked."""
        racer = entry.open(self._loop)
        try:
            racer.set_hard_memory_limit(self.memory_bytes)
            entry.gc_threshold = min(_GC_FIRST_THRESHOLD, self.memory_bytes // 2)
            racer.set_soft_memory_limit(entry.gc_threshold)  # see _collect_garbage
            racer.eval(self._shim, timeout_sec=self.timeout_seconds)
            racer.eval(entry.source, timeout_sec=self.timeout_seconds)
            racer.eval("__hookhub_instantiate()", timeout_sec=self.timeout_seconds)
            # promise jobs the top level started run now, and belong to loading
            racer.eval("0", timeout_sec=self.timeout_seconds)
            if racer.was_hard_memory_limit_reached():
                raise JSOOMException  # the monitor stopped such a job
        except JSTimeoutException:
            failure = ScriptOutcome(
                "compile_error", error=f"loading the script took longer than {self.timeout_seconds:g} s"
            )
        except JSOOMException:
            failure = ScriptOutcome("compile_error", error="loading the script exceeded the memory limit")
        except JSEvalException as exc:
            failure = ScriptOutcome("compile_error", error=_first_line(exc), stack=str(exc).strip())
        else:
            return None
        if racer.was_hard_memory_limit_reached():
            failure = ScriptOutcome("compile_error", error="loading the script exceeded the memory limit")
        _quiesce(entry)
        entry.close()
        return failure

    def _run(
        self, entry: _Loaded, method: str, argument_json: str, loop: asyncio.AbstractEventLoop
    ) -> ScriptOutcome:
        if entry.failure is not None:
            return entry.failure
        if entry.racer is None:
            failure = self._load(entry)
            if failure is not None:
                entry.failure = failure  # deterministic: do not reload on every request
                return failure
        racer = entry.racer
        assert racer is not None
        deadline = time.monotonic() + self.timeout_seconds
        fetches = _Fetches(self._fetch, loop, deadline)
        try:
            text = racer.eval(
                f"__hookhub_call({json.dumps(method)}, {json.dumps(argument_json)})",
                timeout_sec=self.timeout_seconds,
            )
            record = _parse_record(text)
            sleep = 0.0
            while record.get("status") == "pending":
                requests = record.get("requests")
                if isinstance(requests, list):
                    for request in requests:
                        fetches.start(request)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise JSTimeoutException
                settled = fetches.take_done()
                if not settled and sleep:
                    # a finished fetch wakes us at once; the sleep only bounds how long we wait
                    settled = fetches.wait(min(sleep, remaining))
                for request_id, result_json in settled:
                    racer.eval(
                        f"__hookhub_settle({request_id}, {json.dumps(result_json)})",
                        timeout_sec=_remaining(deadline),
                    )
                # progress (a settlement or new requests) polls again at once; waiting backs off
                if settled or requests:
                    sleep = 0.0
                else:
                    sleep = min(max(sleep * 2, _POLL_FIRST_SLEEP), _POLL_MAX_SLEEP)
                record = _parse_record(racer.eval("__hookhub_poll()", timeout_sec=_remaining(deadline)))
            # A fetch never outlives its call; cancelled before the trailing promise work below.
            fetches.cancel_all()
            # Promise work the call started but did not return runs after it (V8 microtasks); it
            # must end within the same budget, or it would spin outside every limit.
            racer.eval("0", timeout_sec=_remaining(deadline))
            if racer.was_hard_memory_limit_reached():
                # the monitor stopped a promise job: its promise never settles ("stuck")
                raise JSOOMException
        except JSTimeoutException:
            # the memory monitor may have stopped a promise job, which then never settled
            out_of_memory = racer.was_hard_memory_limit_reached()
            self._discard(entry)
            if out_of_memory:
                return _out_of_memory(self.memory_bytes)
            return ScriptOutcome(
                "timeout", error=f"the script ran longer than {self.timeout_seconds:g} s and was stopped"
            )
        except JSOOMException:
            self._discard(entry)
            return _out_of_memory(self.memory_bytes)
        except JSEvalException as exc:  # the shim failed (the script broke a global it relies on)
            self._discard(entry)
            return ScriptOutcome("error", error=_first_line(exc), stack=str(exc).strip())
        finally:
            fetches.cancel_all()
        self._collect_garbage(entry, racer)
        return _outcome(record, method)

    def _collect_garbage(self, entry: _Loaded, racer: MiniRacer) -> None:
        """V8 sizes its heap by its own heuristics, far above our limit, so it left the garbage
        every call makes (each call evaluates a new source string) uncollected until the hard
        limit stopped a call as out of memory: about once every few thousand calls of a trivial
        script (found by bench/soak.py), and each isolate's memory grew until then.

        Once a call ends with the heap past the isolate's threshold (mini-racer's soft limit,
        first 2 MiB), a full collection (about 0.4 ms) frees the garbage: every few thousand
        calls of a typical script. A script that keeps that much alive would trip it on nearly
        every call; when it trips again within a few calls, the threshold doubles, up to half
        the limit."""
        entry.calls_since_gc += 1
        if not racer.was_soft_memory_limit_reached():
            return
        racer.low_memory_notification()
        if entry.calls_since_gc < _GC_MIN_CALLS:
            entry.gc_threshold = min(entry.gc_threshold * 2, max(self.memory_bytes // 2, entry.gc_threshold))
        entry.calls_since_gc = 0
        racer.set_soft_memory_limit(entry.gc_threshold)  # re-arms the flag

    def _shutdown_sync(self) -> None:
        self._pool.shutdown(wait=True)
        with self._cache_lock:
            entries = list(self._cache.values())
            self._cache.clear()
        for entry in entries:
            entry.close()  # waits on the shared isolate thread, which outlives this sandbox
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._loop_thread.join()
        self._loop.close()


# RFC 9110 tokens (methods, header names); header values: visible ASCII, spaces and tabs.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")


# method, URL, headers, body, timeout (seconds), response size limit
_CheckedRequest = tuple[str, str, dict[str, str], bytes | None, float, int | None]


class _Fetches:
    """The fetch requests of one script call: started on the caller's event loop, collected by the
    pool thread as JSON settlements `{"error": reason}` or the response, cancelled when the call ends.
    """

    def __init__(self, fetch: ScriptFetch | None, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        self._fetch = fetch
        self._loop = loop
        self._deadline = deadline
        self._started = 0
        # future -> (request id, size limit, URL asked for)
        self._outstanding: dict[concurrent.futures.Future[EgressResponse], tuple[int, int | None, str]] = {}
        self._ready: list[tuple[int, str]] = []

    def start(self, request: object) -> None:
        """Check one request from the shim against the limits and send it (or settle it refused)."""
        if not isinstance(request, dict) or not isinstance(request.get("id"), int):
            raise JSEvalException("the sandbox shim queued a malformed fetch request")
        request_id: int = request["id"]
        self._started += 1
        try:
            method, url, headers, body, timeout, size = self._checked(request)
        except ValueError as exc:
            self._ready.append((request_id, _error_json(str(exc))))
            return
        assert self._fetch is not None  # the shim only queues requests when fetch is enabled
        try:
            future = asyncio.run_coroutine_threadsafe(
                _awaited(self._fetch(method, url, headers, body, timeout)), self._loop
            )
        except RuntimeError:  # the caller's loop is closed: the server is going away
            self._ready.append((request_id, _error_json("fetch failed: the server is shutting down")))
            return
        self._outstanding[future] = (request_id, size, url)

    def _checked(self, request: dict[str, Any]) -> _CheckedRequest:
        if self._fetch is None:
            raise ValueError("fetch is not available in this server")
        if self._started > FETCH_MAX_PER_CALL:
            raise ValueError(f"too many fetch calls: at most {FETCH_MAX_PER_CALL} per script call")
        method = request.get("method")
        if not isinstance(method, str) or not _TOKEN.fullmatch(method):
            raise ValueError(f"fetch: invalid method {method!r}")
        url = request.get("url")
        if not isinstance(url, str):
            raise ValueError("fetch: the URL must be a string")
        headers: dict[str, str] = {}
        raw_headers = request.get("headers")
        for name, value in raw_headers.items() if isinstance(raw_headers, dict) else ():
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"fetch: invalid header name {name!r}")
            if not isinstance(value, str) or not _HEADER_VALUE.fullmatch(value):
                raise ValueError(f"fetch: invalid value for header {name!r} (ASCII text only)")
            headers[name] = value
        raw_body = request.get("body")
        body = raw_body.encode("utf-8", errors="replace") if isinstance(raw_body, str) else None
        if body is not None and len(body) > FETCH_MAX_REQUEST_BYTES:
            raise ValueError(f"fetch: the request body is larger than {FETCH_MAX_REQUEST_BYTES} bytes")
        own = request.get("timeout")
        if not isinstance(own, int | float) or isinstance(own, bool):
            timeout = FETCH_DEFAULT_TIMEOUT_SECONDS
        elif own == 0:  # node-fetch: no timeout of its own; the call's time still bounds it
            timeout = float("inf")
        else:
            timeout = own / 1000
        timeout = min(timeout, self._deadline - time.monotonic())
        if timeout <= 0:
            raise ValueError("fetch: the script has no time left")
        size = request.get("size")
        limit = None
        if isinstance(size, int | float) and not isinstance(size, bool) and size > 0:
            limit = int(size)
        return method, url, headers, body, timeout, limit

    def take_done(self) -> list[tuple[int, str]]:
        """Settlements ready now (refused requests and finished fetches)."""
        for future in [f for f in self._outstanding if f.done()]:
            request_id, size, url = self._outstanding.pop(future)
            self._ready.append((request_id, _settlement(future, size, url)))
        ready, self._ready = self._ready, []
        return ready

    def wait(self, timeout: float) -> list[tuple[int, str]]:
        """Wait up to `timeout` seconds, returning early with the settlements once a fetch ends."""
        if self._outstanding:
            concurrent.futures.wait(
                self._outstanding, timeout=timeout, return_when=concurrent.futures.FIRST_COMPLETED
            )
        else:
            time.sleep(timeout)
        return self.take_done()

    def cancel_all(self) -> None:
        """Cancel every outstanding request (the task on the caller's loop is cancelled)."""
        outstanding, self._outstanding = self._outstanding, {}
        for future in outstanding:
            future.cancel()
        self._ready = []


async def _awaited(awaitable: Awaitable[EgressResponse]) -> EgressResponse:
    return await awaitable


def _error_json(reason: str) -> str:
    return json.dumps({"error": reason}, ensure_ascii=False)


def _settlement(future: concurrent.futures.Future[EgressResponse], size: int | None, url: str) -> str:
    """A finished fetch as the JSON `__hookhub_settle` expects. Decoding happens here, in the pool
    thread, so a large body never holds up the event loop."""
    try:
        response = future.result()
    except (EgressRefused, EgressError) as exc:
        return _error_json(exc.reason)
    except Exception as exc:  # any other failure of the fetch still only rejects the script's promise
        log.warning("a script's fetch failed unexpectedly", exc_info=True)
        return _error_json(f"fetch failed: {type(exc).__name__}")
    if response.truncated:
        return _error_json(f"response larger than {len(response.body)} bytes")
    if size is not None and len(response.body) > size:
        return _error_json(f"response larger than the fetch's size limit of {size} bytes")
    try:
        status_text = HTTPStatus(response.status).phrase
    except ValueError:
        status_text = ""
    return json.dumps(
        {
            "status": response.status,
            "statusText": status_text,
            "url": response.url,
            "redirected": response.url != url,
            "headers": [list(pair) for pair in response.headers],
            "body": response.body.decode("utf-8", errors="replace"),
        },
        ensure_ascii=False,
    )


def _quiesce(entry: _Loaded) -> None:
    """Wait (briefly) until the isolate runs no JavaScript, so that it can be freed safely.

    Freeing a context while a task we just cancelled is still unwinding crashes mini-racer 0.14.
    Tasks run one after another, so a trivial eval that completes proves the isolate is idle. A
    runaway promise job belongs to no task and cannot be cancelled; a 1-byte heap limit makes the
    memory monitor stop it at its next garbage collection. One that never allocates is marked
    `busy` (see `_Loaded.close`).
    """
    racer = entry.racer
    if racer is None:
        return
    try:
        racer.eval("0", timeout_sec=_QUIESCE_SECONDS)
    except JSTimeoutException:
        racer.set_hard_memory_limit(1)
        try:
            racer.eval("0", timeout_sec=_QUIESCE_SECONDS)
        except JSTimeoutException:
            entry.busy = True
        except JSEvalException:
            pass  # stopped (the fence itself may report the memory limit)
    except JSEvalException:
        pass


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise JSTimeoutException
    return remaining


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    # V8 parse errors read "<anonymous>:LINE: SyntaxError: ...\n<source line>\n^": keep the verdict
    for line in text.splitlines():
        if "Error" in line:
            return line.strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _out_of_memory(limit: int) -> ScriptOutcome:
    return ScriptOutcome(
        "out_of_memory", error=f"the script exceeded its memory limit of {limit // (1024 * 1024)} MB"
    )


def _parse_record(text: object) -> dict[str, Any]:
    if not isinstance(text, str):
        raise JSEvalException(f"the sandbox shim answered {type(text).__name__}, not JSON text")
    record = json.loads(text)
    if not isinstance(record, dict):
        raise JSEvalException("the sandbox shim answered something other than an object")
    return record


def _outcome(record: dict[str, Any], method: str) -> ScriptOutcome:
    logs = [
        {"level": str(item.get("level", "log")), "text": str(item.get("text", ""))}
        for item in record.get("logs") or []
        if isinstance(item, dict)
    ]
    status = record.get("status")
    if status == "ok":
        return ScriptOutcome("ok", value=record.get("value"), logs=logs)
    if status == "missing":
        return ScriptOutcome("ok", logs=logs, missing_method=True)
    if status == "stuck":
        return ScriptOutcome("error", error=f"the Promise returned by {method} never settled", logs=logs)
    raw_error = record.get("error")
    error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
    name = str(error.get("name", "Error"))
    message = str(error.get("message", ""))
    return ScriptOutcome("error", error=f"{name}: {message}", stack=error.get("stack"), logs=logs)


# ---- the incoming contract (webhook-runtime.md §2.4 step 5, §2.6) ----------------------------

IncomingKind = Literal["skip", "nothing", "error", "content"]


@dataclass(frozen=True)
class IncomingScriptResult:
    """How the `/hooks` pipeline continues after the script stage.

    * `skip`: no script ran (scripts disabled, `scriptEnabled` not true, or no `scriptCompiled`):
      carry on with the request body as if the integration had no script.
    * `nothing`: the script returned a falsy value: answer 200 `{"success": true}`, post nothing.
    * `error`: answer 400 with `error`: a str goes into `{"success": false, "error": ...}`, a dict
      is merged with `"success": false` (other JSON values go into the `error` field as they are).
      The script's own error values land here, and so do the runtime's codes
      `error-running-script` (threw, timed out, ran out of memory, unusable `content`) and
      `error-evaluating-script` (could not be loaded).
    * `content`: post `content` (a dict, the message payload) instead of the body. `response`
      (dict or None) is the reply body on success; `user` (dict or None) the posting user.
      `content` is returned exactly as the script built it: the pipeline copies the caller's
      `separateResponse` in when the script did not set one.

    `outcome` is the raw sandbox outcome (status, error, stack, console lines) for the log.
    """

    kind: IncomingKind
    content: dict[str, Any] | None = None
    response: dict[str, Any] | None = None
    user: dict[str, Any] | None = None
    error: Any = None
    outcome: ScriptOutcome | None = None


ERROR_RUNNING_SCRIPT = "error-running-script"
ERROR_EVALUATING_SCRIPT = "error-evaluating-script"


def _js_truthy(value: Any) -> bool:
    """JavaScript truthiness of a JSON-converted value ({} and [] are truthy there)."""
    if isinstance(value, dict | list):
        return True
    return bool(value)


async def process_incoming_request(
    sandbox: Sandbox, integration: dict[str, Any], request: dict[str, Any]
) -> IncomingScriptResult:
    """Run `process_incoming_request({request})` and map the answer to the incoming contract.

    `request` is the §2.6 request object (url, url_raw, url_params, content, content_raw, headers,
    body, user). The pipeline still decides whether the stage runs at all for a request without a
    body (§2.4 step 5: GET requests never run the script).
    """
    source = integration.get("scriptCompiled")
    if (
        sandbox.disabled
        or integration.get("scriptEnabled") is not True
        or not isinstance(source, str)
        or not source.strip()
    ):
        return IncomingScriptResult("skip")
    outcome = await sandbox.call(integration, INCOMING_METHOD, {"request": request})
    if outcome.status == "disabled":
        return IncomingScriptResult("skip", outcome=outcome)
    if outcome.status == "compile_error":
        return IncomingScriptResult("error", error=ERROR_EVALUATING_SCRIPT, outcome=outcome)
    if outcome.status != "ok":
        return IncomingScriptResult("error", error=ERROR_RUNNING_SCRIPT, outcome=outcome)
    result = outcome.value
    if not _js_truthy(result):
        return IncomingScriptResult("nothing", outcome=outcome)
    if isinstance(result, dict) and _js_truthy(result.get("error")):
        return IncomingScriptResult("error", error=result["error"], outcome=outcome)
    content = result.get("content") if isinstance(result, dict) else None
    if not isinstance(content, dict):
        return IncomingScriptResult("error", error=ERROR_RUNNING_SCRIPT, outcome=outcome)
    assert isinstance(result, dict)
    response = result.get("response")
    user = result.get("user")
    return IncomingScriptResult(
        "content",
        content=content,
        response=response if isinstance(response, dict) else None,
        user=user if isinstance(user, dict) else None,
        outcome=outcome,
    )
