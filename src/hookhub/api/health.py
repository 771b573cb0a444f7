"""`GET /healthz` (the process answers) and `GET /readyz` (it can do its work), for load
balancers, orchestrators and monitoring (issue #10). Neither needs a login; neither says more
than which check failed and why."""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import Any

from alembic.script import ScriptDirectory
from fastapi import APIRouter, Request
from sqlalchemy import text
from starlette.responses import Response

from hookhub.api.envelope import json_response
from hookhub.hub import Hub
from hookhub.store.migrate import alembic_config

router = APIRouter(tags=["health"])

# A check that takes longer than this is failing (a database that hangs is not ready).
CHECK_SECONDS = 3.0


@lru_cache(maxsize=1)
def _head_revision() -> str | None:
    """The newest migration this code knows (read from the migration scripts once)."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def _database_and_migrations(hub: Hub) -> tuple[str, str]:
    """(database check, migrations check): "ok" or what is wrong."""
    try:
        async with asyncio.timeout(CHECK_SECONDS), hub.tx(write=False) as ctx:
            rows = (await ctx.conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    except TimeoutError:
        return f"no answer within {CHECK_SECONDS:g} s", "unknown: the database did not answer"
    except Exception as exc:  # any driver error means "not reachable"; its class says which
        return f"unreachable: {type(exc).__name__}", "unknown: the database did not answer"
    current = sorted(str(row[0]) for row in rows)
    head = _head_revision()
    if current != [head]:
        return "ok", f"at {', '.join(current) or 'no revision'}, expected {head} (run `hookhub migrate`)"
    return "ok", "ok"


def _delivery_worker(request: Request) -> str:
    engine = getattr(request.app.state, "outgoing", None)
    if engine is None:
        return "not running"
    down = engine.loops_down()
    return "ok" if not down else f"not running: {', '.join(down)}"


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get("/readyz", summary="Readiness: database reachable, migrations current, delivery worker running")
async def readyz(request: Request) -> Response:
    """200 `{"status": "ready", "checks": {...}}` when every check is "ok"; else 503 with
    `"status": "not ready"`, the failing checks named in `failing` and each check's finding."""
    hub: Hub = request.app.state.hub
    database, migrations = await _database_and_migrations(hub)
    checks: dict[str, Any] = {
        "database": database,
        "migrations": migrations,
        "deliveryWorker": _delivery_worker(request),
    }
    failing = [name for name, finding in checks.items() if finding != "ok"]
    if failing:
        return json_response({"status": "not ready", "failing": failing, "checks": checks}, status=503)
    return json_response({"status": "ready", "checks": checks})
