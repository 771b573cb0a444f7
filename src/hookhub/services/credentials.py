"""Password hashing and login-token handling. Secrets never leave this module in clear except
the freshly issued token returned to its owner once."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from hookhub.config import Settings


class PasswordHashing:
    """argon2id; hashing runs in a worker thread so a login never stalls the event loop."""

    def __init__(self, settings: Settings) -> None:
        # The dummy hash uses the same parameters, so verifying against it costs the same.
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib
        )
        self._dummy_hash = self._hasher.hash("hookhub-dummy-password")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        if not stored:
            # Spend comparable time so an unknown user is not told apart by timing.
            await asyncio.to_thread(self._dummy_verify, password)
            return False
        try:
            return await asyncio.to_thread(self._hasher.verify, stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _dummy_verify(self, password: str) -> None:
        with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
            self._hasher.verify(self._dummy_hash, password)


def hash_token(token: str) -> str:
    """Meteor's login-token hash: base64(sha256(token)). Lookups go by this hash only."""
    return base64.b64encode(hashlib.sha256(token.encode()).digest()).decode()


def tokens_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
