"""The outgoing engine's plain-`sqlite3` hot path (store/sqlite_deliveries.py) keeps the contract of
its SQLAlchemy twins in store/deliveries.py, store/events.py and store/integrations.py.

Every test seeds two copies of the migrated template identically, runs the SQLAlchemy function on
one and its `sqlite3` twin on the other, and requires the same return value (types and time zones
included) or the same exception, and byte-identical raw table contents afterwards: the engine mixes
both paths on one database, so a value encoded differently (a date format, a boolean, JSON key
order) would break later comparisons and orderings even where the decoded values look equal.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from hookhub.ids import iso
from hookhub.runtime.history_records import apply_step, new_record
from hookhub.store import deliveries as delivery_store
from hookhub.store import events as event_store
from hookhub.store import integrations as integration_store
from hookhub.store import sqlite_deliveries
from hookhub.store.database import Database
from hookhub.store.sqlite_batches import configure
from hookhub.store.tables import deliveries as deliveries_table
from hookhub.store.tables import events as events_table
from hookhub.store.tables import integrations as integrations_table

T = TypeVar("T")

# Microseconds on purpose: both paths must keep them the same way.
NOW = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
# The same instant seen from elsewhere: both paths must store it as UTC.
NOW_ELSEWHERE = NOW.astimezone(timezone(timedelta(hours=5, minutes=30)))

Seed = Callable[[AsyncConnection], Awaitable[None]]
Dump = dict[str, list[tuple[Any, ...]]]

# Every table the twins read or write, in a total order of raw (stored) values.
_DUMPS = {
    "events": "SELECT * FROM events ORDER BY id",
    "integrations": "SELECT * FROM integrations ORDER BY id",
    "integration_terms": "SELECT * FROM integration_terms ORDER BY owner_id, field, position",
    "integration_history": "SELECT * FROM integration_history ORDER BY id",
    "deliveries": "SELECT * FROM deliveries ORDER BY id",
}


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def dump(path: Path) -> Dump:
    conn = sqlite3.connect(path)
    try:
        return {table: conn.execute(sql).fetchall() for table, sql in _DUMPS.items()}
    finally:
        conn.close()


def typed(value: Any) -> Any:
    """`value` with every type spelled out (and sets ordered), so that `1 == True`, or two equal
    instants in different time zones, do not pass for the same result."""
    if isinstance(value, dict):
        return ("dict", [(key, typed(item)) for key, item in value.items()])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [typed(item) for item in value])
    if isinstance(value, set | frozenset):
        return ("set", sorted(repr(typed(item)) for item in value))
    return (type(value).__name__, repr(value))


@dataclass
class Outcome(Generic[T]):
    """What both twins did, once they agreed: the result (None when they raised), the error they
    raised (`"ValueError: message"`), and the tables before and after."""

    result: T | None
    error: str | None
    before: Dump
    after: Dump


def _describe(exc: Exception) -> str:
    if isinstance(exc, DBAPIError) and isinstance(exc.orig, Exception):
        exc = exc.orig  # SQLAlchemy wraps the driver's error (and adds the statement)
    return f"{type(exc).__name__}: {exc}"


async def _sqlalchemy_side(
    path: Path, seed: Seed | None, alchemy: Callable[[AsyncConnection], Awaitable[T]] | None
) -> tuple[T | None, str | None]:
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        if seed is not None:
            async with db.transaction() as conn:
                await seed(conn)
        if alchemy is None:
            return None, None
        try:
            async with db.transaction() as conn:
                return await alchemy(conn), None
        except Exception as exc:  # compared with the twin's below
            return None, _describe(exc)
    finally:
        await db.dispose()


def _sqlite_side(path: Path, raw: Callable[[sqlite3.Connection], T]) -> tuple[T | None, str | None]:
    conn = sqlite3.connect(path)
    try:
        configure(conn)
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = raw(conn)
        except Exception as exc:
            # as `sqlite_batches` does with a job that raises: nothing of it is kept
            conn.execute("ROLLBACK")
            return None, _describe(exc)
        conn.execute("COMMIT")
        return result, None
    finally:
        conn.close()


async def twin(
    tmp_path: Path,
    template_db: Path,
    alchemy: Callable[[AsyncConnection], Awaitable[T]],
    raw: Callable[[sqlite3.Connection], T],
    *,
    seed: Seed | None = None,
) -> Outcome[T]:
    """Run `alchemy` on one seeded copy and `raw` on another; assert that they agree."""
    path_a, path_b = tmp_path / "sqlalchemy.sqlite3", tmp_path / "sqlite3.sqlite3"
    shutil.copy(template_db, path_a)
    shutil.copy(template_db, path_b)
    await _sqlalchemy_side(path_a, seed, None)
    await _sqlalchemy_side(path_b, seed, None)
    before = dump(path_a)
    assert dump(path_b) == before, "the seed must write the same rows on both copies"

    result_a, error_a = await _sqlalchemy_side(path_a, None, alchemy)
    result_b, error_b = _sqlite_side(path_b, raw)

    assert error_b == error_a
    assert result_b == result_a
    assert typed(result_b) == typed(result_a)
    after = dump(path_a)
    assert dump(path_b) == after
    return Outcome(result_a, error_a, before, after)


# -- seeds --------------------------------------------------------------------------------------------


def event_seed(*specs: tuple[str, bool]) -> Seed:
    """Events 1..n (the template's own events removed) of the given types; the flagged ones already
    processed, an hour before NOW."""

    async def seed(conn: AsyncConnection) -> None:
        await conn.execute(delete(events_table))
        for i, (event_type, _processed) in enumerate(specs):
            await event_store.append(
                conn,
                type=event_type,
                payload={"n": i, "text": "héllo ✓", "nested": {"b": 1, "a": [True, None]}},
                created_at=at(i - 100),
                room_id=f"room-{i}" if i % 2 else None,
                user_id="u1",
                message_id=None,
            )
        processed_types = [event_type for event_type, processed in specs if processed]
        if processed_types:
            stamp = update(events_table).where(events_table.c.type.in_(processed_types))
            await conn.execute(stamp.values(processed_at=at(-3600)))

    return seed


def integration(
    integration_id: str,
    *,
    created: datetime,
    kind: str = "webhook-outgoing",
    enabled: Any = True,
) -> dict[str, Any]:
    return {
        "_id": integration_id,
        "type": kind,
        "name": f"Hook {integration_id}: ünïcode ✓",
        "enabled": enabled,
        "event": "sendMessage",
        "username": "boss",
        "channel": ["#general", "@alice"],
        "urls": [f"https://receiver.example/{integration_id}"],
        "triggerWords": ["deploy", "🚀"],
        "token": f"token-{integration_id}",
        "scriptEnabled": False,
        "retryFailedCalls": True,
        "retryCount": 5,
        "retryDelay": "powers-of-ten",
        "_createdAt": iso(created),
        "_createdBy": {"_id": "u-boss", "username": "boss"},
        "_updatedAt": iso(created),
    }


def integration_seed(*documents: dict[str, Any]) -> Seed:
    async def seed(conn: AsyncConnection) -> None:
        for document in documents:
            await integration_store.insert_integration(conn, document)

    return seed


def delivery(key: str, delivery_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": delivery_id,
        "dedupe_key": key,
        "integration_id": "int-1",
        "url": f"https://receiver.example/{key}",
        "event": "sendMessage",
        "payload": {"eventType": "messageSent", "snapshot": {"msg": "ça va ✓", "n": 1}},
        "created_at": at(-600),
        **extra,
    }


def delivery_seed(*rows: dict[str, Any]) -> Seed:
    async def seed(conn: AsyncConnection) -> None:
        inserted = await delivery_store.enqueue_rows(conn, list(rows))
        assert len(inserted) == len(rows)

    return seed


def leased(owner: str, until: datetime) -> dict[str, Any]:
    return {"lease_owner": owner, "lease_until": until}


def ids(rows: Sequence[dict[str, Any]]) -> list[str]:
    return [str(row["id"]) for row in rows]


def deliveries_by_id(tables: Dump) -> dict[str, dict[str, Any]]:
    """The raw `deliveries` rows of a dump, by id, as column -> stored value."""
    names = [column.name for column in deliveries_table.columns]
    return {row[0]: dict(zip(names, row, strict=True)) for row in tables["deliveries"]}


# -- outbox events -------------------------------------------------------------------------------------

EVENTS = event_seed(
    ("messageSent", False),
    ("roomCreated", True),
    ("userJoined", False),
    ("fileUploaded", True),
    ("roomArchived", False),
    ("userCreated", False),
)


@pytest.mark.parametrize(
    ("limit", "expected_types"),
    [
        (10, ["messageSent", "userJoined", "roomArchived", "userCreated"]),
        (2, ["messageSent", "userJoined"]),
        (1, ["messageSent"]),
        (0, []),
        (-1, []),
    ],
)
async def test_claim_events(tmp_path: Path, template_db: Path, limit: int, expected_types: list[str]) -> None:
    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: event_store.claim_events(conn, limit=limit),
        lambda conn: sqlite_deliveries.claim_events(conn, limit=limit),
        seed=EVENTS,
    )
    assert outcome.result is not None
    assert [row["type"] for row in outcome.result] == expected_types
    assert [row["id"] for row in outcome.result] == sorted(row["id"] for row in outcome.result)
    assert outcome.after == outcome.before


async def test_claim_events_when_all_are_processed(tmp_path: Path, template_db: Path) -> None:
    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: event_store.claim_events(conn, limit=5),
        lambda conn: sqlite_deliveries.claim_events(conn, limit=5),
        seed=event_seed(("messageSent", True)),
    )
    assert outcome.result == []


@pytest.mark.parametrize(
    ("event_ids", "now", "expected"),
    [
        ([1, 2, 3], NOW, 2),  # 2 is already stamped and keeps its first stamp
        ([3, 1, 3, 99], NOW_ELSEWHERE, 2),  # duplicates, a missing id, a non-UTC clock
        ([2, 4], NOW, 0),
        ([], NOW, 0),
    ],
)
async def test_mark_events_processed(
    tmp_path: Path, template_db: Path, event_ids: list[int], now: datetime, expected: int
) -> None:
    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: event_store.mark_events_processed(conn, event_ids, now),
        lambda conn: sqlite_deliveries.mark_events_processed(conn, event_ids, now),
        seed=EVENTS,
    )
    assert outcome.result == expected
    stamps = {row[0]: row[7] for row in outcome.after["events"]}
    before = {row[0]: row[7] for row in outcome.before["events"]}
    assert stamps[2] == before[2] is not None
    changed = {i for i in stamps if stamps[i] != before[i]}
    assert len(changed) == expected


# -- integrations --------------------------------------------------------------------------------------

ANY_ENABLED_SEEDS: dict[str, tuple[Seed, bool]] = {
    "none": (integration_seed(), False),
    "disabled only": (integration_seed(integration("a", created=at(0), enabled=False)), False),
    "enabled": (
        integration_seed(integration("a", created=at(0), enabled=False), integration("b", created=at(1))),
        True,
    ),
    "enabled of another type only": (
        integration_seed(integration("a", created=at(0), kind="webhook-incoming")),
        False,
    ),
    "enabled not a boolean": (integration_seed(integration("a", created=at(0), enabled="true")), False),
}


@pytest.mark.parametrize("case", list(ANY_ENABLED_SEEDS))
async def test_any_enabled(tmp_path: Path, template_db: Path, case: str) -> None:
    seed, expected = ANY_ENABLED_SEEDS[case]
    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: integration_store.any_enabled(conn, "webhook-outgoing"),
        lambda conn: sqlite_deliveries.any_enabled(conn, "webhook-outgoing"),
        seed=seed,
    )
    assert outcome.result is expected


async def _enabled_by_listing(conn: AsyncConnection, integration_type: str) -> list[dict[str, Any]]:
    """What the engine does on the general path."""
    documents, _total = await integration_store.list_integrations(
        conn, where=[integration_store.of_type(integration_type)]
    )
    return [document for document in documents if document.get("enabled") is True]


INTEGRATIONS = integration_seed(
    integration("m", created=at(30)),
    integration("z", created=at(10)),
    integration("off", created=at(5), enabled=False),
    integration("in", created=at(1), kind="webhook-incoming"),
    integration("b", created=at(30)),  # the same creation time as "m": the id breaks the tie
    integration("odd", created=at(2), enabled="yes"),
    integration("a", created=at(20)),
)


@pytest.mark.parametrize(
    ("integration_type", "expected"),
    [
        ("webhook-outgoing", ["z", "a", "b", "m"]),
        ("webhook-incoming", ["in"]),
        ("webhook-other", []),
    ],
)
async def test_enabled_integrations(
    tmp_path: Path, template_db: Path, integration_type: str, expected: list[str]
) -> None:
    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: _enabled_by_listing(conn, integration_type),
        lambda conn: sqlite_deliveries.enabled_integrations(conn, integration_type),
        seed=INTEGRATIONS,
    )
    assert outcome.result is not None
    assert [document["_id"] for document in outcome.result] == expected


async def test_enabled_integrations_trust_the_document(tmp_path: Path, template_db: Path) -> None:
    async def seed(conn: AsyncConnection) -> None:
        await INTEGRATIONS(conn)
        # a shadow column out of step with its document (written behind the store's back)
        drift = update(integrations_table).where(integrations_table.c.id == "odd").values(enabled=True)
        await conn.execute(drift)

    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: _enabled_by_listing(conn, "webhook-outgoing"),
        lambda conn: sqlite_deliveries.enabled_integrations(conn, "webhook-outgoing"),
        seed=seed,
    )
    assert outcome.result is not None
    assert [document["_id"] for document in outcome.result] == ["z", "a", "b", "m"]


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        (["m", "a", "m", "missing"], ["a", "m"]),
        (["off", "in"], ["in", "off"]),
        (["missing"], []),
        ([], []),
    ],
)
async def test_get_integrations(
    tmp_path: Path, template_db: Path, wanted: list[str], expected: list[str]
) -> None:
    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: integration_store.get_integrations(conn, wanted),
        lambda conn: sqlite_deliveries.get_integrations(conn, wanted),
        seed=INTEGRATIONS,
    )
    assert outcome.result is not None
    assert sorted(outcome.result) == expected
    for integration_id, document in outcome.result.items():
        assert document["_id"] == integration_id


@pytest.mark.parametrize("integration_id", ["a", "odd", "in", "missing", ""])
async def test_get_integration(tmp_path: Path, template_db: Path, integration_id: str) -> None:
    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: integration_store.get_integration(conn, integration_id),
        lambda conn: sqlite_deliveries.get_integration(conn, integration_id),
        seed=INTEGRATIONS,
    )
    if integration_id in {"missing", ""}:
        assert outcome.result is None
    else:
        assert outcome.result is not None
        assert outcome.result["_id"] == integration_id
        assert outcome.result["name"] == f"Hook {integration_id}: ünïcode ✓"
    assert outcome.after == outcome.before


# -- replacing an integration --------------------------------------------------------------------------

_REPLACED = integration("a", created=at(0))
# another integration with the same arrays: its row and terms must stay as they are
_BYSTANDER = integration("b", created=at(1))
REPLACEABLE = integration_seed(_REPLACED, _BYSTANDER)

Term = tuple[str, int, str]
_SEEDED_TERMS: list[Term] = [
    ("channel", 0, "#general"),
    ("channel", 1, "@alice"),
    ("triggerWords", 0, "deploy"),
    ("triggerWords", 1, "🚀"),
    ("urls", 0, "https://receiver.example/a"),
]

# case -> (the new document, the terms rows of "a" expected afterwards (field, position, value),
# the shadow columns expected afterwards (the others are checked against the twin only))
REPLACEMENTS: dict[str, tuple[dict[str, Any], list[Term], dict[str, Any]]] = {
    "disabled after an HTTP 410": (
        {**_REPLACED, "enabled": False, "_updatedAt": iso(at(60))},
        _SEEDED_TERMS,
        {"enabled": 0, "updated_at": "2026-03-04 05:07:07.123000", "name_lower": "hook a: ünïcode ✓"},
    ),
    "arrays gain, lose and reorder items": (
        {
            **_REPLACED,
            "channel": ["@alice", "#general", "#random ✓"],
            "urls": [],
            "triggerWords": ["🚀"],
        },
        [
            ("channel", 0, "@alice"),
            ("channel", 1, "#general"),
            ("channel", 2, "#random ✓"),
            ("triggerWords", 0, "🚀"),
        ],
        {"urls": "[]", "trigger_words": '["🚀"]'},
    ),
    "arrays become non-lists or go away": (
        {
            **{key: value for key, value in _REPLACED.items() if key != "triggerWords"},
            "channel": "#general",
            "urls": None,
        },
        [],
        {"channel": None, "urls": None, "trigger_words": None},
    ),
    "arrays with non-strings and duplicates": (
        {
            **_REPLACED,
            "channel": ["#a", 1, None, "#a", {"x": "#b"}, ["#c"], "", True],
            "urls": [None],
            "triggerWords": ["déployer", "déployer", 2.5, "DÉPLOYER"],
        },
        [
            ("channel", 0, "#a"),
            ("channel", 3, "#a"),
            ("channel", 6, ""),
            ("triggerWords", 0, "déployer"),
            ("triggerWords", 1, "déployer"),
            ("triggerWords", 3, "DÉPLOYER"),
        ],
        {},
    ),
    "wrong JSON types shadow as NULL": (
        {
            **_REPLACED,
            "name": 42,
            "enabled": "false",
            "username": ["boss"],
            "event": None,
            "token": 1234,
            "scriptEnabled": 1,
            "retryFailedCalls": "yes",
            "retryCount": "5",
            "retryDelay": {"kind": "powers-of-ten"},
            "_createdAt": "not a date",
            "_createdBy": "boss",
            "_updatedAt": 1772600767,
            "_updatedBy": {"_id": 7, "username": "boss"},
        },
        _SEEDED_TERMS,
        {
            "name": None,
            "name_lower": None,
            "enabled": None,
            "username": None,
            "event": None,
            "token": None,
            "script_enabled": None,
            "retry_failed_calls": None,
            "retry_count": None,
            "retry_delay": None,
            "created_at": None,
            "created_by_id": None,
            "created_by_username": None,
            "updated_at": None,
            "updated_by_id": None,
            "updated_by_username": "boss",
        },
    ),
    "a boolean is not a number": (
        {**_REPLACED, "retryCount": True},
        _SEEDED_TERMS,
        {"retry_count": None, "retry_failed_calls": 1},
    ),
    "fields that were absent appear": (
        {
            **_REPLACED,
            "_updatedBy": {"_id": "u-alice", "username": "alice"},
            "targetRoom": "#elsewhere",
            "alias": "Bøt",
            "emoji": ":robot:",
            "retryCount": 2.5,
            "triggerWordAnywhere": True,
            "runOnEdits": False,
            "impersonateUser": True,
        },
        _SEEDED_TERMS,
        {
            "updated_by_id": "u-alice",
            "updated_by_username": "alice",
            "target_room": "#elsewhere",
            "alias": "Bøt",
            "retry_count": 2.5,
            "trigger_word_anywhere": 1,
            "run_on_edits": 0,
            "impersonate_user": 1,
        },
    ),
    "only the required fields are left": (
        {"_id": "a", "type": "webhook-incoming"},
        [],
        {
            "type": "webhook-incoming",
            "name": None,
            "enabled": None,
            "token": None,
            "created_at": None,
            "channel": None,
            "urls": None,
            "trigger_words": None,
        },
    ),
    "unicode names": (
        {**_REPLACED, "name": "ÉTÉ İstanbul STRASSE ẞ 🚀 Ωmega", "channel": ["#café", "@zoë"]},
        [
            ("channel", 0, "#café"),
            ("channel", 1, "@zoë"),
            ("triggerWords", 0, "deploy"),
            ("triggerWords", 1, "🚀"),
            ("urls", 0, "https://receiver.example/a"),
        ],
        # Python's full lower-casing, not SQLite's ASCII-only LOWER()
        {"name": "ÉTÉ İstanbul STRASSE ẞ 🚀 Ωmega", "name_lower": "été i̇stanbul strasse ß 🚀 ωmega"},
    ),
}

_INTEGRATION_COLUMNS = [column.name for column in integrations_table.columns]


def integration_rows(tables: Dump) -> dict[str, dict[str, Any]]:
    """The raw `integrations` rows of a dump, by id, as column -> stored value."""
    return {row[0]: dict(zip(_INTEGRATION_COLUMNS, row, strict=True)) for row in tables["integrations"]}


def terms_of(tables: Dump, owner_id: str) -> list[Term]:
    return [(row[1], row[2], row[3]) for row in tables["integration_terms"] if row[0] == owner_id]


@pytest.mark.parametrize("case", list(REPLACEMENTS))
async def test_replace_integration(tmp_path: Path, template_db: Path, case: str) -> None:
    document, expected_terms, expected_columns = REPLACEMENTS[case]
    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: integration_store.replace_integration(conn, document),
        lambda conn: sqlite_deliveries.replace_integration(conn, document),
        seed=REPLACEABLE,
    )
    assert outcome.error is None
    assert terms_of(outcome.before, "a") == _SEEDED_TERMS
    assert terms_of(outcome.after, "a") == expected_terms
    assert terms_of(outcome.after, "b") == terms_of(outcome.before, "b") != []
    before, after = integration_rows(outcome.before), integration_rows(outcome.after)
    assert after["b"] == before["b"]
    assert after.keys() == before.keys()
    row = after["a"]
    assert json.loads(row["doc"]) == document
    assert {name: row[name] for name in expected_columns} == expected_columns


async def test_replace_integration_twice_in_one_transaction(tmp_path: Path, template_db: Path) -> None:
    """The engine's job may disable an integration a second delivery already changed."""
    first = {**_REPLACED, "channel": ["#one", "#two", "#three"]}
    second = {**first, "enabled": False, "triggerWords": []}

    async def alchemy(conn: AsyncConnection) -> dict[str, Any] | None:
        await integration_store.replace_integration(conn, first)
        await integration_store.replace_integration(conn, second)
        return await integration_store.get_integration(conn, "a")

    def raw(conn: sqlite3.Connection) -> dict[str, Any] | None:
        sqlite_deliveries.replace_integration(conn, first)
        sqlite_deliveries.replace_integration(conn, second)
        return sqlite_deliveries.get_integration(conn, "a")

    outcome = await twin(tmp_path, template_db, alchemy, raw, seed=REPLACEABLE)
    assert outcome.result == second
    assert terms_of(outcome.after, "a") == [
        ("channel", 0, "#one"),
        ("channel", 1, "#two"),
        ("channel", 2, "#three"),
        ("urls", 0, "https://receiver.example/a"),
    ]


@pytest.mark.parametrize(
    ("document", "error"),
    [
        pytest.param(
            {**_REPLACED, "type": None},
            "IntegrityError: NOT NULL constraint failed: integrations.type",
            id="type not a string",
        ),
        pytest.param(
            integration("ghost", created=at(0)),
            "IntegrityError: FOREIGN KEY constraint failed",
            id="a missing integration with terms",
        ),
    ],
)
async def test_replace_integration_refuses(
    tmp_path: Path, template_db: Path, document: dict[str, Any], error: str
) -> None:
    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: integration_store.replace_integration(conn, document),
        lambda conn: sqlite_deliveries.replace_integration(conn, document),
        seed=REPLACEABLE,
    )
    assert outcome.error == error
    assert outcome.after == outcome.before


