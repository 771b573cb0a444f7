"""`/admin`: the integrations administration pages (issue #7).

Hand-written HTML, CSS and JavaScript shipped inside the package (`hookhub/admin_ui/`), no build
step and nothing from a CDN. The pages hold no data: the browser logs in through the REST API
and every page fetches what it shows from the public API with the `X-User-Id`/`X-Auth-Token`
headers (kept in `sessionStorage`), so anything the UI does a script can do too, and no cookie
exists for a cross-site request to ride on (CSRF-safe by construction).

The content security policy allows this origin's scripts, styles and API only: no inline script,
no framing.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse, Response

router = APIRouter(include_in_schema=False)

_ASSETS = Path(str(resources.files("hookhub") / "admin_ui"))
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


def _asset(name: str) -> Response:
    path = (_ASSETS / name).resolve()
    suffix = path.suffix
    # only files directly in the asset folder, of the kinds the pages use
    if path.parent != _ASSETS.resolve() or suffix not in _TYPES or not path.is_file():
        raise HTTPException(status_code=404)
    return FileResponse(path, media_type=_TYPES[suffix], headers=SECURITY_HEADERS)


@router.get("/admin")
async def admin_root() -> RedirectResponse:
    return RedirectResponse("/admin/", status_code=307)


@router.get("/admin/")
async def admin_page() -> Response:
    """The single page; its script shows the login form until the browser holds a session."""
    return _asset("index.html")


@router.get("/admin/assets/{name}")
async def admin_asset(name: str) -> Response:
    return _asset(name)
