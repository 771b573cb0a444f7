"""`hookhub integrations export FILE | import FILE | import --from-server URL`: moving integrations
between servers as versioned JSON (the format and the import rules live in
`services.integrations.transfer`). Like `hookhub admin`, it works with the server stopped or
running, on SQLite or PostgreSQL.

An export holds every integration's token (and outgoing signing secret): the file is created
readable by its owner only (mode 0600)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import httpx
import typer

from hookhub.services.integrations import transfer

integrations = typer.Typer(
    help="Export and import integrations (works with the server stopped or running).",
    no_args_is_help=True,
    add_completion=False,
)

PAGE_SIZE = 100
HTTP_TIMEOUT = 30.0
# exit status when the import ran but some integrations could not be imported (reasons reported)
EXIT_SKIPPED = 3

Advance = Callable[[], None]


def _refuse(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"hookhub: {message}", err=True)
    raise typer.Exit(code)


@integrations.command("export")
def export(
    file: str = typer.Argument(..., metavar="FILE", help="Where to write the JSON ('-': standard output)."),
    force: bool = typer.Option(False, "--force", help="Replace FILE if it exists."),
) -> None:
    """Write every integration (scripts, settings, owner, tokens) to FILE as versioned JSON."""
    from hookhub.cli_admin import _prepared_settings, _run

    target = None if file == "-" else Path(file).expanduser()
    if target is not None:
        if target.is_dir():
            _refuse(f"{target} is a directory; name the export file")
        if target.exists() and not force:
            _refuse(f"{target} exists; pass --force to replace it")
    settings = _prepared_settings()

    async def work(hub: Any) -> dict[str, Any]:
        async with hub.tx(write=False) as ctx:
            return await transfer.export_document(ctx)

    document = _run(settings, work)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    count = len(document["integrations"])
    if target is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        _write_private(target, text)
    except OSError as exc:
        _refuse(f"cannot write {target}: {exc.strerror or exc}")
    typer.echo(f"exported {count} integrations to {target} (it holds their tokens: keep it private)")


def _write_private(target: Path, text: str) -> None:
    """Write `text` to `target` with mode 0600, through a temporary file renamed over it (so a
    replaced export never shows its old mode or half of the new text)."""
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)  # mkstemp's mode already, whatever the umask; said explicitly
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


@integrations.command("import")
def import_(
    file: str | None = typer.Argument(
        None, metavar="FILE", help="An export of `hookhub integrations export` ('-': standard input)."
    ),
    from_server: str | None = typer.Option(
        None,
        "--from-server",
        metavar="URL",
        help="Copy from a running Rocket.Chat-compatible server instead.",
    ),
    user_id: str | None = typer.Option(None, "--user-id", help="With --from-server: the X-User-Id to use."),
    token: str | None = typer.Option(
        None, "--token", help="With --from-server: the X-Auth-Token (asked for, hidden, when omitted)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check and report only; write nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of a table."),
) -> None:
    """Import integrations from FILE or a server, keeping ids and tokens (hook URLs keep working).

    Importing the same data again changes nothing. Exit status: 0 when every integration is here
    afterwards, 3 when some were skipped (the report says why), 1 when the input is refused
    (nothing is written then)."""
    from hookhub.cli_admin import _prepared_settings, _run

    if (file is None) == (from_server is None):
        _refuse("name either an export FILE or --from-server URL", 2)
    if from_server is None and (user_id is not None or token is not None):
        _refuse("--user-id and --token go with --from-server", 2)

    if from_server is not None:
        if not user_id:
            _refuse("--from-server needs --user-id (and --token)", 2)
        secret = token if token is not None else typer.prompt("Token", hide_input=True, err=True)
        source = f"the server at {from_server}"
        try:
            with _progress("fetching integrations") as advance:
                entries = fetch_from_server(from_server, user_id, secret, advance)
        except transfer.TransferError as exc:
            _refuse(f"{source} {exc}")
    else:
        assert file is not None
        source = "standard input" if file == "-" else file
        try:
            entries = transfer.parse_export(_read(file))
        except transfer.TransferError as exc:
            _refuse(f"{source} {exc}")

    settings = _prepared_settings()

    async def work(hub: Any) -> transfer.ImportReport:
        async with hub.tx() as ctx:
            return await transfer.import_integrations(ctx, entries, write=not dry_run)

    report = _run(settings, work)
    _print_report(report, as_json=as_json, dry_run=dry_run)
    if report.problems:
        raise typer.Exit(EXIT_SKIPPED)


def _read(file: str) -> str:
    if file == "-":
        return sys.stdin.read()
    try:
        return Path(file).expanduser().read_text(encoding="utf-8")
    except UnicodeDecodeError:
        _refuse(f"{file} is not JSON (not UTF-8 text)")
    except OSError as exc:
        _refuse(f"cannot read {file}: {exc.strerror or exc}")


def _print_report(report: transfer.ImportReport, *, as_json: bool, dry_run: bool) -> None:
    if as_json:
        out = {
            "dryRun": dry_run,
            **{action: report.count(action) for action in ("created", "updated", "unchanged", "skipped")},
            "integrations": [
                {
                    "_id": o.integration_id,
                    "type": o.type,
                    "name": o.name,
                    "result": o.action,
                    "reason": o.reason,
                }
                for o in report.outcomes
            ],
        }
        typer.echo(json.dumps(out))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("result", "_id", "type", "name", "reason")
    for o in report.outcomes:
        table.add_row(o.action, o.integration_id, o.type, o.name or "", o.reason or "")
    console = Console(soft_wrap=True)
    if report.outcomes:
        console.print(table)
    prefix = "dry run, nothing written: " if dry_run else ""
    console.print(f"{prefix}{report.summary()}", highlight=False)


# -- from a running server --------------------------------------------------------------------------


def fetch_from_server(url: str, user_id: str, token: str, advance: Advance) -> list[dict[str, Any]]:
    """Every integration the user may see on the server at `url`: the ids from `integrations.list`
    (page by page), then each document from `integrations.get`. TransferError (one line, never
    the token) when the server cannot be read."""
    base = url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise transfer.TransferError("is not an http:// or https:// URL")
    headers = {"X-User-Id": user_id, "X-Auth-Token": token, "Accept": "application/json"}
    with httpx.Client(base_url=base, headers=headers, timeout=HTTP_TIMEOUT) as client:
        ids = _list_ids(client)
        documents = []
        for integration_id in ids:
            document = _get_document(client, integration_id)
            if document is not None:
                documents.append(document)
            advance()
    return transfer.check_entries(documents)


def _list_ids(client: httpx.Client) -> list[str]:
    ids: list[str] = []
    offset = 0
    while True:
        params = {"count": PAGE_SIZE, "offset": offset, "sort": '{"_createdAt":1}'}
        data = _answer(client, "/api/v1/integrations.list", params)
        page, total = data.get("integrations"), data.get("total")
        if not isinstance(page, list) or not isinstance(total, int):
            raise transfer.TransferError("answered integrations.list without an integrations page")
        for item in page:
            ident = item.get("_id") if isinstance(item, dict) else None
            if isinstance(ident, str) and ident not in ids:
                ids.append(ident)
        offset += len(page)
        if not page or offset >= total:
            return ids


def _get_document(client: httpx.Client, integration_id: str) -> dict[str, Any] | None:
    """One document; None when it was removed since the list was read."""
    data = _answer(client, "/api/v1/integrations.get", {"integrationId": integration_id}, gone_ok=True)
    if not data:
        return None
    document = data.get("integration")
    if not isinstance(document, dict):
        raise transfer.TransferError(
            f"answered integrations.get for {integration_id!r} without an integration"
        )
    return document


def _answer(
    client: httpx.Client, path: str, params: dict[str, Any], *, gone_ok: bool = False
) -> dict[str, Any]:
    """The JSON object the server answers `path` with (TransferError for anything else); `{}` for
    "The integration does not exists." when `gone_ok`."""
    where = str(client.base_url).rstrip("/")
    try:
        response = client.get(path, params=params)
    except httpx.TimeoutException:
        raise transfer.TransferError(f"did not answer {path} within {HTTP_TIMEOUT:.0f} s") from None
    except httpx.TransportError as exc:
        reason = str(exc) or type(exc).__name__
        raise transfer.TransferError(f"cannot be reached ({where}: {reason})") from None
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code == 401:
        raise transfer.TransferError("refused the credentials (401): check --user-id and --token")
    if response.status_code == 403:
        raise transfer.TransferError(
            f"refused {path} (403): the user needs the manage-*-integrations permissions"
        )
    error = data.get("error") if isinstance(data, dict) else None
    if gone_ok and response.status_code == 400 and error == "The integration does not exists.":
        return {}
    if response.status_code != 200:
        detail = f": {error}" if isinstance(error, str) else ""
        raise transfer.TransferError(f"answered {path} with HTTP {response.status_code}{detail}")
    if not isinstance(data, dict):
        raise transfer.TransferError(
            f"did not answer {path} with JSON (is it a Rocket.Chat-compatible server?)"
        )
    return data


@contextlib.contextmanager
def _progress(label: str) -> Iterator[Advance]:
    """A counter of fetched integrations on a terminal; nothing when stderr is not one."""
    if not sys.stderr.isatty():
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn

    with Progress(
        SpinnerColumn(),
        TextColumn(label),
        TextColumn("{task.completed}"),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)
        yield lambda: bar.advance(task)
