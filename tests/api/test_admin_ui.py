"""/admin serves the administration pages: one HTML shell and its assets from the package, with a
strict content security policy, nothing from elsewhere, and nothing outside the asset folder."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi import HTTPException

import hookhub
from hookhub.api import admin_ui

ASSETS = Path(hookhub.__file__).parent / "admin_ui"


async def test_admin_redirects_to_the_page(http: httpx.AsyncClient) -> None:
    r = await http.get("/admin")
    assert r.status_code == 307
    assert r.headers["location"] == "/admin/"


async def test_the_page_is_served_with_a_strict_policy(http: httpx.AsyncClient) -> None:
    r = await http.get("/admin/")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    policy = r.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert r.headers["x-content-type-options"] == "nosniff"
    assert '<main id="main"' in r.text


@pytest.mark.parametrize(
    ("name", "kind"),
    [("api.js", "text/javascript; charset=utf-8"), ("app.css", "text/css; charset=utf-8")],
)
async def test_assets_are_served_with_their_type(http: httpx.AsyncClient, name: str, kind: str) -> None:
    r = await http.get(f"/admin/assets/{name}")
    assert r.status_code == 200
    assert r.headers["content-type"] == kind
    assert r.content == (ASSETS / name).read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/admin/assets/nothing.js",
        "/admin/assets/..%2F..%2Fconfig.py",
        "/admin/assets/%2E%2E%2Fapp.py",
        "/admin/assets/index.py",
    ],
)
async def test_nothing_else_is_served(http: httpx.AsyncClient, path: str) -> None:
    r = await http.get(path)
    assert r.status_code == 404
    assert r.json()["success"] is False


def test_every_asset_the_page_loads_ships_with_the_package() -> None:
    html = (ASSETS / "index.html").read_text()
    loaded = re.findall(r'(?:src|href)="/admin/assets/([^"]+)"', html)
    assert loaded, html
    for name in loaded:
        assert (ASSETS / name).is_file(), name


def test_no_asset_loads_anything_from_another_origin() -> None:
    """The pages must work without internet access: no CDN, no external fonts or images."""
    for asset in ASSETS.iterdir():
        text = asset.read_text()
        assert not re.search(r"""(src|href)\s*=\s*["']https?://""", text), asset.name
        assert not re.search(r"""url\(\s*["']?https?://""", text), asset.name
        assert "@import" not in text, asset.name


@pytest.mark.parametrize(
    "name", ["../runtime/sandbox_shim.js", "/etc/hostname.css", "../admin_ui/../py.typed.js"]
)
def test_an_asset_name_cannot_leave_the_asset_folder(name: str) -> None:
    """Whatever routing lets through, the file lookup itself stays in the folder."""
    with pytest.raises(HTTPException) as refused:
        admin_ui._asset(name)
    assert refused.value.status_code == 404
