"""Teams and their members (teams.md §1)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hookhub.store.rows import Row, all_rows, one_or_none
from hookhub.store.tables import rooms, team_members, teams, users

PUBLIC, PRIVATE = 0, 1  # teams.type


async def insert_team(conn: AsyncConnection, values: Row) -> None:
    await conn.execute(insert(teams).values(**values))


async def get_team(conn: AsyncConnection, team_id: str) -> Row | None:
    return one_or_none(await conn.execute(select(teams).where(teams.c.id == team_id)))


async def get_team_by_name(conn: AsyncConnection, name: str) -> Row | None:
    """The team named exactly `name`."""
    return one_or_none(await conn.execute(select(teams).where(teams.c.name == name)))


async def name_taken(conn: AsyncConnection, name: str) -> bool:
    """Whether a team or a user already has `name`, ignoring case."""
    lower = name.lower()
    team = await conn.execute(select(teams.c.id).where(teams.c.name_lower == lower).limit(1))
    if team.first() is not None:
        return True
    user = await conn.execute(select(users.c.id).where(users.c.username_lower == lower).limit(1))
    return user.first() is not None


async def update_team(conn: AsyncConnection, team_id: str, values: Row) -> None:
    await conn.execute(update(teams).where(teams.c.id == team_id).values(**values))


async def delete_team(conn: AsyncConnection, team_id: str) -> None:
    """The team and (foreign keys cascade) its member rows."""
    await conn.execute(delete(teams).where(teams.c.id == team_id))


def _with_counts() -> Any:
    child_rooms = (
        select(func.count())
        .select_from(rooms)
        .where(rooms.c.team_id == teams.c.id, rooms.c.team_main.is_(False))
        .scalar_subquery()
    )
    members = (
        select(func.count())
        .select_from(team_members)
        .where(team_members.c.team_id == teams.c.id)
        .scalar_subquery()
    )
    return select(teams, child_rooms.label("_rooms"), members.label("_members"))


# wire field -> column teams.list may sort by
SORTABLE = {
    "name": teams.c.name,
    "type": teams.c.type,
    "createdAt": teams.c.created_at,
    "_updatedAt": teams.c.updated_at,
}


async def list_teams(
    conn: AsyncConnection,
    *,
    member_id: str | None,
    offset: int,
    count: int | None,
    sort: dict[str, int] | None = None,
) -> tuple[list[Row], int]:
    """A page of teams (those `member_id` belongs to, or all) with their child-room and member
    counts as `_rooms` / `_members`, ordered by `sort` (known fields only) then creation; and
    the total."""
    stmt = _with_counts()
    total_stmt = select(func.count()).select_from(teams)
    if member_id is not None:
        mine = select(team_members.c.team_id).where(team_members.c.user_id == member_id)
        stmt = stmt.where(teams.c.id.in_(mine))
        total_stmt = total_stmt.where(teams.c.id.in_(mine))
    order = [
        SORTABLE[field].desc() if direction < 0 else SORTABLE[field].asc()
        for field, direction in (sort or {}).items()
        if field in SORTABLE
    ]
    stmt = stmt.order_by(*order, teams.c.created_at, teams.c.id).offset(offset)
    if count is not None:
        stmt = stmt.limit(count)
    total = int((await conn.execute(total_stmt)).scalar_one())
    return all_rows(await conn.execute(stmt)), total


# -- members ---------------------------------------------------------------------------------------


async def insert_member(conn: AsyncConnection, values: Row) -> bool:
    """Add a member row; False (nothing written) when the user already is a member."""
    if await get_member(conn, values["team_id"], values["user_id"]) is not None:
        return False
    await conn.execute(insert(team_members).values(**values))
    return True


async def get_member(conn: AsyncConnection, team_id: str, user_id: str) -> Row | None:
    stmt = select(team_members).where(team_members.c.team_id == team_id, team_members.c.user_id == user_id)
    return one_or_none(await conn.execute(stmt))


async def set_member_roles(
    conn: AsyncConnection, team_id: str, user_id: str, roles: list[str] | None, when: datetime
) -> bool:
    """Replace a member's roles; False when the user is not a member."""
    stmt = (
        update(team_members)
        .where(team_members.c.team_id == team_id, team_members.c.user_id == user_id)
        .values(roles=roles, updated_at=when)
    )
    return bool((await conn.execute(stmt)).rowcount)


async def delete_member(conn: AsyncConnection, team_id: str, user_id: str) -> bool:
    stmt = delete(team_members).where(team_members.c.team_id == team_id, team_members.c.user_id == user_id)
    return bool((await conn.execute(stmt)).rowcount)


async def owners(conn: AsyncConnection, team_id: str) -> list[Row]:
    """Member rows holding the `owner` role."""
    stmt = select(team_members).where(team_members.c.team_id == team_id).order_by(team_members.c.id)
    return [m for m in all_rows(await conn.execute(stmt)) if "owner" in (m["roles"] or [])]


def _contains(column: Any, text: str) -> Any:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return func.lower(column).like(f"%{escaped}%", escape="\\")


async def members_page(
    conn: AsyncConnection,
    team_id: str,
    *,
    username: str | None,
    name: str | None,
    statuses: Sequence[str],
    offset: int,
    count: int | None,
) -> tuple[list[Row], int]:
    """Active members in the order they were added, each row with the member's columns and the
    user's as `user_*`; filters are case-insensitive substrings (None or "" = no filter)."""
    columns: list[Any] = [
        team_members,
        users.c.username.label("user_username"),
        users.c.name.label("user_name"),
        users.c.status.label("user_status"),
    ]
    conditions = [team_members.c.team_id == team_id, users.c.active.is_(True)]
    if username:
        conditions.append(_contains(users.c.username, username))
    if name:
        conditions.append(_contains(users.c.name, name))
    if statuses:
        conditions.append(or_(*(users.c.status == s for s in statuses)))
    joined = team_members.join(users, users.c.id == team_members.c.user_id)
    stmt = select(*columns).select_from(joined).where(*conditions).order_by(team_members.c.id).offset(offset)
    if count is not None:
        stmt = stmt.limit(count)
    total = (await conn.execute(select(func.count()).select_from(joined).where(*conditions))).scalar_one()
    return all_rows(await conn.execute(stmt)), int(total)


async def team_rooms(conn: AsyncConnection, team_id: str) -> list[Row]:
    """Every room of the team, the main room included."""
    return all_rows(await conn.execute(select(rooms).where(rooms.c.team_id == team_id)))


async def main_rooms(conn: AsyncConnection) -> list[Row]:
    """The main room of every team."""
    return all_rows(await conn.execute(select(rooms).where(rooms.c.team_main.is_(True))))
