"""Rocket.Chat document shapes built from rows (core-api.md §2). Pure functions, no I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hookhub.ids import iso
from hookhub.store.rows import Row

# Stored with a message an outgoing webhook's reply posted (the loop breaker's chain depth); kept
# out of the message document, which must stay Rocket.Chat's.
REPLY_DEPTH = "_hookhubReplyDepth"

# Fields of another user that any logged-in caller may see (users.info without
# view-full-other-user-info, users.register's answer).
_PUBLIC_USER_FIELDS = (
    "name",
    "username",
    "nickname",
    "status",
    "utcOffset",
    "type",
    "active",
    "bio",
    "statusText",
    "avatarETag",
)


def _date(value: datetime | None) -> str | None:
    return iso(value) if value is not None else None


def user_doc(row: Row, *, full: bool) -> dict[str, Any]:
    """A user as Rocket.Chat returns it; `full` adds emails, roles, dates (self or privileged)."""
    extra = row.get("extra") or {}
    doc: dict[str, Any] = {
        "_id": row["id"],
        "username": row["username"],
        "name": row["name"],
        "type": row["type"],
        "active": row["active"],
        "status": row["status"],
        "utcOffset": extra.get("utcOffset", 0),
    }
    for key in ("nickname", "bio", "statusText", "avatarETag"):
        if key in extra:
            doc[key] = extra[key]
    if full:
        doc["emails"] = extra.get("emails", [])
        doc["roles"] = list(row["roles"])
        doc["createdAt"] = iso(row["created_at"])
        doc["_updatedAt"] = iso(row["updated_at"])
        if row.get("last_login") is not None:
            doc["lastLogin"] = iso(row["last_login"])
        doc["requirePasswordChange"] = bool(extra.get("requirePasswordChange", False))
        doc["statusConnection"] = extra.get("statusConnection", "offline")
        if "customFields" in extra:
            doc["customFields"] = extra["customFields"]
        if "settings" in extra:
            doc["settings"] = extra["settings"]
    else:
        doc = {k: v for k, v in doc.items() if k in ("_id", *_PUBLIC_USER_FIELDS)}
    return doc


def user_list_doc(row: Row) -> dict[str, Any]:
    """users.list's default projection (core-api.md §4.4)."""
    extra = row.get("extra") or {}
    doc: dict[str, Any] = {
        "_id": row["id"],
        "username": row["username"],
        "name": row["name"],
        "emails": extra.get("emails", []),
        "roles": list(row["roles"]),
        "status": row["status"],
        "active": row["active"],
        "type": row["type"],
        "nameInsensitive": (row["name"] or "").lower(),
    }
    if row.get("last_login") is not None:
        doc["lastLogin"] = iso(row["last_login"])
    if "avatarETag" in extra:
        doc["avatarETag"] = extra["avatarETag"]
    return doc


def first_verified_email(row: Row) -> str | None:
    for email in (row.get("extra") or {}).get("emails", []):
        if email.get("verified"):
            return str(email["address"])
    return None


def me_doc(row: Row, site_url: str) -> dict[str, Any]:
    """The `/me` and login `me` object."""
    extra = row.get("extra") or {}
    doc = user_doc(row, full=True)
    doc.update(
        {
            "statusDefault": extra.get("statusDefault", "online"),
            "settings": {"profile": {}, "preferences": (extra.get("settings") or {}).get("preferences", {})},
            "avatarUrl": f"{site_url}/avatar/{row['username']}",
            "services": {"password": {"exists": row.get("password_hash") is not None}},
        }
    )
    email = first_verified_email(row)
    if email is not None:
        doc["email"] = email
    return doc


def user_ref(row: Row) -> dict[str, Any]:
    """The `{_id, username, name}` reference messages carry."""
    return {"_id": row["id"], "username": row["username"], "name": row["name"]}


def room_doc(row: Row) -> dict[str, Any]:
    """A room (§2.2); the join code is never returned, only whether one is required."""
    doc: dict[str, Any] = {
        "_id": row["id"],
        "t": row["t"],
        "msgs": row["msgs"],
        "usersCount": row["users_count"],
        "ts": iso(row["ts"]),
        "_updatedAt": iso(row["updated_at"]),
        "ro": row["ro"],
        "default": row["is_default"],
        "sysMes": True,
    }
    if row["name"] is not None:
        doc["name"] = row["name"]
    if row["fname"] is not None:
        doc["fname"] = row["fname"]
    if row["creator_id"] is not None:
        doc["u"] = {"_id": row["creator_id"], "username": row["creator_username"]}
    if row["archived"]:
        doc["archived"] = True
    if row["broadcast"]:
        doc["broadcast"] = True
    if row["t"] in ("c", "p"):
        doc["joinCodeRequired"] = row["join_code"] is not None
    if row["team_id"] is not None:
        doc["teamId"] = row["team_id"]
    if row["team_main"]:
        doc["teamMain"] = True
    if row.get("team_default") is not None:
        doc["teamDefault"] = row["team_default"]
    if row["uids"] is not None:
        doc["uids"] = row["uids"]
    if row["usernames"] is not None:
        doc["usernames"] = row["usernames"]
    if row["lm"] is not None:
        doc["lm"] = iso(row["lm"])
    if row["last_message"] is not None:
        doc["lastMessage"] = row["last_message"]
    doc.update(row.get("extra") or {})
    return doc


def message_doc(row: Row) -> dict[str, Any]:
    """A message (§2.4)."""
    doc: dict[str, Any] = {
        "_id": row["id"],
        "rid": row["rid"],
        "msg": row["msg"],
        "ts": iso(row["ts"]),
        "u": {"_id": row["u_id"], "username": row["u_username"], "name": row["u_name"]},
        "_updatedAt": iso(row["updated_at"]),
    }
    if row["t"] is not None:
        doc["t"] = row["t"]
    if row["tmid"] is not None:
        doc["tmid"] = row["tmid"]
    if row["edited_at"] is not None:
        doc["editedAt"] = iso(row["edited_at"])
        doc["editedBy"] = {"_id": row["edited_by_id"], "username": row["edited_by_username"]}
    extra = row.get("extra") or {}
    if REPLY_DEPTH in extra:
        extra = {k: v for k, v in extra.items() if k != REPLY_DEPTH}
    doc.update(extra)
    return doc


def reply_depth(row: Row) -> int:
    """How many outgoing-webhook replies led to this message (0: not a webhook reply)."""
    depth = (row.get("extra") or {}).get(REPLY_DEPTH)
    return depth if isinstance(depth, int) and not isinstance(depth, bool) and depth > 0 else 0


def subscription_doc(row: Row) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": row["id"],
        "rid": row["rid"],
        "u": {"_id": row["user_id"], "username": row["username"]},
        "t": row["t"],
        "name": row["name"],
        "fname": row["fname"],
        "open": row["open"],
        "alert": row["alert"],
        "unread": row["unread"],
        "roles": list(row["roles"]),
        "f": row["favorite"],
        "ts": iso(row["ts"]),
        "_updatedAt": iso(row["updated_at"]),
    }
    if row["ls"] is not None:
        doc["ls"] = iso(row["ls"])
    return doc
