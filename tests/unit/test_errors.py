"""Domain errors and their Rocket.Chat renderings (core-api.md §1.4), and the pydantic → ajv
message mapping."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hookhub.api.errors import ajv_messages
from hookhub.services.errors import (
    Failure,
    FailureObject,
    Forbidden,
    InvalidParams,
    LoginFailed,
    MeteorError,
    NotFound,
    NotLoggedIn,
    PermissionRequired,
)

# -- services/errors.py -------------------------------------------------------------------------


def test_meteor_error_with_reason_and_details() -> None:
    err = MeteorError("User is already an owner", "error-user-already-owner", {"method": "addRoomOwner"})
    assert err.status == 400
    assert err.body() == {
        "success": False,
        "error": "User is already an owner [error-user-already-owner]",
        "errorType": "error-user-already-owner",
        "details": {"method": "addRoomOwner"},
    }


def test_meteor_error_without_reason_or_details() -> None:
    err = MeteorError(None, "invalid-channel")
    assert err.body() == {"success": False, "error": "[invalid-channel]", "errorType": "invalid-channel"}


@pytest.mark.parametrize("error_type", ["unauthorized", "error-unauthorized"])
def test_unauthorized_meteor_errors_are_403_without_type(error_type: str) -> None:
    err = MeteorError("Nope", error_type, {"x": 1})
    assert err.status == 403
    assert err.body() == {"success": False, "error": f"Nope [{error_type}]"}


def test_forbidden_type_stays_400() -> None:
    assert MeteorError("Nope", "error-forbidden").status == 400


def test_failure() -> None:
    assert Failure("Logged in users can not register again.").body() == {
        "success": False,
        "error": "Logged in users can not register again.",
    }
    assert Failure("not-allowed", "Not Allowed").body() == {
        "success": False,
        "error": "not-allowed",
        "errorType": "Not Allowed",
    }
    assert Failure("x", details={"a": 1}).body() == {"success": False, "error": "x", "details": {"a": 1}}
    assert Failure("x").status == 400


def test_failure_object() -> None:
    assert FailureObject().body() == {"success": False}
    # success cannot be overridden by the payload
    assert FailureObject({"success": True, "k": 1}).body() == {"success": False, "k": 1}


def test_invalid_params_joins_messages() -> None:
    err = InvalidParams(["must have required property 'a'", "/b must be string"])
    assert err.status == 400
    assert err.body() == {
        "success": False,
        "error": "must have required property 'a'\n /b must be string [invalid-params]",
        "errorType": "invalid-params",
    }


def test_not_logged_in() -> None:
    assert NotLoggedIn().status == 401
    assert NotLoggedIn().body() == {
        "success": False,
        "status": "error",
        "message": "You must be logged in to do this.",
        "error": "You must be logged in to do this.",
    }


def test_login_failed() -> None:
    err = LoginFailed("error-user-is-not-activated", "User is not activated")
    assert err.status == 401
    assert err.body() == {
        "success": False,
        "status": "error",
        "error": "error-user-is-not-activated",
        "message": "User is not activated",
    }


def test_forbidden_and_permission_required() -> None:
    assert Forbidden().status == 403
    assert Forbidden().body() == {"success": False, "error": "unauthorized"}
    assert PermissionRequired().status == 403
    assert PermissionRequired().body() == {
        "success": False,
        "error": "User does not have the permissions required for this action [error-unauthorized]",
    }


def test_not_found() -> None:
    assert NotFound().status == 404
    assert NotFound().body() == {"success": False, "error": "Resource not found"}
    assert NotFound("gone").body() == {"success": False, "error": "gone"}


# -- api/errors.py: ajv_messages ----------------------------------------------------------------


class Inner(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    name: str


class Outer(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    roomId: str = Field(min_length=1)
    flag: bool = False
    count: int = 0
    tags: list[str] = []
    data: Inner | None = None
    pass_: str = Field(default="", alias="pass")
    mixed: str | dict[str, Any] | None = None


def messages_for(payload: Any) -> list[str]:
    with pytest.raises(ValidationError) as info:
        Outer.model_validate(payload)
    # FastAPI prefixes body errors with "body"; mimic it so the stripping is exercised too.
    errors = [{**e, "loc": ("body", *e["loc"])} for e in info.value.errors()]
    return ajv_messages(errors)


def test_missing_property() -> None:
    assert messages_for({}) == ["must have required property 'roomId'"]


def test_missing_nested_property() -> None:
    assert messages_for({"roomId": "r", "data": {}}) == ["/data must have required property 'name'"]


def test_additional_property() -> None:
    assert messages_for({"roomId": "r", "extra": 1}) == ["must NOT have additional properties ('extra')"]
    assert messages_for({"roomId": "r", "data": {"name": "n", "x": 1}}) == [
        "/data must NOT have additional properties ('x')"
    ]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"roomId": 5}, "/roomId must be string"),
        ({"roomId": ""}, "/roomId must NOT have fewer than 1 characters"),
        ({"roomId": "r", "flag": "true"}, "/flag must be boolean"),
        ({"roomId": "r", "count": "3"}, "/count must be integer"),
        ({"roomId": "r", "tags": "a"}, "/tags must be array"),
        ({"roomId": "r", "tags": [1]}, "/tags/0 must be string"),
        ({"roomId": "r", "data": "x"}, "/data must be object"),
    ],
)
def test_type_errors(payload: dict[str, Any], message: str) -> None:
    assert messages_for(payload) == [message]


def test_union_branches_fold_into_one_message() -> None:
    assert messages_for({"roomId": "r", "mixed": 5}) == ["/mixed must be string,object"]


def test_aliased_field_uses_the_wire_name() -> None:
    assert messages_for({"roomId": "r", "pass": 1}) == ["/pass must be string"]


def test_several_errors_keep_order() -> None:
    # two different fields are two messages, never one folded "union" message
    assert messages_for({"flag": 1, "count": "x"}) == [
        "must have required property 'roomId'",
        "/flag must be boolean",
        "/count must be integer",
    ]


def test_whole_body_missing_and_invalid_json() -> None:
    assert ajv_messages([{"loc": ("body",), "type": "missing", "msg": "Field required"}]) == [
        "must be object"
    ]
    assert ajv_messages([{"loc": ("body", 0), "type": "json_invalid", "msg": "JSON decode error"}]) == [
        "the request body is not valid JSON"
    ]


def test_unknown_error_type_falls_back_to_pydantic_message() -> None:
    assert ajv_messages([{"loc": ("query", "x"), "type": "weird", "msg": "is odd"}]) == ["/x is odd"]
    assert ajv_messages([{"loc": (), "type": "weird"}]) == ["is invalid"]


def test_union_field_is_one_message_listing_every_type() -> None:
    # pydantic reports each branch of `str | dict` separately; ajv words it once
    assert messages_for({"roomId": "r", "mixed": 5}) == ["/mixed must be string,object"]


def test_union_field_next_to_a_plain_type_error_stays_separate() -> None:
    assert messages_for({"roomId": "r", "mixed": 5, "flag": "yes"}) == [
        "/flag must be boolean",
        "/mixed must be string,object",
    ]
