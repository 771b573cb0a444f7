"""`hookhub integrations export | import` (issue #10), through typer's CliRunner: an export of one
database imported into another (users and channels there have other ids), idempotence, updates,
the refusals, the skips with their reasons, and the errors of `--from-server` (the real copy
between two servers is tests/e2e/test_integrations_import_e2e.py)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from typer.testing import CliRunner, Result

from hookhub.app import create_app
from hookhub.cli import cli
from hookhub.config import Settings, load_settings
from hookhub.hub import Hub
from hookhub.store.migrate import upgrade
from tests import databases
from tests.conftest import RC
from tests.e2e.conftest import ADMIN_PASS, ADMIN_USERNAME, free_port
from tests.e2e.receiver import Answer, Receiver

T = TypeVar("T")

_SCRUBBED_PREFIXES = ("HOOKHUB_", "ADMIN_", "ROOT_URL", "CREATE_TOKENS_FOR_USERS", "Accounts_")
_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")

SCRIPT = (
    "class Script {\n  process_incoming_request({ request }) {\n"
    "    return { content: { text: 'deploy: ' + request.content.text } };\n  }\n}\n"
)
OUT_SCRIPT = "class Script {\n  prepare_outgoing_request({ request }) {\n    return request;\n  }\n}\n"

Env = dict[str, str | None]


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Database A (the `settings` fixture's, on PostgreSQL too) through the environment, cheap
    hashing, an ADMIN_PASS admin, and no proxy for the 127.0.0.1 servers of these tests."""
    for key in list(os.environ):
        if key.startswith(_SCRUBBED_PREFIXES) or key in _PROXIES:
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOOKHUB_DATA_DIR", str(settings.data_dir))
    if settings.database_url is not None:
        monkeypatch.setenv("HOOKHUB_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HOOKHUB_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("HOOKHUB_ARGON2_MEMORY_KIB", "64")
    monkeypatch.setenv("ADMIN_USERNAME", ADMIN_USERNAME)
    monkeypatch.setenv("ADMIN_PASS", ADMIN_PASS)
    return settings.data_dir


@pytest.fixture
def other(env: Path, tmp_path: Path) -> Env:
    """The environment of database B: a fresh installation (migrated by the first command)."""
    data_dir = tmp_path / "b"
    data_dir.mkdir()
    url = databases.ensure_database(databases.name_for(str(data_dir))) if databases.ON_POSTGRES else None
    return {"HOOKHUB_DATA_DIR": str(data_dir), "HOOKHUB_DATABASE_URL": url}


@contextmanager
def environment(overrides: Env | None) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in overrides or {}}
    try:
        for key, value in (overrides or {}).items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run(*args: str, on: Env | None = None, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["integrations", *args], input=stdin, env=on)


