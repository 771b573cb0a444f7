"""/api/docs serves the human API page (issue #10): its HTML and assets come from the package,
under the admin UI's strict content security policy, and nothing points at another origin."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

import hookhub

ASSETS = Path(hookhub.__file__).parent / "api_docs"


async def test_the_page_is_served_with_a_strict_policy(http: httpx.AsyncClient) -> None:
    r = await http.get("/api/docs")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    policy = r.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "connect-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.content == (ASSETS / "index.html").read_bytes()
    assert '<script src="/api/docs/assets/docs.js" defer></script>' in r.text
    assert '<link rel="stylesheet" href="/api/docs/assets/docs.css">' in r.text


async def test_the_trailing_slash_redirects(http: httpx.AsyncClient) -> None:
    r = await http.get("/api/docs/")
    assert r.status_code == 307
    assert r.headers["location"] == "/api/docs"


@pytest.mark.parametrize(
    ("name", "kind"),
    [("docs.js", "text/javascript; charset=utf-8"), ("docs.css", "text/css; charset=utf-8")],
)
async def test_assets_are_served_from_the_package(http: httpx.AsyncClient, name: str, kind: str) -> None:
    r = await http.get(f"/api/docs/assets/{name}")
    assert r.status_code == 200
    assert r.headers["content-type"] == kind
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert r.content == (ASSETS / name).read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/api/docs/assets/nothing.js",
        "/api/docs/assets/..%2F..%2Fconfig.py",
        "/api/docs/assets/%2E%2E%2Fapp.py",
        "/api/docs/assets/__init__.py",
    ],
)
async def test_nothing_else_is_served(http: httpx.AsyncClient, path: str) -> None:
    r = await http.get(path)
    assert r.status_code == 404
    assert r.json()["success"] is False


def test_every_asset_is_referenced_and_nothing_comes_from_another_origin() -> None:
    html = (ASSETS / "index.html").read_text()
    referenced = set(re.findall(r'(?:src|href)="/api/docs/assets/([^"]+)"', html))
    shipped = {p.name for p in ASSETS.iterdir() if p.suffix in (".js", ".css")}
    assert referenced == shipped
    for path in ASSETS.iterdir():
        text = path.read_text()
        # no absolute URL to anywhere (a CDN, a font host), no protocol-relative one
        assert not re.search(r"https?://", text), path.name
        assert not re.search(r"""(?:src|href|url\()\s*=?\s*["']?//""", text), path.name
        assert "@import" not in text and "fonts.googleapis" not in text, path.name


def test_no_inline_script_style_or_handlers() -> None:
    html = (ASSETS / "index.html").read_text()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)
    script = (ASSETS / "docs.js").read_text()
    assert "eval(" not in script and "new Function" not in script and "innerHTML" not in script
    # the page reads the document from this origin
    assert 'fetch("/api/openapi.json"' in script


async def test_the_page_is_not_an_operation_of_the_document(http: httpx.AsyncClient) -> None:
    document = (await http.get("/api/openapi.json")).json()
    assert not [path for path in document["paths"] if path.startswith("/api/docs")]
