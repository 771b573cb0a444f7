"""The decisions of one outgoing delivery (webhook-runtime.md §3.7, §3.8, §3.10, §3.11): what a
script's return value means, whether a response is a success, a reply, a reason to disable the
integration or to retry, and when the next attempt is due.

Pure functions returning frozen verdicts that name the history step to record; the delivery worker
performs the effects (posting messages, persisting, scheduling). Beyond Rocket.Chat, network errors
and timeouts are retried with the same plan as failed responses, and a `Retry-After` on 429/503
can push the next attempt later.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Protocol

from hookhub.runtime.outgoing_payloads import js_truthy

PREPARE_METHOD = "prepare_outgoing_request"
PROCESS_METHOD = "process_outgoing_response"

SUCCESS_STATUSES = frozenset({200, 201, 202})
RETRY_AFTER_STATUSES = frozenset({429, 503})
JSON_CONTENT_TYPES = frozenset(
    {"application/json", "text/javascript", "application/javascript", "application/x-javascript"}
)
# A receiver cannot push an attempt further than this with Retry-After.
RETRY_AFTER_CAP_SECONDS = 24 * 60 * 60.0
INVALID_RETRY_DELAY = "The integration's retryDelay setting is invalid."
DEFAULT_RETRY_DELAY = "powers-of-ten"

# Steps named by these rules (the full catalogue with its flags is in history_records).
AFTER_PREPARE_NO_OPTS = "after-prepare-no-opts"
AFTER_PREPARE_NO_URL_OR_METHOD = "after-prepare-no-url_or_method"
AFTER_PREPARE_SEND_MESSAGE = "after-prepare-send-message"
AFTER_PREPARE_SEND_MESSAGE_FAILED = "after-prepare-send-message-failed"
AFTER_PROCESS_SEND_MESSAGE = "after-process-send-message"
AFTER_PROCESS_SEND_MESSAGE_FAILED = "after-process-send-message-failed"
AFTER_PROCESS_FALSE_RESULT = "after-process-false-result"
AFTER_PROCESS_HTTP_STATUS_410 = "after-process-http-status-410"
AFTER_PROCESS_HTTP_STATUS_500 = "after-process-http-status-500"
URL_RESPONSE_SENT_MESSAGE = "url-response-sent-message"
AFTER_HTTP_CALL_SEND_MESSAGE_FAILED = "after-http-call-send-message-failed"
AFTER_HTTP_CALL = "after-http-call"
TOO_MANY_RETRIES = "too-many-retries"
NOT_CONFIGURED_TO_RETRY = "failed-and-not-configured-to-retry"
RETRY_DELAY_INVALID = "failed-and-retry-delay-is-invalid"


def going_to_retry(attempt: int) -> str:
    """The step recorded when attempt number `attempt` (1 = the first retry) is scheduled."""
    return f"going-to-retry-{attempt}"


# ---- scripts (§3.7, §3.10, §4.6) -------------------------------------------------------------------


class ScriptResult(Protocol):
    """What the sandbox reports for one call (`hookhub.runtime.sandbox.ScriptOutcome`)."""

    @property
    def status(self) -> str: ...
    @property
    def value(self) -> Any: ...
    @property
    def error(self) -> str | None: ...
    @property
    def stack(self) -> str | None: ...
    @property
    def missing_method(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class ScriptVerdict:
    """How one script call counts.

    `absent`: behave as if the integration had no script (compile failure, method missing,
    scripts disabled): default request / default processing, nothing recorded. Otherwise `steps`
    are recorded in order (`execute-script-before-running-<method>`, and on failure
    `execute-script-error-running-<method>` with `error_stack`), and `value` is the return value
    (None after a failure, which cancels a prepare and continues default processing).
    """

    absent: bool
    value: Any = None
    steps: tuple[str, ...] = ()
    error_stack: str | None = None


def indent_stack(stack: str) -> str:
    """Every line indented by two spaces, as upstream records a script's stack."""
    return "\n".join("  " + line for line in stack.split("\n"))


