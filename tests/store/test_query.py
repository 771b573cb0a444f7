"""The safe query compiler, operator by operator, against a real migrated SQLite database."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from hookhub.config import Settings
from hookhub.store.database import Database
from hookhub.store.integrations import (
    HISTORY,
    INTEGRATIONS,
    insert_history,
    insert_integration,
    list_history,
    list_integrations,
)
from hookhub.store.query import (
    MAX_DEPTH,
    FieldsError,
    QueryError,
    SortError,
    apply_projection,
    check_projection,
    compile_filter,
    compile_sort,
)

DOCS: list[dict[str, Any]] = [
    {
        "_id": "a",
        "type": "webhook-incoming",
        "name": "Alpha",
        "enabled": True,
        "username": "rocket.cat",
        "channel": ["#general"],
        "retryCount": 3,
        "scriptEnabled": False,
        "_createdAt": "2024-01-01T00:00:00.000Z",
        "_createdBy": {"_id": "u1", "username": "boss"},
    },
    {
        "_id": "b",
        "type": "webhook-outgoing",
        "name": "beta",
        "enabled": False,
        "event": "sendMessage",
        "channel": ["#general", "#random"],
        "urls": ["https://x.example/hook"],
        "triggerWords": ["hi", "hello"],
        "retryCount": 5,
        "_createdAt": "2024-02-01T00:00:00.000Z",
        "_createdBy": {"_id": "u2", "username": "alice"},
    },
    {
        "_id": "c",
        "type": "webhook-outgoing",
        "name": "Gamma\nline",
        "enabled": True,
        "event": "roomCreated",
        "channel": [],
        "urls": ["https://y.example", "ftp://z"],
        "retryCount": "7",  # the wrong JSON type: behaves as missing
        "_createdAt": "2024-03-01T00:00:00.000Z",
        "_createdBy": {"_id": "u1", "username": "boss"},
    },
    {
        "_id": "d",
        "type": "webhook-incoming",
        "name": 42,  # the wrong JSON type: behaves as missing
        "_createdAt": "2024-04-01T00:00:00Z",
    },
]
ALL = {"a", "b", "c", "d"}


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    """The run's database (SQLite, or PostgreSQL on the PostgreSQL pass) with DOCS stored."""
    database = Database(settings.effective_database_url)
    async with database.transaction() as conn:
        for doc in DOCS:
            await insert_integration(conn, doc)
    yield database
    await database.dispose()


async def matching(db: Database, query: dict[str, Any]) -> set[str]:
    async with db.transaction(write=False) as conn:
        docs, total = await list_integrations(conn, where=[compile_filter(INTEGRATIONS, query)])
    assert total == len(docs)
    return {d["_id"] for d in docs}


