"""A real HTTP receiver on 127.0.0.1 for outgoing-webhook tests: records every request and answers
with scripted responses, per path."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b'{"ok": true}'
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


class Receiver:
    """`with Receiver() as r:` serves on `r.url(path)`. `r.script(path, answers...)` queues answers
    for a path (the last one repeats); `r.default` answers paths without a script."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.default = Answer()
        self._scripts: dict[str, deque[Answer]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                answer = receiver._next_answer(self.path)
                self.send_response(answer.status)
                self.send_header("content-type", answer.content_type)
                self.send_header("content-length", str(len(answer.body)))
                for name, value in answer.headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(answer.body)
                receiver._record(
                    Received(
                        method=self.command,
                        path=self.path,
                        headers={k.lower(): v for k, v in self.headers.items()},
                        body=body,
                        status=answer.status,
                    )
                )

            do_POST = do_GET = do_PUT = _serve

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *answers: Answer) -> None:
        with self._lock:
            self._scripts[path] = deque(answers)

    def _next_answer(self, path: str) -> Answer:
        with self._lock:
            queue = self._scripts.get(path)
            if not queue:
                return self.default
            return queue.popleft() if len(queue) > 1 else queue[0]

    def _record(self, request: Received) -> None:
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 15.0) -> list[Received]:
        """Wait until `predicate(all requests)` holds; returns the requests (fails on timeout)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(list(self.requests)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"receiver: condition not met in {timeout}s; got {self.requests}")
                self._changed.wait(remaining)
            return list(self.requests)

    def wait_count(self, path: str, count: int, timeout: float = 15.0) -> list[Received]:
        self.wait_for(lambda rs: sum(r.path == path for r in rs) >= count, timeout)
        return self.at(path)
