"""The OpenAPI document (issue #10): built from the code without warnings, no route of the
server's table left out of it, a valid OpenAPI 3.1 document, and every operation documenting
the Rocket.Chat envelopes it can answer."""

from __future__ import annotations

import warnings
from typing import Any

import httpx
import jsonschema_rs
import pytest
from fastapi import FastAPI
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

from hookhub.api.openapi_doc import api_routes, is_authenticated
from hookhub.app import create_app
from hookhub.config import Settings
from tests.conftest import RC

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _document(app: FastAPI) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "Duplicate Operation ID": two operations as one
        return app.openapi()


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def document(app: FastAPI) -> dict[str, Any]:
    return _document(app)


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_every_documented_route_is_in_the_document_once_per_method(
    app: FastAPI, document: dict[str, Any]
) -> None:
    paths = document["paths"]
    operation_ids: list[str] = []
    missing: list[str] = []
    for route in api_routes(app.routes):
        if not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is None:
                missing.append(f"{method} {route.path_format}")
                continue
            operation_ids.append(operation["operationId"])
            assert operation.get("summary"), f"{method} {route.path_format} has no summary"
    assert missing == []
    assert len(operation_ids) == len(set(operation_ids))
    assert len(operation_ids) > 100
    # and nothing in the document that the server does not route
    assert len(operation_ids) == len(_operations(document))


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    errors = [
        f"{'/'.join(map(str, e.instance_path))}: {e.message}"
        for e in OPENAPI_31_VALIDATOR.iter_errors(document)
    ]
    assert errors == []
    for name, schema in document["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name


async def test_the_document_is_served_complete(http: httpx.AsyncClient) -> None:
    r = await http.get("/api/openapi.json")
    assert r.status_code == 200
    served = r.json()
    assert "ErrorEnvelope" in served["components"]["schemas"]
    assert "422" not in served["paths"]["/api/v1/users.info"]["get"]["responses"]
    assert served["paths"]["/api/v1/users.info"]["get"]["responses"]["401"]


def _ref(response: dict[str, Any]) -> str:
    return str(response["content"]["application/json"]["schema"].get("$ref", ""))


def test_no_422_anywhere_validation_errors_are_400_envelopes(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    assert schemas["ErrorEnvelope"]["properties"]["success"] == {"const": False}
    assert schemas["SuccessEnvelope"]["properties"]["success"] == {"const": True}
    for method, path, operation in _operations(document):
        assert "422" not in operation["responses"], f"{method} {path}"


def test_every_operation_documents_the_envelopes_it_can_answer(
    app: FastAPI, document: dict[str, Any]
) -> None:
    problems: list[str] = []
    for route in api_routes(app.routes):
        if not route.include_in_schema:
            continue
        takes_input = bool(route.dependant.query_params or route.body_field or route.dependant.path_params)
        for method in route.methods or ():
            where = f"{method} {route.path_format}"
            operation = document["paths"][route.path_format][method.lower()]
            responses = operation["responses"]
            success = responses.get("200", {}).get("content", {}).get("application/json", {}).get("schema")
            if not success:
                problems.append(f"{where}: no 200 schema")
            enveloped = route.path_format.startswith("/api/v1/") and route.path_format != "/api/v1/login"
            if enveloped and _ref(responses["200"]) != "#/components/schemas/SuccessEnvelope":
                problems.append(f"{where}: 200 is not the success envelope")
            if is_authenticated(route):
                for status in ("401", "403"):
                    if _ref(responses.get(status, {"content": {"application/json": {"schema": {}}}})) != (
                        "#/components/schemas/ErrorEnvelope"
                    ):
                        problems.append(f"{where}: no {status} envelope")
                if operation.get("security") != [{"userId": [], "authToken": []}]:
                    problems.append(f"{where}: no security requirement")
            if takes_input and "400" not in responses:
                problems.append(f"{where}: takes input but documents no 400")
            for status, response in responses.items():
                if (
                    status != "200"
                    and status.startswith(("4", "5"))
                    and "application/json" not in response.get("content", {})
                ):
                    problems.append(f"{where}: {status} has no JSON body")
    assert problems == []
    assert sum(1 for _ in api_routes(app.routes)) > 100


def test_hooks_and_login_document_their_own_statuses(document: dict[str, Any]) -> None:
    for method in ("get", "post"):
        responses = document["paths"]["/hooks/{path}"][method]["responses"]
        assert {"200", "400", "401", "404", "413", "429", "503"} <= responses.keys()
        assert "security" not in document["paths"]["/hooks/{path}"][method]
    login = document["paths"]["/api/v1/login"]["post"]["responses"]
    assert {"200", "400", "401"} <= login.keys()
    assert "security" not in document["paths"]["/api/v1/login"]["post"]


def test_paginated_operations_document_offset_count_and_sort(document: dict[str, Any]) -> None:
    params = {p["name"] for p in document["paths"]["/api/v1/users.list"]["get"]["parameters"]}
    assert {"offset", "count", "sort"} <= params


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema_rs.Validator:
    return jsonschema_rs.validator_for({**schema, "components": document["components"]})


async def test_real_error_answers_match_the_documented_envelopes(
    anon: RC, admin: RC, http: httpx.AsyncClient
) -> None:
    app = http._transport.app  # type: ignore[attr-defined]
    document = _document(app)
    envelope = {"$ref": "#/components/schemas/ErrorEnvelope"}
    answers = [
        (await anon.get("me"), 401),
        (await admin.post("users.create", {"email": 5}), 400),
        (await anon.as_anonymous().post("login", {"user": "nobody", "password": "x"}), 401),
        (await http.post("/hooks/nope/nope", content=b"{}"), 404),
    ]
    for response, status in answers:
        assert response.status_code == status, response.text
        _validator(document, envelope).validate(response.json())
    success = {"$ref": "#/components/schemas/SuccessEnvelope"}
    _validator(document, success).validate((await admin.get("me")).json())
    # the envelope's schema refuses a success body: the check can fail
    assert not _validator(document, envelope).is_valid((await admin.get("me")).json())


# Bodies the document cannot describe: none (logout), anything (a hook's payload is the sender's).
UNDESCRIBED_BODIES = {
    "POST /api/v1/logout",
    "POST /hooks/{path}",
}


def test_every_request_body_is_described(document: dict[str, Any]) -> None:
    """A route that reads its body as `Any` (to word its errors as Rocket.Chat does) still says
    what it takes, through `routing.json_body`."""
    schemas = document["components"]["schemas"]
    undescribed: set[str] = set()
    for method, path, operation in _operations(document):
        if method not in ("POST", "PUT"):
            continue
        body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if body and "$ref" in body:
            body = schemas[body["$ref"].rsplit("/", 1)[1]]
        if not body or not (body.get("properties") or body.get("oneOf") or body.get("anyOf")):
            undescribed.add(f"{method} {path}")
    assert undescribed == UNDESCRIBED_BODIES