CASES: list[tuple[dict[str, Any], set[str]]] = [
    # empty filter and implicit equality
    ({}, ALL),
    ({"name": "Alpha"}, {"a"}),
    ({"name": "alpha"}, set()),
    ({"_id": "b"}, {"b"}),
    ({"_createdBy._id": "u1"}, {"a", "c"}),
    ({"_createdBy.username": "alice", "type": "webhook-outgoing"}, {"b"}),
    # $eq / $ne with missing fields and type brackets
    ({"name": {"$eq": "beta"}}, {"b"}),
    ({"name": {"$ne": "beta"}}, {"a", "c", "d"}),
    ({"event": {"$ne": "sendMessage"}}, {"a", "c", "d"}),
    ({"retryCount": 3}, {"a"}),
    ({"retryCount": 3.0}, {"a"}),
    ({"retryCount": "3"}, set()),
    ({"retryCount": "7"}, set()),
    ({"retryCount": {"$ne": "3"}}, ALL),
    ({"enabled": True}, {"a", "c"}),
    ({"enabled": 1}, set()),
    ({"enabled": {"$ne": 1}}, ALL),
    ({"enabled": False}, {"b"}),
    ({"enabled": {"$ne": True}}, {"b", "d"}),
    ({"name": 42}, set()),
    ({"name": {"nested": 1}}, set()),
    ({"name": {}}, set()),
    # null means missing
    ({"event": None}, {"a", "d"}),
    ({"event": {"$eq": None}}, {"a", "d"}),
    ({"event": {"$ne": None}}, {"b", "c"}),
    ({"name": None}, {"d"}),
    ({"retryCount": None}, {"c", "d"}),
    ({"retryCount": {"$gte": None}}, {"c", "d"}),
    ({"retryCount": {"$gt": None}}, set()),
    # comparisons
    ({"retryCount": {"$gt": 3}}, {"b"}),
    ({"retryCount": {"$gte": 3}}, {"a", "b"}),
    ({"retryCount": {"$lt": 5}}, {"a"}),
    ({"retryCount": {"$lte": 5, "$gt": 3}}, {"b"}),
    ({"retryCount": {"$gt": 2.5}}, {"a", "b"}),
    ({"retryCount": {"$lt": 10**30}}, {"a", "b"}),
    ({"retryCount": {"$gt": "1"}}, set()),
    ({"retryCount": {"$gt": True}}, set()),
    ({"name": {"$gt": "Z"}}, {"b"}),  # code point order: lower case after upper case
    ({"name": {"$lt": "Beta"}}, {"a"}),
    ({"name": {"$gte": "Gamma"}}, {"b", "c"}),
    ({"enabled": {"$gt": False}}, {"a", "c"}),
    # dates
    ({"_createdAt": {"$date": "2024-02-01T00:00:00.000Z"}}, {"b"}),
    ({"_createdAt": "2024-02-01T00:00:00Z"}, {"b"}),
    ({"_createdAt": {"$gte": {"$date": "2024-02-01T00:00:00.000Z"}}}, {"b", "c", "d"}),
    ({"_createdAt": {"$lt": {"$date": 1706745600000}}}, {"a"}),
    ({"_createdAt": {"$gt": "2024-02-15T12:00:00+02:00"}}, {"c", "d"}),
    ({"_createdAt": {"$in": [{"$date": "2024-01-01T00:00:00Z"}, "2024-04-01T00:00:00Z"]}}, {"a", "d"}),
    ({"_createdAt": 5}, set()),
    ({"name": {"$date": "2024-01-01T00:00:00Z"}}, set()),
    ({"_updatedAt": {"$exists": False}}, ALL),
    # $in / $nin
    ({"name": {"$in": ["Alpha", "beta", 42]}}, {"a", "b"}),
    ({"name": {"$in": []}}, set()),
    ({"name": {"$nin": []}}, ALL),
    ({"name": {"$nin": ["Alpha"]}}, {"b", "c", "d"}),
    ({"event": {"$in": [None, "sendMessage"]}}, {"a", "b", "d"}),
    ({"event": {"$nin": [None]}}, {"b", "c"}),
    ({"retryCount": {"$in": [3, "5", 5.0]}}, {"a", "b"}),
    # $exists
    ({"event": {"$exists": True}}, {"b", "c"}),
    ({"event": {"$exists": False}}, {"a", "d"}),
    ({"urls": {"$exists": True}}, {"b", "c"}),
    ({"channel": {"$exists": 1}}, {"a", "b", "c"}),
    # $regex / $options
    ({"name": {"$regex": "^a"}}, set()),
    ({"name": {"$regex": "^a", "$options": "i"}}, {"a"}),
    ({"name": {"$regex": "(?i)^A"}}, {"a"}),
    ({"name": {"$regex": "ET"}}, set()),
    ({"name": {"$regex": "et", "$options": ""}}, {"b"}),
    ({"name": {"$regex": "^line"}}, set()),
    ({"name": {"$regex": "^line", "$options": "m"}}, {"c"}),
    ({"name": {"$regex": "Gamma$"}}, set()),
    ({"name": {"$regex": "Gamma$", "$options": "m"}}, {"c"}),
    ({"name": {"$regex": "a.l"}}, set()),
    ({"name": {"$regex": "a.l", "$options": "s"}}, {"c"}),
    ({"name": {"$regex": "a[^x]l"}}, {"c"}),  # a negated class matches a newline, as in PCRE
    ({"name": {"$regex": "\\w+\\s\\w+"}}, {"c"}),
    ({"name": {"$regex": "\\bline\\b"}}, {"c"}),
    ({"name": {"$regex": "^(?:alpha|beta)$", "$options": "i"}}, {"a", "b"}),
    ({"name": {"$regex": "[[:upper:]]"}}, {"a", "c"}),
    ({"name": {"$regex": "\\."}}, set()),
    ({"username": {"$regex": "\\."}}, {"a"}),
    ({"retryCount": {"$regex": "3"}}, set()),
    ({"enabled": {"$regex": "true"}}, set()),
    ({"channel": {"$regex": "^#r"}}, {"b"}),
    ({"urls": {"$regex": "^ftp:"}}, {"c"}),
    # $not
    ({"name": {"$not": {"$regex": "^a", "$options": "i"}}}, {"b", "c", "d"}),
    ({"retryCount": {"$not": {"$gt": 3}}}, {"a", "c", "d"}),
    ({"retryCount": {"$not": {"$gt": "3"}}}, ALL),
    ({"event": {"$not": {"$exists": True}}}, {"a", "d"}),
    ({"channel": {"$not": {"$size": 0}}}, {"a", "b", "d"}),
    # logical operators
    ({"$or": [{"name": "Alpha"}, {"retryCount": 5}]}, {"a", "b"}),
    ({"$and": [{"type": "webhook-outgoing"}, {"enabled": True}]}, {"c"}),
    ({"$nor": [{"name": "Alpha"}, {"retryCount": 5}]}, {"c", "d"}),
    ({"$nor": [{"event": "sendMessage"}]}, {"a", "c", "d"}),
    ({"$or": [{"$and": [{"enabled": True}, {"type": "webhook-incoming"}]}, {"name": None}]}, {"a", "d"}),
    ({"$and": [{"$nor": [{"$or": [{"name": "Alpha"}]}]}, {"type": "webhook-incoming"}]}, {"d"}),
    # arrays of strings: contains, whole-array equality, $all, $size, $elemMatch
    ({"channel": "#general"}, {"a", "b"}),
    ({"channel": "#random"}, {"b"}),
    ({"channel": {"$ne": "#general"}}, {"c", "d"}),
    ({"channel": ["#general"]}, {"a"}),
    ({"channel": ["#random", "#general"]}, set()),
    ({"channel": ["#general", "#random"]}, {"b"}),
    ({"channel": []}, {"c"}),
    ({"channel": {"$ne": []}}, {"a", "b", "d"}),
    ({"channel": {"$in": ["#random", "#nope"]}}, {"b"}),
    ({"channel": {"$in": [[], "#random"]}}, {"c", "b"}),
    ({"channel": {"$nin": ["#general"]}}, {"c", "d"}),
    ({"channel": {"$gt": "#h"}}, {"b"}),
    ({"channel": {"$all": ["#general"]}}, {"a", "b"}),
    ({"channel": {"$all": ["#random", "#general"]}}, {"b"}),
    ({"channel": {"$all": []}}, set()),
    ({"name": {"$all": ["Alpha"]}}, {"a"}),
    ({"channel": {"$size": 0}}, {"c"}),
    ({"channel": {"$size": 2}}, {"b"}),
    ({"urls": {"$size": 2}}, {"c"}),
    ({"name": {"$size": 0}}, set()),
    ({"triggerWords": {"$elemMatch": {"$regex": "^hel"}}}, {"b"}),
    ({"channel": {"$elemMatch": {"$ne": "#general"}}}, {"b"}),
    ({"channel": {"$elemMatch": {"$gt": "#a", "$lt": "#h"}}}, {"a", "b"}),
    ({"channel": {"$elemMatch": {"$in": ["#x", "#random"]}}}, {"b"}),
    ({"channel": {"$elemMatch": {"topic": "x"}}}, set()),
    ({"name": {"$elemMatch": {"$eq": "Alpha"}}}, set()),
    ({"channel": 5}, set()),
    ({"channel": {"$ne": 5}}, ALL),
]


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[str(q) for q, _ in CASES])
async def test_operator(db: Database, query: dict[str, Any], expected: set[str]) -> None:
    assert await matching(db, query) == expected


