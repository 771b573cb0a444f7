"""Typed domain errors. Each carries its Rocket.Chat rendering; `hookhub.api.errors` maps them
to HTTP envelopes in one place (core-api.md §1.4)."""

from __future__ import annotations

from typing import Any

# Meteor error types that Rocket.Chat 7.x/8.x answers with 403 instead of 400.
_FORBIDDEN_TYPES = frozenset({"unauthorized", "error-unauthorized"})


class HookhubError(Exception):
    """Base class: `status` and `body()` give the wire answer."""

    status = 400

    def body(self) -> dict[str, Any]:  # pragma: no cover - every subclass overrides
        raise NotImplementedError


class MeteorError(HookhubError):
    """Rocket.Chat's `Meteor.Error(type, reason, details)`: `error` is "<reason> [<type>]"."""

    def __init__(
        self, reason: str | None, error_type: str | int, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(reason or error_type)
        self.reason = reason
        self.error_type = error_type
        self.details = details
        if error_type in _FORBIDDEN_TYPES:
            self.status = 403

    def body(self) -> dict[str, Any]:
        text = f"{self.reason} [{self.error_type}]" if self.reason else f"[{self.error_type}]"
        if self.status == 403:
            return {"success": False, "error": text}
        out: dict[str, Any] = {"success": False, "error": text, "errorType": self.error_type}
        if self.details:
            out["details"] = self.details
        return out


class Failure(HookhubError):
    """Rocket.Chat's `API.v1.failure(text, errorType?)`: 400 with the text as it is."""

    def __init__(
        self, error: str, error_type: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(error)
        self.error = error
        self.error_type = error_type
        self.details = details

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"success": False, "error": self.error}
        if self.error_type is not None:
            out["errorType"] = self.error_type
        if self.details:
            out["details"] = self.details
        return out


class FailureObject(HookhubError):
    """`API.v1.failure({...})`: the object with success false (used where RC returns no text)."""

    def __init__(self, fields: dict[str, Any] | None = None) -> None:
        super().__init__("failure")
        self.fields = fields or {}

    def body(self) -> dict[str, Any]:
        return {**self.fields, "success": False}


class InvalidParams(HookhubError):
    """Request validation failed (ajv-style messages, legacy `[invalid-params]` rendering)."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages

    def body(self) -> dict[str, Any]:
        text = "\n ".join(self.messages)
        return {"success": False, "error": f"{text} [invalid-params]", "errorType": "invalid-params"}


class NotLoggedIn(HookhubError):
    status = 401
    TEXT = "You must be logged in to do this."

    def body(self) -> dict[str, Any]:
        return {"success": False, "status": "error", "message": self.TEXT, "error": self.TEXT}


class LoginFailed(HookhubError):
    """401 from /login: `error` carries the type, `message` the reason (core-api.md §3.2)."""

    status = 401

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"success": False, "status": "error", "error": self.error, "message": self.message}


class Forbidden(HookhubError):
    """`API.v1.forbidden(msg)`: 403 with the text as it is (default "unauthorized")."""

    status = 403

    def __init__(self, error: str = "unauthorized") -> None:
        super().__init__(error)
        self.error = error

    def body(self) -> dict[str, Any]:
        return {"success": False, "error": self.error}


class PermissionRequired(Forbidden):
    """A route-level permission check failed."""

    def __init__(self) -> None:
        super().__init__("User does not have the permissions required for this action [error-unauthorized]")


class NotFound(HookhubError):
    status = 404

    def __init__(self, error: str = "Resource not found") -> None:
        super().__init__(error)
        self.error = error

    def body(self) -> dict[str, Any]:
        return {"success": False, "error": self.error}
