"""`/api/docs`: a human page over the OpenAPI document (issue #10).

Our own HTML, CSS and JavaScript shipped inside the package (`hookhub/api_docs/`), nothing from a
CDN: the page fetches `/api/openapi.json` and lists the operations by tag — method, path, summary,
parameters, request body schema and responses. Served with the admin UI's content security
policy: this origin's scripts, styles and API only, no inline script, no framing.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse, Response

from hookhub.api.admin_ui import SECURITY_HEADERS

router = APIRouter(include_in_schema=False)

_ASSETS = Path(str(resources.files("hookhub") / "api_docs"))
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


def _asset(name: str) -> Response:
    path = (_ASSETS / name).resolve()
    # only files directly in the asset folder, of the kinds the page uses
    if path.parent != _ASSETS.resolve() or path.suffix not in _TYPES or not path.is_file():
        raise HTTPException(status_code=404)
    return FileResponse(path, media_type=_TYPES[path.suffix], headers=SECURITY_HEADERS)


@router.get("/api/docs")
async def docs_page() -> Response:
    return _asset("index.html")


@router.get("/api/docs/")
async def docs_slash() -> RedirectResponse:
    return RedirectResponse("/api/docs", status_code=307)


@router.get("/api/docs/assets/{name}")
async def docs_asset(name: str) -> Response:
    return _asset(name)
