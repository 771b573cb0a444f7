"""`GET /api/info`: server version (full info for callers holding `get-server-info`)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from hookhub import RC_COMPAT_VERSION, __version__
from hookhub.api.deps import HubDep, OptionalCallerDep
from hookhub.api.envelope import ok

router = APIRouter(tags=["info"])


@router.get("/api/info", summary="Server version; full build info for admins")
@router.get("/api/info/", include_in_schema=False)
async def info(hub: HubDep, caller: OptionalCallerDep) -> Response:
    if caller is not None:
        async with hub.tx(write=False) as ctx:
            if await ctx.can(caller.user, "get-server-info"):
                return ok(
                    {
                        "info": {
                            "version": RC_COMPAT_VERSION,
                            "build": {"hookhub": __version__},
                            "commit": {},
                            "marketplaceApiVersion": "1.0.0",
                        }
                    }
                )
    return ok({"version": ".".join(RC_COMPAT_VERSION.split(".")[:2])})
