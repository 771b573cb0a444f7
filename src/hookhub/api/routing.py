"""The route class and body-model bases every router uses."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import Response


class RCRoute(APIRoute):
    """Rocket.Chat treats an empty request body as `{}`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            if request.method in ("POST", "PUT", "DELETE") and not (await request.body()).strip():
                request._body = b"{}"
            return await original(request)

        return handler


def make_router(tag: str) -> APIRouter:
    return APIRouter(route_class=RCRoute, tags=[tag])


class Body(BaseModel):
    """A request body: strict JSON types, unknown keys tolerated (Rocket.Chat's legacy routes)."""

    model_config = ConfigDict(strict=True, extra="allow")


class StrictBody(BaseModel):
    """A request body whose schema Rocket.Chat enforces (unknown keys → 400)."""

    model_config = ConfigDict(strict=True, extra="forbid")
