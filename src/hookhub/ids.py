"""Identifiers and time, injectable so tests can pin them."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

# Meteor's Random.id() alphabet: Rocket.Chat ids are 17 characters drawn from it.
_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz"


def random_id(length: int = 17) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def random_token(nbytes: int = 32) -> str:
    """An opaque bearer secret (login tokens, personal access tokens)."""
    return secrets.token_urlsafe(nbytes)


def utcnow() -> datetime:
    """Now, in UTC, truncated to milliseconds (the precision the wire format carries)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=(now.microsecond // 1000) * 1000)


def iso(dt: datetime) -> str:
    """ISO-8601 UTC with milliseconds and Z, as Rocket.Chat serialises dates."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_iso(value: str) -> datetime:
    """Parse an ISO-8601 date (with or without Z); ValueError when it is not one."""
    text = value.strip()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)