async def test_replace_a_missing_integration_without_terms(tmp_path: Path, template_db: Path) -> None:
    document = {"_id": "ghost", "type": "webhook-outgoing", "channel": "#general"}
    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: integration_store.replace_integration(conn, document),
        lambda conn: sqlite_deliveries.replace_integration(conn, document),
        seed=REPLACEABLE,
    )
    assert outcome.error is None
    assert outcome.after == outcome.before


# -- history -------------------------------------------------------------------------------------------

_SNAPSHOT = integration("int-1", created=at(-86400))


def history_records() -> list[dict[str, Any]]:
    started = new_record(_SNAPSHOT, "sendMessage", at(0), record_id="h-start")
    mapped = apply_step(
        new_record(_SNAPSHOT, "sendMessage", at(1), record_id="h-mapped"),
        "mapped-args-to-data",
        at(2),
        data={"text": "déployer 🚀", "user": {"_id": "u1", "services": {"secret": 1}}},
        triggerWord="déployer",
    )
    failed = apply_step(
        new_record(_SNAPSHOT, "sendMessage", at(3), record_id="h-failed"),
        "after-process-http-status-500",
        at(4),
    )
    # hand-made: an explicit false error, a creation date that is not one, no creator
    odd = {
        "_id": "h-odd",
        "type": "outgoing-webhook",
        "step": "pre-http-call",
        "integration": {"_id": "int-ghost", "name": "ghost"},
        "event": "sendMessage",
        "error": False,
        "finished": "no",
        "_createdAt": "not a date",
        "_updatedAt": iso(at(5)),
        "url": "https://receiver.example/ü?q=1",
    }
    return [started, mapped, failed, odd]


