"""The ASGI application."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from hookhub import __version__, log_records
from hookhub.api import (
    admin_ui,
    api_docs,
    auth,
    channels,
    chat,
    errors,
    groups,
    health,
    im,
    info,
    integration_dry_run,
    permissions,
    roles,
    rooms,
    teams,
    users,
)
from hookhub.api.hooks import HooksGateway
from hookhub.api.hooks import router as hooks_router
from hookhub.api.integration_history import router as integration_history_router
from hookhub.api.integration_listing import router as integration_listing_router
from hookhub.api.integrations import router as integrations_router
from hookhub.api.metrics import MetricsMiddleware
from hookhub.api.metrics import router as metrics_router
from hookhub.api.request_log import RequestLogMiddleware
from hookhub.config import Settings, load_settings
from hookhub.hub import Hub
from hookhub.runtime.outgoing import OutgoingEngine

ROUTERS = (
    info.router,
    health.router,
    auth.router,
    users.router,
    channels.router,
    groups.router,
    im.router,
    chat.router,
    rooms.router,
    teams.router,
    permissions.router,
    roles.router,
    integration_listing_router,
    integration_history_router,
    integrations_router,
    integration_dry_run.router,
    hooks_router,
    metrics_router,
    admin_ui.router,
    api_docs.router,
)


def app_from_environment() -> FastAPI:
    """The app of one worker process of `hookhub serve --workers N` (uvicorn imports it by name in
    each worker): settings are read from the environment the parent prepared, which also
    migrated and bootstrapped the database before starting the workers."""
    settings = load_settings()
    log_records.configure(settings.log_level, settings.log_format)
    return create_app(settings)


def create_app(settings: Settings, hub: Hub | None = None) -> FastAPI:
    """Build the app. The database must already be migrated (`hookhub serve` does it first)."""
    the_hub = hub or Hub(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await the_hub.start()
        # Everything built so far (routes, schemas, metadata, the V8-free runtime) lives as long
        # as the process: moved out of the collector's reach, so full collections stay short
        # and do not show up as latency spikes under load.
        outgoing = OutgoingEngine(the_hub, lease_seconds=settings.delivery_lease_seconds)
        await outgoing.start()
        app.state.outgoing = outgoing  # for /readyz
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await outgoing.stop()
            await the_hub.close()

    app = FastAPI(
        title="hookhub",
        version=__version__,
        summary="Rocket.Chat-compatible integrations server",
        lifespan=lifespan,
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        # Rocket.Chat parses a body sent without Content-Type as JSON; so do we.
        strict_content_type=False,
    )
    app.state.hub = the_hub
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router)

    app.add_middleware(PreflightMiddleware)
    # added last, so it runs first: hook calls skip routing (see HooksGateway)
    app.add_middleware(HooksGateway)
    # counts every request, hook calls included, by route template (api/metrics.py)
    app.add_middleware(MetricsMiddleware)
    # outermost: every request, hook calls included, gets its id and its log line
    app.add_middleware(RequestLogMiddleware)
    return app


class PreflightMiddleware:
    """`OPTIONS` on any path answers 200 `OK` with permissive CORS headers (CORS pre-flight)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            response = PlainTextResponse(
                "OK",
                headers={
                    "access-control-allow-origin": "*",
                    "access-control-allow-methods": "GET, POST, PUT, DELETE, OPTIONS",
                    "access-control-allow-headers": (
                        "Origin, X-Requested-With, Content-Type, Accept, X-User-Id, X-Auth-Token"
                    ),
                },
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
