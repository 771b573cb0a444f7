"""Decisions of an outgoing delivery (webhook-runtime.md §3.7, §3.8, §3.10, §3.11)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hookhub.runtime.outgoing_payloads import default_request
from hookhub.runtime.outgoing_rules import (
    INVALID_RETRY_DELAY,
    RETRY_AFTER_CAP_SECONDS,
    NetworkFailure,
    PrepareVerdict,
    ProcessVerdict,
    ResponseVerdict,
    RetryPlan,
    ScriptVerdict,
    classify_response,
    indent_stack,
    interpret_prepare_result,
    interpret_process_result,
    interpret_script_outcome,
    network_failure,
    parse_response_content,
    parse_retry_after,
    process_response_argument,
    retry_after_for,
    retry_plan,
)
from hookhub.runtime.sandbox import ScriptOutcome

URL = "https://example.com/hook"
DEFAULT = default_request(URL, {"token": "abc", "bot": False})
NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


# ---- script outcomes (§3.7 failure modes, §4.6) ----------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (ScriptOutcome("disabled"), ScriptVerdict(absent=True)),
        (ScriptOutcome("compile_error", error="SyntaxError: x"), ScriptVerdict(absent=True)),
        (ScriptOutcome("ok", missing_method=True), ScriptVerdict(absent=True)),
        (
            ScriptOutcome("ok", value={"url": URL}),
            ScriptVerdict(
                absent=False,
                value={"url": URL},
                steps=("execute-script-before-running-prepare_outgoing_request",),
            ),
        ),
        (
            ScriptOutcome("ok", value=None),
            ScriptVerdict(absent=False, steps=("execute-script-before-running-prepare_outgoing_request",)),
        ),
        (
            ScriptOutcome(
                "error", error="Error: boom", stack="Error: boom\n    at prepare (<anonymous>:3:9)"
            ),
            ScriptVerdict(
                absent=False,
                steps=(
                    "execute-script-before-running-prepare_outgoing_request",
                    "execute-script-error-running-prepare_outgoing_request",
                ),
                error_stack="  Error: boom\n      at prepare (<anonymous>:3:9)",
            ),
        ),
        (
            ScriptOutcome("timeout", error="the script ran longer than 1 s and was stopped"),
            ScriptVerdict(
                absent=False,
                steps=(
                    "execute-script-before-running-prepare_outgoing_request",
                    "execute-script-error-running-prepare_outgoing_request",
                ),
                error_stack="  the script ran longer than 1 s and was stopped",
            ),
        ),
        (
            ScriptOutcome("out_of_memory"),
            ScriptVerdict(
                absent=False,
                steps=(
                    "execute-script-before-running-prepare_outgoing_request",
                    "execute-script-error-running-prepare_outgoing_request",
                ),
                error_stack="  out_of_memory",
            ),
        ),
    ],
)
def test_script_outcomes(outcome: ScriptOutcome, expected: ScriptVerdict) -> None:
    assert interpret_script_outcome("prepare_outgoing_request", outcome) == expected


def test_script_steps_name_the_method() -> None:
    verdict = interpret_script_outcome("process_outgoing_response", ScriptOutcome("error", error="E: x"))
    assert verdict.steps == (
        "execute-script-before-running-process_outgoing_response",
        "execute-script-error-running-process_outgoing_response",
    )


def test_indent_stack() -> None:
    assert indent_stack("a\nb\n  c") == "  a\n  b\n    c"


# ---- prepare_outgoing_request (§3.4 steps 7-9, §3.7) --------------------------------------------------

MESSAGE = {"text": "hi"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, PrepareVerdict(request=None, end_step="after-prepare-no-opts"), id="nothing"),
        pytest.param(False, PrepareVerdict(request=None, end_step="after-prepare-no-opts"), id="false"),
        pytest.param(0, PrepareVerdict(request=None, end_step="after-prepare-no-opts"), id="zero"),
        pytest.param("", PrepareVerdict(request=None, end_step="after-prepare-no-opts"), id="empty-string"),
        pytest.param(
            {}, PrepareVerdict(request=None, end_step="after-prepare-no-url_or_method"), id="empty-obj"
        ),
        pytest.param(
            "x", PrepareVerdict(request=None, end_step="after-prepare-no-url_or_method"), id="string"
        ),
        pytest.param(
            [1], PrepareVerdict(request=None, end_step="after-prepare-no-url_or_method"), id="array"
        ),
        pytest.param(DEFAULT, PrepareVerdict(request=DEFAULT), id="the-request"),
        pytest.param(
            {"url": URL, "method": "GET"},
            PrepareVerdict(request={"url": URL, "method": "GET"}),
            id="url+method",
        ),
        pytest.param(
            {"url": URL},
            PrepareVerdict(request=None, end_step="after-prepare-no-url_or_method"),
            id="no-method",
        ),
        pytest.param(
            {"method": "POST"},
            PrepareVerdict(request=None, end_step="after-prepare-no-url_or_method"),
            id="no-url",
        ),
        pytest.param(
            {"url": "", "method": "POST"},
            PrepareVerdict(request=None, end_step="after-prepare-no-url_or_method"),
            id="empty-url",
        ),
        pytest.param(
            {"message": MESSAGE},
            PrepareVerdict(request=None, message=MESSAGE, end_step="after-prepare-no-url_or_method"),
            id="message-only",
        ),
        pytest.param(
            {**DEFAULT, "message": MESSAGE},
            PrepareVerdict(request={**DEFAULT, "message": MESSAGE}, message=MESSAGE),
            id="message+request",
        ),
        pytest.param(
            {"message": "", "url": URL, "method": "POST"},
            PrepareVerdict(request={"message": "", "url": URL, "method": "POST"}),
            id="falsy-message",
        ),
        pytest.param(ScriptVerdict(absent=True), PrepareVerdict(request=DEFAULT), id="script-absent"),
        pytest.param(
            ScriptVerdict(absent=False, value=None, steps=("x", "y"), error_stack="  E"),
            PrepareVerdict(request=None, end_step="after-prepare-no-opts"),
            id="script-threw",
        ),
        pytest.param(
            ScriptVerdict(absent=False, value={"url": URL, "method": "PUT"}),
            PrepareVerdict(request={"url": URL, "method": "PUT"}),
            id="script-value",
        ),
    ],
)
def test_prepare_results(value: Any, expected: PrepareVerdict) -> None:
    assert interpret_prepare_result(value, DEFAULT) == expected


def test_prepare_request_is_a_copy() -> None:
    value = {"url": URL, "method": "POST"}
    verdict = interpret_prepare_result(value, DEFAULT)
    assert verdict.request is not None
    verdict.request["url"] = "changed"
    assert value["url"] == URL


# ---- process_outgoing_response (§3.10) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"content": {"text": "ok"}}, ProcessVerdict(action="post", message={"text": "ok"})),
        ({"content": "plain"}, ProcessVerdict(action="post", message="plain")),
        ({"content": {}}, ProcessVerdict(action="post", message={})),
        ({"content": ""}, ProcessVerdict(action="default")),
        ({"content": None}, ProcessVerdict(action="default")),
        ({}, ProcessVerdict(action="default")),
        (False, ProcessVerdict(action="stop", step="after-process-false-result")),
        (0, ProcessVerdict(action="default")),
        (None, ProcessVerdict(action="default")),
        (True, ProcessVerdict(action="default")),
        ("content", ProcessVerdict(action="default")),
        ([{"content": "x"}], ProcessVerdict(action="default")),
        (ScriptVerdict(absent=True), ProcessVerdict(action="default")),
        (
            ScriptVerdict(absent=False, value=False),
            ProcessVerdict(action="stop", step="after-process-false-result"),
        ),
        (ScriptVerdict(absent=False, value={"content": "x"}), ProcessVerdict(action="post", message="x")),
        (ScriptVerdict(absent=False, steps=("a", "b"), error_stack="  e"), ProcessVerdict(action="default")),
    ],
)
def test_process_results(value: Any, expected: ProcessVerdict) -> None:
    assert interpret_process_result(value) == expected


def test_process_argument_is_the_7x_shape() -> None:
    request = {**DEFAULT, "headers": {"User-Agent": "x"}}
    assert process_response_argument(request, 201, '{"a":1}', {"Content-Type": "application/json"}) == {
        "request": request,
        "response": {
            "error": None,
            "status_code": 201,
            "content": '{"a":1}',
            "content_raw": '{"a":1}',
            "headers": {"content-type": "application/json"},
        },
    }


# ---- response parsing and default handling (§3.8) ------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body", "parsed"),
    [
        ("application/json", '{"text":"hi"}', {"text": "hi"}),
        ("application/json; charset=utf-8", '{"text":"hi"}', {"text": "hi"}),
        ("Application/JSON ;charset=utf-8", "[1,2]", [1, 2]),
        ("text/javascript", '"str"', "str"),
        ("application/javascript", "12", 12),
        ("application/x-javascript", "true", True),
        ("application/json", "null", None),
        ("application/json", "", None),
        ("application/json", "{not json", None),
        ("application/json", '{"a": NaN}', None),
        ("application/json", "Infinity", None),
        ("text/plain", '{"text":"hi"}', None),
        ("text/html", "<p>hi</p>", None),
        ("application/problem+json", '{"text":"hi"}', None),
        (None, '{"text":"hi"}', None),
        ("", '{"text":"hi"}', None),
    ],
)
def test_parse_response_content(content_type: str | None, body: str, parsed: Any) -> None:
    assert parse_response_content(content_type, body) == parsed


REPLY = {"text": "done"}


@pytest.mark.parametrize(
    ("status", "body", "parsed", "expected"),
    [
        # success with a reply
        (200, '{"text":"done"}', REPLY, ResponseVerdict(kind="reply", message=REPLY)),
        (
            201,
            "x",
            {"attachments": [{"text": "a"}]},
            ResponseVerdict(kind="reply", message={"attachments": [{"text": "a"}]}),
        ),
        (202, "x", {"attachments": []}, ResponseVerdict(kind="reply", message={"attachments": []})),
        (
            200,
            "x",
            {"text": "", "attachments": [1]},
            ResponseVerdict(kind="reply", message={"text": "", "attachments": [1]}),
        ),
        # success without a reply
        (200, "ok", None, ResponseVerdict(kind="done")),
        (200, '{"ok":true}', {"ok": True}, ResponseVerdict(kind="done")),
        (200, '{"text":""}', {"text": ""}, ResponseVerdict(kind="done")),
        (200, "[1]", [{"text": "x"}], ResponseVerdict(kind="done")),
        (200, '"text"', "text", ResponseVerdict(kind="done")),
        # failures
        (200, "", None, ResponseVerdict(kind="retry")),
        (201, "", None, ResponseVerdict(kind="retry")),
        (204, "", None, ResponseVerdict(kind="retry")),
        (203, '{"text":"x"}', {"text": "x"}, ResponseVerdict(kind="retry")),
        (301, "moved", None, ResponseVerdict(kind="retry")),
        (302, "", None, ResponseVerdict(kind="retry")),
        (400, "bad", None, ResponseVerdict(kind="retry")),
        (404, "nope", None, ResponseVerdict(kind="retry")),
        (429, "slow down", None, ResponseVerdict(kind="retry")),
        (410, "gone", None, ResponseVerdict(kind="disable", step="after-process-http-status-410")),
        (410, "", None, ResponseVerdict(kind="retry")),
        (500, "boom", None, ResponseVerdict(kind="no-retry", step="after-process-http-status-500")),
        (
            500,
            '{"text":"x"}',
            {"text": "x"},
            ResponseVerdict(kind="no-retry", step="after-process-http-status-500"),
        ),
        (500, "", None, ResponseVerdict(kind="retry")),
        (502, "bad gateway", None, ResponseVerdict(kind="retry")),
        (503, "later", None, ResponseVerdict(kind="retry")),
    ],
)
def test_classify_response(status: int, body: str, parsed: Any, expected: ResponseVerdict) -> None:
    verdict = classify_response(status, body, parsed)
    assert verdict == expected
    assert verdict.failed is (expected.kind in ("disable", "no-retry", "retry"))


# ---- retries (§3.11) ---------------------------------------------------------------------------------------

RETRYING = {"retryFailedCalls": True, "retryCount": 10, "retryDelay": "powers-of-ten"}


def plan(
    integration: dict[str, Any], tries: int, retry_after: float | None = None, scale: float = 1.0
) -> RetryPlan:
    return retry_plan(integration, tries, retry_after_seconds=retry_after, time_scale=scale)


@pytest.mark.parametrize(
    ("retry_delay", "seconds"),
    [
        ("powers-of-ten", [0.1, 1.0, 10.0, 100.0, 1000.0, 10_000.0, 100_000.0]),
        ("powers-of-two", [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0]),
        ("increments-of-two", [2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0]),
        (None, [0.1, 1.0, 10.0, 100.0, 1000.0, 10_000.0, 100_000.0]),
        ("", [0.1, 1.0, 10.0, 100.0, 1000.0, 10_000.0, 100_000.0]),
    ],
)
def test_delay_sequences(retry_delay: str | None, seconds: list[float]) -> None:
    integration = {**RETRYING, "retryDelay": retry_delay}
    if retry_delay is None:
        del integration["retryDelay"]
    got = [plan(integration, tries) for tries in range(7)]
    assert [p.delay_seconds for p in got] == pytest.approx(seconds)
    assert [p.step for p in got] == [f"going-to-retry-{n}" for n in range(1, 8)]
    assert [p.next_tries for p in got] == list(range(1, 8))
    assert all(p.retry and p.error_stack is None for p in got)


def test_default_count_gives_five_attempts() -> None:
    integration = {**RETRYING, "retryCount": 4}
    steps = [plan(integration, tries).step for tries in range(6)]
    assert steps == [
        "going-to-retry-1",
        "going-to-retry-2",
        "going-to-retry-3",
        "going-to-retry-4",
        "too-many-retries",
        "too-many-retries",
    ]
    assert plan(integration, 4) == RetryPlan(step="too-many-retries")


@pytest.mark.parametrize(
    ("integration", "tries", "expected"),
    [
        (
            {"retryCount": 4, "retryDelay": "powers-of-ten"},
            0,
            RetryPlan(step="failed-and-not-configured-to-retry"),
        ),
        ({**RETRYING, "retryFailedCalls": False}, 0, RetryPlan(step="failed-and-not-configured-to-retry")),
        ({**RETRYING, "retryFailedCalls": None}, 0, RetryPlan(step="failed-and-not-configured-to-retry")),
        ({**RETRYING, "retryCount": 0}, 0, RetryPlan(step="failed-and-not-configured-to-retry")),
        ({**RETRYING, "retryCount": None}, 0, RetryPlan(step="failed-and-not-configured-to-retry")),
        (
            {"retryFailedCalls": True, "retryDelay": "powers-of-ten"},
            0,
            RetryPlan(step="failed-and-not-configured-to-retry"),
        ),
        ({**RETRYING, "retryCount": "3"}, 0, RetryPlan(step="failed-and-not-configured-to-retry")),
        ({**RETRYING, "retryCount": True}, 0, RetryPlan(step="failed-and-not-configured-to-retry")),
        ({**RETRYING, "retryCount": -1}, 0, RetryPlan(step="too-many-retries")),
        ({**RETRYING, "retryCount": 1}, 1, RetryPlan(step="too-many-retries")),
        ({**RETRYING, "retryCount": 1}, 0, RetryPlan("going-to-retry-1", True, 0.1, 1)),
        ({**RETRYING, "retryCount": 2.5}, 2, RetryPlan("going-to-retry-3", True, 10.0, 3)),
        ({**RETRYING, "retryFailedCalls": "yes"}, 0, RetryPlan("going-to-retry-1", True, 0.1, 1)),
    ],
)
def test_retry_configuration(integration: dict[str, Any], tries: int, expected: RetryPlan) -> None:
    assert plan(integration, tries) == expected


@pytest.mark.parametrize("retry_delay", ["fibonacci", "Powers-Of-Ten", 5, ["powers-of-ten"]])
def test_invalid_retry_delay(retry_delay: Any) -> None:
    assert plan({**RETRYING, "retryDelay": retry_delay}, 0) == RetryPlan(
        step="failed-and-retry-delay-is-invalid",
        error_stack="Error: The integration's retryDelay setting is invalid.",
    )
    assert INVALID_RETRY_DELAY == "The integration's retryDelay setting is invalid."


def test_invalid_retry_delay_after_the_last_try_is_too_many() -> None:
    assert plan({**RETRYING, "retryCount": 1, "retryDelay": "bogus"}, 1).step == "too-many-retries"


@pytest.mark.parametrize(
    ("tries", "retry_after", "seconds"),
    [
        (0, 30.0, 30.0),  # larger than 0.1 s: wins
        (3, 30.0, 100.0),  # smaller than 100 s: the formula wins
        (0, 0.0, 0.1),
        (0, -5.0, 0.1),
        (0, 200_000.0, RETRY_AFTER_CAP_SECONDS),  # capped at 24 h
        (6, 90_000.0, 100_000.0),  # the formula itself is never capped
    ],
)
def test_retry_after(tries: int, retry_after: float, seconds: float) -> None:
    got = plan(RETRYING, tries, retry_after)
    assert got.delay_seconds == pytest.approx(seconds)
    assert RETRY_AFTER_CAP_SECONDS == 86_400.0


def test_retry_after_does_not_override_the_count() -> None:
    assert plan({**RETRYING, "retryCount": 1}, 1, 10.0).step == "too-many-retries"


@pytest.mark.parametrize(("scale", "seconds"), [(0.001, 0.0001), (0.0, 0.0), (2.0, 0.2)])
def test_time_scale(scale: float, seconds: float) -> None:
    assert plan(RETRYING, 0, scale=scale).delay_seconds == pytest.approx(seconds)
    assert plan(RETRYING, 0, 10.0, scale=scale).delay_seconds == pytest.approx(10.0 * scale)


@pytest.mark.parametrize("scale", [-1.0, float("inf"), float("nan")])
def test_time_scale_must_be_sane(scale: float) -> None:
    with pytest.raises(ValueError, match="time_scale"):
        plan(RETRYING, 0, scale=scale)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 5 ", 5.0),
        ("0", 0.0),
        ("Mon, 23 Nov 2026 12:01:00 GMT", 60.0),
        ("Monday, 23-Nov-26 12:00:30 GMT", 30.0),
        ("Mon Nov 23 12:02:00 2026", 120.0),
        ("Mon, 23 Nov 2026 11:00:00 GMT", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("١٢", None),
        ("Mon, 99 Nov 2026 12:01:00 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


def test_parse_retry_after_with_naive_now() -> None:
    assert parse_retry_after("Mon, 23 Nov 2026 12:01:00 GMT", NOW.replace(tzinfo=None)) == 60.0


@pytest.mark.parametrize(
    ("status", "honoured"), [(429, True), (503, True), (500, False), (200, False), (502, False)]
)
def test_retry_after_only_on_429_and_503(status: int, honoured: bool) -> None:
    assert retry_after_for(status, "30", NOW) == (30.0 if honoured else None)
    assert retry_after_for(status, None, NOW) is None


# ---- network errors (hookhub retries them) ------------------------------------------------------------


def test_network_error_is_retried_like_a_failure() -> None:
    failure = network_failure("connect refused", RETRYING, 2, time_scale=1.0)
    assert failure == NetworkFailure(
        fields={"httpError": "connect refused", "httpResult": None},
        retry=RetryPlan("going-to-retry-3", True, 10.0, 3),
    )


def test_network_error_after_the_last_try() -> None:
    failure = network_failure("timed out after 20 s", {**RETRYING, "retryCount": 2}, 2, time_scale=1.0)
    assert failure.retry == RetryPlan(step="too-many-retries")


def test_network_error_without_retries_ends_at_after_http_call() -> None:
    failure = network_failure("timed out", {"retryFailedCalls": False}, 0, time_scale=1.0)
    assert failure == NetworkFailure(fields={"httpError": "timed out", "httpResult": None}, retry=None)


def test_egress_refusal_is_not_retried() -> None:
    failure = network_failure(
        "refused: loopback address 127.0.0.1", RETRYING, 0, refused=True, time_scale=1.0
    )
    assert failure.retry is None
    assert failure.fields["httpError"] == "refused: loopback address 127.0.0.1"


def test_network_error_with_an_invalid_delay() -> None:
    failure = network_failure("x", {**RETRYING, "retryDelay": "bogus"}, 0, time_scale=1.0)
    assert failure.retry is not None
    assert failure.retry.step == "failed-and-retry-delay-is-invalid"
    assert not failure.retry.retry


def test_date_arithmetic_in_retry_after_uses_now() -> None:
    later = NOW + timedelta(seconds=45)
    assert parse_retry_after("Mon, 23 Nov 2026 12:01:00 GMT", later) == 15.0
