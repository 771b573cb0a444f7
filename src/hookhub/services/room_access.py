"""Who may read a room. One function, used by every read and write path."""

from __future__ import annotations

from hookhub.services.context import Ctx
from hookhub.store import rooms, teams
from hookhub.store.rows import Row


async def is_member(ctx: Ctx, room_id: str, user_id: str) -> bool:
    return await rooms.get_subscription(ctx.conn, room_id, user_id) is not None


async def can_access_room(ctx: Ctx, room: Row, user: Row, *, member: bool | None = None) -> bool:
    """Rocket.Chat's `canAccessRoom` (teams.md §4): room members; for a public channel also
    anyone holding `view-c-room`, except that a public channel of a private team is open to
    that team's members only, administrators included. Private groups and direct messages:
    members only.

    `member` is the membership when the caller has just looked it up in this transaction (the
    hook hot path does, while auto-joining): the subscription is not read a second time."""
    if member is None:
        member = await is_member(ctx, room["id"], user["id"])
    if member:
        return True
    if room["t"] != "c":
        return False
    team_id = room.get("team_id")
    if team_id:
        team = await teams.get_team(ctx.conn, str(team_id))
        if team is not None and team["type"] == teams.PRIVATE:
            return await teams.get_member(ctx.conn, team["id"], str(user["id"])) is not None
    return await ctx.can(user, "view-c-room")
