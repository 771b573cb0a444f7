"""Integration scripts: the engine rules of `FREEZE_INTEGRATION_SCRIPTS` and compilation at save
time (rest-integrations.md §11.6, §11.1 step 9)."""

from __future__ import annotations

from typing import Any

from hookhub.config import Settings
from hookhub.runtime.compiler import ScriptCompiled, compile_script
from hookhub.services.errors import Failure, MeteorError

DEFAULT_ENGINE = "isolated-vm"


def engine_of(body: dict[str, Any], current: dict[str, Any] | None = None) -> Any:
    """`body.scriptEngine ?? current.scriptEngine ?? 'isolated-vm'` (JavaScript's `??`: only a
    missing or null value falls through; an empty string is an engine name, an unknown one)."""
    for source in (body, current or {}):
        if source.get("scriptEngine") is not None:
            return source["scriptEngine"]
    return DEFAULT_ENGINE


def engine_problem(settings: Settings, engine: str | None) -> str | None:
    """Rocket.Chat's `validateScriptEngine`: the error code it would throw for `engine`, or None."""
    freeze = settings.freeze_integration_scripts.strip().lower()
    if freeze in ("yes", "true"):
        return "integration-scripts-disabled"
    if engine != DEFAULT_ENGINE:
        return "integration-scripts-unknown-engine"
    if freeze == "ivm":
        return "integration-scripts-isolated-vm-disabled"
    return None


def is_frozen(settings: Settings, engine: str | None) -> bool:
    """`isScriptEngineFrozen`: true exactly when the engine check would fail."""
    return engine_problem(settings, engine) is not None


def is_blank(value: Any) -> bool:
    return not isinstance(value, str) or not value.strip()


def check_engine_on_create(settings: Settings, engine: str | None) -> None:
    """Create paths throw a plain Error: 400 whose `error` is the bare code, no errorType."""
    problem = engine_problem(settings, engine)
    if problem is not None:
        raise Failure(problem)


def check_engine_on_update(settings: Settings, engine: str | None) -> None:
    """Update paths re-throw the code as a Meteor.Error: `[code]` with errorType."""
    problem = engine_problem(settings, engine)
    if problem is not None:
        raise MeteorError(None, problem)


def wants_compilation(settings: Settings, engine: str | None, script_enabled: Any, script: Any) -> bool:
    """Scripts are compiled only when the engine is usable, enabled, and the script non-blank."""
    return not is_frozen(settings, engine) and script_enabled is True and not is_blank(script)


async def compiled_fields(script: str) -> dict[str, Any]:
    """`{"scriptCompiled": ...}` when the script parses, else `{"scriptError": {...}}`.
    A compile error never fails the request: it is stored for the user to see."""
    result = await compile_script(script)
    if isinstance(result, ScriptCompiled):
        return {"scriptCompiled": result.code}
    return {"scriptError": result.as_document()}
