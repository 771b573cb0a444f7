"""The script editor and the "Try it" panel of the admin pages (issue #7), in Chromium, on the real
edit page `#/integrations/<id>`: a stored compile error shown on its line (the dry run tells the
line), a dry run showing a script's result without posting anything, an invalid sample reported
without calling the server, and the editor's keyboard behaviour (Tab indents, Escape then Tab
leaves)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.ui.conftest import open_page, shoot

# The syntax error is on line 3: a ";" inside the object literal, column 37.
BROKEN_SCRIPT = """class Script {
  process_incoming_request({ request }) {
    return { content: { text: "x" } ;
  }
}
"""
GOOD_SCRIPT = (
    "class Script {\n"
    "  process_incoming_request({ request }) {\n"
    '    console.log("seen", request.content.text);\n'
    '    return { content: { text: "got " + request.content.text } };\n'
    "  }\n"
    "}\n"
)


def create_incoming(rest: httpx.Client, name: str, script: str) -> dict[str, Any]:
    r = rest.post(
        "integrations.create",
        json={
            "type": "webhook-incoming",
            "name": name,
            "enabled": True,
            "username": "rocket.cat",
            "channel": "#general",
            "scriptEnabled": True,
            "script": script,
        },
    )
    assert r.status_code == 200, r.text
    integration: dict[str, Any] = r.json()["integration"]
    return integration


def general_message_count(rest: httpx.Client) -> int:
    r = rest.get("channels.messages", params={"roomName": "general", "count": 1})
    assert r.status_code == 200, r.text
    return int(r.json()["total"])


def test_stored_compile_error_is_shown_on_its_line(
    page: Any, rest: httpx.Client, request: pytest.FixtureRequest
) -> None:
    integration = create_incoming(rest, "ui broken script", BROKEN_SCRIPT)
    assert integration["scriptError"]["name"] == "SyntaxError"
    open_page(page, rest, f"/integrations/{integration['_id']}")

    editor = page.get_by_label("Script", exact=True)
    assert editor.input_value() == BROKEN_SCRIPT
    message = page.locator(".hh-editor-error")
    # the stored error carries no usable position; a dry run of the same script finds line 3
    message.filter(has_text=re.compile(r"^Line 3")).wait_for()
    assert message.inner_text() == "Line 3, column 37: SyntaxError: Unexpected token ';'"
    assert message.get_attribute("role") == "alert"
    assert editor.get_attribute("aria-invalid") == "true"
    marked = page.locator(".hh-editor-gutter .hh-editor-line-error")
    assert marked.count() == 1
    assert marked.inner_text() == "3"
    assert page.locator(".hh-editor-gutter .hh-editor-line").count() == BROKEN_SCRIPT.count("\n") + 1
    shoot(page, request, "editor-error")


def test_saving_a_broken_script_shows_the_error_on_its_line(page: Any, rest: httpx.Client) -> None:
    integration = create_incoming(rest, "ui save broken", GOOD_SCRIPT)
    open_page(page, rest, f"/integrations/{integration['_id']}")
    editor = page.get_by_label("Script", exact=True)
    editor.fill(BROKEN_SCRIPT)
    page.get_by_role("button", name="Save").click()
    message = page.locator(".hh-editor-error")
    message.filter(has_text=re.compile(r"^Line 3")).wait_for()
    assert message.inner_text() == "Line 3, column 37: SyntaxError: Unexpected token ';'"
    assert page.locator(".hh-editor-gutter .hh-editor-line-error").inner_text() == "3"
    r = rest.get("integrations.get", params={"integrationId": integration["_id"]})
    assert r.json()["integration"]["scriptError"]["name"] == "SyntaxError"


def test_try_it_runs_the_script_without_posting(
    page: Any, rest: httpx.Client, request: pytest.FixtureRequest
) -> None:
    integration = create_incoming(rest, "ui good script", GOOD_SCRIPT)
    assert "scriptError" not in integration
    before = general_message_count(rest)
    open_page(page, rest, f"/integrations/{integration['_id']}")

    sample = page.get_by_label("Sample request (JSON)")
    assert '"text": "Hello"' in sample.input_value()
    page.get_by_role("button", name="Run script").click()
    result = page.get_by_role("status", name="Result")
    result.get_by_text("The script ran without errors.").wait_for()
    text = result.inner_text()
    assert '"text": "got Hello"' in text
    assert "seen Hello" in text  # the console line
    assert page.locator(".hh-editor-error").inner_text() == ""
    shoot(page, request, "try-it-result")
    # a dry run posts nothing
    assert general_message_count(rest) == before


def test_try_it_reports_an_invalid_sample_without_calling_the_server(page: Any, rest: httpx.Client) -> None:
    integration = create_incoming(rest, "ui sample check", GOOD_SCRIPT)
    open_page(page, rest, f"/integrations/{integration['_id']}")
    page.get_by_role("button", name="Run script").wait_for()
    dry_runs: list[str] = []
    page.on("request", lambda r: dry_runs.append(r.url) if "integrations.dryRun" in r.url else None)

    page.get_by_label("Sample request (JSON)").fill('{"body": {"text": "Hello"')
    page.get_by_role("button", name="Run script").click()
    problem = page.get_by_role("alert").filter(has_text="The sample request is not valid JSON:")
    problem.wait_for()
    assert page.get_by_label("Sample request (JSON)").get_attribute("aria-invalid") == "true"
    assert dry_runs == []


def test_editor_tab_indents_and_escape_tab_leaves(page: Any, rest: httpx.Client) -> None:
    integration = create_incoming(rest, "ui keyboard", "x")
    open_page(page, rest, f"/integrations/{integration['_id']}")
    editor = page.get_by_label("Script", exact=True)
    editor.click()
    page.keyboard.press("End")
    page.keyboard.press("Tab")
    page.keyboard.type("y")
    page.keyboard.press("Enter")
    assert editor.input_value() == "x  y\n"
    assert page.locator(".hh-editor-gutter .hh-editor-line").count() == 2
    assert page.evaluate("document.activeElement.id") == "f-script"
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") != "f-script"
    assert editor.input_value() == "x  y\n"
    # the way out is written next to the editor
    assert page.get_by_text("press Escape, then Tab").is_visible()


def test_error_positions_from_line_message_or_stack(page: Any, rest: httpx.Client) -> None:
    """Where showError finds the line: a dry run's `line`, else "<anonymous>:L:C" / "<anonymous>:L:"
    in the message or the stack's header; never the compiler's frames of a stored SyntaxError."""
    open_page(page, rest, "/integrations")
    texts = page.evaluate(
        """() => [
          {name: "SyntaxError", message: "Unexpected token '}'", stack: "x", line: 3, column: 32},
          {name: "SyntaxError", message: "Unexpected end of input",
           stack: "<anonymous>:4:1\\nSyntaxError: x"},
          {name: "SyntaxError", message: "<anonymous>:2: SyntaxError: Unexpected identifier"},
          {name: "SyntaxError", message: "Unexpected token '}'",
           stack: "SyntaxError: Unexpected token '}'\\n    at new Function (<anonymous>)\\n"
             + "    at <anonymous>:3:5"},
          {name: "TypeError", message: "x is not a function",
           stack: "TypeError: x is not a function\\n    at Script.run (<anonymous>:7:9)"},
        ].map((error) => Hookhub.editor.errorText(error))"""
    )
    assert texts == [
        "Line 3, column 32: SyntaxError: Unexpected token '}'",
        "Line 4, column 1: SyntaxError: Unexpected end of input",
        "Line 2: SyntaxError: Unexpected identifier",
        "SyntaxError: Unexpected token '}'",
        "Line 7, column 9: TypeError: x is not a function",
    ]
    # showError(null) clears the message, the gutter mark and aria-invalid
    state = page.evaluate(
        """() => {
          const box = document.createElement("div");
          document.querySelector("#main").append(box);
          const editor = Hookhub.editor.mount(box, {id: "probe", label: "Probe", value: "a\\nb\\nc"});
          editor.showError({name: "SyntaxError", message: "bad", line: 2, column: 1});
          const shown = [box.querySelector("[role=alert]").textContent,
                         box.querySelector(".hh-editor-line-error").textContent,
                         box.querySelector("textarea").getAttribute("aria-invalid")];
          editor.showError(null);
          return [shown, box.querySelector("[role=alert]").textContent,
                  box.querySelectorAll(".hh-editor-line-error").length,
                  box.querySelector("textarea").hasAttribute("aria-invalid")];
        }"""
    )
    assert state == [["Line 2, column 1: SyntaxError: bad", "2", "true"], "", 0, False]
