"""`hookhub serve | migrate`."""

from __future__ import annotations

import logging
import sys

import typer

from hookhub.config import Settings, SettingsError, load_settings

cli = typer.Typer(
    add_completion=False, no_args_is_help=True, help="hookhub: Rocket.Chat-compatible webhooks."
)


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        typer.echo(f"hookhub: {exc}", err=True)
        raise typer.Exit(2) from None


def _migrate(settings: Settings) -> None:
    from hookhub.store.migrate import upgrade

    if settings.is_sqlite and settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)


@cli.command()
def serve(
    host: str | None = typer.Option(None, help="Address to listen on [env HOOKHUB_HOST, default 127.0.0.1]"),
    port: int | None = typer.Option(None, help="Port to listen on [env HOOKHUB_PORT, default 3000]"),
) -> None:
    """Apply migrations, then serve the API until SIGTERM/SIGINT (in-flight requests finish)."""
    import uvicorn

    from hookhub.app import create_app

    settings = _settings(host=host, port=port)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    _migrate(settings)
    app = create_app(settings)
    where = f"http://{settings.host}:{settings.port}"
    typer.echo(f"hookhub listening on {where} (database: {_redacted(settings.effective_database_url)})")
    if settings.admin_pass:
        typer.echo(f"admin: log in as {settings.admin_username or 'admin'} with ADMIN_PASS")
    else:
        typer.echo(
            "admin: set ADMIN_USERNAME/ADMIN_PASS before the first start, or register the first user "
            f"(POST {where}/api/v1/users.register) while no admin exists: it becomes admin"
        )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=30,
        server_header=False,
    )


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


def main() -> None:
    try:
        cli()
    except SettingsError as exc:  # pragma: no cover - _settings already reports
        typer.echo(f"hookhub: {exc}", err=True)
        sys.exit(2)
