"""Identifiers and time, injectable so tests can pin them."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from functools import lru_cache

# Meteor's Random.id() alphabet: Rocket.Chat ids are 17 characters drawn from it.
_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz"


# Random bytes below this bound map onto the alphabet without bias (4 x 55 = 220 < 256).
_UNBIASED = len(_ALPHABET) * (256 // len(_ALPHABET))


def random_id(length: int = 17) -> str:
    """A Meteor-style id from the OS's CSPRNG. One read of random bytes per id (not one per
    character): ids are made on the hot path of every message."""
    chars: list[str] = []
    while len(chars) < length:
        for byte in secrets.token_bytes(length + 8):
            if byte < _UNBIASED:
                chars.append(_ALPHABET[byte % len(_ALPHABET)])
                if len(chars) == length:
                    break
    return "".join(chars)


def random_token(nbytes: int = 32) -> str:
    """An opaque bearer secret (login tokens, personal access tokens)."""
    return secrets.token_urlsafe(nbytes)


def utcnow() -> datetime:
    """Now, in UTC, truncated to milliseconds (the precision the wire format carries)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=(now.microsecond // 1000) * 1000)


@lru_cache(maxsize=4096)
def iso(dt: datetime) -> str:
    """ISO-8601 UTC with milliseconds and Z, as Rocket.Chat serialises dates.

    Cached: a message's documents repeat the same few dates (the user's, the room's, the
    message's) and every outbox event, payload and history record serialises them again."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    elif dt.utcoffset():
        dt = dt.astimezone(UTC)
    # isoformat is several times faster than strftime; its offset suffix becomes Z
    return dt.isoformat(timespec="milliseconds")[:-6] + "Z"


def parse_iso(value: str) -> datetime:
    """Parse an ISO-8601 date (with or without Z); ValueError when it is not one."""
    text = value.strip()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)