def interpret_script_outcome(method: str, outcome: ScriptResult) -> ScriptVerdict:
    """The meaning of a sandbox outcome for `method` (§3.7 failure modes, §4.6). Timeouts and the
    memory limit (hookhub's per-call limits) count as the method throwing."""
    if outcome.status in ("compile_error", "disabled") or (outcome.status == "ok" and outcome.missing_method):
        return ScriptVerdict(absent=True)
    before = f"execute-script-before-running-{method}"
    if outcome.status == "ok":
        return ScriptVerdict(absent=False, value=outcome.value, steps=(before,))
    stack = outcome.stack or outcome.error or outcome.status
    return ScriptVerdict(
        absent=False,
        steps=(before, f"execute-script-error-running-{method}"),
        error_stack=indent_stack(stack),
    )


@dataclass(frozen=True, slots=True)
class PrepareVerdict:
    """What `prepare_outgoing_request` returned (§3.4 steps 7-9, §3.7).

    * `message` set: post it first; on failure record `AFTER_PREPARE_SEND_MESSAGE_FAILED` and
      stop, else record `AFTER_PREPARE_SEND_MESSAGE` (with `prepareSentMessage`) and go on.
    * `request` set: send it. Otherwise record `end_step` (finished) and stop.
    """

    request: dict[str, Any] | None
    message: Any = None
    end_step: str | None = None


def interpret_prepare_result(value: Any, default_request: dict[str, Any]) -> PrepareVerdict:
    """§3.7: falsy → cancel (`after-prepare-no-opts`); an object with a truthy `message` posts it;
    an object with truthy `url` and `method` is the request; anything else ends with
    `after-prepare-no-url_or_method`.

    `value` is the script's return value, or the `ScriptVerdict` of the call: an absent script
    means `default_request` is sent, a failed call returned nothing (cancel)."""
    if isinstance(value, ScriptVerdict):
        value = default_request if value.absent else value.value
    if not js_truthy(value):
        return PrepareVerdict(request=None, end_step=AFTER_PREPARE_NO_OPTS)
    options: Mapping[str, Any] = value if isinstance(value, Mapping) else {}
    message = options.get("message") if js_truthy(options.get("message")) else None
    if js_truthy(options.get("url")) and js_truthy(options.get("method")):
        return PrepareVerdict(request=dict(options), message=message)
    return PrepareVerdict(request=None, message=message, end_step=AFTER_PREPARE_NO_URL_OR_METHOD)


@dataclass(frozen=True, slots=True)
class ProcessVerdict:
    """What `process_outgoing_response` returned (§3.10).

    * `post`: post `message`; record `AFTER_PROCESS_SEND_MESSAGE` (with `processSentMessage`) or
      `AFTER_PROCESS_SEND_MESSAGE_FAILED`, then stop.
    * `stop`: record `step` (`after-process-false-result`) and stop.
    * `default`: continue with the default response handling (§3.8 step 4).
    """

    action: Literal["post", "stop", "default"]
    message: Any = None
    step: str | None = None


def interpret_process_result(value: Any) -> ProcessVerdict:
    """§3.10: `{content: <truthy>}` posts the content, exactly `false` stops, anything else
    (including nothing, or a failed call) means default processing. `value` may also be the
    call's `ScriptVerdict`."""
    if isinstance(value, ScriptVerdict):
        value = None if value.absent else value.value
    if isinstance(value, Mapping) and js_truthy(value.get("content")):
        return ProcessVerdict(action="post", message=value["content"])
    if value is False:
        return ProcessVerdict(action="stop", step=AFTER_PROCESS_FALSE_RESULT)
    return ProcessVerdict(action="default")


