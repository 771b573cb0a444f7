"""`hookhub admin create-user | reset-password | list-users`: user administration from the shell,
with the server stopped or running (SQLite serialises the writers; PostgreSQL has its own
concurrency). Every command goes through the same services as the REST API, so usernames, e-mails
and roles follow the rules of `users.create`/`users.update`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import typer

from hookhub.config import Settings
from hookhub.services.errors import HookhubError
from hookhub.store.rows import Row

T = TypeVar("T")

admin = typer.Typer(
    help="Manage users (works with the server stopped or running).",
    no_args_is_help=True,
    add_completion=False,
)

# The actor the services check permissions against: the operator at the shell, who may do what the
# `admin` role may. Its id matches no user, so no change is ever treated as "editing oneself".
_OPERATOR: Row = {"id": "hookhub-cli", "username": None, "roles": ["admin"], "type": "user", "active": True}


def _refuse(message: str) -> NoReturn:
    typer.echo(f"hookhub: {message}", err=True)
    raise typer.Exit(1)


def _prepared_settings() -> Settings:
    """Settings as `serve` loads them, with the database migrated to this version's head."""
    from hookhub.cli import _migrate, _settings  # deferred: cli registers this module

    settings = _settings()
    _migrate(settings)
    return settings


def _run(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Open a hub, make sure the database is bootstrapped (roles, permissions; idempotent, as every
    server start does), run `work(hub)` and close the hub."""
    from hookhub.hub import Hub

    async def main() -> T:
        hub = Hub(settings)
        try:
            await hub.start()
            return await work(hub)
        finally:
            await hub.close()

    try:
        return asyncio.run(main())
    except HookhubError as exc:
        _refuse(str(exc))


def _password(given: str | None) -> str:
    """`--password`, or asked twice without echo."""
    if given is not None:
        password = given
    else:
        password = typer.prompt("Password", hide_input=True, default="", show_default=False)
        again = typer.prompt("Repeat password", hide_input=True, default="", show_default=False)
        if password != again:
            _refuse("the two passwords do not match")
    if not password:
        _refuse("The field Password is required")
    return password


@admin.command("create-user")
def create_user(
    username: str = typer.Argument(..., help="Login name"),
    email: str = typer.Option(..., "--email", help="E-mail address"),
    name: str = typer.Option(..., "--name", help="Display name"),
    password: str | None = typer.Option(
        None, "--password", help="Password (asked for, hidden and twice, when omitted)"
    ),
    role: list[str] = typer.Option(["user"], "--role", help="Role to give (repeatable); default user"),
) -> None:
    """Create an active user with the same rules as users.create."""
    settings = _prepared_settings()
    secret = _password(password)

    async def work(hub: Any) -> Row:
        from hookhub.services import users as user_service

        body = {"username": username, "email": email, "name": name, "password": secret, "roles": role}
        async with hub.tx() as ctx:
            row: Row = await user_service.create(ctx, hub.hashing, _OPERATOR, body)
        return row

    row = _run(settings, work)
    typer.echo(f"created user {row['username']} ({row['id']})")


@admin.command("reset-password")
def reset_password(
    username: str = typer.Argument(..., help="Login name"),
    password: str | None = typer.Option(
        None, "--password", help="New password (asked for, hidden and twice, when omitted)"
    ),
) -> None:
    """Set a user's password (users.update's rules)."""
    settings = _prepared_settings()
    secret = _password(password)

    async def work(hub: Any) -> Row | None:
        from hookhub.services import users as user_service
        from hookhub.store import users as user_store

        async with hub.tx() as ctx:
            target = await user_store.get_by_username(ctx.conn, username)
            if target is None:
                return None
            updated: Row = await user_service.update(
                ctx, hub.hashing, _OPERATOR, target["id"], {"password": secret}
            )
        return updated

    row = _run(settings, work)
    if row is None:
        _refuse(f"no user named {username}")
    typer.echo(f"password changed for {row['username']}")


@admin.command("list-users")
def list_users(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array instead of a table"),
) -> None:
    """List every user: username, name, roles, active, last login."""
    settings = _prepared_settings()

    async def work(hub: Any) -> list[Row]:
        from hookhub.store import tables
        from hookhub.store import users as user_store

        async with hub.tx(write=False) as ctx:
            rows, _total = await user_store.list_users(ctx.conn, order_by=[tables.users.c.username_lower])
        return rows

    rows = _run(settings, work)
    if as_json:
        out = [
            {
                "_id": r["id"],
                "username": r["username"],
                "name": r["name"],
                "roles": list(r["roles"] or []),
                "active": bool(r["active"]),
            }
            for r in rows
        ]
        typer.echo(json.dumps(out))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("username", "name", "roles", "active", "last login")
    for r in rows:
        last = r["last_login"]
        table.add_row(
            r["username"] or "",
            r["name"] or "",
            ", ".join(r["roles"] or []),
            "yes" if r["active"] else "no",
            last.strftime("%Y-%m-%d %H:%M:%S") if last is not None else "never",
        )
    Console(soft_wrap=True).print(table)