def rest(work: Callable[[RC], Awaitable[T]], on: Env | None = None) -> T:
    """`work` with an admin client of the REST API, in process, on database A (or `on`)."""

    async def main() -> T:
        settings = load_settings()
        await asyncio.to_thread(upgrade, settings.effective_database_url)  # B may be brand new
        hub = Hub(settings)
        try:
            await hub.start()
            transport = httpx.ASGITransport(app=create_app(settings, hub=hub), raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                admin = RC(client)
                await admin.login(ADMIN_USERNAME, ADMIN_PASS)
                return await work(admin)
        finally:
            await hub.close()

    with environment(on):
        return asyncio.run(main())


async def _ok(response: Awaitable[httpx.Response]) -> dict[str, Any]:
    r = await response
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def prepare(on: Env | None = None, *, user: bool = True, channel: bool = True) -> None:
    """The post-as user `alertbot` and the channel `#alerts` (new ids on every database)."""

    async def work(admin: RC) -> None:
        if user:
            await _ok(
                admin.post(
                    "users.create",
                    username="alertbot",
                    email="bot@example.com",
                    name="Bot",
                    password="Pw-bot-1",
                )
            )
        if channel:
            await _ok(admin.post("channels.create", name="alerts"))

    rest(work, on)


def seed() -> dict[str, dict[str, Any]]:
    """Database A: an incoming and an outgoing integration with scripts; returns them by name."""
    prepare()

    async def work(admin: RC) -> dict[str, dict[str, Any]]:
        incoming = await _ok(
            admin.post(
                "integrations.create", type="webhook-incoming", name="deploys", enabled=True,
                username="alertbot", channel="#alerts", scriptEnabled=True, script=SCRIPT, alias="Deploy",
            )
        )  # fmt: skip
        outgoing = await _ok(
            admin.post(
                "integrations.create", type="webhook-outgoing", name="echo", enabled=True,
                event="sendMessage", channel="#alerts", urls=["http://127.0.0.1:9/echo"],
                triggerWords=["!echo"], username="alertbot", scriptEnabled=True, script=OUT_SCRIPT,
                retryFailedCalls=True, retryCount=3, retryDelay="powers-of-two", token="out-token",
            )
        )  # fmt: skip
        return {"deploys": incoming["integration"], "echo": outgoing["integration"]}

    return rest(work)


def listed(on: Env | None = None) -> list[dict[str, Any]]:
    async def work(admin: RC) -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = (await _ok(admin.get("integrations.list")))["integrations"]
        return docs

    return rest(work, on)


def ids_of(on: Env) -> dict[str, str]:
    """username/room name -> id on a database."""

    async def work(admin: RC) -> dict[str, str]:
        bot = (await _ok(admin.get("users.info", username="alertbot")))["user"]
        me = await _ok(admin.get("me"))
        room = (await _ok(admin.get("channels.info", roomName="alerts")))["channel"]
        return {"alertbot": bot["_id"], ADMIN_USERNAME: me["_id"], "alerts": room["_id"]}

    return rest(work, on)


def report(result: Result) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def results(result: Result) -> dict[str, tuple[str, str | None]]:
    return {i["name"]: (i["result"], i["reason"]) for i in report(result)["integrations"]}


_VOLATILE = ("_updatedAt", "_updatedBy", "userId", "_createdBy", "lastExecutionLogs")


def settings_of(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in _VOLATILE}


def export_file(tmp_path: Path, name: str = "export.json") -> Path:
    path = tmp_path / name
    result = run("export", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"exported 2 integrations to {path} (it holds their tokens: keep it private)\n"
    return path


# -- export then import --------------------------------------------------------------------------


def test_export_import_into_another_database_gives_the_same_integrations(
    env: Path, other: Env, tmp_path: Path
) -> None:
    source = seed()
    path = export_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert (data["format"], data["version"]) == ("hookhub-integrations", 1)
    assert {d["_id"] for d in data["integrations"]} == {d["_id"] for d in source.values()}
    assert (
        next(d for d in data["integrations"] if d["name"] == "deploys")["token"] == source["deploys"]["token"]
    )

    prepare(other)
    result = run("import", str(path), "--json", on=other)
    assert result.exit_code == 0, result.output
    assert results(result) == {"deploys": ("created", None), "echo": ("created", None)}
    assert report(result)["created"] == 2

    here = ids_of(other)
    copied = {d["name"]: d for d in listed(other)}
    assert set(copied) == {"deploys", "echo"}
    for name, original in source.items():
        doc = copied[name]
        assert settings_of(doc) == settings_of(original), name
        # users are matched by name: the ids are this database's
        assert doc["userId"] == here["alertbot"] != original["userId"]
        assert doc["_createdBy"] == {"_id": here[ADMIN_USERNAME], "username": ADMIN_USERNAME}
    assert copied["deploys"]["scriptCompiled"] == SCRIPT
    assert copied["echo"]["signingSecret"] == source["echo"]["signingSecret"]

    # the same file again: nothing new, nothing rewritten
    again = run("import", str(path), "--json", on=other)
    assert again.exit_code == 0, again.output
    assert results(again) == {"deploys": ("unchanged", None), "echo": ("unchanged", None)}
    assert {d["_id"]: d["_updatedAt"] for d in listed(other)} == {
        d["_id"]: d["_updatedAt"] for d in copied.values()
    }

    # importing into the database it came from is a no-op too
    back = run("import", str(path), "--json")
    assert back.exit_code == 0, back.output
    assert [o["result"] for o in report(back)["integrations"]] == ["unchanged", "unchanged"]


def test_the_table_report(env: Path, other: Env, tmp_path: Path) -> None:
    seed()
    path = export_file(tmp_path)
    prepare(other)
    result = run("import", str(path), on=other)
    assert result.exit_code == 0, result.output
    assert "result" in result.stdout and "reason" in result.stdout
    assert result.stdout.rstrip().endswith("2 created, 0 updated, 0 skipped (0 unchanged, 0 not importable)")
    again = run("import", str(path), on=other)
    assert again.stdout.rstrip().endswith("0 created, 0 updated, 2 skipped (2 unchanged, 0 not importable)")


def test_a_changed_file_updates_only_what_changed(env: Path, other: Env, tmp_path: Path) -> None:
    seed()
    path = export_file(tmp_path)
    prepare(other)
    assert run("import", str(path), on=other).exit_code == 0
    data = json.loads(path.read_text())
    deploys = next(d for d in data["integrations"] if d["name"] == "deploys")
    deploys["name"] = "deploys-renamed"
    deploys["script"] = SCRIPT.replace("deploy: ", "shipped: ")
    path.write_text(json.dumps(data))
    result = run("import", str(path), "--json", on=other)
    assert result.exit_code == 0, result.output
    assert results(result) == {"deploys-renamed": ("updated", None), "echo": ("unchanged", None)}
    copied = {d["name"]: d for d in listed(other)}
    assert set(copied) == {"deploys-renamed", "echo"}
    assert copied["deploys-renamed"]["scriptCompiled"] == deploys["script"]
    assert copied["deploys-renamed"]["token"] == deploys["token"]


def test_compiled_code_in_a_file_is_never_used(env: Path, other: Env, tmp_path: Path) -> None:
    """The sandbox runs `scriptCompiled`: an import compiles `script` here instead of trusting it."""
    seed()
    path = export_file(tmp_path)
    prepare(other)
    data = json.loads(path.read_text())
    by_name = {d["name"]: d for d in data["integrations"]}
    by_name["deploys"]["scriptEnabled"] = False
    by_name["deploys"]["scriptCompiled"] = "evil()"
    by_name["echo"]["scriptCompiled"] = "evil()"
    path.write_text(json.dumps(data))
    assert run("import", str(path), on=other).exit_code == 0
    copied = {d["name"]: d for d in listed(other)}
    assert "scriptCompiled" not in copied["deploys"]
    assert copied["deploys"]["script"] == SCRIPT
    assert copied["echo"]["scriptCompiled"] == OUT_SCRIPT


def test_dry_run_writes_nothing(env: Path, other: Env, tmp_path: Path) -> None:
    seed()
    path = export_file(tmp_path)
    prepare(other)
    result = run("import", str(path), "--dry-run", "--json", on=other)
    assert result.exit_code == 0, result.output
    assert report(result)["dryRun"] is True
    assert results(result) == {"deploys": ("created", None), "echo": ("created", None)}
    assert listed(other) == []
    piped = run("import", "-", "--dry-run", "--json", on=other, stdin=path.read_text())
    assert piped.exit_code == 0, piped.output
    assert results(piped) == {"deploys": ("created", None), "echo": ("created", None)}
    assert listed(other) == []


def test_export_to_stdout_and_existing_files(env: Path, tmp_path: Path) -> None:
    seed()
    result = run("export", "-")
    assert result.exit_code == 0, result.output
    assert {d["name"] for d in json.loads(result.stdout)["integrations"]} == {"deploys", "echo"}

    path = tmp_path / "old.json"
    path.write_text("old")
    path.chmod(0o644)
    refused = run("export", str(path))
    assert refused.exit_code == 1
    assert refused.stderr == f"hookhub: {path} exists; pass --force to replace it\n"
    assert path.read_text() == "old"
    assert run("export", str(path), "--force").exit_code == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["format"] == "hookhub-integrations"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".old.json")] == []