def process_response_argument(
    request: Mapping[str, Any], status: int, body_text: str, headers: Mapping[str, str]
) -> dict[str, Any]:
    """The `{request, response}` argument of `process_outgoing_response` in 7.x (§3.10): `content`
    and `content_raw` are both the raw body text; header names lower-cased."""
    return {
        "request": dict(request),
        "response": {
            "error": None,
            "status_code": status,
            "content": body_text,
            "content_raw": body_text,
            "headers": {name.lower(): value for name, value in headers.items()},
        },
    }


# ---- responses (§3.8) --------------------------------------------------------------------------------


def _no_constants(name: str) -> Any:
    # JSON.parse knows no NaN/Infinity, Python's json does.
    raise ValueError(name)


def parse_response_content(content_type: str | None, body_text: str) -> Any | None:
    """§3.8 step 1: the body parsed as JSON when it is non-empty and the media type (before `;`,
    compared case-insensitively) is a JSON or JavaScript type; None otherwise or when it does not
    parse."""
    if not body_text or not content_type:
        return None
    if content_type.split(";", 1)[0].strip().lower() not in JSON_CONTENT_TYPES:
        return None
    try:
        return json.loads(body_text, parse_constant=_no_constants)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class ResponseVerdict:
    """The default handling of a received response (§3.8 steps 4-5).

    * `reply`: post `message` (the parsed body); record `URL_RESPONSE_SENT_MESSAGE` (with
      `resultMessage`) or `AFTER_HTTP_CALL_SEND_MESSAGE_FAILED`.
    * `done`: a success without text/attachments; nothing more is recorded (no `finished`).
    * `disable`: record `step` (410) and disable the integration; no retry.
    * `no-retry`: record `step` (500); no retry.
    * `retry`: a failure to hand to `retry_plan`.
    """

    kind: Literal["reply", "done", "disable", "no-retry", "retry"]
    message: Any = None
    step: str | None = None

    @property
    def failed(self) -> bool:
        return self.kind in ("disable", "no-retry", "retry")


def classify_response(status: int, body_text: str, parsed: Any) -> ResponseVerdict:
    """§3.8 steps 4-5. A failure is an empty body or a status other than 200/201/202: 410 and 500
    with a body are final (410 disables), every other failure, including 410/500 without a body
    and a 2xx without one, is retried if configured. A success replies when the parsed body has a
    truthy `text` or `attachments` (an empty list is truthy, as in JavaScript)."""
    if not body_text or status not in SUCCESS_STATUSES:
        if body_text and status == 410:
            return ResponseVerdict(kind="disable", step=AFTER_PROCESS_HTTP_STATUS_410)
        if body_text and status == 500:
            return ResponseVerdict(kind="no-retry", step=AFTER_PROCESS_HTTP_STATUS_500)
        return ResponseVerdict(kind="retry")
    if isinstance(parsed, Mapping) and (
        js_truthy(parsed.get("text")) or js_truthy(parsed.get("attachments"))
    ):
        return ResponseVerdict(kind="reply", message=dict(parsed))
    return ResponseVerdict(kind="done")


# ---- retries (§3.11) --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPlan:
    """What to do after a failed attempt: record `step` (an error step, with `error_stack` when
    set) on this attempt's history record; when `retry`, schedule attempt `next_tries` after
    `delay_seconds`."""

    step: str
    retry: bool = False
    delay_seconds: float | None = None
    next_tries: int | None = None
    error_stack: str | None = None


def _retry_delay_ms(retry_delay: Any, tries: int) -> float | None:
    match retry_delay:
        case "powers-of-ten":
            return float(10 ** (tries + 2))
        case "powers-of-two":
            return float(2 ** (tries + 1) * 1000)
        case "increments-of-two":
            return float((tries + 1) * 2000)
    return None


def retry_count_of(integration: Mapping[str, Any]) -> float | None:
    """`retryCount` when it is a usable (truthy) number, else None (not configured)."""
    count = integration.get("retryCount")
    if isinstance(count, bool) or not isinstance(count, int | float) or not js_truthy(count):
        return None
    return float(count)


