"""Integration history documents (webhook-runtime.md §5)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hookhub.hub import Hub
from hookhub.runtime import outgoing_rules
from hookhub.runtime.history_records import (
    GOING_TO_RETRY,
    STEPS,
    apply_step,
    new_record,
    step_info,
    step_update,
)
from hookhub.store import integrations as store

T0 = datetime(2026, 11, 23, 12, 0, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(seconds=1, milliseconds=250)
INTEGRATION: dict[str, Any] = {
    "_id": "hookOut000000000001",
    "type": "webhook-outgoing",
    "name": "deploys",
    "enabled": True,
    "event": "sendMessage",
    "token": "tok-123",
    "script": "class Script {}",
    "urls": ["https://example.com/hook"],
    "_createdAt": "2026-11-01T00:00:00.000Z",
    "_createdBy": {"_id": "bossId00000000001", "username": "boss"},
    "_updatedAt": "2026-11-01T00:00:00.000Z",
}


def record() -> dict[str, Any]:
    return new_record(INTEGRATION, "sendMessage", T0, record_id="hist0000000000001")


def test_new_record() -> None:
    assert record() == {
        "_id": "hist0000000000001",
        "type": "outgoing-webhook",
        "step": "start-execute-trigger-url",
        "integration": {**INTEGRATION, "token": "[redacted]"},
        "event": "sendMessage",
        "_createdAt": "2026-11-23T12:00:00.000Z",
        "_updatedAt": "2026-11-23T12:00:00.000Z",
    }


def test_secrets_are_not_recorded() -> None:
    """Issue #10: the token, the signing secret and URL passwords never reach history (it is
    readable by everyone who may see the integration); that one was sent stays visible."""
    integration = {
        **INTEGRATION,
        "token": "tok-secret-1",
        "signingSecret": "whsec_abc",
        "urls": ["https://bob:pw-secret-2@example.com/hook", "https://example.com/open"],
    }
    doc = new_record(integration, "sendMessage", T0)
    doc = apply_step(doc, "mapped-args-to-data", T1, data={"token": "tok-secret-1", "text": "hi"})
    doc = apply_step(
        doc,
        "pre-http-call",
        T1,
        url="https://bob:pw-secret-2@example.com/hook",
        httpCallData={"token": "tok-secret-1", "text": "hi"},
    )
    text = repr(doc)
    for secret in ("tok-secret-1", "whsec_abc", "pw-secret-2"):
        assert secret not in text
    assert doc["integration"]["token"] == "[redacted]"
    assert doc["integration"]["signingSecret"] == "[redacted]"
    assert doc["integration"]["urls"] == ["https://bob:[redacted]@example.com/hook", "https://example.com/open"]
    assert doc["data"] == {"token": "[redacted]", "text": "hi"}
    assert doc["httpCallData"] == {"token": "[redacted]", "text": "hi"}
    assert doc["url"] == "https://bob:[redacted]@example.com/hook"


def test_new_record_snapshot_is_a_copy_with_iso_dates() -> None:
    integration = {**INTEGRATION, "_updatedAt": T1, "urls": ["https://a"]}
    doc = new_record(integration, "roomJoined", T0)
    assert len(doc["_id"]) == 17
    assert doc["integration"]["_updatedAt"] == "2026-11-23T12:00:01.250Z"
    doc["integration"]["urls"].append("https://b")
    assert integration["urls"] == ["https://a"]


@pytest.mark.parametrize("integration", [{}, {"_id": ""}, {"_id": 5}])
def test_new_record_needs_an_id(integration: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="_id"):
        new_record(integration, "sendMessage", T0)


# The §5.2 catalogue: step → (error, finished, ends the record).
CATALOGUE: list[tuple[str, bool, bool, bool]] = [
    ("start-execute-trigger-url", False, False, False),
    ("mapped-args-to-data", False, False, False),
    ("execute-script-getting-script", True, False, False),
    ("execute-script-no-method-prepare_outgoing_request", False, False, False),
    ("execute-script-before-running-prepare_outgoing_request", False, False, False),
    ("execute-script-error-running-prepare_outgoing_request", True, False, False),
    ("after-maybe-ran-prepare", False, False, False),
    ("after-prepare-no-opts", False, True, True),
    ("after-prepare-send-message-failed", False, True, True),
    ("after-prepare-send-message", False, False, False),
    ("after-prepare-no-url_or_method", False, True, True),
    ("pre-http-call", False, False, False),
    ("after-http-call", False, False, False),
    ("execute-script-no-method-process_outgoing_response", False, False, False),
    ("execute-script-before-running-process_outgoing_response", False, False, False),
    ("execute-script-error-running-process_outgoing_response", True, False, False),
    ("after-process-send-message-failed", False, True, True),
    ("after-process-send-message", False, True, True),
    ("after-process-false-result", False, True, True),
    ("after-process-http-status-410", True, False, True),
    ("after-process-http-status-500", True, False, True),
    ("going-to-retry-1", True, False, True),
    ("going-to-retry-12", True, False, True),
    ("failed-and-retry-delay-is-invalid", True, False, True),
    ("too-many-retries", True, False, True),
    ("failed-and-not-configured-to-retry", True, False, True),
    ("after-http-call-send-message-failed", False, True, True),
    ("url-response-sent-message", False, True, True),
    ("loop-depth-exceeded", True, False, True),  # hookhub: the reply-chain loop breaker
]


@pytest.mark.parametrize(("step", "error", "finished", "ends"), CATALOGUE)
def test_catalogue(step: str, error: bool, finished: bool, ends: bool) -> None:
    info = step_info(step)
    assert (info.error, info.finished, info.ends_record) == (error, finished, ends)
    update = step_update(step, T1)
    assert update.get("error", False) is error
    assert update.get("finished", False) is finished
    assert update["step"] == step


def test_catalogue_is_complete() -> None:
    assert set(STEPS) | {"going-to-retry-1", "going-to-retry-12"} == {row[0] for row in CATALOGUE}
    assert step_info("going-to-retry-3") is GOING_TO_RETRY


def test_every_step_the_rules_name_is_in_the_catalogue() -> None:
    # Every step constant of outgoing_rules (lower-case, dashed names) must be a catalogue step.
    names = [
        value
        for name, value in vars(outgoing_rules).items()
        if name.isupper() and name != "DEFAULT_RETRY_DELAY" and isinstance(value, str) and "-" in value
    ]
    assert len(names) == 15
    for step in [*names, outgoing_rules.going_to_retry(1)]:
        step_info(step)


@pytest.mark.parametrize(
    "step",
    ["going-to-retry-0", "going-to-retry-", "going-to-retry-x", "finished", "execute-script-no-method-x", ""],
)
def test_unknown_steps(step: str) -> None:
    with pytest.raises(ValueError, match="unknown history step"):
        step_info(step)
    with pytest.raises(ValueError, match="unknown history step"):
        apply_step(record(), step, T1)


@pytest.mark.parametrize(
    ("step", "field"),
    [
        ("mapped-args-to-data", "url"),
        ("pre-http-call", "data"),
        ("after-http-call", "error"),
        ("too-many-retries", "finished"),
        ("url-response-sent-message", "processSentMessage"),
        ("going-to-retry-1", "errorStack"),
    ],
)
def test_fields_a_step_does_not_record(step: str, field: str) -> None:
    with pytest.raises(ValueError, match=f"does not record {field}"):
        apply_step(record(), step, T1, **{field: "x"})


def test_after_maybe_ran_prepare_always_says_true() -> None:
    assert step_update("after-maybe-ran-prepare", T1) == {
        "type": "outgoing-webhook",
        "step": "after-maybe-ran-prepare",
        "_updatedAt": "2026-11-23T12:00:01.250Z",
        "ranPrepareScript": True,
    }


def test_happy_path_keeps_earlier_fields() -> None:
    data = {"token": "tok-123", "bot": False, "text": "deploy api"}
    doc = record()
    doc = apply_step(doc, "mapped-args-to-data", T0, data=data, triggerWord="deploy")
    doc = apply_step(doc, "after-maybe-ran-prepare", T0)
    doc = apply_step(doc, "pre-http-call", T0, url="https://example.com/hook", httpCallData=data)
    doc = apply_step(doc, "after-http-call", T1, httpError=None, httpResult='{"text":"ok"}')
    doc = apply_step(doc, "url-response-sent-message", T1, resultMessage=[{"channel": {}, "message": {}}])
    assert doc == {
        "_id": "hist0000000000001",
        "type": "outgoing-webhook",
        "step": "url-response-sent-message",
        "integration": {**INTEGRATION, "token": "[redacted]"},
        "event": "sendMessage",
        "_createdAt": "2026-11-23T12:00:00.000Z",
        "_updatedAt": "2026-11-23T12:00:01.250Z",
        "data": {**data, "token": "[redacted]"},
        "triggerWord": "deploy",
        "ranPrepareScript": True,
        "url": "https://example.com/hook",
        "httpCallData": {**data, "token": "[redacted]"},
        "httpResult": '"{\\"text\\":\\"ok\\"}"',
        "resultMessage": [{"channel": {}, "message": {}}],
        "finished": True,
    }


def test_error_steps_leave_earlier_fields_and_never_remove() -> None:
    doc = apply_step(record(), "pre-http-call", T0, url="https://example.com/hook")
    doc = apply_step(doc, "after-http-call", T0, httpResult="gone")
    doc = apply_step(doc, "after-process-http-status-410", T1)
    assert doc["error"] is True
    assert "finished" not in doc
    assert doc["url"] == "https://example.com/hook"
    assert doc["httpResult"] == '"gone"'


def test_apply_step_does_not_change_its_input() -> None:
    doc = record()
    before = copy.deepcopy(doc)
    apply_step(doc, "mapped-args-to-data", T1, data={"a": 1})
    assert doc == before


@pytest.mark.parametrize(
    ("result", "stored"),
    [
        ("", '""'),
        ("ok", '"ok"'),
        ('{"a":1}', '"{\\"a\\":1}"'),
        ("héllo\n", '"héllo\\n"'),
        ("\x01", '"\\u0001"'),
        (None, "null"),
        ({"a": [1]}, '{\n  "a": [\n    1\n  ]\n}'),
    ],
)
def test_http_result_is_json_encoded(result: Any, stored: str) -> None:
    assert step_update("after-http-call", T1, httpResult=result)["httpResult"] == stored


@pytest.mark.parametrize(
    ("error", "stored"),
    [
        (None, False),
        ("", False),
        ({}, True),
        ("connect ECONNREFUSED", True),
        ({"name": "FetchError", "message": "x"}, True),
    ],
)
def test_http_error_only_when_truthy(error: Any, stored: bool) -> None:
    update = step_update("after-http-call", T1, httpError=error, httpResult=None)
    assert ("httpError" in update) is stored
    if stored:
        assert update["httpError"] == error
    assert update["httpResult"] == "null"


def test_network_failure_fields_fit_after_http_call() -> None:
    failure = outgoing_rules.network_failure("timed out", {}, 0, time_scale=1.0)
    update = step_update("after-http-call", T1, **failure.fields)
    assert (update["httpError"], update["httpResult"]) == ("timed out", "null")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"data": None, "triggerWord": None}, {}),
        ({"data": {}, "triggerWord": ""}, {"data": {}}),
        ({"data": {"a": 1}, "triggerWord": "go"}, {"data": {"a": 1}, "triggerWord": "go"}),
        (
            {"data": {"user": {"_id": "u", "services": {"password": {}}}, "room": {"_id": "r"}}},
            {"data": {"user": {"_id": "u"}, "room": {"_id": "r"}}},
        ),
        ({"data": {"at": T0}}, {"data": {"at": "2026-11-23T12:00:00.000Z"}}),
    ],
)
def test_mapped_args_fields(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    update = step_update("mapped-args-to-data", T1, **fields)
    assert {k: v for k, v in update.items() if k not in ("type", "step", "_updatedAt")} == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"url": "", "httpCallData": None}, {}),
        ({"url": "https://e.com", "httpCallData": "raw"}, {"url": "https://e.com", "httpCallData": "raw"}),
        ({"url": "https://e.com", "httpCallData": 0}, {"url": "https://e.com", "httpCallData": 0}),
    ],
)
def test_pre_http_call_fields(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    update = step_update("pre-http-call", T1, **fields)
    assert {k: v for k, v in update.items() if k not in ("type", "step", "_updatedAt")} == expected


def test_retry_plan_fields_fit_their_steps() -> None:
    invalid = outgoing_rules.retry_plan(
        {"retryFailedCalls": True, "retryCount": 3, "retryDelay": "bogus"},
        0,
        retry_after_seconds=None,
        time_scale=1,
    )
    update = step_update(invalid.step, T1, errorStack=invalid.error_stack)
    assert update["errorStack"] == "Error: The integration's retryDelay setting is invalid."
    assert update["error"] is True
    retry = outgoing_rules.retry_plan(
        {"retryFailedCalls": True, "retryCount": 3}, 1, retry_after_seconds=None, time_scale=1
    )
    assert step_update(retry.step, T1)["step"] == "going-to-retry-2"


async def test_records_are_accepted_by_the_store(hub: Hub) -> None:
    doc = record()
    async with hub.tx() as ctx:
        await store.insert_history(ctx.conn, doc)
    doc = apply_step(
        doc, "mapped-args-to-data", T0, data={"token": "tok-123", "bot": False}, triggerWord="go"
    )
    doc = apply_step(doc, "after-maybe-ran-prepare", T0)
    doc = apply_step(doc, "after-prepare-no-opts", T1)
    async with hub.tx() as ctx:
        await store.replace_history(ctx.conn, doc)
    async with hub.tx(write=False) as ctx:
        assert await store.get_history(ctx.conn, INTEGRATION["_id"], doc["_id"]) == doc
        page, total = await store.list_history(
            ctx.conn,
            where=[store.history_of(INTEGRATION["_id"]), store.history_created_by("bossId00000000001")],
        )
        finished = await store.list_history(
            ctx.conn,
            where=[store.HISTORY_FIELDS["finished"].column.is_(True), store.history_of(INTEGRATION["_id"])],
        )
    assert (page, total) == ([doc], 1)
    assert finished == ([doc], 1)


async def test_records_are_written_together_as_one_by_one(hub: Hub) -> None:
    """`replace_history_many` stores exactly what `replace_history` stores, shadows included."""
    first = new_record(INTEGRATION, "sendMessage", T0, record_id="hist0000000000001")
    second = new_record(INTEGRATION, "sendMessage", T0, record_id="hist0000000000002")
    async with hub.tx() as ctx:
        await store.insert_history_many(ctx.conn, [first, second])
    first = apply_step(first, "after-prepare-no-opts", T1)
    second = apply_step(
        apply_step(second, "mapped-args-to-data", T0, data={"bot": False}), "too-many-retries", T1
    )
    async with hub.tx() as ctx:
        await store.replace_history_many(ctx.conn, [first, second])
    async with hub.tx(write=False) as ctx:
        assert await store.get_history(ctx.conn, INTEGRATION["_id"], first["_id"]) == first
        assert await store.get_history(ctx.conn, INTEGRATION["_id"], second["_id"]) == second
        errors = await store.list_history(
            ctx.conn,
            where=[store.HISTORY_FIELDS["error"].column.is_(True), store.history_of(INTEGRATION["_id"])],
        )
    assert errors == ([second], 1)
