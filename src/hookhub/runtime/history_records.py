"""Integration history documents (webhook-runtime.md §5): one record per delivery attempt, created
at `start-execute-trigger-url` and moved on step by step with partial `$set` semantics.

The documents are what `hookhub.store.integrations.insert_history` / `replace_history` store (the
whole wire document; the store derives its shadow columns from it). Which steps set `error` and
`finished`, and which fields each step may write, come from one table, `STEPS`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hookhub.ids import iso, random_id
from hookhub.runtime.outgoing_payloads import js_truthy, jsonable

HISTORY_TYPE = "outgoing-webhook"
START_STEP = "start-execute-trigger-url"


@dataclass(frozen=True, slots=True)
class StepInfo:
    """One row of the §5.2 step catalogue.

    `error` / `finished`: the flags the step sets to true. `ends_record`: no later step is written
    to the same record (`after-http-call` ends it only on a network error, which the flow knows).
    `fields`: the record fields the step may write; `ran_prepare` sets `ranPrepareScript: true`.
    """

    error: bool = False
    finished: bool = False
    ends_record: bool = False
    fields: frozenset[str] = frozenset()
    ran_prepare: bool = False


def _step(*fields: str, error: bool = False, finished: bool = False, ends: bool = False) -> StepInfo:
    return StepInfo(error=error, finished=finished, ends_record=ends or finished, fields=frozenset(fields))


def _script_steps(method: str) -> dict[str, StepInfo]:
    return {
        f"execute-script-no-method-{method}": _step(),
        f"execute-script-before-running-{method}": _step(),
        f"execute-script-error-running-{method}": _step("errorStack", error=True),
    }


# §5.2, in execution order.
STEPS: dict[str, StepInfo] = {
    START_STEP: _step(),
    "mapped-args-to-data": _step("data", "triggerWord"),
    "execute-script-getting-script": _step("errorStack", error=True),
    **_script_steps("prepare_outgoing_request"),
    "after-maybe-ran-prepare": StepInfo(ran_prepare=True),
    "after-prepare-no-opts": _step(finished=True),
    "after-prepare-send-message-failed": _step(finished=True),
    "after-prepare-send-message": _step("prepareSentMessage"),
    "after-prepare-no-url_or_method": _step(finished=True),
    "pre-http-call": _step("url", "httpCallData"),
    "after-http-call": _step("httpError", "httpResult"),
    **_script_steps("process_outgoing_response"),
    "after-process-send-message-failed": _step(finished=True),
    "after-process-send-message": _step("processSentMessage", finished=True),
    "after-process-false-result": _step(finished=True),
    "after-process-http-status-410": _step(error=True, ends=True),
    "after-process-http-status-500": _step(error=True, ends=True),
    "failed-and-retry-delay-is-invalid": _step("errorStack", error=True, ends=True),
    "too-many-retries": _step(error=True, ends=True),
    "failed-and-not-configured-to-retry": _step(error=True, ends=True),
    "after-http-call-send-message-failed": _step(finished=True),
    "url-response-sent-message": _step("resultMessage", finished=True),
    # hookhub (issue #5 loop breaker): a chain of webhook replies reached HOOKHUB_OUTGOING_MAX_DEPTH,
    # so this delivery is not sent; `errorStack` says why.
    "loop-depth-exceeded": _step("errorStack", error=True, ends=True),
}
# `going-to-retry-<n>` (n = the attempt being scheduled, from 1): an error that ends this record;
# the next attempt gets a new one.
GOING_TO_RETRY = _step(error=True, ends=True)
_GOING_TO_RETRY = re.compile(r"going-to-retry-[1-9][0-9]*")

# Fields written only when truthy (upstream `if (x)`); the others whenever given (not None).
_TRUTHY_ONLY = frozenset({"data", "triggerWord", "url", "httpError"})


def step_info(step: str) -> StepInfo:
    """The catalogue row of `step`; ValueError for a step §5.2 does not name."""
    info = STEPS.get(step)
    if info is not None:
        return info
    if _GOING_TO_RETRY.fullmatch(step):
        return GOING_TO_RETRY
    raise ValueError(f"unknown history step {step!r}")


# History is readable by everyone who may see the integration and is kept for weeks: the secrets
# of a delivery are not written to it (Rocket.Chat stores them). What is kept says a token was
# sent without saying which.
REDACTED = "[redacted]"
_SECRET_FIELDS = ("token", "signingSecret")
_USERINFO_PASSWORD = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://[^/?#@:]*):[^/?#@]*@")


def redacted_url(url: str) -> str:
    """`url` with the password of its userinfo (`https://user:password@host/`) masked."""
    return _USERINFO_PASSWORD.sub(rf"\1:{REDACTED}@", url, count=1)


def _without_secrets(document: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(document)
    for name in _SECRET_FIELDS:
        if out.get(name):
            out[name] = REDACTED
    if isinstance(out.get("urls"), list):
        out["urls"] = [redacted_url(u) if isinstance(u, str) else u for u in out["urls"]]
    return out


def new_record(
    integration: Mapping[str, Any], event: str, now: datetime, *, record_id: str | None = None
) -> dict[str, Any]:
    """A record at `start-execute-trigger-url`: a snapshot of `integration` (script included, as
    upstream; its token, signing secret and URL passwords masked) and the integration `event`."""
    integration_id = integration.get("_id")
    if not isinstance(integration_id, str) or not integration_id:
        raise ValueError("the integration snapshot needs a string _id")
    at = iso(now)
    return {
        "_id": record_id or random_id(),
        "type": HISTORY_TYPE,
        "step": START_STEP,
        "integration": _without_secrets(jsonable(integration)),
        "event": event,
        "_createdAt": at,
        "_updatedAt": at,
    }


def step_update(step: str, now: datetime, **fields: Any) -> dict[str, Any]:
    """The `$set` of moving a record to `step`: `type`, `step`, `_updatedAt`, the catalogue's flags
    and the given fields the step may write.

    `data`, `triggerWord`, `url` and `httpError` are written only when truthy, other fields
    whenever not None; the secrets in `data`, `httpCallData` and `url` are masked; `httpResult`
    is stored JSON-encoded (None becomes the text `null`, the network-error marker); `data.user`
    loses `services`. `error` and `finished` cannot be passed:
    they come from the catalogue.
    """
    info = step_info(step)
    unexpected = set(fields) - info.fields
    if unexpected:
        raise ValueError(f"step {step!r} does not record {', '.join(sorted(unexpected))}")
    update: dict[str, Any] = {"type": HISTORY_TYPE, "step": step, "_updatedAt": iso(now)}
    for name, value in fields.items():
        if name == "httpResult":
            encoded = jsonable(value)
            # JSON.stringify(x, null, 2): the indent only shows inside objects and arrays.
            indent = 2 if isinstance(encoded, dict | list) else None
            update[name] = json.dumps(encoded, ensure_ascii=False, indent=indent)
        elif value is None or (name in _TRUTHY_ONLY and not js_truthy(value)):
            continue
        elif name == "data" and isinstance(value, Mapping):
            data = _without_secrets(jsonable(value))
            if isinstance(data.get("user"), dict):
                data["user"] = {k: v for k, v in data["user"].items() if k != "services"}
            update[name] = data
        elif name == "httpCallData" and isinstance(value, Mapping):
            update[name] = _without_secrets(jsonable(value))
        elif name == "url" and isinstance(value, str):
            update[name] = redacted_url(value)
        else:
            update[name] = jsonable(value)
    if info.ran_prepare:
        update["ranPrepareScript"] = True
    if info.error:
        update["error"] = True
    if info.finished:
        update["finished"] = True
    return update


def apply_step(record: Mapping[str, Any], step: str, now: datetime, **fields: Any) -> dict[str, Any]:
    """`record` moved to `step` (a new dict): fields are only added or overwritten, never removed."""
    return {**record, **step_update(step, now, **fields)}
