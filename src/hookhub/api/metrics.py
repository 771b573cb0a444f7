"""`GET /metrics` (Prometheus text exposition) and the middleware that counts HTTP requests
(issue #10). The families and their labels are in `hookhub.metrics`.

With `HOOKHUB_METRICS_TOKEN` set, a scrape must send `Authorization: Bearer <token>`; without it
the endpoint is open (bind to a private address or put it behind the proxy's rules).
"""

from __future__ import annotations

import hmac
import time
from datetime import datetime

from fastapi import APIRouter, Request
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hookhub import metrics
from hookhub.api.deps import HubDep
from hookhub.api.envelope import json_response
from hookhub.store import deliveries as delivery_store
from hookhub.store.tables import deliveries

router = APIRouter(tags=["metrics"])

# The queue gauges count at most this many rows each, so a scrape stays cheap however large a
# backlog grows (the gauge then reads this value: "at least").
COUNT_CAP = 100_000
_NOT_LOGGED_IN = {"success": False, "error": "You must be logged in to do this."}
_D = deliveries.c


def _authorized(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # compared in constant time, also when the scheme is wrong
    matches = hmac.compare_digest(given.strip().encode(), token.encode())
    return matches and scheme.lower() == "bearer"


async def _capped_count(conn: AsyncConnection, condition: ColumnElement[bool]) -> int:
    picked = select(_D.id).where(condition).limit(COUNT_CAP).subquery()
    return int((await conn.execute(select(func.count()).select_from(picked))).scalar_one())


async def delivery_gauges(conn: AsyncConnection, now: datetime) -> metrics.DeliveryGauges:
    """The queue at `now`, from the status/next-attempt index: due (pending, its time has come,
    no live lease), scheduled (pending, its time is later) and the oldest due one's wait."""
    due = and_(
        _D.status == delivery_store.PENDING,
        _D.next_attempt_at <= now,
        or_(_D.lease_until.is_(None), _D.lease_until <= now),
    )
    scheduled = and_(_D.status == delivery_store.PENDING, _D.next_attempt_at > now)
    oldest = await delivery_store.oldest_due_at(conn, now)
    return metrics.DeliveryGauges(
        due=await _capped_count(conn, due),
        scheduled=await _capped_count(conn, scheduled),
        oldest_due_age_seconds=max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0,
    )


@router.get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request, hub: HubDep) -> Response:
    token = hub.settings.metrics_token
    if token and not _authorized(request, token):
        return json_response(_NOT_LOGGED_IN, 401, {"www-authenticate": "Bearer"})
    async with hub.tx(write=False) as ctx:
        gauges = await delivery_gauges(ctx.conn, ctx.now())
    # reading every worker's files is blocking I/O: off the event loop
    body = await run_in_threadpool(metrics.render, gauges)
    return Response(body, media_type=metrics.CONTENT_TYPE, headers={"cache-control": "no-store"})


def route_template(scope: Scope) -> str:
    """The route a request matched, as its template: `/hooks/...` by its own rules (hook calls
    skip routing, see `api.hooks.HooksGateway`), else the path of the route the router picked,
    else `unmatched` (404s, CORS pre-flight answered before routing)."""
    path: str = scope["path"]
    if path.startswith("/hooks/"):
        raw: bytes = scope.get("raw_path") or path.encode()
        return metrics.hook_route(raw.split(b"?", 1)[0].decode("latin-1"))
    route = scope.get("route")
    template = getattr(route, "path", None)
    return template if isinstance(template, str) else metrics.UNMATCHED


class MetricsMiddleware:
    """Counts every HTTP request by method, route template and status, with its duration (until
    the response is sent). Added last, so it runs first and also sees the hooks that
    `HooksGateway` answers before routing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app raises before responding

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            metrics.record_request(
                scope["method"], route_template(scope), status, time.perf_counter() - started
            )
