"""`query`, `fields` and `sort` on `integrations.list`, through HTTP (the compiler has its own tests in
tests/store)."""

from __future__ import annotations

from typing import Any

import orjson

from tests.api.test_integrations_create import give, incoming, outgoing
from tests.conftest import RC, assert_error, assert_ok


async def create(rc: RC, body: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = assert_ok(await rc.post("integrations.create", body))["integration"]
    return doc


async def listed(rc: RC, **params: Any) -> dict[str, Any]:
    encoded = {k: orjson.dumps(v).decode() if isinstance(v, dict) else v for k, v in params.items()}
    return assert_ok(await rc.get("integrations.list", **encoded))


def names(body: dict[str, Any]) -> list[str]:
    return [i["name"] for i in body["integrations"]]


async def test_query_narrows_the_list(admin: RC) -> None:
    await create(admin, incoming(name="one"))
    await create(admin, incoming(name="Two", enabled=False))
    await create(admin, outgoing(name="three", triggerWords=["!go", "!stop"]))
    body = await listed(admin, query={"enabled": True}, sort={"name": 1})
    assert names(body) == ["one", "three"]
    assert body["total"] == 2
    assert names(
        await listed(admin, query={"name": {"$regex": "^t", "$options": "i"}}, sort={"name": -1})
    ) == [
        "three",
        "Two",
    ]
    assert names(await listed(admin, query={"triggerWords": "!stop"})) == ["three"]
    assert names(await listed(admin, query={"$nor": [{"type": "webhook-outgoing"}, {"enabled": False}]})) == [
        "one"
    ]
    assert names(await listed(admin, query={"_createdBy.username": "boss", "event": {"$exists": True}})) == [
        "three"
    ]


async def test_query_cannot_widen_the_permission_filter(admin: RC, alice: RC) -> None:
    await give(admin, "manage-own-incoming-integrations")
    await create(admin, incoming(name="the boss's"))
    await create(alice, incoming(name="alice's"))
    assert admin.user_id is not None
    widening = {"$or": [{"_createdBy._id": admin.user_id}, {"_id": {"$exists": True}}]}
    body = await listed(alice, query=widening)
    assert names(body) == ["alice's"]
    assert body["total"] == 1
    assert names(await listed(alice, query={"_createdBy._id": admin.user_id})) == []
    assert names(await listed(admin, query=widening, sort={"name": 1})) == ["alice's", "the boss's"]


async def test_disallowed_query_is_a_400(admin: RC) -> None:
    for raw in (
        '{"$where": "this.name == \'x\'"}',
        '{"name": {"$function": {"body": "return true", "args": [], "lang": "js"}}}',
        '{"$expr": {"$eq": ["$name", "x"]}}',
        '{"token": "x"}',
        '{"name": {"$regex": "(a)\\\\1"}}',
        '{"name": ',
        "[1]",
    ):
        assert_error(
            await admin.get("integrations.list", query=raw),
            400,
            f'Invalid query parameter provided: "{raw}" [error-invalid-query]',
            "error-invalid-query",
        )


async def test_sort_and_fields(admin: RC) -> None:
    await create(admin, incoming(name="b"))
    await create(admin, incoming(name="a"))
    body = await listed(admin, sort={"name": 1}, fields={"name": 1})
    assert body["integrations"] == [
        {"_id": body["integrations"][0]["_id"], "name": "a"},
        {"_id": body["integrations"][1]["_id"], "name": "b"},
    ]
    excluded = await listed(admin, fields={"token": 0, "_createdBy": 0})
    assert all("token" not in i and "_createdBy" not in i and "name" in i for i in excluded["integrations"])
    raw_sort = '{"token": 1}'
    assert_error(
        await admin.get("integrations.list", sort=raw_sort),
        400,
        f'Invalid sort parameter provided: "{raw_sort}" [error-invalid-sort]',
        "error-invalid-sort",
    )
    raw_fields = '{"name": 1, "token": 0}'
    assert_error(
        await admin.get("integrations.list", fields=raw_fields),
        400,
        f'Invalid fields parameter provided: "{raw_fields}" [error-invalid-fields]',
        "error-invalid-fields",
    )
