"""`login`, `logout`, `me` (core-api.md §3)."""

from __future__ import annotations

from typing import Any

from fastapi import Body as BodyParam
from starlette.responses import Response

from hookhub.api.deps import CallerDep, HubDep
from hookhub.api.envelope import json_response, ok
from hookhub.api.routing import json_body, make_router
from hookhub.services import auth
from hookhub.services.documents import me_doc
from hookhub.services.errors import LoginFailed

router = make_router("auth")


_LOGIN_BODY = {
    "type": "object",
    "description": "`user` (or `username`, `email`) and `password`; or a `resume` token",
    "properties": {
        "user": {"type": "string"},
        "username": {"type": "string"},
        "email": {"type": "string"},
        "password": {"type": "string"},
        "resume": {"type": "string"},
    },
}


@router.post(
    "/api/v1/login",
    summary="Log in with a password or a resume token",
    openapi_extra=json_body(_LOGIN_BODY, required=True),
)
async def login(hub: HubDep, body: dict[str, Any] = BodyParam(default_factory=dict)) -> Response:
    if not isinstance(body, dict):
        raise LoginFailed("Unauthorized", "Unauthorized")
    async with hub.tx() as ctx:
        user, token = await auth.login(ctx, hub.hashing, body)
    return json_response(
        {
            "status": "success",
            "data": {"userId": user["id"], "authToken": token, "me": me_doc(user, hub.settings.site_url)},
            "success": True,
        }
    )


async def _logout(hub: HubDep, caller: CallerDep) -> Response:
    async with hub.tx() as ctx:
        await auth.logout(ctx, caller.token)
    return json_response(
        {"status": "success", "data": {"message": "You've been logged out!"}, "success": True}
    )


router.add_api_route("/api/v1/logout", _logout, methods=["POST"], summary="Invalidate the token used")
router.add_api_route("/api/v1/logout", _logout, methods=["GET"], include_in_schema=False)


@router.get("/api/v1/me", summary="The logged-in user")
async def me(hub: HubDep, caller: CallerDep) -> Response:
    return ok(me_doc(caller.user, hub.settings.site_url))