async def test_insert_history_many(tmp_path: Path, template_db: Path) -> None:
    records = history_records()
    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: integration_store.insert_history_many(conn, records),
        lambda conn: sqlite_deliveries.insert_history_many(conn, records),
    )
    rows = {row[0]: row for row in outcome.after["integration_history"]}
    assert sorted(rows) == ["h-failed", "h-mapped", "h-odd", "h-start"]
    # (id, integration_id, integration_created_by_id, type, step, event, url, trigger_word,
    #  finished, error, ran_prepare_script, created_at, updated_at, doc)
    assert rows["h-start"][1:3] == ("int-1", "u-boss")
    assert rows["h-odd"][1:3] == ("int-ghost", None)
    assert rows["h-failed"][9] == 1
    assert rows["h-odd"][8:10] == (None, 0)
    assert rows["h-odd"][11] is None
    assert rows["h-mapped"][7] == "déployer"


async def test_insert_history_many_of_nothing(tmp_path: Path, template_db: Path) -> None:
    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: integration_store.insert_history_many(conn, []),
        lambda conn: sqlite_deliveries.insert_history_many(conn, []),
    )
    assert outcome.after == outcome.before


async def test_replace_history_many(tmp_path: Path, template_db: Path) -> None:
    start, mapped, failed, odd = history_records()

    async def seed(conn: AsyncConnection) -> None:
        await integration_store.insert_history_many(conn, [start, mapped, failed])

    replacements = [
        apply_step(start, "after-process-http-status-410", at(10)),
        apply_step(
            mapped, "pre-http-call", at(11), url="https://receiver.example/ñ", httpCallData={"a": "ü"}
        ),
        odd,  # never inserted: replacing it changes nothing
    ]
    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: integration_store.replace_history_many(conn, replacements),
        lambda conn: sqlite_deliveries.replace_history_many(conn, replacements),
        seed=seed,
    )
    before = {row[0]: row for row in outcome.before["integration_history"]}
    after = {row[0]: row for row in outcome.after["integration_history"]}
    assert sorted(after) == ["h-failed", "h-mapped", "h-start"]
    assert after["h-failed"] == before["h-failed"]
    assert after["h-start"][4] == "after-process-http-status-410"
    assert after["h-start"][9] == 1
    assert after["h-mapped"][6] == "https://receiver.example/ñ"