REJECTED: list[tuple[Any, str]] = [
    ({"$where": "this.name == 'x'"}, "operator $where is not allowed"),
    ({"$expr": {"$eq": ["$name", "x"]}}, "operator $expr is not allowed"),
    ({"$text": {"$search": "x"}}, "operator $text is not allowed"),
    ({"$comment": "x"}, "operator $comment is not allowed"),
    ({"name": {"$function": {"body": "return true"}}}, "operator $function is not allowed"),
    ({"name": {"$type": "string"}}, "operator $type is not allowed"),
    ({"retryCount": {"$mod": [2, 0]}}, "operator $mod is not allowed"),
    ({"name": {"$x": 1}}, "operator $x is not allowed"),
    ({"name": {"$where": "1"}}, "operator $where is not allowed"),
    ({"token": "secret"}, "unknown field token"),
    ({"doc": "x"}, "unknown field doc"),
    ({"_createdBy": {"_id": "u1"}}, "unknown field _createdBy"),
    ({"$or": [{"script": {"$exists": True}}]}, "unknown field script"),
    ({"$and": []}, "$and needs a non-empty array"),
    ({"$or": {"name": "x"}}, "$or needs a non-empty array"),
    ({"$nor": ["name"]}, "a filter must be a JSON object"),
    ({"name": {"$gt": 1, "x": 2}}, "may not mix operators and field names"),
    ({"name": {"$in": "Alpha"}}, "$in needs an array"),
    ({"name": {"$nin": 3}}, "$nin needs an array"),
    ({"name": {"$all": "x"}}, "$all needs an array"),
    ({"name": {"$in": ["x"] * 1001}}, "$in has more than 1000 items"),
    ({"name": {"$exists": "yes"}}, "$exists needs true or false"),
    ({"name": {"$regex": 5}}, "$regex needs a string pattern"),
    ({"name": {"$regex": "a", "$options": "x"}}, "$options may only combine"),
    ({"name": {"$regex": "a", "$options": 1}}, "$options may only combine"),
    ({"name": {"$options": "i"}}, "$options needs a $regex"),
    ({"name": {"$regex": "(a)\\1"}}, "not a supported (RE2) regular expression"),
    ({"name": {"$regex": "(?=a)b"}}, "not a supported (RE2) regular expression"),
    ({"name": {"$regex": "(?<!a)b"}}, "not a supported (RE2) regular expression"),
    ({"name": {"$regex": "[a"}}, "not a supported (RE2) regular expression"),
    ({"name": {"$regex": "a" * 513}}, "longer than 512 characters"),
    ({"name": {"$regex": "a(?i)b"}}, "only supported as a leading"),
    ({"name": {"$regex": "(?P<n>a)"}}, "only supported as a leading"),
    ({"name": {"$regex": "\\pL"}}, "escape \\p is not supported"),
    ({"name": {"$regex": "[\\W]"}}, "escape \\W is not supported"),
    ({"name": {"$not": "Alpha"}}, "$not needs an operator object"),
    ({"name": {"$not": {}}}, "$not needs an operator object"),
    ({"name": {"$not": {"name": 1}}}, "$not needs an operator object"),
    ({"channel": {"$size": -1}}, "$size may not be negative"),
    ({"channel": {"$size": 1.5}}, "$size needs a whole number"),
    ({"channel": {"$size": True}}, "$size needs a whole number"),
    ({"channel": {"$elemMatch": "x"}}, "$elemMatch needs an object"),
    ({"channel": {"$elemMatch": {"$where": "1"}}}, "operator $where is not allowed"),
    ({"channel": {"$elemMatch": {"a": 1, "$eq": 2}}}, "may not mix"),
    ({"_createdAt": {"$date": "yesterday"}}, "not an ISO-8601 date"),
    ({"_createdAt": "yesterday"}, "not an ISO-8601 date"),
    ({"_createdAt": {"$gt": {"$date": True}}}, "$date needs an ISO-8601 string"),
    ({"name": {"$eq": {"$gt": 1}}}, "unsupported value"),
    ({"name": {"$in": [{"$regex": "a"}]}}, "unsupported value"),
    ({"name": {"$gt": ["a"]}}, "$gt does not compare with arrays"),
    ({"$or": [{"$or": [{"name": "x"}]}] * 2 * 600}, "more than 1000"),
    ({"$and": [{"name": "x"}] * 1001}, "$and has more than 1000 items"),
]