def retry_plan(
    integration: Mapping[str, Any],
    tries: int,
    *,
    retry_after_seconds: float | None,
    time_scale: float,
) -> RetryPlan:
    """§3.11 after failed attempt `tries` (0 = the first attempt).

    Not configured (falsy `retryFailedCalls`, or `retryCount` missing/0/not a number) →
    `failed-and-not-configured-to-retry`; `tries >= retryCount` → `too-many-retries`; an unknown
    `retryDelay` → `failed-and-retry-delay-is-invalid`. A missing or blank `retryDelay` means
    `powers-of-ten`, the default the save path applies. The delay is the formula's, or a larger
    `retry_after_seconds` (capped at 24 h), times `time_scale`.
    """
    if time_scale < 0 or not math.isfinite(time_scale):
        raise ValueError("time_scale must be a finite number >= 0")
    count = retry_count_of(integration)
    if not js_truthy(integration.get("retryFailedCalls")) or count is None:
        return RetryPlan(step=NOT_CONFIGURED_TO_RETRY)
    if not tries < count:
        return RetryPlan(step=TOO_MANY_RETRIES)
    retry_delay = integration.get("retryDelay")
    if retry_delay is None or (isinstance(retry_delay, str) and not retry_delay.strip()):
        retry_delay = DEFAULT_RETRY_DELAY
    wait_ms = _retry_delay_ms(retry_delay, tries)
    if wait_ms is None:
        # Upstream records the stack of a fresh Error; ours has no JavaScript frames to show.
        return RetryPlan(step=RETRY_DELAY_INVALID, error_stack=f"Error: {INVALID_RETRY_DELAY}")
    wait = wait_ms / 1000.0
    if retry_after_seconds is not None and retry_after_seconds > 0:
        wait = max(wait, min(retry_after_seconds, RETRY_AFTER_CAP_SECONDS))
    return RetryPlan(
        step=going_to_retry(tries + 1),
        retry=True,
        delay_seconds=wait * time_scale,
        next_tries=tries + 1,
    )


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """A `Retry-After` header in seconds from `now`: delay-seconds (digits) or an HTTP-date (a
    date in the past is 0). None when absent or malformed."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (ValueError, TypeError, IndexError):
        return None
    if when.tzinfo is None:
        # asctime dates carry no zone; HTTP dates are always GMT.
        when = when.replace(tzinfo=UTC)
    now_utc = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    return max(0.0, (when - now_utc).total_seconds())


def retry_after_for(status: int, header: str | None, now: datetime) -> float | None:
    """The Retry-After to honour for a response: only on 429 and 503 (hookhub, beyond Rocket.Chat)."""
    return parse_retry_after(header, now) if status in RETRY_AFTER_STATUSES else None


@dataclass(frozen=True, slots=True)
class NetworkFailure:
    """A request that got no response (§3.8 step 6): record `after-http-call` with `fields`
    (`httpError`, and `httpResult` None, stored as the text `null`), then, when `retry` is set,
    that plan's step (hookhub retries these; Rocket.Chat 7 drops them). Without a plan the record
    ends at `after-http-call`, as upstream."""

    fields: Mapping[str, Any]
    retry: RetryPlan | None


def network_failure(
    error: Any,
    integration: Mapping[str, Any],
    tries: int,
    *,
    refused: bool = False,
    time_scale: float,
) -> NetworkFailure:
    """What a connection error, timeout or client refusal of attempt `tries` leads to.

    Retried with `retry_plan` when the integration is configured to retry; a refusal by the egress
    policy (`refused`) is final, as asking again would be refused again. An integration not
    configured to retry keeps upstream's record (ends at `after-http-call`)."""
    fields = {"httpError": error, "httpResult": None}
    if refused:
        return NetworkFailure(fields=fields, retry=None)
    plan = retry_plan(integration, tries, retry_after_seconds=None, time_scale=time_scale)
    return NetworkFailure(fields=fields, retry=None if plan.step == NOT_CONFIGURED_TO_RETRY else plan)