async def test_replace_history_many_refuses_a_record_without_integration(
    tmp_path: Path, template_db: Path
) -> None:
    start, mapped, _failed, _odd = history_records()

    async def seed(conn: AsyncConnection) -> None:
        await integration_store.insert_history_many(conn, [start, mapped])

    orphan = {**mapped, "integration": {"name": "no id"}}
    replacements = [apply_step(start, "too-many-retries", at(10)), orphan]
    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: integration_store.replace_history_many(conn, replacements),
        lambda conn: sqlite_deliveries.replace_history_many(conn, replacements),
        seed=seed,
    )
    assert outcome.error == "IntegrityError: NOT NULL constraint failed: integration_history.integration_id"
    assert outcome.after == outcome.before


async def test_replace_history_many_of_nothing(tmp_path: Path, template_db: Path) -> None:
    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: integration_store.replace_history_many(conn, []),
        lambda conn: sqlite_deliveries.replace_history_many(conn, []),
        seed=integration_seed(),
    )
    assert outcome.after == outcome.before


# -- enqueue -------------------------------------------------------------------------------------------

QUEUED = delivery_seed(delivery("queued", "d-queued"))


@pytest.mark.parametrize(
    ("rows", "expected_ids"),
    [
        pytest.param(
            [
                delivery("k1", "d1"),
                delivery("k1", "d1-again", url="https://elsewhere.example/"),
                delivery("queued", "d2"),
                delivery(
                    "k2",
                    "d3",
                    event_id=41,
                    trigger_word="déployer",
                    depth=2,
                    tries=1,
                    next_attempt_at=at(30),
                    replay_of="d-queued",
                    last_error="timeout ✗",
                ),
            ],
            ["d1", "d3"],
            id="duplicates within the batch and of a queued row",
        ),
        pytest.param([delivery("queued", "d9")], [], id="only a duplicate"),
        pytest.param([], [], id="nothing"),
    ],
)
async def test_enqueue_rows(
    tmp_path: Path, template_db: Path, rows: list[dict[str, Any]], expected_ids: list[str]
) -> None:
    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: delivery_store.enqueue_rows(conn, rows),
        lambda conn: sqlite_deliveries.enqueue_rows(conn, rows),
        seed=QUEUED,
    )
    assert outcome.result is not None
    assert ids(outcome.result) == expected_ids
    stored = deliveries_by_id(outcome.after)
    assert sorted(stored) == sorted(["d-queued", *expected_ids])
    assert stored["d-queued"]["url"] == "https://receiver.example/queued"