@pytest.mark.parametrize(("query", "reason"), REJECTED, ids=[str(q)[:60] for q, _ in REJECTED])
def test_rejected(query: Any, reason: str) -> None:
    with pytest.raises(QueryError) as info:
        compile_filter(INTEGRATIONS, query)
    assert reason in str(info.value)


def _nested(levels: int) -> dict[str, Any]:
    query: dict[str, Any] = {"name": "x"}
    for _ in range(levels):
        query = {"$and": [query]}
    return query


def test_depth_limit() -> None:
    compile_filter(INTEGRATIONS, _nested(MAX_DEPTH))
    with pytest.raises(QueryError, match="nests deeper"):
        compile_filter(INTEGRATIONS, _nested(MAX_DEPTH + 1))
    not_chain: dict[str, Any] = {"$eq": 1}
    for _ in range(MAX_DEPTH + 1):
        not_chain = {"$not": not_chain}
    with pytest.raises(QueryError, match="nests deeper"):
        compile_filter(INTEGRATIONS, {"retryCount": not_chain})


async def test_deep_nesting_runs(db: Database) -> None:
    query: dict[str, Any] = {"name": "Alpha"}
    for i in range(MAX_DEPTH):
        # ten $nor levels cancel out; the rest alternate $or / $and
        query = {"$nor": [query]} if i < 10 else {"$or": [query]} if i % 2 else {"$and": [query]}
    assert await matching(db, query) == {"a"}


