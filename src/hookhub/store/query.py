"""Safe MongoDB-style `query`, `sort` and `fields` over an allow-listed collection, compiled to SQL.

A collection (`Collection`) names the document paths a client may filter, sort and project on and
the SQL column that shadows each one. `compile_filter` turns a parsed JSON filter into one SQL
boolean expression; nothing is evaluated in Python over the table. Callers AND the result with
their own permission filter, so a query can only narrow what the caller may already see.

Errors are `QueryError` (bad filter), `SortError` and `FieldsError`; the services layer renders them
as Rocket.Chat's `error-invalid-query` / `error-invalid-sort` / `error-invalid-fields`.
"""

from __future__ import annotations

import enum
import functools
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import re2
from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Float,
    Integer,
    String,
    Table,
    Text,
    UnaryExpression,
    and_,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from hookhub.ids import parse_iso


class QueryError(ValueError):
    """The `query` parameter uses an operator, field or value that is not allowed."""


class SortError(ValueError):
    """The `sort` parameter names a field that cannot be sorted on."""


class FieldsError(ValueError):
    """The `fields` parameter is not a valid projection over the collection's fields."""


class Kind(enum.Enum):
    STRING = "string"
    NUMBER = "number"
    BOOL = "bool"
    DATE = "date"
    STRINGS = "strings"  # array of strings: shadow column holds the JSON list, terms hold items


@dataclass(frozen=True)
class Field:
    """One allow-listed document path (e.g. `_createdBy.username`) and its SQL shadow."""

    path: str
    column: Column[Any]
    kind: Kind


@dataclass(frozen=True)
class Collection:
    """What `query`/`sort`/`fields` may touch for one resource.

    `terms` is the side table exploding `Kind.STRINGS` fields into rows
    (`owner_id`, `field`, `position`, `value`); `field` holds the document path."""

    name: str
    table: Table
    id_column: Column[Any]
    fields: Mapping[str, Field]
    projectable: frozenset[str]
    terms: Table | None = None


# -- limits ------------------------------------------------------------------------------------------

MAX_DEPTH = 20  # nested $and/$or/$nor/$not/$elemMatch levels
MAX_NODES = 1000  # field conditions, operators and list items in one query
MAX_LIST = 1000  # items in one $in / $nin / $all / $and / $or / $nor list
MAX_PATTERN = 512  # characters in one $regex

REGEXP_FUNCTION = "hookhub_regexp"

_LOGICAL = frozenset({"$and", "$or", "$nor"})
_FIELD_OPERATORS = frozenset(
    {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$regex", "$options", "$not",
     "$all", "$size", "$elemMatch"}
)  # fmt: skip
_COMPARE = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}
_INT64 = 2**63


# -- dialect-specific SQL constructs ---------------------------------------------------------------------


class _RegexMatch(FunctionElement[bool]):
    """`value` matches a RE2 pattern: arguments (value, pattern, flags, postgresql_pattern).

    The expression is dialect-neutral; SQLite calls the `hookhub_regexp` function registered by
    `store.database` (RE2, linear time), PostgreSQL uses `~` with the pattern translated to an ARE."""

    type = Boolean()
    inherit_cache = True
    name = "hookhub_regexp"


@compiles(_RegexMatch)
def _regex_default(element: _RegexMatch, compiler: SQLCompiler, **kw: Any) -> str:
    value, pattern, flags, _pg = list(element.clauses)
    args = ", ".join(compiler.process(a, **kw) for a in (pattern, flags, value))
    return f"{REGEXP_FUNCTION}({args})"


@compiles(_RegexMatch, "postgresql")
def _regex_postgresql(element: _RegexMatch, compiler: SQLCompiler, **kw: Any) -> str:
    value, _pattern, _flags, pg = list(element.clauses)
    return f"({compiler.process(value, **kw)} ~ {compiler.process(pg, **kw)})"


class _Binary(FunctionElement[str]):
    """A text value compared by code point (MongoDB's and SQLite's order), not by locale."""

    type = String()
    inherit_cache = True
    name = "hookhub_binary"


