"""The script compiler: a V8 syntax check that never runs the script (runtime/compiler.py)."""

from __future__ import annotations

import time

from hookhub.runtime.compiler import ScriptCompiled, ScriptError, compile_script, compile_script_sync

VALID = """class Script {
  process_incoming_request({ request }) {
    return { content: { text: request.content.text } };
  }
}
"""


def test_valid_script_is_kept_verbatim() -> None:
    assert compile_script_sync(VALID) == ScriptCompiled(VALID)


def test_syntax_error() -> None:
    result = compile_script_sync("class Script {\n  process( {\n}")
    assert isinstance(result, ScriptError)
    assert result.name == "SyntaxError"
    assert result.message
    assert result.stack.startswith("SyntaxError: ")
    assert result.as_document() == {"name": result.name, "message": result.message, "stack": result.stack}


def test_reference_errors_are_not_syntax_errors() -> None:
    # nothing runs, so an undefined name is no compile error
    assert isinstance(compile_script_sync("undefinedFunction(); throw new Error('boom');"), ScriptCompiled)


def test_top_level_code_is_not_executed() -> None:
    started = time.monotonic()
    result = compile_script_sync("while (true) {}")
    assert isinstance(result, ScriptCompiled)
    assert time.monotonic() - started < 2


def test_source_cannot_escape_the_function_body() -> None:
    # an attempt to close the wrapper and run code at the top level is a syntax error
    result = compile_script_sync("}); while (true) {} (function () {")
    assert isinstance(result, ScriptError)
    assert result.name == "SyntaxError"


def test_unusual_text_is_data() -> None:
    source = 'var s = "\\u2028 \u2028 ` ${x} </script> \\"";'
    assert compile_script_sync(source) == ScriptCompiled(source)


async def test_async_compile() -> None:
    assert await compile_script(VALID) == ScriptCompiled(VALID)
    assert isinstance(await compile_script("var = ;"), ScriptError)
