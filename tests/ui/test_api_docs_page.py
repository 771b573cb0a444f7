"""The API docs page (issue #10) in a real browser: it loads the document from this origin and
lists the operations by tag, each opening onto its parameters, request body and responses.
(The `page` fixture fails the test on any uncaught script error, and the strict CSP would block
anything inline or from elsewhere.)"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.ui.conftest import shoot


def test_the_page_lists_the_operations_by_tag(page: Any, request: pytest.FixtureRequest) -> None:
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text) if message.type == "error" else None)
    page.goto("/api/docs")
    expect(page.locator("section#tag-users h2")).to_have_text("users")
    operations = page.locator("details.operation")
    assert operations.count() > 100
    login = page.locator("details#login_api_v1_login_post")
    expect(login.locator("summary")).to_contain_text("POST")
    expect(login.locator("summary")).to_contain_text("/api/v1/login")
    info = page.locator('details.operation:has(code.path:text-is("/api/v1/users.info"))')
    info.locator("summary").click()
    expect(info.locator("table.parameters")).to_contain_text("userId")
    expect(info.locator("li.response.status-4xx").first).to_contain_text("ErrorEnvelope")
    expect(info.locator("li.response", has_text="401")).to_be_visible()
    create = page.locator('details.operation:has(code.path:text-is("/api/v1/users.create"))')
    create.locator("summary").click()
    expect(create.locator(".operation-body")).to_contain_text("Request body (required)")
    expect(create.locator(".operation-body")).to_contain_text("username")
    page.fill("#filter", "integrations.history")
    expect(page.locator("details.operation:not([hidden])")).to_have_count(1)
    shoot(page, request, "api-docs")
    assert blocked == []