# -- refusals -----------------------------------------------------------------


def _valid() -> dict[str, Any]:
    """A small export as `hookhub integrations export` writes it."""
    return {
        "format": "hookhub-integrations",
        "version": 1,
        "exportedAt": "2026-12-01T10:00:00.000Z",
        "integrations": [
            {
                "_id": "inc1", "type": "webhook-incoming", "name": "in", "enabled": True,
                "username": "alertbot", "channel": ["#alerts"], "token": "t" * 48,
                "_createdBy": {"_id": "u1", "username": ADMIN_USERNAME},
            },
            {
                "_id": "out1", "type": "webhook-outgoing", "name": "out", "enabled": True,
                "username": "alertbot", "channel": ["#alerts"], "event": "sendMessage",
                "urls": ["http://127.0.0.1:9/"], "_createdBy": {"_id": "u1", "username": ADMIN_USERNAME},
            },
        ],
    }  # fmt: skip


NOT_AN_EXPORT = 'is not a hookhub integrations export (no "format": "hookhub-integrations")'


def _bad_entry(data: dict[str, Any]) -> dict[str, Any]:
    del data["integrations"][1]["urls"]
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda _d: "{not json", "is not JSON (Expecting property name enclosed in double quotes at line 1)"),
        (lambda d: {**d, "format": "something-else"}, NOT_AN_EXPORT),
        (lambda d: [d], NOT_AN_EXPORT),
        (
            lambda d: {**d, "version": 2},
            "was written by a newer hookhub (format version 2); this version reads version 1",
        ),
        (lambda d: {**d, "version": "1"}, 'has an unknown format version "1" (this version reads version 1)'),
        (lambda d: {**d, "integrations": {}}, 'has no "integrations" array'),
        (_bad_entry, "has a malformed integration 2 (_id 'out1'): urls must be an array of strings"),
        (
            lambda d: {**d, "integrations": [*d["integrations"], d["integrations"][0]]},
            "has a malformed integration 3 (_id 'inc1'): the same _id appears twice",
        ),
        (
            lambda d: {**d, "integrations": [*d["integrations"], 7]},
            "has a malformed integration 3: not a JSON object",
        ),
    ],
)
def test_bad_files_are_refused_with_a_clear_message(
    env: Path, tmp_path: Path, change: Callable[[dict[str, Any]], Any], message: str
) -> None:
    changed = change(_valid())
    bad = tmp_path / "bad.json"
    bad.write_text(changed if isinstance(changed, str) else json.dumps(changed))
    result = run("import", str(bad))
    assert result.exit_code == 1, result.output
    assert result.stderr == f"hookhub: {bad} {message}\n"
    assert result.stdout == ""