async def test_enqueue_rows_refuses_a_taken_id(tmp_path: Path, template_db: Path) -> None:
    rows = [delivery("k1", "d1"), delivery("k2", "d-queued")]
    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: delivery_store.enqueue_rows(conn, rows),
        lambda conn: sqlite_deliveries.enqueue_rows(conn, rows),
        seed=QUEUED,
    )
    assert outcome.error == "IntegrityError: UNIQUE constraint failed: deliveries.id"
    assert outcome.after == outcome.before


async def test_enqueue_rows_refuses_an_incomplete_row(tmp_path: Path, template_db: Path) -> None:
    incomplete = delivery("k2", "d2")
    del incomplete["payload"]
    rows = [delivery("k1", "d1"), incomplete]
    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: delivery_store.enqueue_rows(conn, rows),
        lambda conn: sqlite_deliveries.enqueue_rows(conn, rows),
        seed=QUEUED,
    )
    assert outcome.error == "ValueError: delivery row lacks ['payload']"
    assert outcome.after == outcome.before


def _bad_rows() -> dict[str, list[dict[str, Any]]]:
    incomplete = delivery("k3", "d3")
    del incomplete["payload"]
    return {
        "incomplete": [delivery("k1", "d1"), delivery("k2", "d2"), incomplete],
        "unknown column": [delivery("k1", "d1"), delivery("k2", "d2"), delivery("k3", "d3", colour="red")],
    }


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("incomplete", "ValueError: delivery row lacks ['payload']"),
        ("unknown column", "ValueError: delivery row has unknown columns ['colour']"),
    ],
)
async def test_enqueue_rows_checks_every_row_before_writing_any(
    tmp_path: Path, template_db: Path, case: str, error: str
) -> None:
    """The batch writer rolls a failed job back to its savepoint, but a caller that catches the
    error inside its job (and commits) must not be left with the good rows half-enqueued."""
    rows = _bad_rows()[case]

    async def alchemy(conn: AsyncConnection) -> tuple[str, list[str]]:
        try:
            await delivery_store.enqueue_rows(conn, rows)
        except ValueError as exc:
            queued = await conn.execute(select(deliveries_table.c.id).order_by(deliveries_table.c.id))
            return f"ValueError: {exc}", [str(i) for i in queued.scalars()]
        return "no error", []

    def raw(conn: sqlite3.Connection) -> tuple[str, list[str]]:
        try:
            sqlite_deliveries.enqueue_rows(conn, rows)
        except ValueError as exc:
            queued = conn.execute("SELECT id FROM deliveries ORDER BY id")
            return f"ValueError: {exc}", [str(row[0]) for row in queued]
        return "no error", []

    outcome = await twin(tmp_path, template_db, alchemy, raw, seed=QUEUED)
    assert outcome.error is None  # caught inside the transaction, which then commits
    assert outcome.result == (error, ["d-queued"])
    assert outcome.after == outcome.before


