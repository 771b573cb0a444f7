"""Standard Webhooks signing (issue #5), checked against the reference `standardwebhooks` package
and against the spec's algorithm written out by hand."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from hookhub.runtime import signing

# The example secret from the Standard Webhooks spec / reference test-suite.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
BODY = b'{"text":"hello","channel_name":"general","trigger_word":"deploy"}'
NOW = 1_700_000_000


def clock(at: float) -> Callable[[], float]:
    return lambda: at


def spec_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The spec's algorithm, written out independently of the module under test."""
    key = base64.b64decode(secret.split("_", 1)[1])
    content = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def test_new_secret_has_the_standard_format_and_is_random() -> None:
    first, second = signing.new_secret(), signing.new_secret()
    assert first != second
    for secret in (first, second):
        assert secret.startswith("whsec_")
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        assert 24 <= len(key) <= 64
        Webhook(secret)  # the reference library accepts it


def test_sign_equals_the_spec_algorithm() -> None:
    assert signing.sign(SECRET, MSG_ID, NOW, BODY) == spec_signature(SECRET, MSG_ID, NOW, BODY)


def test_sign_equals_the_reference_library() -> None:
    expected = Webhook(SECRET).sign(MSG_ID, datetime.fromtimestamp(NOW, tz=UTC), BODY.decode())
    assert signing.sign(SECRET, MSG_ID, NOW, BODY) == expected


def test_headers_verify_with_the_reference_library() -> None:
    now = int(time.time())
    secret = signing.new_secret()
    sent = signing.headers(secret, MSG_ID, now, BODY)
    assert set(sent) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert sent["webhook-id"] == MSG_ID
    assert sent["webhook-timestamp"] == str(now)
    assert Webhook(secret).verify(BODY, sent) == {
        "text": "hello",
        "channel_name": "general",
        "trigger_word": "deploy",
    }


def test_reference_library_rejects_a_tampered_body() -> None:
    now = int(time.time())
    sent = signing.headers(SECRET, MSG_ID, now, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY + b" ", sent)


def test_verify_accepts_what_the_reference_library_signs() -> None:
    sig = Webhook(SECRET).sign(MSG_ID, datetime.fromtimestamp(NOW, tz=UTC), BODY.decode())
    received = {"Webhook-Id": MSG_ID, "Webhook-Timestamp": str(NOW), "Webhook-Signature": sig}
    assert signing.verify(SECRET, received, BODY, now=clock(NOW))


def test_verify_round_trip() -> None:
    assert signing.verify(SECRET, signing.headers(SECRET, MSG_ID, NOW, BODY), BODY, now=clock(NOW + 10))


def test_verify_accepts_any_of_several_signatures() -> None:
    good = signing.sign(SECRET, MSG_ID, NOW, BODY)
    other = signing.sign(signing.new_secret(), MSG_ID, NOW, BODY)
    for value in (f"{other} {good}", f"v2,abc {good}", f"garbage {good}", f"{good} {other}"):
        received = {"webhook-id": MSG_ID, "webhook-timestamp": str(NOW), "webhook-signature": value}
        assert signing.verify(SECRET, received, BODY, now=clock(NOW)), value


@pytest.mark.parametrize(
    ("change", "body", "secret"),
    [
        pytest.param({}, BODY + b"x", SECRET, id="tampered-body"),
        pytest.param({"webhook-id": "msg_other"}, BODY, SECRET, id="tampered-id"),
        pytest.param({"webhook-timestamp": str(NOW + 1)}, BODY, SECRET, id="tampered-timestamp"),
        pytest.param({}, BODY, "whsec_" + base64.b64encode(b"x" * 32).decode(), id="wrong-secret"),
        pytest.param({"webhook-signature": "v2," + "A" * 44}, BODY, SECRET, id="unknown-version"),
        pytest.param({"webhook-signature": "v1,not base64!"}, BODY, SECRET, id="junk-signature"),
        pytest.param({"webhook-signature": ""}, BODY, SECRET, id="empty-signature"),
        pytest.param({"webhook-timestamp": "soon"}, BODY, SECRET, id="non-numeric-timestamp"),
    ],
)
def test_verify_rejects(change: dict[str, str], body: bytes, secret: str) -> None:
    received = signing.headers(SECRET, MSG_ID, NOW, BODY) | change
    assert not signing.verify(secret, received, body, now=clock(NOW))


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_verify_rejects_missing_headers(missing: str) -> None:
    received = signing.headers(SECRET, MSG_ID, NOW, BODY)
    del received[missing]
    assert not signing.verify(SECRET, received, BODY, now=clock(NOW))


@pytest.mark.parametrize(
    ("offset", "ok"),
    [(0, True), (300, True), (-300, True), (301, False), (-301, False), (86_400, False)],
)
def test_verify_enforces_the_timestamp_tolerance(offset: int, ok: bool) -> None:
    received = signing.headers(SECRET, MSG_ID, NOW, BODY)
    assert signing.verify(SECRET, received, BODY, now=clock(NOW + offset)) is ok


def test_verify_custom_tolerance() -> None:
    received = signing.headers(SECRET, MSG_ID, NOW, BODY)
    assert not signing.verify(SECRET, received, BODY, tolerance=5, now=clock(NOW + 6))
    assert signing.verify(SECRET, received, BODY, tolerance=5, now=clock(NOW + 5))


@pytest.mark.parametrize("bad", ["whsec_", "whsec_***", ""])
def test_invalid_secrets_fail_loudly(bad: str) -> None:
    with pytest.raises(ValueError):
        signing.sign(bad, MSG_ID, NOW, BODY)
