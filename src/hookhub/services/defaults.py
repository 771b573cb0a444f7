"""Rocket.Chat's built-in roles and default permission -> roles table (core-api.md §10.4, §10.5)."""

from __future__ import annotations

from typing import NamedTuple


class RoleSpec(NamedTuple):
    id: str
    scope: str
    description: str


DEFAULT_ROLES: tuple[RoleSpec, ...] = (
    RoleSpec("admin", "Users", "Admin"),
    RoleSpec("moderator", "Subscriptions", "Moderator"),
    RoleSpec("leader", "Subscriptions", "Leader"),
    RoleSpec("owner", "Subscriptions", "Owner"),
    RoleSpec("user", "Users", ""),
    RoleSpec("bot", "Users", ""),
    RoleSpec("app", "Users", ""),
    RoleSpec("guest", "Users", ""),
    RoleSpec("anonymous", "Users", ""),
    RoleSpec("livechat-agent", "Users", "Livechat Agent"),
    RoleSpec("livechat-manager", "Users", "Livechat Manager"),
)

ROOM_SCOPED_ROLES = frozenset(r.id for r in DEFAULT_ROLES if r.scope == "Subscriptions")

# Applied on every start only for permissions that do not exist yet: admins' edits persist.
DEFAULT_PERMISSIONS: dict[str, tuple[str, ...]] = {
    # teams (teams.md §5); owner and moderator are roles on the team's main room
    "create-team": ("admin", "user"),
    "delete-team": ("admin", "owner"),
    "convert-team": ("admin", "owner"),
    "edit-team": ("admin", "owner"),
    "add-team-member": ("admin", "owner", "moderator"),
    "edit-team-member": ("admin", "owner", "moderator"),
    "move-room-to-team": ("admin", "owner", "moderator"),
    "create-team-channel": ("admin", "owner", "moderator"),
    "create-team-group": ("admin", "owner", "moderator"),
    "delete-team-channel": ("admin", "owner", "moderator"),
    "delete-team-group": ("admin", "owner", "moderator"),
    "edit-team-channel": ("admin", "owner", "moderator"),
    "remove-team-channel": ("admin", "owner", "moderator"),
    "view-all-team-channels": ("admin", "owner"),
    "view-all-teams": ("admin",),
    "access-permissions": ("admin",),
    "add-user-to-joined-room": ("admin", "owner", "moderator"),
    "add-user-to-any-c-room": ("admin",),
    "add-user-to-any-p-room": (),
    "kick-user-from-any-c-room": ("admin",),
    "kick-user-from-any-p-room": (),
    "api-bypass-rate-limit": ("admin", "bot", "app"),
    "archive-room": ("admin", "owner"),
    "unarchive-room": ("admin",),
    "assign-admin-role": ("admin",),
    "assign-roles": ("admin",),
    "create-c": ("admin", "user", "bot", "app"),
    "create-d": ("admin", "user", "bot", "app"),
    "create-p": ("admin", "user", "bot", "app"),
    "create-personal-access-tokens": ("admin", "user"),
    "create-user": ("admin",),
    "delete-c": ("admin", "owner"),
    "delete-d": ("admin",),
    "delete-p": ("admin", "owner"),
    "delete-message": ("admin", "owner", "moderator"),
    "delete-own-message": ("admin", "user"),
    "delete-user": ("admin",),
    "edit-message": ("admin", "owner", "moderator"),
    "edit-other-user-active-status": ("admin",),
    "edit-other-user-info": ("admin",),
    "edit-other-user-password": ("admin",),
    "edit-room": ("admin", "owner", "moderator"),
    "force-delete-message": ("admin", "owner"),
    "join-without-join-code": ("admin", "bot", "app"),
    "leave-c": ("admin", "user", "bot", "anonymous", "app"),
    "leave-p": ("admin", "user", "bot", "anonymous", "app"),
    "manage-incoming-integrations": ("admin",),
    "manage-outgoing-integrations": ("admin",),
    "manage-own-incoming-integrations": ("admin",),
    "manage-own-outgoing-integrations": ("admin",),
    "mention-all": ("admin", "owner", "moderator", "user"),
    "mention-here": ("admin", "owner", "moderator", "user"),
    "message-impersonate": ("bot", "app"),
    "mute-user": ("admin", "owner", "moderator"),
    "pin-message": ("owner", "moderator", "admin"),
    "post-readonly": ("admin", "owner", "moderator"),
    "remove-user": ("admin", "owner", "moderator"),
    "send-many-messages": ("admin", "bot", "app"),
    "set-leader": ("admin", "owner"),
    "set-moderator": ("admin", "owner"),
    "set-owner": ("admin", "owner"),
    "set-readonly": ("admin", "owner"),
    "user-generate-access-token": ("admin",),
    "view-c-room": ("admin", "user", "bot", "app", "anonymous"),
    "view-d-room": ("admin", "user", "bot", "app", "guest"),
    "view-p-room": ("admin", "user", "anonymous", "guest"),
    "view-joined-room": ("guest", "bot", "app", "anonymous"),
    "view-full-other-user-info": ("admin",),
    "view-other-user-channels": ("admin",),
    "view-outside-room": ("admin", "owner", "moderator", "user"),
    "view-room-administration": ("admin",),
    "view-user-administration": ("admin",),
    "view-broadcast-member-list": ("admin", "owner", "moderator"),
    "get-server-info": ("admin",),
    "add-all-to-room": ("admin",),
    "logout-other-user": ("admin",),
    "bypass-time-limit-edit-and-delete": ("bot", "app"),
}