@compiles(_Binary)
def _binary_default(element: _Binary, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = list(element.clauses)
    return compiler.process(value, **kw)


@compiles(_Binary, "postgresql")
def _binary_postgresql(element: _Binary, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = list(element.clauses)
    return f'({compiler.process(value, **kw)} COLLATE "C")'


# -- regular expressions ---------------------------------------------------------------------------------


def _re2_options() -> Any:
    options = re2.Options()
    options.log_errors = False
    return options


@functools.lru_cache(maxsize=512)
def _re2(pattern: str, flags: str) -> Any:
    return re2.compile(f"(?{flags}){pattern}" if flags else pattern, _re2_options())


def sqlite_regexp(pattern: str | None, flags: str | None, value: Any) -> int:
    """The `hookhub_regexp(pattern, flags, value)` SQL function for SQLite: 1 when `value` (a string)
    contains a match. RE2 runs in linear time, so no pattern can stall the database."""
    if not isinstance(value, str) or pattern is None:
        return 0
    try:
        return 1 if _re2(pattern, flags or "").search(value) is not None else 0
    except Exception:  # a pattern RE2 rejects matches nothing; compile_filter never emits one
        return 0


_LEADING_FLAGS = re.compile(r"\(\?([ims]+)\)")
_CLASS_ESCAPES = {"d": "0-9", "w": "0-9A-Za-z_", "s": "\t\n\f\r "}
_ESCAPES = {
    "d": "[0-9]",
    "D": "[^0-9]",
    "w": "[0-9A-Za-z_]",
    "W": "[^0-9A-Za-z_]",
    "s": "[\t\n\f\r ]",
    "S": "[^\t\n\f\r ]",
    "b": r"\y",
    "B": r"\Y",
    "A": r"\A",
    "z": r"\Z",
}
_CHAR_ESCAPES = frozenset("ntrfv")
# PostgreSQL refuses what RE2 accepts here (an error, a 500, if it reached the database): counts in
# `{m,n}` above 255, a quantifier on an anchor (`$*`, `\b+`), a negated POSIX class (`[[:^alpha:]]`)
# and a `-` after a class (`[\d-z]`, which RE2 reads as a literal `-`).
_BOUND = re.compile(r"\{([0-9]+)(?:,([0-9]*))?\}")
_MAX_REPEAT = 255
_ANCHOR_ESCAPES = frozenset("bBAz")


@dataclass(frozen=True)
class _Regex:
    pattern: str  # RE2 syntax, leading inline flags removed
    flags: str  # sorted subset of "ims"
    postgresql: str  # the same expression as a PostgreSQL ARE with embedded options


def _no_range_after_class(pattern: str, i: int) -> None:
    """A `-` after a class inside brackets is a literal to RE2 and a bad range to PostgreSQL."""
    if pattern.startswith("-", i) and not pattern.startswith("-]", i):
        raise QueryError("$regex may not follow a class such as \\d with - inside brackets")


def _to_postgresql(pattern: str, flags: str) -> str:
    """Translate a RE2 pattern to an equivalent PostgreSQL ARE, or raise QueryError.

    PCRE/RE2 newline rules (`.` excludes newline unless `s`; `^`/`$` anchor lines only with `m`;
    `[^x]` always matches newline) are reproduced with `.` → `[^\\n]` and ARE mode `s` (default) or
    `w` (`m`); Perl classes become explicit ASCII classes as in RE2. Constructs without an exact
    ARE equivalent are refused rather than run with different meaning."""
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    class_start = 0
    ranged = 0  # in a class: 1 after `x-`, 2 right after a range `x-y`
    after_anchor = False
    while i < n:
        c = pattern[i]
        bound = _BOUND.match(pattern, i) if c == "{" and not in_class else None
        if after_anchor and (c in "*+?" or bound):
            raise QueryError("$regex may not repeat an anchor such as ^, $ or \\b")
        after_anchor = not in_class and c in "^$"
        if bound:
            if any(int(count) > _MAX_REPEAT for count in bound.groups() if count):
                raise QueryError(f"$regex repetition counts above {_MAX_REPEAT} are not supported")
            out.append(bound.group(0))
            i = bound.end()
            continue
        if c == "\\":
            if i + 1 >= n:
                raise QueryError("$regex ends with a lone backslash")
            e = pattern[i + 1]
            i += 2
            if not e.isalnum() or e in _CHAR_ESCAPES:
                out.append("\\" + e)
                ranged = 2 if ranged == 1 else 0
            elif in_class and e in _CLASS_ESCAPES:
                out.append(_CLASS_ESCAPES[e])
                _no_range_after_class(pattern, i)
                ranged = 0
            elif not in_class and e in _ESCAPES:
                out.append(_ESCAPES[e])
                after_anchor = e in _ANCHOR_ESCAPES
            else:
                raise QueryError(f"$regex escape \\{e} is not supported")
            continue
        if in_class:
            if c == "[" and pattern.startswith("[:", i):
                end = pattern.find(":]", i + 2)
                if end < 0:
                    raise QueryError("$regex has an unterminated character class")
                if pattern.startswith("[:^", i):
                    raise QueryError("$regex negated POSIX classes such as [:^alpha:] are not supported")
                out.append(pattern[i : end + 2])
                i = end + 2
                _no_range_after_class(pattern, i)
                ranged = 0
                continue
            if c == "]" and i > class_start:
                in_class = False
            elif c == "-" and i > class_start and ranged != 1 and not pattern.startswith("-]", i):
                if ranged == 2:  # RE2 reads [a-z-9] as a-z, "-", 9; PostgreSQL refuses it
                    raise QueryError("$regex ranges may not be chained, as in [a-z-9]")
                ranged = 1
            else:
                ranged = 2 if ranged == 1 else 0
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append("[")
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            class_start = i  # a `]` right here is a literal
            ranged = 0
            continue
        if c == "(" and pattern.startswith("(?", i):
            if not pattern.startswith("(?:", i):
                raise QueryError("$regex inline flags and named groups are only supported as a leading (?i)")
            out.append("(?:")
            i += 3
            continue
        if c == "." and "s" not in flags:
            out.append("[^\n]")
        else:
            out.append(c)
        i += 1
    mode = "w" if "m" in flags else "s"
    if "i" in flags:
        mode += "i"
    return f"(?{mode}){''.join(out)}"


def _compile_regex(pattern: Any, options: Any) -> _Regex:
    if not isinstance(pattern, str):
        raise QueryError("$regex needs a string pattern")
    if options is None:
        options = ""
    if not isinstance(options, str) or set(options) - set("ims"):
        raise QueryError("$options may only combine the flags i, m and s")
    if len(pattern) > MAX_PATTERN:
        raise QueryError(f"$regex is longer than {MAX_PATTERN} characters")
    flags = set(options)
    leading = _LEADING_FLAGS.match(pattern)
    if leading:
        flags |= set(leading.group(1))
        pattern = pattern[leading.end() :]
    flag_text = "".join(sorted(flags))
    try:
        _re2(pattern, flag_text)
    except Exception as exc:
        raise QueryError(f"$regex is not a supported (RE2) regular expression: {exc}") from None
    return _Regex(pattern, flag_text, _to_postgresql(pattern, flag_text))


def _matches(value: ColumnElement[Any], regex: _Regex) -> ColumnElement[bool]:
    return _RegexMatch(value, regex.pattern, regex.flags, regex.postgresql)


# -- values ----------------------------------------------------------------------------------------------


class _NoMatch:
    """A query value of the wrong JSON type for the field: it matches no document."""


_NO_MATCH = _NoMatch()


def _date(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            return parse_iso(value)
        except (ValueError, OverflowError):  # OverflowError: in range only before the shift to UTC
            raise QueryError(f"not an ISO-8601 date: {value!r}") from None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**53:
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            raise QueryError(f"date out of range: {value}") from None
    raise QueryError("$date needs an ISO-8601 string or milliseconds since the epoch")


def _literal(kind: Kind, value: Any) -> Any:
    """The SQL-side value for a scalar query literal, or `_NO_MATCH` (type bracket). `$date` objects
    and (for date fields) ISO strings become datetimes; other `$` objects are refused."""
    if isinstance(value, Mapping):
        if any(isinstance(k, str) and k.startswith("$") for k in value):
            if set(value) != {"$date"}:
                raise QueryError(f"unsupported value {orjson.dumps(value).decode()}")
            when = _date(value["$date"])
            return when if kind is Kind.DATE else _NO_MATCH
        return _NO_MATCH  # an embedded document equals no scalar
    match kind:
        case Kind.STRING | Kind.STRINGS:
            return value if isinstance(value, str) else _NO_MATCH
        case Kind.BOOL:
            # A bound parameter, not `IS true`: stays an index-friendly `=` and allows `<`/`>`.
            return literal(value, Boolean()) if isinstance(value, bool) else _NO_MATCH
        case Kind.NUMBER:
            if isinstance(value, bool) or not isinstance(value, int | float):
                return _NO_MATCH
            if isinstance(value, int) and -_INT64 < value < _INT64:
                return literal(value, Integer())
            return literal(float(value), Float())
        case Kind.DATE:
            return _date(value) if isinstance(value, str) else _NO_MATCH


@dataclass(frozen=True)
class _Target:
    """What an operator applies to: a document field, or (inside `$elemMatch`) one array item."""

    path: str
    column: ColumnElement[Any]
    kind: Kind
    terms: Table | None = None
    owner: ColumnElement[Any] | None = None

    def text(self) -> ColumnElement[Any]:
        return _Binary(self.column) if self.kind is Kind.STRING else self.column

    def any_item(self, condition: ColumnElement[bool]) -> ColumnElement[bool]:
        """Some item of this array field satisfies `condition` (over the terms `value` column)."""
        assert self.terms is not None and self.owner is not None
        t = self.terms.c
        # `id IN (SELECT owner_id ...)` rather than a correlated EXISTS: SQLite then drives a
        # selective filter from the (field, value, owner_id) index instead of scanning every row
        return self.owner.in_(select(t.owner_id).where(t.field == self.path, condition))

    def item(self) -> _Target:
        assert self.terms is not None
        return _Target(self.path, self.terms.c.value, Kind.STRING)


def _present(target: _Target, condition: ColumnElement[bool]) -> ColumnElement[bool]:
    # `col IS NOT NULL AND ...` keeps every leaf TRUE/FALSE, never NULL, so NOT and $nor are exact.
    return and_(target.column.is_not(None), condition)


# -- the compiler ----------------------------------------------------------------------------------------


class _Compiler:
    def __init__(self, collection: Collection) -> None:
        self.collection = collection
        self.nodes = 0

    def count(self, n: int = 1) -> None:
        self.nodes += n
        if self.nodes > MAX_NODES:
            raise QueryError(f"query has more than {MAX_NODES} conditions")

    def document(self, query: Any, depth: int) -> ColumnElement[bool]:
        if depth > MAX_DEPTH:
            raise QueryError(f"query nests deeper than {MAX_DEPTH} levels")
        if not isinstance(query, Mapping):
            raise QueryError("a filter must be a JSON object")
        parts: list[ColumnElement[bool]] = []
        for key, value in query.items():
            self.count()
            if key in _LOGICAL:
                parts.append(self.logical(key, value, depth))
            elif key.startswith("$"):
                raise QueryError(f"operator {key} is not allowed")
            else:
                parts.append(self.field(key, value, depth))
        return _all(parts)

    def logical(self, key: str, value: Any, depth: int) -> ColumnElement[bool]:
        if not isinstance(value, list) or not value:
            raise QueryError(f"{key} needs a non-empty array of filter objects")
        if len(value) > MAX_LIST:
            raise QueryError(f"{key} has more than {MAX_LIST} items")
        branches = [self.document(item, depth + 1) for item in value]
        if key == "$and":
            return _all(branches)
        either = branches[0] if len(branches) == 1 else or_(*branches)
        return either if key == "$or" else not_(either)

    def field(self, path: str, condition: Any, depth: int) -> ColumnElement[bool]:
        spec = self.collection.fields.get(path)
        if spec is None:
            raise QueryError(f"unknown field {path}")
        terms = self.collection.terms if spec.kind is Kind.STRINGS else None
        if spec.kind is Kind.STRINGS and terms is None:
            raise QueryError(f"field {path} cannot be queried")
        target = _Target(path, spec.column, spec.kind, terms, self.collection.id_column)
        if _is_operator_object(condition):
            return self.operators(target, condition, depth)
        return self.eq(target, condition)

    def operators(self, target: _Target, spec: Mapping[str, Any], depth: int) -> ColumnElement[bool]:
        if depth > MAX_DEPTH:
            raise QueryError(f"query nests deeper than {MAX_DEPTH} levels")
        unknown = [k for k in spec if k not in _FIELD_OPERATORS]
        if unknown:
            raise QueryError(f"operator {unknown[0]} is not allowed")
        if "$options" in spec and "$regex" not in spec:
            raise QueryError("$options needs a $regex")
        parts: list[ColumnElement[bool]] = []
        for op, value in spec.items():
            self.count()
            if op == "$options":
                continue
            parts.append(self.operator(target, op, value, spec, depth))
        return _all(parts)

    def operator(
        self, target: _Target, op: str, value: Any, spec: Mapping[str, Any], depth: int
    ) -> ColumnElement[bool]:
        match op:
            case "$eq":
                return self.eq(target, value)
            case "$ne":
                return not_(self.eq(target, value))
            case "$gt" | "$gte" | "$lt" | "$lte":
                return self.compare(target, op, value)
            case "$in":
                return self.in_(target, op, value)
            case "$nin":
                return not_(self.in_(target, op, value))
            case "$exists":
                if not isinstance(value, bool | int | float):
                    raise QueryError("$exists needs true or false")
                return target.column.is_not(None) if value else target.column.is_(None)
            case "$regex":
                return self.regex(target, _compile_regex(value, spec.get("$options")))
            case "$not":
                if not _is_operator_object(value):
                    raise QueryError('$not needs an operator object such as {"$regex": ...}')
                return not_(self.operators(target, value, depth + 1))
            case "$all":
                items = self.items(op, value)
                if not items:
                    return false()
                return _all([self.eq(target, item) for item in items])
            case "$size":
                if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
                    raise QueryError("$size needs a whole number")
                if value < 0:
                    raise QueryError("$size may not be negative")
                if target.kind is not Kind.STRINGS:
                    return false()
                assert target.terms is not None and target.owner is not None
                t = target.terms.c
                size = (
                    select(func.count())
                    .select_from(target.terms)
                    .where(t.owner_id == target.owner, t.field == target.path)
                    .scalar_subquery()
                )
                return _present(target, size == int(value))
            case "$elemMatch":
                if not isinstance(value, Mapping):
                    raise QueryError("$elemMatch needs an object")
                if target.kind is not Kind.STRINGS:
                    self.elem_match(_Target(target.path, literal(""), Kind.STRING), value, depth)
                    return false()
                return target.any_item(self.elem_match(target.item(), value, depth))
        raise QueryError(f"operator {op} is not allowed")  # pragma: no cover - filtered above

    def elem_match(self, item: _Target, spec: Mapping[str, Any], depth: int) -> ColumnElement[bool]:
        if _is_operator_object(spec):
            return self.operators(item, spec, depth + 1)
        # Field conditions address sub-documents; array items here are strings, so none matches.
        for key in spec:
            if key.startswith("$"):
                raise QueryError(f"operator {key} is not allowed in $elemMatch on string items")
        return false()

    def items(self, op: str, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise QueryError(f"{op} needs an array")
        if len(value) > MAX_LIST:
            raise QueryError(f"{op} has more than {MAX_LIST} items")
        self.count(len(value))
        return value

    def eq(self, target: _Target, value: Any) -> ColumnElement[bool]:
        if value is None:
            return target.column.is_(None)
        if isinstance(value, list):
            if target.kind is not Kind.STRINGS:
                return false()
            try:
                text = orjson.dumps(value).decode()
            except orjson.JSONEncodeError:
                return false()
            # The shadow holds orjson.dumps(list) (JSONText), so equal arrays have equal text.
            return _present(target, target.column == literal(text, Text()))
        typed = _literal(target.kind, value)
        if typed is _NO_MATCH:
            return false()
        if target.kind is Kind.STRINGS:
            return target.any_item(target.item().column == typed)
        return _present(target, target.column == typed)

    def compare(self, target: _Target, op: str, value: Any) -> ColumnElement[bool]:
        if value is None:
            # Only null equals null: $gte/$lte null select missing fields, $gt/$lt null nothing.
            return target.column.is_(None) if op in ("$gte", "$lte") else false()
        if isinstance(value, list):
            raise QueryError(f"{op} does not compare with arrays")
        typed = _literal(target.kind, value)
        if typed is _NO_MATCH:
            return false()
        compare = _COMPARE[op]
        if target.kind is Kind.STRINGS:
            return target.any_item(compare(_Binary(target.item().column), typed))
        return _present(target, compare(target.text(), typed))

    def in_(self, target: _Target, op: str, value: Any) -> ColumnElement[bool]:
        parts: list[ColumnElement[bool]] = []
        scalars: list[Any] = []
        for item in self.items(op, value):
            if item is None or isinstance(item, list):
                parts.append(self.eq(target, item))
                continue
            typed = _literal(target.kind, item)
            if typed is not _NO_MATCH:
                scalars.append(typed)
        if scalars:
            if target.kind is Kind.STRINGS:
                parts.append(target.any_item(target.item().column.in_(scalars)))
            else:
                parts.append(_present(target, target.column.in_(scalars)))
        if not parts:
            return false()
        return parts[0] if len(parts) == 1 else or_(*parts)

    def regex(self, target: _Target, regex: _Regex) -> ColumnElement[bool]:
        if target.kind is Kind.STRINGS:
            return target.any_item(_matches(target.item().column, regex))
        if target.kind is not Kind.STRING:
            return false()  # a regular expression only ever matches strings
        return _present(target, _matches(target.column, regex))


def _is_operator_object(value: Any) -> bool:
    """`{"$gt": 1}` is an operator object, `{"a": 1}` a literal; mixing both is an error."""
    if not isinstance(value, Mapping) or not value:
        return False
    dollar = [isinstance(k, str) and k.startswith("$") for k in value]
    if all(dollar):
        return set(value) != {"$date"}
    if any(dollar):
        raise QueryError("an object may not mix operators and field names")
    return False


def _all(parts: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    if not parts:
        return true()
    return parts[0] if len(parts) == 1 else and_(*parts)


def compile_filter(collection: Collection, query: Mapping[str, Any]) -> ColumnElement[bool]:
    """Compile a MongoDB filter document into one SQL boolean expression (never NULL-valued).

    Operators: `$eq $ne $gt $gte $lt $lte $in $nin $exists $regex $options $and $or $nor $not $all
    $size $elemMatch`; anything else, an unknown field, a malformed operand or a query beyond the
    size limits raises QueryError. MongoDB semantics, with these rules:

    - Type brackets: a literal of the wrong JSON type for the field matches nothing (so `$ne`,
      `$nin` and `$not` of it match everything); booleans are not numbers. A stored value of the
      wrong type is shadowed as NULL and therefore behaves as a missing field.
    - Missing fields: `null` (and `$gte`/`$lte` null) match them, other comparisons never do;
      negations (`$ne`, `$nin`, `$not`, `$nor`) do.
    - Dates: `{"$date": "<ISO-8601>" | <ms>}` or a plain ISO-8601 string; anything unparsable fails.
    - Arrays of strings: a scalar condition matches when any item does; an array literal means
      whole-array equality; `$all`, `$size`, `$elemMatch` (an operator object on one item).
    - `$regex` is RE2 syntax (linear-time matching) with `$options` from `ims`; a leading `(?i)`-style
      flag group is accepted, other inline groups, backreferences and lookarounds are refused.
      `$` anchors at the very end (PCRE also accepts a final newline before it).
    """
    if not query:
        return true()
    return _Compiler(collection).document(query, 0)


def compile_sort(collection: Collection, sort: Mapping[str, int]) -> list[UnaryExpression[Any]]:
    """`{"name": 1, "_createdAt": -1}` → ORDER BY terms; unknown paths raise SortError."""
    out: list[UnaryExpression[Any]] = []
    for path, direction in sort.items():
        field = collection.fields.get(path)
        if field is None:
            raise SortError(path)
        out.append(field.column.asc() if direction == 1 else field.column.desc())
    return out


def apply_projection(document: dict[str, Any], projection: Mapping[str, int] | None) -> dict[str, Any]:
    """Apply a validated `fields` projection to one wire document (`_id` is always kept)."""
    if not projection:
        return document
    include = {k for k, v in projection.items() if v == 1}
    if include:
        return {k: v for k, v in document.items() if k in include or k == "_id"}
    return {k: v for k, v in document.items() if projection.get(k, 1) != 0 or k == "_id"}


def check_projection(collection: Collection, projection: Mapping[str, Any]) -> dict[str, int]:
    """Validate a parsed `fields` object: values 0/1, known top-level paths, not mixed."""
    out: dict[str, int] = {}
    for path, value in projection.items():
        if isinstance(value, bool) or value not in (0, 1) or path not in collection.projectable:
            raise FieldsError(path)
        out[path] = int(value)
    # As in MongoDB, a projection either includes or excludes; only `_id: 0` may join inclusions
    # (and `_id` is kept anyway).
    if len({v for k, v in out.items() if k != "_id"}) > 1:
        raise FieldsError("cannot mix inclusion and exclusion")
    return out
