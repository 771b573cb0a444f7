"""Running the app: one process, or `hookhub serve --workers N` processes on one port.

The workers do not share one listening socket (uvicorn's `--workers`): with one socket, whichever
process wins the accept race takes the connection, and the few long-lived keep-alive connections
of a load balancer or a busy client can all land in one worker while the others idle (measured:
all 32 of a load generator's connections in one of two workers). Each worker here listens on its
own socket bound with SO_REUSEPORT, and the kernel spreads new connections over them by a hash
of their addresses.

The supervisor restarts a worker that dies, stops them all with SIGTERM when it receives SIGTERM
or SIGINT (in-flight requests finish), and gives up when a worker cannot start (for example the
port is taken by another program).

Metrics: before starting the workers the supervisor points `PROMETHEUS_MULTIPROC_DIR` at a fresh
private directory (removed when it ends), so each worker's counters live in files there and any
worker's `/metrics` sums them all (`hookhub.metrics`). A replaced worker's counts stay in the sums.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import time
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn

from hookhub import metrics
from hookhub.config import Settings

logger = logging.getLogger("hookhub.serving")

# A worker's exit status when it could not start serving (uvicorn has logged why).
NOT_STARTED = 3
_STOP_SECONDS = 40.0  # past uvicorn's 30 s graceful shutdown
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class GracefulServer(uvicorn.Server):
    """uvicorn re-delivers SIGTERM/SIGINT to itself after its graceful shutdown, so the process
    would end "killed by signal" (status -15). A requested and completed shutdown is a clean exit."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        captured = getattr(self, "_captured_signals", None)
        if isinstance(captured, list):
            captured.clear()


def _config(app: object, settings: Settings, **extra: object) -> uvicorn.Config:
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=30,
        timeout_keep_alive=settings.keep_alive_seconds,
        server_header=False,
        # uvicorn's access log prints request paths, and /hooks paths carry integration tokens;
        # hookhub logs each request itself with the token masked (api/request_log.py).
        access_log=False,
        # our handlers (log_records.configure), so that HOOKHUB_LOG_FORMAT applies to uvicorn too
        log_config=None,
        **extra,  # type: ignore[arg-type]
    )


def serve_one(app: object, settings: Settings) -> bool:
    """Serve `app` in this process until SIGTERM/SIGINT; False when it could not start."""
    server = GracefulServer(_config(app, settings))
    server.run()
    return server.started


def _reuse_port_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _end_with_supervisor() -> None:
    """Have the kernel send this process SIGTERM when its supervisor dies, even by SIGKILL, so
    no worker keeps serving on its own (Linux; elsewhere a no-op)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _worker(settings: Settings) -> None:
    """One worker process: its own socket on the shared port, the app built from the
    environment the supervisor prepared (`app.app_from_environment`)."""
    _end_with_supervisor()
    try:
        sock = _reuse_port_socket(settings.host, settings.port)
    except OSError as exc:
        logger.error("worker cannot listen on %s:%s: %s", settings.host, settings.port, exc)
        raise SystemExit(NOT_STARTED) from exc
    server = GracefulServer(_config("hookhub.app:app_from_environment", settings, factory=True))
    server.run(sockets=[sock])
    raise SystemExit(0 if server.started else NOT_STARTED)


def _fresh_metrics_dir() -> str:
    """A new private directory for the workers' metric files, in this process's environment
    (the workers inherit it). An inherited one is replaced: files of an earlier run would be
    added to this run's counts."""
    _remove_orphaned_metrics_dirs()
    path = tempfile.mkdtemp(prefix=f"{_METRICS_DIR_PREFIX}{os.getpid()}-")
    os.environ[metrics.MULTIPROC_ENV] = path
    return path


_METRICS_DIR_PREFIX = "hookhub-metrics-"


def _remove_orphaned_metrics_dirs() -> None:
    """A supervisor killed with SIGKILL cannot remove its directory: the next one removes every
    directory whose supervisor (the pid in its name) no longer runs."""
    root = tempfile.gettempdir()
    try:
        names = os.listdir(root)
    except OSError:
        return
    for name in names:
        if not name.startswith(_METRICS_DIR_PREFIX):
            continue
        pid_text = name[len(_METRICS_DIR_PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit():
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
        except OSError:
            continue  # alive but not ours (EPERM): leave it


class Supervisor:
    """Starts `settings.workers` worker processes and keeps them running until told to stop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[BaseProcess] = []
        self._stopping = False

    def _start_worker(self) -> BaseProcess:
        process = self._context.Process(target=_worker, args=(self.settings,), name="hookhub-worker")
        process.start()
        return process

    def _on_signal(self, sig: int, _frame: FrameType | None) -> None:
        self._stopping = True

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; returns the exit status (0, or NOT_STARTED)."""
        try:
            # fail here, once, when the port is taken by a socket that does not share it
            _reuse_port_socket(self.settings.host, self.settings.port).close()
        except OSError as exc:
            logger.error("cannot listen on %s:%s: %s", self.settings.host, self.settings.port, exc)
            return NOT_STARTED
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        metrics_dir = _fresh_metrics_dir()
        try:
            return self._supervise()
        finally:
            shutil.rmtree(metrics_dir, ignore_errors=True)

    def _supervise(self) -> int:
        self._workers = [self._start_worker() for _ in range(self.settings.workers)]
        status = 0
        while not self._stopping:
            for index, process in enumerate(self._workers):
                if process.is_alive():
                    continue
                if process.exitcode == NOT_STARTED:
                    status, self._stopping = NOT_STARTED, True
                    break
                logger.warning("worker %s ended (status %s); starting another", process.pid, process.exitcode)
                if process.pid is not None:
                    metrics.process_ended(process.pid)
                self._workers[index] = self._start_worker()
            time.sleep(0.2)
        self._stop_all()
        return status

    def _stop_all(self) -> None:
        for process in self._workers:
            if process.is_alive() and process.pid is not None:
                process.terminate()  # SIGTERM: uvicorn's graceful shutdown
        deadline = time.monotonic() + _STOP_SECONDS
        for process in self._workers:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                logger.error("worker %s did not stop in time; killing it", process.pid)
                process.kill()
                process.join()
