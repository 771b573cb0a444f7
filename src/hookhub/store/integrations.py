"""Integrations and their delivery history.

The wire document (`doc`) is stored verbatim; `_shadow_columns` derives every queryable column
from it in one place, so the document and its shadows cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import operators

from hookhub.ids import parse_iso
from hookhub.store.query import Collection, Field, Kind
from hookhub.store.tables import integration_history, integration_terms, integrations

_I = integrations.c

INTEGRATION_FIELDS: dict[str, Field] = {
    f.path: f
    for f in (
        Field("_id", _I.id, Kind.STRING),
        Field("type", _I.type, Kind.STRING),
        Field("name", _I.name, Kind.STRING),
        Field("enabled", _I.enabled, Kind.BOOL),
        Field("username", _I.username, Kind.STRING),
        Field("userId", _I.user_id, Kind.STRING),
        Field("event", _I.event, Kind.STRING),
        Field("targetRoom", _I.target_room, Kind.STRING),
        Field("alias", _I.alias, Kind.STRING),
        Field("avatar", _I.avatar, Kind.STRING),
        Field("emoji", _I.emoji, Kind.STRING),
        Field("scriptEnabled", _I.script_enabled, Kind.BOOL),
        Field("scriptEngine", _I.script_engine, Kind.STRING),
        Field("overrideDestinationChannelEnabled", _I.override_destination_channel_enabled, Kind.BOOL),
        Field("triggerWordAnywhere", _I.trigger_word_anywhere, Kind.BOOL),
        Field("runOnEdits", _I.run_on_edits, Kind.BOOL),
        Field("retryFailedCalls", _I.retry_failed_calls, Kind.BOOL),
        Field("retryCount", _I.retry_count, Kind.NUMBER),
        Field("retryDelay", _I.retry_delay, Kind.STRING),
        Field("impersonateUser", _I.impersonate_user, Kind.BOOL),
        Field("channel", _I.channel, Kind.STRINGS),
        Field("urls", _I.urls, Kind.STRINGS),
        Field("triggerWords", _I.trigger_words, Kind.STRINGS),
        Field("_createdAt", _I.created_at, Kind.DATE),
        Field("_createdBy._id", _I.created_by_id, Kind.STRING),
        Field("_createdBy.username", _I.created_by_username, Kind.STRING),
        Field("_updatedAt", _I.updated_at, Kind.DATE),
        Field("_updatedBy._id", _I.updated_by_id, Kind.STRING),
        Field("_updatedBy.username", _I.updated_by_username, Kind.STRING),
    )
}

# Every top-level key an integration document can carry (the `fields` projection allow-list).
INTEGRATION_KEYS = frozenset(
    {
        "_id", "type", "name", "enabled", "username", "userId", "alias", "avatar", "emoji", "channel",
        "token", "script", "scriptEnabled", "scriptCompiled", "scriptError", "scriptEngine",
        "overrideDestinationChannelEnabled", "_createdAt", "_createdBy", "_updatedAt", "_updatedBy",
        "event", "urls", "triggerWords", "triggerWordAnywhere", "targetRoom", "runOnEdits",
        "retryFailedCalls", "retryCount", "retryDelay", "impersonateUser", "lastExecutionLogs",
        "rateLimit", "signingSecret",
    }
)  # fmt: skip

INTEGRATIONS = Collection(
    name="integrations",
    table=integrations,
    id_column=_I.id,
    fields=INTEGRATION_FIELDS,
    projectable=INTEGRATION_KEYS,
    terms=integration_terms,
)

_H = integration_history.c

HISTORY_FIELDS: dict[str, Field] = {
    f.path: f
    for f in (
        Field("_id", _H.id, Kind.STRING),
        Field("type", _H.type, Kind.STRING),
        Field("step", _H.step, Kind.STRING),
        Field("event", _H.event, Kind.STRING),
        Field("url", _H.url, Kind.STRING),
        Field("triggerWord", _H.trigger_word, Kind.STRING),
        Field("finished", _H.finished, Kind.BOOL),
        Field("error", _H.error, Kind.BOOL),
        Field("ranPrepareScript", _H.ran_prepare_script, Kind.BOOL),
        Field("_createdAt", _H.created_at, Kind.DATE),
        Field("_updatedAt", _H.updated_at, Kind.DATE),
        Field("integration._id", _H.integration_id, Kind.STRING),
        Field("integration._createdBy._id", _H.integration_created_by_id, Kind.STRING),
    )
}

HISTORY_KEYS = frozenset(
    {
        "_id", "type", "step", "integration", "event", "_createdAt", "_updatedAt", "data",
        "ranPrepareScript", "finished", "triggerWord", "prepareSentMessage", "processSentMessage",
        "resultMessage", "url", "httpCallData", "httpError", "httpResult", "error", "errorStack",
    }
)  # fmt: skip

HISTORY = Collection(
    name="integration_history",
    table=integration_history,
    id_column=_H.id,
    fields=HISTORY_FIELDS,
    projectable=HISTORY_KEYS,
)


def _path_value(document: dict[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _shadow_value(field: Field, value: Any) -> Any:
    """The column value for one document value; a value of the wrong JSON type shadows as NULL
    (so it never matches a typed comparison, as in MongoDB's type brackets)."""
    if value is None:
        return None
    match field.kind:
        case Kind.STRING:
            return value if isinstance(value, str) else None
        case Kind.BOOL:
            return value if isinstance(value, bool) else None
        case Kind.NUMBER:
            return value if isinstance(value, int | float) and not isinstance(value, bool) else None
        case Kind.DATE:
            if isinstance(value, datetime):
                return value
            try:
                return parse_iso(value) if isinstance(value, str) else None
            except ValueError:
                return None
        case Kind.STRINGS:
            return value if isinstance(value, list) else None


def _shadow_columns(collection: Collection, document: dict[str, Any]) -> dict[str, Any]:
    values = {
        f.column.name: _shadow_value(f, _path_value(document, f.path)) for f in collection.fields.values()
    }
    values["doc"] = document
    return values


def integration_terms_of(owner_id: str, document: dict[str, Any]) -> list[dict[str, Any]]:
    """The `integration_terms` rows of an integration document (its string arrays, exploded)."""
    rows: list[dict[str, Any]] = []
    for field in INTEGRATION_FIELDS.values():
        if field.kind is not Kind.STRINGS:
            continue
        items = document.get(field.path)
        if not isinstance(items, list):
            continue
        rows.extend(
            {"owner_id": owner_id, "field": field.path, "position": i, "value": item}
            for i, item in enumerate(items)
            if isinstance(item, str)
        )
    return rows


def integration_values(document: dict[str, Any]) -> dict[str, Any]:
    """The `integrations` row of an integration document: its shadow columns and the document."""
    values = _shadow_columns(INTEGRATIONS, document)
    values["token"] = document.get("token") if isinstance(document.get("token"), str) else None
    name = values["name"]
    values["name_lower"] = name.lower() if isinstance(name, str) else None
    return values


# -- integrations --------------------------------------------------------------------------------------


async def insert_integration(conn: AsyncConnection, document: dict[str, Any]) -> None:
    await conn.execute(insert(integrations).values(**integration_values(document)))
    terms = integration_terms_of(document["_id"], document)
    if terms:
        await conn.execute(insert(integration_terms), terms)


async def insert_integrations(conn: AsyncConnection, documents: Sequence[dict[str, Any]]) -> None:
    """Insert many documents in two statements (imports, benchmarks)."""
    if not documents:
        return
    await conn.execute(insert(integrations), [integration_values(d) for d in documents])
    terms = [t for d in documents for t in integration_terms_of(d["_id"], d)]
    if terms:
        await conn.execute(insert(integration_terms), terms)


async def replace_integration(conn: AsyncConnection, document: dict[str, Any]) -> None:
    """Store `document` as the new version of the integration with the same `_id`."""
    owner_id = document["_id"]
    values = integration_values(document)
    values.pop("id")
    await conn.execute(update(integrations).where(_I.id == owner_id).values(**values))
    await conn.execute(delete(integration_terms).where(integration_terms.c.owner_id == owner_id))
    terms = integration_terms_of(owner_id, document)
    if terms:
        await conn.execute(insert(integration_terms), terms)


async def get_integration(conn: AsyncConnection, integration_id: str) -> dict[str, Any] | None:
    doc = (await conn.execute(select(_I.doc).where(_I.id == integration_id))).scalar_one_or_none()
    return dict(doc) if doc is not None else None


async def get_integrations(
    conn: AsyncConnection, integration_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Several integrations by id in one query: id -> document (missing ids are absent)."""
    if not integration_ids:
        return {}
    stmt = select(_I.id, _I.doc).where(_I.id.in_(sorted(set(integration_ids))))
    return {str(row.id): dict(row.doc) for row in await conn.execute(stmt)}


async def find_integration(
    conn: AsyncConnection, where: Sequence[ColumnElement[bool]]
) -> dict[str, Any] | None:
    stmt = select(_I.doc).where(*where).order_by(_I.created_at, _I.id).limit(1)
    doc = (await conn.execute(stmt)).scalar_one_or_none()
    return dict(doc) if doc is not None else None


async def delete_integration(conn: AsyncConnection, integration_id: str) -> None:
    await conn.execute(delete(integrations).where(_I.id == integration_id))


def has_term(path: str, values: Sequence[str]) -> ColumnElement[bool]:
    """The array at `path` contains one of `values` (an indexed EXISTS on the terms table)."""
    t = integration_terms.c
    # a semi-join SQLite drives from the (field, value, owner_id) index (see store.query)
    return _I.id.in_(select(t.owner_id).where(t.field == path, t.value.in_(list(values))))


def name_contains(text: str) -> ColumnElement[bool]:
    """Case-insensitive substring match on `name` (integrations.list `name` filter)."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return _I.name_lower.like(f"%{escaped}%", escape="\\")


def created_by(user_id: str) -> ColumnElement[bool]:
    return _I.created_by_id == user_id


def of_type(integration_type: str) -> ColumnElement[bool]:
    return _I.type == integration_type


def with_id(integration_id: str) -> ColumnElement[bool]:
    return _I.id == integration_id


def _tiebreak(order_by: Sequence[Any], id_column: Any) -> Any:
    """The id closes the order in the direction of the first key, so one index scan (key, id)
    serves the whole ORDER BY."""
    first = order_by[0] if order_by else None
    descending = getattr(first, "modifier", None) is operators.desc_op
    return id_column.desc() if descending else id_column.asc()


# Above this page size, fetch documents in the ordered query itself instead of by id.
_DEFERRED_JOIN_MAX = 500


async def _page(
    conn: AsyncConnection,
    table: Table,
    where: Sequence[ColumnElement[bool]],
    *,
    order_by: Sequence[Any],
    offset: int,
    limit: int | None,
) -> tuple[list[dict[str, Any]], int]:
    id_column, doc_column = table.c.id, table.c.doc
    ids_query = select(id_column).where(*where)
    total = int((await conn.execute(select(func.count()).select_from(ids_query.subquery()))).scalar_one())
    ordering = [*order_by, _tiebreak(order_by, id_column)]
    if limit is None or limit > _DEFERRED_JOIN_MAX:
        stmt = select(doc_column).where(*where).order_by(*ordering).offset(offset)
        if limit is not None:
            stmt = stmt.limit(limit)
        return [dict(d) for d in (await conn.execute(stmt)).scalars().all()], total
    # Deferred join: walk the (index-only) ordered ids to the page, then load just those documents,
    # so a deep offset skips index entries rather than whole rows.
    page_ids = (await conn.execute(ids_query.order_by(*ordering).offset(offset).limit(limit))).scalars().all()
    if not page_ids:
        return [], total
    rows = await conn.execute(select(id_column, doc_column).where(id_column.in_(page_ids)))
    docs = {row[0]: row[1] for row in rows}
    return [dict(docs[i]) for i in page_ids if i in docs], total


async def list_integrations(
    conn: AsyncConnection,
    *,
    where: Sequence[ColumnElement[bool]],
    order_by: Sequence[Any] = (),
    offset: int = 0,
    limit: int | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """One page of integration documents matching every condition in `where`, and the total.
    Without an explicit order: creation order."""
    return await _page(
        conn, integrations, where, order_by=order_by or (_I.created_at.asc(),), offset=offset, limit=limit
    )


async def any_enabled(conn: AsyncConnection, integration_type: str) -> bool:
    """Whether at least one enabled integration of this type exists (an indexed probe)."""
    stmt = select(_I.id).where(_I.type == integration_type, _I.enabled.is_(True)).limit(1)
    return (await conn.execute(stmt)).first() is not None


# -- history ---------------------------------------------------------------------------------------------


def history_values(document: dict[str, Any]) -> dict[str, Any]:
    """The `integration_history` row of a history record: its shadow columns and the document."""
    values = _shadow_columns(HISTORY, document)
    values["error"] = bool(document.get("error")) if "error" in document else None
    return values


async def insert_history(conn: AsyncConnection, document: dict[str, Any]) -> None:
    await conn.execute(insert(integration_history).values(**history_values(document)))


async def insert_history_many(conn: AsyncConnection, documents: Sequence[dict[str, Any]]) -> None:
    if documents:
        await conn.execute(insert(integration_history), [history_values(d) for d in documents])


async def replace_history(conn: AsyncConnection, document: dict[str, Any]) -> None:
    values = history_values(document)
    history_id = values.pop("id")
    await conn.execute(update(integration_history).where(_H.id == history_id).values(**values))


async def replace_history_many(conn: AsyncConnection, documents: Sequence[dict[str, Any]]) -> None:
    """`replace_history` for several records in one statement (executemany)."""
    if not documents:
        return
    rows = []
    for document in documents:
        values = history_values(document)
        values["_history_id"] = values.pop("id")
        rows.append(values)
    # the SET clause comes from the rows' keys; the one bound parameter names the record
    stmt = update(integration_history).where(_H.id == bindparam("_history_id"))
    await conn.execute(stmt, rows)


async def get_history(conn: AsyncConnection, integration_id: str, history_id: str) -> dict[str, Any] | None:
    stmt = select(_H.doc).where(_H.integration_id == integration_id, _H.id == history_id)
    doc = (await conn.execute(stmt)).scalar_one_or_none()
    return dict(doc) if doc is not None else None


def history_of(integration_id: str) -> ColumnElement[bool]:
    return _H.integration_id == integration_id


def history_created_by(user_id: str) -> ColumnElement[bool]:
    return _H.integration_created_by_id == user_id


async def list_history(
    conn: AsyncConnection,
    *,
    where: Sequence[ColumnElement[bool]],
    order_by: Sequence[Any] = (),
    offset: int = 0,
    limit: int | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """One page of history documents; without an explicit order, newest update first."""
    return await _page(
        conn,
        integration_history,
        where,
        order_by=order_by or (_H.updated_at.desc(),),
        offset=offset,
        limit=limit,
    )


async def clear_history(conn: AsyncConnection, integration_id: str) -> int:
    result = await conn.execute(delete(integration_history).where(_H.integration_id == integration_id))
    return int(result.rowcount or 0)