def test_the_valid_example_is_accepted(env: Path, tmp_path: Path) -> None:
    """The base of the refusal cases passes the checks (here its post-as user is missing)."""
    path = tmp_path / "ok.json"
    path.write_text(json.dumps(_valid()))
    result = run("import", str(path), "--json", "--dry-run")
    assert result.exit_code == 3, result.output
    assert {o["_id"]: o["result"] for o in report(result)["integrations"]} == {
        "inc1": "skipped",
        "out1": "skipped",
    }


def test_malformed_entries_say_why(env: Path, other: Env, tmp_path: Path) -> None:
    seed()
    path = export_file(tmp_path)
    data = json.loads(path.read_text())
    incoming = next(i for i, d in enumerate(data["integrations"]) if d["type"] == "webhook-incoming")
    cases = {
        "token": ("token must be a non-empty string without '/'", None),
        "channel": ("channel must be an array of strings", "#alerts"),
        "_id": ("_id must be a string of 1 to 64 characters without '/', '?', '#' or spaces", "a/b"),
        "scriptEnabled": ("scriptEnabled must be true or false", "yes"),
    }
    for key, (reason, value) in cases.items():
        broken = json.loads(json.dumps(data))
        if value is None:
            del broken["integrations"][incoming][key]
        else:
            broken["integrations"][incoming][key] = value
        bad = tmp_path / f"bad-{key}.json"
        bad.write_text(json.dumps(broken))
        result = run("import", str(bad), on=other)
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith(f"hookhub: {bad} has a malformed integration {incoming + 1}")
        assert result.stderr.endswith(f": {reason}\n"), result.stderr
    assert listed(other) == []  # nothing written


def test_unreadable_file(env: Path, tmp_path: Path) -> None:
    result = run("import", str(tmp_path / "missing.json"))
    assert result.exit_code == 1
    assert result.stderr == f"hookhub: cannot read {tmp_path / 'missing.json'}: No such file or directory\n"


# -- skipped integrations -------------------------------------------------------------------------


