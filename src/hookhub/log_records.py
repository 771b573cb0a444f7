"""How hookhub writes its log: one line per record, readable text or JSON, each tagged with the
request it belongs to.

`configure` is called once per process (`hookhub serve`, and each `--workers` child). It takes
over uvicorn's loggers too, so that with `HOOKHUB_LOG_FORMAT=json` every line of the process is
JSON, not only hookhub's own.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
import traceback
from typing import Any

import orjson

# The request the current task serves ("-" outside any request): set by api/request_log.py and
# inherited by everything the request awaits, so a warning logged deep in a service names it.
current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("hookhub_request_id", default="-")

# Attributes every LogRecord has; anything else was passed with `extra=` and belongs in the JSON.
_STANDARD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    # uvicorn's duplicate of the message with terminal colour codes
    | {"message", "asctime", "request_id", "color_message"}
)

# Libraries whose debug output carries secrets (aiosqlite logs every statement with its values:
# token hashes, password hashes, message text; hpack and httpcore log header blocks) or is noise.
# They log warnings and errors only, whatever HOOKHUB_LOG_LEVEL says.
QUIET_LIBRARIES = ("aiosqlite", "asyncpg", "hpack", "httpcore", "httpx", "multipart", "python_multipart")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class RequestIdFilter(logging.Filter):
    """Stamps `record.request_id` (a handler filter: it sees records of every logger)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, the record's `extra`
    fields, and the traceback as one string."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", current_request_id.get()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return orjson.dumps(entry, default=str).decode()

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # ISO 8601 in UTC with milliseconds, what log shippers parse without configuration
        base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(record.created)))
        return f"{base}.{int(record.msecs):03d}Z"


def configure(level_name: str, log_format: str) -> None:
    """Route every record of the process (hookhub's, uvicorn's, libraries') to one stderr
    handler in the chosen format. `level_name` is a Settings.log_level (`trace` = debug)."""
    level = logging.DEBUG if level_name == "trace" else getattr(logging, level_name.upper())
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn configures its loggers with handlers of its own unless told not to (serving.py
    # passes log_config=None); make sure they reach ours whichever way it started.
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(level)
