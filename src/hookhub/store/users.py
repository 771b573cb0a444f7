"""Users and their login tokens."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Text, delete, func, insert, or_, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hookhub.store.rows import Row, all_rows, one_or_none
from hookhub.store.tables import login_tokens, users


async def insert_user(conn: AsyncConnection, values: Row) -> None:
    await conn.execute(insert(users).values(**values))


async def get_by_id(conn: AsyncConnection, user_id: str) -> Row | None:
    return one_or_none(await conn.execute(select(users).where(users.c.id == user_id)))


async def get_by_username(conn: AsyncConnection, username: str) -> Row | None:
    stmt = select(users).where(users.c.username_lower == username.lower())
    return one_or_none(await conn.execute(stmt))


async def get_by_email(conn: AsyncConnection, email: str) -> Row | None:
    return one_or_none(await conn.execute(select(users).where(users.c.email_lower == email.lower())))


async def get_by_id_or_username(conn: AsyncConnection, value: str) -> Row | None:
    stmt = select(users).where(or_(users.c.id == value, users.c.username_lower == value.lower()))
    return one_or_none(await conn.execute(stmt.limit(1)))


async def get_by_params(
    conn: AsyncConnection, user_id: str | None, username: str | None, user: str | None
) -> Row | None:
    """The first given of `userId`, `username`, `user` (id or username) decides the lookup,
    as in Rocket.Chat's user-targeted routes."""
    if user_id:
        return await get_by_id(conn, user_id)
    if username:
        return await get_by_username(conn, username)
    if user:
        return await get_by_id_or_username(conn, user)
    return None


async def get_many_by_usernames(conn: AsyncConnection, usernames: Sequence[str]) -> list[Row]:
    lowered = [u.lower() for u in usernames]
    return all_rows(await conn.execute(select(users).where(users.c.username_lower.in_(lowered))))


async def get_many_by_ids(conn: AsyncConnection, ids: Sequence[str]) -> list[Row]:
    return all_rows(await conn.execute(select(users).where(users.c.id.in_(list(ids)))))


async def update_user(conn: AsyncConnection, user_id: str, values: Row) -> None:
    await conn.execute(update(users).where(users.c.id == user_id).values(**values))


async def delete_user(conn: AsyncConnection, user_id: str) -> None:
    await conn.execute(delete(users).where(users.c.id == user_id))


def _has_role(role: str) -> ColumnElement[bool]:
    # roles is a JSON list kept as text: '"admin"' only matches the whole element.
    return type_coerce(users.c.roles, Text).like(f'%"{role}"%')


async def any_with_role(conn: AsyncConnection, role: str, *, user_type: str | None = None) -> bool:
    stmt = select(users.c.id).where(_has_role(role))
    if user_type is not None:
        stmt = stmt.where(users.c.type == user_type)
    return (await conn.execute(stmt.limit(1))).first() is not None


async def count_with_role(conn: AsyncConnection, role: str, *, active_only: bool = False) -> int:
    stmt = select(func.count()).select_from(users).where(_has_role(role))
    if active_only:
        stmt = stmt.where(users.c.active.is_(True))
    return int((await conn.execute(stmt)).scalar_one())


async def oldest_user(conn: AsyncConnection) -> Row | None:
    stmt = select(users).where(users.c.type == "user").order_by(users.c.created_at, users.c.id).limit(1)
    return one_or_none(await conn.execute(stmt))


async def list_users(
    conn: AsyncConnection,
    *,
    where: Sequence[ColumnElement[bool]] = (),
    order_by: Sequence[Any] = (),
    offset: int = 0,
    limit: int | None = None,
) -> tuple[list[Row], int]:
    base = select(users).where(*where)
    total = int((await conn.execute(select(func.count()).select_from(base.subquery()))).scalar_one())
    stmt = base.order_by(*order_by, users.c.id).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return all_rows(await conn.execute(stmt)), total


async def list_with_role(conn: AsyncConnection, role: str) -> list[Row]:
    return all_rows(await conn.execute(select(users).where(_has_role(role)).order_by(users.c.username)))


# -- login tokens ---------------------------------------------------------------------------


async def insert_token(conn: AsyncConnection, values: Row) -> None:
    await conn.execute(insert(login_tokens).values(**values))


async def user_for_token(conn: AsyncConnection, user_id: str, hashed_token: str) -> Row | None:
    stmt = (
        select(users)
        .join(login_tokens, login_tokens.c.user_id == users.c.id)
        .where(login_tokens.c.hashed_token == hashed_token, users.c.id == user_id)
    )
    return one_or_none(await conn.execute(stmt))


async def token_by_hash(conn: AsyncConnection, hashed_token: str) -> Row | None:
    stmt = select(login_tokens).where(login_tokens.c.hashed_token == hashed_token)
    return one_or_none(await conn.execute(stmt))


async def delete_token_by_hash(conn: AsyncConnection, hashed_token: str) -> None:
    await conn.execute(delete(login_tokens).where(login_tokens.c.hashed_token == hashed_token))


async def delete_login_tokens(conn: AsyncConnection, user_id: str) -> None:
    """Drop every ordinary login token of a user (personal access tokens stay)."""
    stmt = delete(login_tokens).where(login_tokens.c.user_id == user_id, login_tokens.c.type == "login")
    await conn.execute(stmt)


async def personal_tokens(conn: AsyncConnection, user_id: str) -> list[Row]:
    stmt = (
        select(login_tokens)
        .where(login_tokens.c.user_id == user_id, login_tokens.c.type == "personalAccessToken")
        .order_by(login_tokens.c.created_at)
    )
    return all_rows(await conn.execute(stmt))


async def personal_token_by_name(conn: AsyncConnection, user_id: str, name: str) -> Row | None:
    stmt = select(login_tokens).where(
        login_tokens.c.user_id == user_id,
        login_tokens.c.type == "personalAccessToken",
        login_tokens.c.name == name,
    )
    return one_or_none(await conn.execute(stmt))


async def delete_personal_token(conn: AsyncConnection, user_id: str, name: str) -> None:
    await conn.execute(
        delete(login_tokens).where(
            login_tokens.c.user_id == user_id,
            login_tokens.c.type == "personalAccessToken",
            login_tokens.c.name == name,
        )
    )


async def touch_login(conn: AsyncConnection, user_id: str, when: datetime) -> None:
    await conn.execute(update(users).where(users.c.id == user_id).values(last_login=when))