async def test_pathological_regex_answers_quickly(db: Database) -> None:
    async with db.transaction() as conn:
        await insert_integration(
            conn, {"_id": "long", "type": "webhook-incoming", "name": "a" * 50_000 + "!"}
        )
        await insert_integration(
            conn, {"_id": "list", "type": "webhook-incoming", "urls": ["a" * 50_000 + "!"]}
        )
    started = time.monotonic()
    assert await matching(db, {"name": {"$regex": "^(a+)+$"}}) == set()
    assert await matching(db, {"name": {"$regex": "^(a|aa)*$"}}) == set()
    assert await matching(db, {"urls": {"$regex": "^(a*)*b"}}) == set()
    assert await matching(db, {"name": {"$regex": "(a+)+!$"}}) == {"long"}
    assert time.monotonic() - started < 1.0


async def test_result_is_never_null_under_not(db: Database) -> None:
    """NOT over every leaf kind is the exact complement (three-valued logic would drop rows)."""
    leaves: list[dict[str, Any]] = [
        {"event": "sendMessage"},
        {"retryCount": {"$gt": 1}},
        {"name": {"$regex": "a"}},
        {"channel": "#general"},
        {"channel": ["#general"]},
        {"channel": {"$size": 1}},
        {"urls": {"$elemMatch": {"$regex": "x"}}},
        {"_createdAt": {"$lt": "2024-03-01T00:00:00Z"}},
        {"enabled": {"$in": [True]}},
    ]
    for leaf in leaves:
        positive = await matching(db, leaf)
        assert await matching(db, {"$nor": [leaf]}) == ALL - positive, leaf


