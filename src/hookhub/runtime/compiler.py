"""Syntax-check integration scripts in V8 (mini-racer) without running them.

Rocket.Chat 8.4+ with `skipTranspile` only syntax-checks a script and stores it verbatim; hookhub
always behaves that way (we do not transpile), so `ScriptCompiled.code` is the verified source,
character for character. The check builds `new Function(source)`: V8 parses the text as a function
body, which reports every syntax error but executes none of the user's code (the function is never
called), so a script whose top level would loop forever still compiles in milliseconds. Each check
runs in a fresh isolate with a heap limit and a time limit, on the process's isolate thread
(`runtime.isolates`): V8 calls block, and isolates must all be made and freed on one thread.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from py_mini_racer import JSEvalException, JSOOMException, JSTimeoutException, MiniRacer

from hookhub.runtime.isolates import ISOLATE_THREAD

# Parsing even a multi-megabyte script takes well under a second; the limits only stop abuse.
COMPILE_TIMEOUT_SEC = 5.0
HEAP_LIMIT_BYTES = 128 * 1024 * 1024

# Returns null when `source` parses, else the SyntaxError as JSON (plain strings, no V8 objects).
_CHECK = """(function (source) {
  try {
    new Function(source);
    return null;
  } catch (e) {
    return JSON.stringify({
      name: String((e && e.name) || "Error"),
      message: String((e && e.message) || e),
      stack: String((e && e.stack) || e),
    });
  }
})"""


@dataclass(frozen=True)
class ScriptCompiled:
    """The script parses; `code` is the source as given (stored as `scriptCompiled`)."""

    code: str


@dataclass(frozen=True)
class ScriptError:
    """Why the script does not compile (stored as `scriptError {name, message, stack}`)."""

    name: str
    message: str
    stack: str

    def as_document(self) -> dict[str, str]:
        return {"name": self.name, "message": self.message, "stack": self.stack}


CompileResult = ScriptCompiled | ScriptError


def compile_script_sync(source: str) -> CompileResult:
    """Blocking check of one script; never raises for bad input (the verdict is the result)."""
    ctx = MiniRacer()
    try:
        ctx.set_hard_memory_limit(HEAP_LIMIT_BYTES)
        # json.dumps yields a valid JS string literal, so the source is data, never code, here
        verdict = ctx.eval(f"{_CHECK}({json.dumps(source)})", timeout_sec=COMPILE_TIMEOUT_SEC)
    except JSTimeoutException:
        return ScriptError(
            "TimeoutError", "Script compilation timed out", "TimeoutError: Script compilation timed out"
        )
    except JSOOMException:
        return ScriptError(
            "RangeError", "Script is too large to compile", "RangeError: Script is too large to compile"
        )
    except JSEvalException as exc:
        # not expected (the checker catches everything), but a verdict is always better than a 500
        text = str(exc)
        return ScriptError("Error", text, text)
    finally:
        ctx.close()
    if verdict is None:
        return ScriptCompiled(source)
    data = json.loads(str(verdict))
    return ScriptError(str(data["name"]), str(data["message"]), str(data["stack"]))


async def compile_script(source: str) -> CompileResult:
    """Check `source` on the isolate thread (V8 blocks), so the event loop keeps serving."""
    return await asyncio.get_running_loop().run_in_executor(ISOLATE_THREAD, compile_script_sync, source)