# -- claiming and leases -------------------------------------------------------------------------------

QUEUE = delivery_seed(
    delivery("due-10", "d-due-10", next_attempt_at=at(-10)),
    delivery("due-20", "d-due-20", next_attempt_at=at(-20)),
    delivery("due-now", "d-due-now", next_attempt_at=NOW),
    delivery("tie-b", "d-tie-b", next_attempt_at=at(-15)),
    delivery("tie-a", "d-tie-a", next_attempt_at=at(-15)),
    delivery("future", "d-future", next_attempt_at=at(0.000001)),
    delivery("expired", "d-expired", next_attempt_at=at(-30), **leased("w2", at(-1))),
    delivery("lease-ends-now", "d-lease-ends-now", next_attempt_at=at(-25), **leased("w2", NOW)),
    delivery("live", "d-live", next_attempt_at=at(-40), **leased("w2", at(5))),
    delivery("mine-live", "d-mine-live", next_attempt_at=at(-40), **leased("w1", at(5))),
    delivery("done", "d-done", next_attempt_at=at(-50), status="done"),
    delivery("failed", "d-failed", next_attempt_at=at(-50), status="failed"),
)
_ALL_DUE = [
    "d-expired",
    "d-lease-ends-now",
    "d-due-20",
    "d-tie-a",
    "d-tie-b",
    "d-due-10",
    "d-due-now",
]


@pytest.mark.parametrize(
    ("now", "lease_seconds", "limit", "expected"),
    [
        (NOW, 30, 100, _ALL_DUE),
        (NOW, 30, 4, _ALL_DUE[:4]),
        (NOW_ELSEWHERE, 0.5, 3, _ALL_DUE[:3]),
        # a microsecond earlier: the lease ending at NOW is still live, NOW's row not due yet
        (at(-0.000001), 30, 100, ["d-expired", "d-due-20", "d-tie-a", "d-tie-b", "d-due-10"]),
        (at(-1000), 30, 100, []),
        (NOW, 30, 0, []),
        (NOW, 30, -3, []),
    ],
    ids=["all", "limit", "non-UTC clock", "a microsecond earlier", "nothing due", "limit 0", "limit < 0"],
)
async def test_claim_due(
    tmp_path: Path,
    template_db: Path,
    now: datetime,
    lease_seconds: float,
    limit: int,
    expected: list[str],
) -> None:
    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: delivery_store.claim_due(
            conn, now=now, owner="w1", lease_seconds=lease_seconds, limit=limit
        ),
        lambda conn: sqlite_deliveries.claim_due(
            conn, now=now, owner="w1", lease_seconds=lease_seconds, limit=limit
        ),
        seed=QUEUE,
    )
    assert outcome.result is not None
    assert ids(outcome.result) == expected
    for row in outcome.result:
        assert row["lease_owner"] == "w1"
        assert row["lease_until"] == now + timedelta(seconds=lease_seconds)
        assert row["updated_at"] == now
    before, after = deliveries_by_id(outcome.before), deliveries_by_id(outcome.after)
    assert {i for i in after if after[i] != before[i]} == set(expected)


@pytest.mark.parametrize("lease_seconds", [0, -1, -0.5])
async def test_claim_due_refuses_a_lease_that_is_over_at_once(
    tmp_path: Path, template_db: Path, lease_seconds: float
) -> None:
    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: delivery_store.claim_due(
            conn, now=NOW, owner="w1", lease_seconds=lease_seconds, limit=10
        ),
        lambda conn: sqlite_deliveries.claim_due(
            conn, now=NOW, owner="w1", lease_seconds=lease_seconds, limit=10
        ),
        seed=QUEUE,
    )
    assert outcome.error == "ValueError: lease_seconds must be positive"
    assert outcome.after == outcome.before