def test_a_missing_user_or_channel_skips_the_integration_with_the_reason(
    env: Path, other: Env, tmp_path: Path
) -> None:
    seed()
    path = export_file(tmp_path)
    prepare(other, user=False)  # #alerts exists, alertbot does not
    result = run("import", str(path), "--json", on=other)
    assert result.exit_code == 3, result.output
    assert results(result) == {
        "deploys": ("skipped", "post-as user 'alertbot' does not exist here"),
        "echo": ("skipped", "post-as user 'alertbot' does not exist here"),
    }
    assert listed(other) == []

    prepare(other, channel=False)  # now alertbot exists too; point the integrations at a missing channel
    data = json.loads(path.read_text())
    for doc in data["integrations"]:
        doc["channel"] = ["#elsewhere"]
    path.write_text(json.dumps(data))
    result = run("import", str(path), "--json", on=other)
    assert result.exit_code == 3, result.output
    assert results(result) == {
        "deploys": ("skipped", "channel '#elsewhere' does not exist here"),
        "echo": ("skipped", "channel '#elsewhere' does not exist here"),
    }
    assert listed(other) == []


def test_a_missing_owner_and_a_broken_script_are_skipped(env: Path, other: Env, tmp_path: Path) -> None:
    seed()
    path = export_file(tmp_path)
    prepare(other)
    data = json.loads(path.read_text())
    by_name = {d["name"]: d for d in data["integrations"]}
    by_name["deploys"]["script"] = "class Script { process_incoming_request( {"
    by_name["echo"]["_createdBy"] = {"_id": "x", "username": "someone-else"}
    path.write_text(json.dumps(data))
    result = run("import", str(path), "--json", on=other)
    assert result.exit_code == 3, result.output
    outcome = results(result)
    assert outcome["echo"] == ("skipped", "owner 'someone-else' does not exist here")
    assert outcome["deploys"][0] == "skipped"
    assert (outcome["deploys"][1] or "").startswith("the script does not compile: SyntaxError: ")
    assert listed(other) == []


def test_service_rules_apply(env: Path, other: Env, tmp_path: Path) -> None:
    """What integrations.create refuses is skipped with its error."""
    seed()
    path = export_file(tmp_path)
    prepare(other)
    data = json.loads(path.read_text())
    by_name = {d["name"]: d for d in data["integrations"]}
    by_name["echo"]["event"] = "noSuchEvent"
    by_name["deploys"]["channel"] = ["alerts"]
    path.write_text(json.dumps(data))
    result = run("import", str(path), "--json", on=other)
    assert result.exit_code == 3, result.output
    assert results(result) == {
        "deploys": (
            "skipped",
            "Invalid channel. Start with @ or # [error-invalid-channel-start-with-chars]",
        ),
        "echo": ("skipped", "Invalid event type [error-invalid-event-type]"),
    }


# -- --from-server: arguments and failures ----------------------------------------------------------


def test_arguments(env: Path) -> None:
    assert run("import").exit_code == 2
    assert run("import").stderr == "hookhub: name either an export FILE or --from-server URL\n"
    both = run("import", "x.json", "--from-server", "http://127.0.0.1:1")
    assert both.exit_code == 2
    lone = run("import", "x.json", "--token", "t")
    assert lone.stderr == "hookhub: --user-id and --token go with --from-server\n"
    no_user = run("import", "--from-server", "http://127.0.0.1:1", "--token", "t")
    assert no_user.stderr == "hookhub: --from-server needs --user-id (and --token)\n"


def test_from_server_connection_refused(env: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run("import", "--from-server", url, "--user-id", "u", "--token", "secret-token-value")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"hookhub: the server at {url} cannot be reached ({url}: ")
    assert "secret-token-value" not in result.output


def test_from_server_bad_credentials_and_not_json(env: Path) -> None:
    with Receiver() as server:
        server.script(
            "/api/v1/integrations.list?count=100&offset=0&sort=%7B%22_createdAt%22%3A1%7D",
            Answer(401, b'{"status": "error", "message": "You must be logged in to do this."}'),
            Answer(200, b"<html>hello</html>", content_type="text/html"),
        )
        url = server.url("")
        args = ("import", "--from-server", url, "--user-id", "u", "--token", "secret-token-value")
        result = run(*args)
        assert result.exit_code == 1
        assert result.stderr == (
            f"hookhub: the server at {url} refused the credentials (401): check --user-id and --token\n"
        )
        result = run(*args)
        assert result.exit_code == 1
        assert result.stderr == (
            f"hookhub: the server at {url} did not answer /api/v1/integrations.list with JSON "
            "(is it a Rocket.Chat-compatible server?)\n"
        )
        sent = server.requests[0]
        assert sent.headers["x-user-id"] == "u"
        assert sent.headers["x-auth-token"] == "secret-token-value"
        assert "secret-token-value" not in result.output
