"""One log line per request with a request id, and nothing secret in it (issue #10)."""

from __future__ import annotations

import json
import logging
import sys

import httpx
import pytest

from hookhub import log_records
from hookhub.api.request_log import loggable_path


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/api/v1/me", "/api/v1/me"),
        ("/hooks/abc/s3cret", "/hooks/abc/***"),
        ("/hooks/abc/user/s3cret", "/hooks/abc/***"),
        ("/hooks/abc/s3cret/", "/hooks/abc/***"),
        ("/hooks/sample/abc/user/s3cret", "/hooks/sample/abc/***"),
        ("/hooks/info/abc/s3cret", "/hooks/info/abc/***"),
        ("/hooks/add/abc/user/s3cret", "/hooks/add/abc/***"),
        ("/hooks/sample/abc", "/hooks/sample/abc"),
        ("/hooks/abc", "/hooks/abc"),
        ("/hooks/", "/hooks/"),
    ],
)
def test_hook_tokens_are_masked(path: str, logged: str) -> None:
    assert loggable_path(path) == logged


async def test_request_id_is_made_echoed_or_replaced(http: httpx.AsyncClient) -> None:
    made = (await http.get("/api/info")).headers["x-request-id"]
    assert len(made) == 16 and int(made, 16) >= 0
    assert (await http.get("/api/info")).headers["x-request-id"] != made
    given = (await http.get("/api/info", headers={"X-Request-Id": "lb-42.a:b_c"})).headers
    assert given["x-request-id"] == "lb-42.a:b_c"
    # not a plain short token: a header injection attempt or a huge value is not echoed
    for bad in ("a b", "x" * 65, "a/b", "<x>"):
        echoed = (await http.get("/api/info", headers={"X-Request-Id": bad})).headers["x-request-id"]
        assert echoed != bad and len(echoed) == 16


async def test_one_line_per_request_without_secrets(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hookhub.request")
    await http.get("/api/info", headers={"X-Request-Id": "req-1"})
    await http.post(
        "/api/v1/login",
        json={"user": "nobody", "password": "pw-never-logged"},
        headers={"X-Request-Id": "req-2", "Authorization": "Bearer auth-never-logged"},
    )
    await http.post("/hooks/someid/token-never-logged?x=query-never-logged", json={"text": "hi"})
    await http.get("/api/v1/me", headers={"X-Auth-Token": "xauth-never-logged", "X-User-Id": "u1"})
    lines = [r for r in caplog.records if r.name == "hookhub.request"]
    assert [(r.method, r.path, r.status) for r in lines] == [  # type: ignore[attr-defined]
        ("GET", "/api/info", 200),
        ("POST", "/api/v1/login", 401),
        ("POST", "/hooks/someid/***", 404),
        ("GET", "/api/v1/me", 401),
    ]
    assert [r.request_id for r in lines[:2]] == ["req-1", "req-2"]  # type: ignore[attr-defined]
    assert lines[0].getMessage().startswith("GET /api/info 200 ")
    text = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert "never-logged" not in text


def test_json_lines_carry_the_request_id_and_extras() -> None:
    formatter = log_records.JsonFormatter()
    record = logging.LogRecord("hookhub.request", logging.INFO, __file__, 1, "GET %s", ("/x",), None)
    record.status = 200
    record.request_id = "r-9"
    entry = json.loads(formatter.format(record))
    assert entry["message"] == "GET /x"
    assert entry["level"] == "info" and entry["logger"] == "hookhub.request"
    assert entry["request_id"] == "r-9" and entry["status"] == 200
    assert entry["time"].endswith("Z") and "T" in entry["time"]
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    entry = json.loads(log_records.JsonFormatter().format(failed))
    assert "ValueError: boom" in entry["exc"] and "\n" in entry["exc"]
    assert entry["request_id"] == "-"


async def test_records_logged_during_a_request_carry_its_id(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A record from deep inside the request (here: the unexpected-error handler's) names the
    request, through the filter the configured handler has."""
    token = log_records.current_request_id.set("outer")
    try:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
        assert log_records.RequestIdFilter().filter(record)
        assert record.request_id == "outer"  # type: ignore[attr-defined]
    finally:
        log_records.current_request_id.reset(token)
    assert log_records.current_request_id.get() == "-"