async def test_permission_filter_cannot_be_widened(db: Database) -> None:
    own = INTEGRATIONS.fields["_createdBy._id"].column == "u2"
    widening = compile_filter(INTEGRATIONS, {"$or": [{"_createdBy._id": "u1"}, {"_id": {"$ne": "x"}}]})
    async with db.transaction(write=False) as conn:
        docs, total = await list_integrations(conn, where=[own, widening])
    assert [d["_id"] for d in docs] == ["b"]
    assert total == 1


async def test_regex_function_registered_on_every_connection(db: Database) -> None:
    if db.is_postgresql:
        pytest.skip("SQLite's RE2 function; PostgreSQL has its own `~`")
    async with db.transaction(write=False) as conn:
        result = await conn.exec_driver_sql(
            "SELECT hookhub_regexp('^a', 'i', 'Abc'), hookhub_regexp('x', '', NULL)"
        )
        assert tuple(result.one()) == (1, 0)


def test_sql_is_index_friendly_and_dialect_neutral() -> None:
    expr = compile_filter(
        INTEGRATIONS, {"type": "webhook-outgoing", "channel": {"$in": ["#a", "#b"]}, "name": {"$regex": "x"}}
    )
    lite = str(expr.compile(dialect=sqlite.dialect()))
    assert "integrations.type = ?" in lite
    assert "integration_terms.field = ?" in lite
    assert "integration_terms.value IN" in lite
    assert "hookhub_regexp(" in lite
    pg = expr.compile(dialect=postgresql.dialect())
    assert "hookhub_regexp(" not in str(pg)
    assert " ~ " in str(pg)
    assert "(?s)[^\n]" not in pg.params.values()
    assert "(?s)x" in pg.params.values()


@pytest.mark.parametrize(
    ("pattern", "options", "expected"),
    [
        ("a.b", "", "(?s)a[^\n]b"),
        ("a.b", "s", "(?s)a.b"),
        ("^a.b$", "m", "(?w)^a[^\n]b$"),
        ("^a.b$", "ms", "(?w)^a.b$"),
        ("a", "i", "(?si)a"),
        ("(?i)a", "", "(?si)a"),
        ("(?ms)a", "", "(?w)a"),
        ("\\d+\\w\\s\\b\\B\\A\\z", "s", "(?s)[0-9]+[0-9A-Za-z_][\t\n\f\r ]\\y\\Y\\A\\Z"),
        ("\\D\\W\\S", "s", "(?s)[^0-9][^0-9A-Za-z_][^\t\n\f\r ]"),
        ("[\\d\\w.-]", "", "(?s)[0-90-9A-Za-z_.-]"),
        ("[]a]\\.\\n", "", "(?s)[]a]\\.\\n"),
        ("[^]a].", "", "(?s)[^]a][^\n]"),
        ("(?:a|b)", "", "(?s)(?:a|b)"),
        ("[[:alpha:].]", "", "(?s)[[:alpha:].]"),
    ],
)
def test_postgresql_pattern_translation(pattern: str, options: str, expected: str) -> None:
    expr = compile_filter(INTEGRATIONS, {"name": {"$regex": pattern, "$options": options}})
    params = expr.compile(dialect=postgresql.dialect()).params
    assert expected in params.values()


def test_string_ranges_compare_by_code_point_on_postgresql() -> None:
    expr = compile_filter(INTEGRATIONS, {"name": {"$gt": "a"}, "channel": {"$lt": "b"}})
    assert str(expr.compile(dialect=postgresql.dialect())).count('COLLATE "C"') == 2
    assert "COLLATE" not in str(expr.compile(dialect=sqlite.dialect()))