HELD = delivery_seed(
    delivery("held", "d-held", next_attempt_at=at(-60), **leased("w1", at(5))),
    delivery("held-expired", "d-held-expired", next_attempt_at=at(-60), **leased("w1", at(-5))),
    delivery("theirs", "d-theirs", next_attempt_at=at(-60), **leased("w2", at(5))),
    delivery("free", "d-free", next_attempt_at=at(-60)),
    delivery("finished", "d-finished", next_attempt_at=at(-60), status="done", **leased("w1", at(5))),
)


@pytest.mark.parametrize(
    ("delivery_id", "expected"),
    [
        ("d-held", True),
        ("d-held-expired", True),  # nobody took it over yet: still w1's
        ("d-theirs", False),
        ("d-free", False),
        ("d-finished", False),
        ("d-missing", False),
    ],
)
async def test_renew_lease(tmp_path: Path, template_db: Path, delivery_id: str, expected: bool) -> None:
    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: delivery_store.renew_lease(conn, delivery_id, "w1", now=NOW_ELSEWHERE, lease_seconds=45),
        lambda conn: sqlite_deliveries.renew_lease(
            conn, delivery_id, "w1", now=NOW_ELSEWHERE, lease_seconds=45
        ),
        seed=HELD,
    )
    assert outcome.result is expected
    assert (outcome.after != outcome.before) is expected
    if expected:
        row = deliveries_by_id(outcome.after)[delivery_id]
        assert (row["lease_owner"], row["lease_until"]) == ("w1", "2026-03-04 05:06:52.123456")


@pytest.mark.parametrize(
    ("delivery_id", "status", "history_id", "expected"),
    [
        ("d-held", "done", "h-1", True),
        ("d-held", "failed", None, True),
        ("d-held-expired", "cancelled", "h-2", True),
        ("d-theirs", "done", "h-3", False),
        ("d-free", "done", None, False),
        ("d-finished", "failed", "h-4", False),
        ("d-missing", "done", "h-5", False),
    ],
)
async def test_complete(
    tmp_path: Path,
    template_db: Path,
    delivery_id: str,
    status: str,
    history_id: str | None,
    expected: bool,
) -> None:
    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: delivery_store.complete(
            conn, delivery_id, "w1", status=status, now=NOW, history_id=history_id
        ),
        lambda conn: sqlite_deliveries.complete(
            conn, delivery_id, "w1", status=status, now=NOW, history_id=history_id
        ),
        seed=HELD,
    )
    assert outcome.result is expected
    if expected:
        row = deliveries_by_id(outcome.after)[delivery_id]
        assert (row["status"], row["lease_owner"], row["lease_until"]) == (status, None, None)
        assert row["history_id"] == history_id
    else:
        assert outcome.after == outcome.before


async def test_complete_with_history_keeps_an_earlier_history_id_when_given_none(
    tmp_path: Path, template_db: Path
) -> None:
    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: delivery_store.complete(conn, "d-held", "w1", status="done", now=NOW),
        lambda conn: sqlite_deliveries.complete(conn, "d-held", "w1", status="done", now=NOW),
        seed=delivery_seed(delivery("held", "d-held", history_id="h-old", **leased("w1", at(5)))),
    )
    assert outcome.result is True
    assert deliveries_by_id(outcome.after)["d-held"]["history_id"] == "h-old"


@pytest.mark.parametrize("status", ["pending", "DONE", ""])
async def test_complete_refuses_a_status_that_is_not_final(
    tmp_path: Path, template_db: Path, status: str
) -> None:
    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: delivery_store.complete(conn, "d-held", "w1", status=status, now=NOW),
        lambda conn: sqlite_deliveries.complete(conn, "d-held", "w1", status=status, now=NOW),
        seed=HELD,
    )
    assert outcome.error == f"ValueError: not a final delivery status: {status!r}"
    assert outcome.after == outcome.before


# -- finishing in bulk ---------------------------------------------------------------------------------

Finish = delivery_store.Finish

FINISHES = [
    Finish("d-held", "h-1", status="done"),
    Finish("d-held-expired", "h-2", tries=3, next_attempt_at=at(600), last_error="HTTP 503: réessayer ✗"),
    Finish("d-theirs", "h-3", status="done"),
    Finish("d-free", "h-4", tries=1, next_attempt_at=at(60)),
    Finish("d-finished", "h-5", status="failed"),
    Finish("d-missing", "h-6", status="cancelled"),
    Finish("d-second", "h-7", tries=2, next_attempt_at=NOW_ELSEWHERE, last_error=None),
    Finish("d-third", "h-8", status="cancelled"),
]


@pytest.mark.parametrize(
    ("finishes", "expected"),
    [
        pytest.param(FINISHES, {"d-held", "d-held-expired", "d-second", "d-third"}, id="mixed"),
        pytest.param(FINISHES[2:6], set(), id="none held"),
        pytest.param([FINISHES[1]], {"d-held-expired"}, id="one retry"),
        pytest.param([], set(), id="nothing"),
    ],
)
async def test_finish_many(
    tmp_path: Path, template_db: Path, finishes: list[delivery_store.Finish], expected: set[str]
) -> None:
    async def seed(conn: AsyncConnection) -> None:
        await HELD(conn)
        await delivery_seed(
            delivery("second", "d-second", tries=1, last_error="old", **leased("w1", at(5))),
            delivery("third", "d-third", **leased("w1", at(5))),
        )(conn)

    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: delivery_store.finish_many(conn, "w1", finishes, now=NOW),
        lambda conn: sqlite_deliveries.finish_many(conn, "w1", finishes, now=NOW),
        seed=seed,
    )
    assert outcome.result == expected
    before, after = deliveries_by_id(outcome.before), deliveries_by_id(outcome.after)
    assert {i for i in after if after[i] != before[i]} == expected
    if "d-second" in expected:
        assert after["d-second"]["last_error"] is None
        assert after["d-second"]["tries"] == 2
        assert after["d-second"]["status"] == "pending"
    if "d-held" in expected:
        assert (after["d-held"]["status"], after["d-held"]["history_id"]) == ("done", "h-1")


