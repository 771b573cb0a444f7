"""Request dependencies: the hub, the authenticated caller, pagination."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request

from hookhub.config import Settings
from hookhub.hub import Hub
from hookhub.ids import parse_iso
from hookhub.services import auth
from hookhub.services.errors import InvalidParams, MeteorError, NotLoggedIn
from hookhub.store.rows import Row


async def get_hub(request: Request) -> Hub:
    # async on purpose: FastAPI runs a plain `def` dependency in a worker thread
    hub: Hub = request.app.state.hub
    return hub


HubDep = Annotated[Hub, Depends(get_hub)]


@dataclass
class Caller:
    """The authenticated user and the token this request carried."""

    user: Row
    token: str

    @property
    def id(self) -> str:
        return str(self.user["id"])


async def get_caller(request: Request, hub: HubDep) -> Caller:
    user_id = request.headers.get("x-user-id", "")
    token = request.headers.get("x-auth-token", "")
    if not user_id or not token:
        raise NotLoggedIn()
    async with hub.tx(write=False) as ctx:
        user = await auth.authenticate(ctx, user_id, token)
    if user is None:
        raise NotLoggedIn()
    return Caller(user=user, token=token)


async def get_optional_caller(request: Request, hub: HubDep) -> Caller | None:
    """The caller when valid credentials were sent; None otherwise (routes without auth)."""
    if not request.headers.get("x-user-id") or not request.headers.get("x-auth-token"):
        return None
    try:
        return await get_caller(request, hub)
    except NotLoggedIn:
        return None


CallerDep = Annotated[Caller, Depends(get_caller)]
OptionalCallerDep = Annotated[Caller | None, Depends(get_optional_caller)]


@dataclass
class Page:
    """`offset`/`count`/`sort` as Rocket.Chat's getPaginationItems and parseJsonQuery read them."""

    offset: int
    count: int | None  # None: no limit (count=0 with infinite count allowed)
    sort: dict[str, int] | None
    requested_count: int

    def slice_of(self, total_items: list[Any]) -> list[Any]:
        end = None if self.count is None else self.offset + self.count
        return total_items[self.offset : end]


_INTEGER = re.compile(r"[+-]?[0-9]+")
# the largest OFFSET the databases take (a 64-bit signed integer)
MAX_OFFSET = 2**63 - 1


def _int_param(raw: str, name: str) -> int:
    text = raw.strip()
    if not _INTEGER.fullmatch(text):
        raise InvalidParams([f"/{name} must be integer"])
    value = int(text)
    if value < 0:
        raise InvalidParams([f"/{name} must be >= 0"])
    if value > MAX_OFFSET:
        # beyond ajv: a number the database cannot take would otherwise be a 500
        raise InvalidParams([f"/{name} must be <= {MAX_OFFSET}"])
    return value


def page_bounds(settings: Settings, params: Mapping[str, str]) -> tuple[int, int | None, int]:
    """`offset`, the page size (None: no limit) and the requested count, as Rocket.Chat's
    getPaginationItems computes them: default 50, at most 100, `count=0` = everything when
    infinite counts are allowed. Non-numeric or negative values are invalid params."""
    default = settings.default_count if settings.default_count > 0 else 50
    upper = settings.upper_count_limit if settings.upper_count_limit > 0 else 100
    offset = _int_param(params["offset"], "offset") if params.get("offset") else 0
    raw_count = params.get("count")
    requested = _int_param(raw_count, "count") if raw_count is not None else default
    if requested == 0:
        return offset, (None if settings.allow_infinite_count else default), 0
    return offset, min(requested, upper), requested


def parse_sort(raw: str | None) -> dict[str, int] | None:
    if raw is None or raw == "":
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict) or any(v not in (1, -1) or isinstance(v, bool) for v in value.values()):
        raise MeteorError(
            f'Invalid sort parameter provided: "{raw}"',
            "error-invalid-sort",
            {"helperMethod": "parseJsonQuery"},
        )
    return {str(k): int(v) for k, v in value.items()}


def get_page(request: Request, hub: HubDep) -> Page:
    params = request.query_params
    offset, count, requested = page_bounds(hub.settings, params)
    return Page(offset=offset, count=count, sort=parse_sort(params.get("sort")), requested_count=requested)


PageDep = Annotated[Page, Depends(get_page)]


def parse_updated_since(
    raw: str | None, error_type: str = "error-updatedSince-param-invalid"
) -> datetime | None:
    """The `updatedSince` query parameter of the sync routes: None when absent, else a date.
    The error type varies per route in Rocket.Chat (permissions.listAll reuses a roomId one)."""
    if not raw:
        return None
    try:
        return parse_iso(raw)
    except ValueError:
        raise MeteorError('The "updatedSince" query parameter must be a valid date.', error_type) from None
