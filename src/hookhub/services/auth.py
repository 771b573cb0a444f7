"""Logging in and out, token authentication, personal access tokens (core-api.md §3, §4.8)."""

from __future__ import annotations

from typing import Any

from hookhub.ids import random_id, random_token
from hookhub.services.context import Ctx
from hookhub.services.credentials import PasswordHashing, hash_token, tokens_equal
from hookhub.services.errors import Failure, LoginFailed, MeteorError
from hookhub.store import users
from hookhub.store.rows import Row

_UNAUTHORIZED = LoginFailed("Unauthorized", "Unauthorized")


async def authenticate(ctx: Ctx, user_id: str, token: str) -> Row | None:
    """The user owning `token`, when it belongs to `user_id` and the user is active."""
    if not user_id or not token:
        return None
    row = await users.user_for_token(ctx.conn, user_id, hash_token(token))
    if row is None or not row["active"]:
        return None
    return row


async def issue_login_token(ctx: Ctx, user: Row) -> str:
    token = random_token()
    await users.insert_token(
        ctx.conn,
        {
            "id": random_id(),
            "user_id": user["id"],
            "hashed_token": hash_token(token),
            "type": "login",
            "name": None,
            "last_token_part": None,
            "bypass_two_factor": False,
            "created_at": ctx.now(),
        },
    )
    return token


async def login(ctx: Ctx, hashing: PasswordHashing, body: dict[str, Any]) -> tuple[Row, str]:
    """Password or `resume` login. Returns the user and the token to hand back."""
    if isinstance(body.get("resume"), str):
        token = body["resume"]
        stored = await users.token_by_hash(ctx.conn, hash_token(token))
        user = await users.get_by_id(ctx.conn, stored["user_id"]) if stored else None
        if user is None:
            raise LoginFailed("403", "You've been logged out by the server. Please log in again.")
        _check_can_login(user)
        await users.touch_login(ctx.conn, user["id"], ctx.now())
        return user, token

    password = body.get("password")
    if isinstance(password, dict):
        raise LoginFailed("Unauthorized", "Unauthorized")
    identifier = body.get("user") or body.get("username") or body.get("email")
    if not isinstance(identifier, str) or not identifier or not isinstance(password, str):
        raise LoginFailed("Unauthorized", "Unauthorized")
    if "@" in identifier and not body.get("username"):
        user = await users.get_by_email(ctx.conn, identifier)
    else:
        user = await users.get_by_username(ctx.conn, identifier)
    stored_hash = user["password_hash"] if user else None
    if not await hashing.verify(stored_hash, password) or user is None:
        raise _UNAUTHORIZED
    _check_can_login(user)
    await users.touch_login(ctx.conn, user["id"], ctx.now())
    refreshed = await users.get_by_id(ctx.conn, user["id"])
    assert refreshed is not None
    return refreshed, await issue_login_token(ctx, refreshed)


def _check_can_login(user: Row) -> None:
    if not user["active"]:
        raise LoginFailed("error-user-is-not-activated", "User is not activated")
    if user["type"] == "app" or user["roles"] is None:
        raise _UNAUTHORIZED


async def logout(ctx: Ctx, token: str) -> None:
    await users.delete_token_by_hash(ctx.conn, hash_token(token))


async def create_token_for(ctx: Ctx, caller: Row, target: Row, secret: str | None) -> str:
    """`users.createToken` (Rocket.Chat 8.x): a normal login token for `target`, only with the
    server's CREATE_TOKENS_FOR_USERS_SECRET, and for someone else only with
    `user-generate-access-token`. Both refusals read the same, as in Rocket.Chat."""
    expected = ctx.settings.create_tokens_secret
    allowed = bool(expected) and isinstance(secret, str) and tokens_equal(secret, expected or "")
    if allowed and caller["id"] != target["id"]:
        allowed = await ctx.can(caller, "user-generate-access-token")
    if not allowed:
        raise MeteorError("Not authorized", "error-not-authorized")
    return await issue_login_token(ctx, target)


async def generate_personal_token(ctx: Ctx, user: Row, name: str, bypass_two_factor: bool) -> str:
    if not await ctx.can(user, "create-personal-access-tokens"):
        raise MeteorError(
            "Not Authorized", "not-authorized", {"method": "personalAccessTokens:generateToken"}
        )
    if await users.personal_token_by_name(ctx.conn, user["id"], name) is not None:
        raise MeteorError(
            "A token with this name already exists",
            "error-token-already-exists",
            {"method": "personalAccessTokens:generateToken"},
        )
    return await _insert_personal_token(ctx, user, name, bypass_two_factor)


async def regenerate_personal_token(ctx: Ctx, user: Row, name: str) -> str:
    if not await ctx.can(user, "create-personal-access-tokens"):
        raise MeteorError(
            "Not Authorized", "not-authorized", {"method": "personalAccessTokens:regenerateToken"}
        )
    existing = await users.personal_token_by_name(ctx.conn, user["id"], name)
    if existing is None:
        raise MeteorError(
            "Token does not exist",
            "error-token-does-not-exists",
            {"method": "personalAccessTokens:regenerateToken"},
        )
    await users.delete_personal_token(ctx.conn, user["id"], name)
    return await _insert_personal_token(ctx, user, name, existing["bypass_two_factor"])


async def remove_personal_token(ctx: Ctx, user: Row, name: str) -> None:
    if not await ctx.can(user, "create-personal-access-tokens"):
        raise MeteorError("Not Authorized", "not-authorized", {"method": "personalAccessTokens:removeToken"})
    if await users.personal_token_by_name(ctx.conn, user["id"], name) is None:
        raise MeteorError(
            "Token does not exist",
            "error-token-does-not-exists",
            {"method": "personalAccessTokens:removeToken"},
        )
    await users.delete_personal_token(ctx.conn, user["id"], name)


async def _insert_personal_token(ctx: Ctx, user: Row, name: str, bypass_two_factor: bool) -> str:
    if not name:
        raise Failure("The 'tokenName' param is required")
    token = random_token()
    await users.insert_token(
        ctx.conn,
        {
            "id": random_id(),
            "user_id": user["id"],
            "hashed_token": hash_token(token),
            "type": "personalAccessToken",
            "name": name,
            "last_token_part": token[-6:],
            "bypass_two_factor": bypass_two_factor,
            "created_at": ctx.now(),
        },
    )
    return token