@pytest.mark.parametrize(
    ("finishes", "error"),
    [
        pytest.param(
            [FINISHES[0], Finish("d-held-expired", "h-2")],
            "ValueError: delivery d-held-expired: neither a final status nor a next attempt",
            id="neither status nor next attempt",
        ),
        pytest.param(
            [FINISHES[0], Finish("d-held-expired", "h-2", status="pending")],
            "ValueError: not a final delivery status: 'pending'",
            id="status not final",
        ),
    ],
)
async def test_finish_many_refuses_bad_finishes(
    tmp_path: Path, template_db: Path, finishes: list[delivery_store.Finish], error: str
) -> None:
    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: delivery_store.finish_many(conn, "w1", finishes, now=NOW),
        lambda conn: sqlite_deliveries.finish_many(conn, "w1", finishes, now=NOW),
        seed=HELD,
    )
    assert outcome.error == error
    assert outcome.after == outcome.before


# -- cancelling an integration's deliveries ------------------------------------------------------------

CANCELLABLE = delivery_seed(
    delivery("free", "d-free", next_attempt_at=at(30), tries=2, last_error="HTTP 503"),
    delivery("held", "d-held", next_attempt_at=at(-60), history_id="h-held", **leased("w1", at(5))),
    delivery("held-expired", "d-held-expired", next_attempt_at=at(-60), **leased("w2", at(-5))),
    delivery("done", "d-done", status="done", history_id="h-done"),
    delivery("failed", "d-failed", status="failed", tries=5),
    delivery("cancelled", "d-cancelled", status="cancelled", updated_at=at(-300)),
    delivery("finished-leased", "d-finished-leased", status="done", **leased("w1", at(5))),
    delivery("other", "d-other", integration_id="int-2"),
    delivery("other-held", "d-other-held", integration_id="int-2", **leased("w1", at(5))),
    delivery("other-done", "d-other-done", integration_id="int-2", status="done"),
)


@pytest.mark.parametrize(
    ("integration_id", "now", "expected"),
    [
        ("int-1", NOW, {"d-free", "d-held", "d-held-expired"}),
        ("int-1", NOW_ELSEWHERE, {"d-free", "d-held", "d-held-expired"}),
        ("int-2", NOW, {"d-other", "d-other-held"}),
        ("int-missing", NOW, set()),
    ],
)
async def test_cancel_for_integration(
    tmp_path: Path, template_db: Path, integration_id: str, now: datetime, expected: set[str]
) -> None:
    outcome = await twin(
        tmp_path,
        template_db,
        lambda conn: delivery_store.cancel_for_integration(conn, integration_id, now),
        lambda conn: sqlite_deliveries.cancel_for_integration(conn, integration_id, now),
        seed=CANCELLABLE,
    )
    assert outcome.result == len(expected)
    before, after = deliveries_by_id(outcome.before), deliveries_by_id(outcome.after)
    assert {i for i in after if after[i] != before[i]} == expected
    for delivery_id in expected:
        cancelled = {
            **before[delivery_id],
            "status": "cancelled",
            "lease_owner": None,
            "lease_until": None,
            "updated_at": "2026-03-04 05:06:07.123456",
        }
        assert after[delivery_id] == cancelled


async def test_cancel_for_integration_then_complete_is_refused(tmp_path: Path, template_db: Path) -> None:
    """The worker that held a cancelled delivery finds its lease gone."""

    async def alchemy(conn: AsyncConnection) -> tuple[int, bool]:
        cancelled = await delivery_store.cancel_for_integration(conn, "int-1", NOW)
        completed = await delivery_store.complete(conn, "d-held", "w1", status="done", now=at(1))
        return cancelled, completed

    def raw(conn: sqlite3.Connection) -> tuple[int, bool]:
        cancelled = sqlite_deliveries.cancel_for_integration(conn, "int-1", NOW)
        completed = sqlite_deliveries.complete(conn, "d-held", "w1", status="done", now=at(1))
        return cancelled, completed

    outcome = await twin(tmp_path, template_db, alchemy, raw, seed=CANCELLABLE)
    assert outcome.result == (3, False)
    assert deliveries_by_id(outcome.after)["d-held"]["status"] == "cancelled"


# -- waking up -----------------------------------------------------------------------------------------

NEXT_DUE_SEEDS: dict[str, tuple[Seed, datetime | None]] = {
    "empty": (delivery_seed(), None),
    "finished only": (
        delivery_seed(
            delivery("done", "d-done", status="done", next_attempt_at=at(-5)),
            delivery("gone", "d-gone", status="cancelled", **leased("w1", at(-9))),
        ),
        None,
    ),
    "unleased only": (
        delivery_seed(
            delivery("later", "d-later", next_attempt_at=at(90)),
            delivery("sooner", "d-sooner", next_attempt_at=at(-3.5)),
        ),
        at(-3.5),
    ),
    "leased only": (
        delivery_seed(
            delivery("a", "d-a", next_attempt_at=at(-60), **leased("w1", at(20))),
            delivery("b", "d-b", next_attempt_at=at(-60), **leased("w2", at(7.25))),
        ),
        at(7.25),
    ),
    "both, the lease ends first": (
        delivery_seed(
            delivery("a", "d-a", next_attempt_at=at(-60), **leased("w1", at(2))),
            delivery("b", "d-b", next_attempt_at=at(3)),
        ),
        at(2),
    ),
    "both, the unleased one is due first": (
        delivery_seed(
            delivery("a", "d-a", next_attempt_at=at(-60), **leased("w1", at(2))),
            delivery("b", "d-b", next_attempt_at=at(1)),
            delivery("done", "d-done", status="done", next_attempt_at=at(-100)),
        ),
        at(1),
    ),
}


@pytest.mark.parametrize("case", list(NEXT_DUE_SEEDS))
async def test_next_due_at(tmp_path: Path, template_db: Path, case: str) -> None:
    seed, expected = NEXT_DUE_SEEDS[case]
    outcome = await twin(
        tmp_path,
        template_db,
        delivery_store.next_due_at,
        sqlite_deliveries.next_due_at,
        seed=seed,
    )
    assert outcome.result == expected
    assert outcome.after == outcome.before
