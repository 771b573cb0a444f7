"""One log line per HTTP request, with a request id (`X-Request-Id`).

The id comes from the client's `X-Request-Id` when it is a short plain token (a proxy in front
often sets one), otherwise it is made here; it is sent back in the response header and stamped
on every record logged while the request runs (log_records.current_request_id).

Only the method, the path and the outcome are logged: never headers, bodies or the query string
(they carry `X-Auth-Token`, passwords, `Authorization`), and a /hooks path keeps its
integration id but not its token.
"""

from __future__ import annotations

import logging
import os
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hookhub.log_records import current_request_id

log = logging.getLogger("hookhub.request")

_CLIENT_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
_HOOK_HELPERS = frozenset({"sample", "info", "add", "remove"})


def loggable_path(path: str) -> str:
    """`path` without secrets: `/hooks/<id>/<token>` → `/hooks/<id>/***` (every form: the
    3-segment one, the helpers' `/hooks/sample/<id>/…`)."""
    if not path.startswith("/hooks/"):
        return path
    segments = path[len("/hooks/") :].split("/")
    kept = 2 if segments[0] in _HOOK_HELPERS and len(segments) > 1 else 1
    if len(segments) <= kept:
        return path
    return "/hooks/" + "/".join(segments[:kept]) + "/***"


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id" and _CLIENT_ID.fullmatch(value):
            return bytes(value).decode()
    return os.urandom(8).hex()


class RequestLogMiddleware:
    """Outermost middleware: every request, /hooks included, gets an id and one log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        header = (b"x-request-id", request_id.encode())
        status = 500  # what the client gets when the app fails before answering
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        reset = current_request_id.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if log.isEnabledFor(logging.INFO):
                elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
                path = loggable_path(scope["path"])
                client = scope.get("client")
                log.info(
                    "%s %s %s %.2fms",
                    scope["method"],
                    path,
                    status,
                    elapsed_ms,
                    extra={
                        "method": scope["method"],
                        "path": path,
                        "status": status,
                        "duration_ms": elapsed_ms,
                        "client": client[0] if client else None,
                        "request_id": request_id,
                    },
                )
            current_request_id.reset(reset)
