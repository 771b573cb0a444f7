"""Standard Webhooks signatures for outgoing requests (issue #5 "Signing").

Every outgoing request carries `webhook-id`, `webhook-timestamp` (unix seconds) and
`webhook-signature` = `v1,` + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}")), where the key
is the base64-decoded part of a per-integration `whsec_<base64 key>` secret. Receivers can verify
with any Standard Webhooks library, so the format here follows https://www.standardwebhooks.com/.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE = 300

# The spec asks for keys between 24 and 64 bytes; 32 bytes matches the SHA-256 block security level.
_KEY_BYTES = 32

HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"


def new_secret() -> str:
    """A fresh random secret in the Standard Webhooks format `whsec_<base64 key>`."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_KEY_BYTES)).decode("ascii")


def _key(secret: str) -> bytes:
    """The raw HMAC key of a `whsec_` secret (the prefix is optional, as in the reference libraries)."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        # validate=True: a typo'd secret must fail loudly rather than silently sign with other bytes.
        key = base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise ValueError("webhook secret is not valid base64") from exc
    if not key:
        raise ValueError("webhook secret may not be empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value (`v1,<base64 HMAC-SHA256>`) for one message."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers to add to an outgoing request."""
    return {
        HEADER_ID: msg_id,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: sign(secret, msg_id, timestamp, body),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: Callable[[], float] = time.time,
) -> bool:
    """Whether `headers` carry a valid, fresh signature of `body` under `secret`.

    Header names are matched case-insensitively (HTTP semantics). The signature header may list
    several space-separated `v<n>,<sig>` entries (key rotation); any valid `v1` one is enough.
    The timestamp must be within `tolerance` seconds of `now()` either way (replay protection).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get(HEADER_ID)
    raw_ts = lowered.get(HEADER_TIMESTAMP)
    raw_sigs = lowered.get(HEADER_SIGNATURE)
    if not msg_id or not raw_ts or not raw_sigs:
        return False
    try:
        timestamp = int(raw_ts)
    except ValueError:
        return False
    if abs(now() - timestamp) > tolerance:
        return False
    expected = base64.b64decode(sign(secret, msg_id, timestamp, body).partition(",")[2])
    valid = False
    for entry in raw_sigs.split(" "):
        version, sep, encoded = entry.partition(",")
        if not sep or version != SIGNATURE_VERSION:
            continue
        try:
            # Compare raw digests, as the reference libraries do, so padding quirks do not matter.
            candidate = base64.b64decode(encoded + "==")
        except binascii.Error:
            continue
        # Constant time, and keep looping so the time taken does not reveal which entry matched.
        if hmac.compare_digest(candidate, expected):
            valid = True
    return valid