# -- history --------------------------------------------------------------------------------------------


async def test_history_collection(db: Database) -> None:
    rows = [
        {"_id": "h1", "type": "outgoing", "step": "finished",
         "integration": {"_id": "b", "_createdBy": {"_id": "u2"}},
         "event": "sendMessage", "finished": True, "error": False, "_createdAt": "2024-05-01T00:00:00Z",
         "_updatedAt": "2024-05-01T00:00:01Z", "url": "https://x.example/hook", "triggerWord": "hi"},
        {"_id": "h2", "type": "outgoing", "step": "execute-http-call", "integration": {"_id": "b"},
         "event": "sendMessage", "finished": False, "error": True, "_createdAt": "2024-05-02T00:00:00Z",
         "_updatedAt": "2024-05-02T00:00:01Z"},
        {"_id": "h3", "type": "outgoing", "step": "started", "integration": {"_id": "c"},
         "event": "roomCreated", "_createdAt": "2024-05-03T00:00:00Z", "_updatedAt": "2024-05-03T00:00:01Z"},
    ]  # fmt: skip
    async with db.transaction() as conn:
        for row in rows:
            await insert_history(conn, row)

    async def history(query: dict[str, Any]) -> list[str]:
        async with db.transaction(write=False) as conn:
            docs, _ = await list_history(conn, where=[compile_filter(HISTORY, query)])
        return [d["_id"] for d in docs]

    assert await history({}) == ["h3", "h2", "h1"]
    assert await history({"integration._id": "b"}) == ["h2", "h1"]
    assert await history({"error": True}) == ["h2"]
    assert await history({"error": {"$ne": True}}) == ["h3", "h1"]
    assert await history({"finished": {"$exists": False}}) == ["h3"]
    assert await history({"step": {"$regex": "^exec"}}) == ["h2"]
    assert await history({"integration._createdBy._id": "u2"}) == ["h1"]
    assert await history({"_createdAt": {"$gt": {"$date": "2024-05-01T12:00:00Z"}}}) == ["h3", "h2"]
    assert await history({"$or": [{"triggerWord": "hi"}, {"event": "roomCreated"}]}) == ["h3", "h1"]
    with pytest.raises(QueryError, match="unknown field data"):
        compile_filter(HISTORY, {"data": "x"})
    with pytest.raises(QueryError, match="unknown field channel"):
        compile_filter(HISTORY, {"channel": "#general"})


# -- sort and projection ----------------------------------------------------------------------------------


async def test_sort(db: Database) -> None:
    async with db.transaction(write=False) as conn:
        order = compile_sort(INTEGRATIONS, {"type": 1, "_createdAt": -1})
        docs, _ = await list_integrations(conn, where=[], order_by=order)
    assert [d["_id"] for d in docs] == ["d", "a", "c", "b"]
    with pytest.raises(SortError):
        compile_sort(INTEGRATIONS, {"token": 1})


def test_projection() -> None:
    doc = {"_id": "x", "name": "n", "type": "t", "token": "secret"}
    assert apply_projection(doc, check_projection(INTEGRATIONS, {"name": 1})) == {"_id": "x", "name": "n"}
    assert apply_projection(doc, check_projection(INTEGRATIONS, {"name": 1, "_id": 0})) == {
        "_id": "x",
        "name": "n",
    }
    assert apply_projection(doc, check_projection(INTEGRATIONS, {"token": 0})) == {
        "_id": "x",
        "name": "n",
        "type": "t",
    }
    assert apply_projection(doc, check_projection(INTEGRATIONS, {"_id": 0})) == doc
    assert apply_projection(doc, check_projection(INTEGRATIONS, {})) == doc
    for bad in (
        {"name": 1, "token": 0},
        {"nope": 1},
        {"name": 2},
        {"name": True},
        {"_createdBy.username": 1},
    ):
        with pytest.raises(FieldsError):
            check_projection(INTEGRATIONS, bad)
