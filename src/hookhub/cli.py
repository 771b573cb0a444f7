"""`hookhub serve | migrate`."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import NoReturn

import typer

from hookhub import log_records
from hookhub.cli_admin import admin
from hookhub.cli_backup import backup
from hookhub.cli_integrations import integrations
from hookhub.config import Settings, SettingsError, load_settings
from hookhub.serving import NOT_STARTED, Supervisor, serve_one

cli = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="hookhub: Rocket.Chat-compatible webhooks.",
    # A traceback must never print local variables: they can hold ADMIN_PASS or database passwords.
    pretty_exceptions_show_locals=False,
)
cli.add_typer(admin, name="admin")
cli.add_typer(integrations, name="integrations")


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        _fail(str(exc))


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"hookhub: {message}", err=True)
    raise typer.Exit(code)


def _migrate(settings: Settings) -> None:
    from hookhub.store.migrate import upgrade

    if settings.is_sqlite and settings.database_url is None:
        try:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _fail(f"cannot use HOOKHUB_DATA_DIR {str(settings.data_dir)!r}: {exc.strerror or exc}")
    try:
        upgrade(settings.effective_database_url)
    except Exception as exc:
        # One line for the operator; the cause is in the message (unreachable host, bad password...).
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _fail(f"cannot prepare the database {_redacted(settings.effective_database_url)}: {reason}", 1)


@cli.command()
def serve(
    host: str | None = typer.Option(None, help="Address to listen on [env HOOKHUB_HOST, default 127.0.0.1]"),
    port: int | None = typer.Option(None, help="Port to listen on [env HOOKHUB_PORT, default 3000]"),
    workers: int | None = typer.Option(
        None, help="Worker processes sharing the port [env HOOKHUB_WORKERS, default 1]"
    ),
) -> None:
    """Apply migrations, then serve the API until SIGTERM/SIGINT (in-flight requests finish)."""
    from hookhub.app import create_app

    settings = _settings(host=host, port=port, workers=workers)
    log_records.configure(settings.log_level, settings.log_format)
    _migrate(settings)
    app = create_app(settings)
    where = f"http://{settings.host}:{settings.port}"
    typer.echo(f"hookhub starting on {where} (database: {_redacted(settings.effective_database_url)})")
    if settings.admin_pass:
        typer.echo(f"admin: log in as {settings.admin_username or 'admin'} with ADMIN_PASS")
    else:
        typer.echo(
            "admin: set ADMIN_USERNAME/ADMIN_PASS before the first start, or register the first user "
            f"(POST {where}/api/v1/users.register) while no admin exists: it becomes admin"
        )
    if settings.workers > 1:
        _serve_workers(settings)
        return
    with contextlib.suppress(KeyboardInterrupt):
        started = serve_one(app, settings)
    if not started:
        # e.g. the port is taken; uvicorn has logged why
        raise typer.Exit(NOT_STARTED)


def _serve_workers(settings: Settings) -> None:
    """`serve` with several worker processes on one port (`serving.Supervisor`). The database
    is bootstrapped here first, once: N processes bootstrapping an empty PostgreSQL database at
    the same moment would race on its unique keys.
    Each worker reads its settings from the environment, which gets the command line's too."""
    import asyncio

    from hookhub.hub import Hub

    async def bootstrap_once() -> None:
        hub = Hub(settings)
        try:
            await hub.start()
        finally:
            await hub.close()

    asyncio.run(bootstrap_once())
    os.environ["HOOKHUB_HOST"] = settings.host
    os.environ["HOOKHUB_PORT"] = str(settings.port)
    os.environ["HOOKHUB_WORKERS"] = "1"  # a worker is one process
    status = Supervisor(settings).run()
    if status:
        raise typer.Exit(status)


def _redacted(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


@cli.command()
def migrate() -> None:
    """Apply database migrations and exit."""
    settings = _settings()
    _migrate(settings)
    typer.echo("migrations applied")


cli.command("backup")(backup)


def main() -> None:
    try:
        cli()
    except SettingsError as exc:  # pragma: no cover - _settings already reports
        typer.echo(f"hookhub: {exc}", err=True)
        sys.exit(2)
