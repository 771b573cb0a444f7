"""`permissions.*` endpoints (core-api.md §10.1, §10.2)."""

from __future__ import annotations

from typing import Any

from fastapi import Body as BodyParam
from starlette.responses import Response

from hookhub.api.deps import CallerDep, HubDep, parse_updated_since
from hookhub.api.envelope import ok
from hookhub.api.routing import json_body, make_router
from hookhub.services import roles as role_service
from hookhub.services.errors import PermissionRequired
from hookhub.store import access

router = make_router("permissions")


@router.get("/api/v1/permissions.listAll", summary="Every permission and the roles holding it")
async def list_all(hub: HubDep, caller: CallerDep, updatedSince: str | None = None) -> Response:
    # sic: Rocket.Chat reuses the roomId error type here
    since = parse_updated_since(updatedSince, "error-roomId-param-invalid")
    async with hub.tx(write=False) as ctx:
        rows = await access.all_permissions(ctx.conn, updated_since=since)
    # permissions are never deleted, so nothing is ever reported as removed
    return ok({"update": [role_service.permission_doc(r) for r in rows], "remove": []})


@router.post(
    "/api/v1/permissions.update",
    summary="Replace the roles of some permissions",
    openapi_extra=json_body(
        {
            "type": "object",
            "required": ["permissions"],
            "properties": {
                "permissions": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["_id", "roles"],
                        "properties": {
                            "_id": {"type": "string"},
                            "roles": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                }
            },
        },
        required=True,
    ),
)
async def update(hub: HubDep, caller: CallerDep, body: Any = BodyParam(default=None)) -> Response:
    async with hub.tx() as ctx:
        if not await ctx.can(caller.user, "access-permissions"):
            raise PermissionRequired()
        rows = await role_service.update_permissions(ctx, body)
    # again after the commit: a request that reloaded the cache mid-transaction saw old roles
    hub.permissions.invalidate()
    return ok({"permissions": [role_service.permission_doc(r) for r in rows]})
