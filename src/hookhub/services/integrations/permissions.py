"""The four integration permissions and the visibility rules built on them
(rest-integrations.md §10)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, or_, true

from hookhub.services.context import Ctx
from hookhub.services.errors import MeteorError
from hookhub.store import integrations as store

Kind = Literal["incoming", "outgoing"]

INCOMING = "webhook-incoming"
OUTGOING = "webhook-outgoing"

ALL_PERMISSIONS = (
    "manage-outgoing-integrations",
    "manage-own-outgoing-integrations",
    "manage-incoming-integrations",
    "manage-own-incoming-integrations",
)


def kind_of(document: dict[str, Any]) -> Kind:
    """Rocket.Chat treats every type other than `webhook-incoming` as outgoing."""
    return "incoming" if document.get("type") == INCOMING else "outgoing"


@dataclass(frozen=True)
class Rights:
    """Which of the four permissions a user holds (all global: no room scope)."""

    all_incoming: bool
    own_incoming: bool
    all_outgoing: bool
    own_outgoing: bool

    @property
    def any(self) -> bool:
        return self.all_incoming or self.own_incoming or self.all_outgoing or self.own_outgoing

    def manage_all(self, kind: Kind) -> bool:
        return self.all_incoming if kind == "incoming" else self.all_outgoing

    def manage_own(self, kind: Kind) -> bool:
        return self.own_incoming if kind == "incoming" else self.own_outgoing

    def manage_any(self, kind: Kind) -> bool:
        return self.manage_all(kind) or self.manage_own(kind)

    def manage_both(self, kind: Kind) -> bool:
        """Both permissions of a kind: what lifts the room-membership rule on create/update."""
        return self.manage_all(kind) and self.manage_own(kind)

    def may_manage(self, kind: Kind, document: dict[str, Any], user_id: str) -> bool:
        """The per-document check of get/update/remove: all of the kind, or own and the creator."""
        if self.manage_all(kind):
            return True
        creator = document.get("_createdBy") or {}
        return self.manage_own(kind) and creator.get("_id") == user_id


async def rights_of(ctx: Ctx, user: dict[str, Any]) -> Rights:
    return Rights(
        all_incoming=await ctx.can(user, "manage-incoming-integrations"),
        own_incoming=await ctx.can(user, "manage-own-incoming-integrations"),
        all_outgoing=await ctx.can(user, "manage-outgoing-integrations"),
        own_outgoing=await ctx.can(user, "manage-own-outgoing-integrations"),
    )


def visibility_filter(rights: Rights, user_id: str) -> ColumnElement[bool]:
    """Which integrations list-type endpoints show the caller (§10.2, same order of cases)."""
    if rights.all_outgoing and rights.all_incoming:
        return true()
    if rights.own_outgoing and rights.own_incoming:
        return store.created_by(user_id)
    clauses: list[ColumnElement[bool]] = []
    if rights.all_outgoing:
        clauses.append(store.of_type(OUTGOING))
    if rights.all_incoming:
        clauses.append(store.of_type(INCOMING))
    if rights.own_outgoing:
        clauses.append(and_(store.created_by(user_id), store.of_type(OUTGOING)))
    if rights.own_incoming:
        clauses.append(and_(store.created_by(user_id), store.of_type(INCOMING)))
    # no permission at all: nothing (the route gates make this unreachable in practice)
    return or_(*clauses) if clauses else ~true()


def history_filter(rights: Rights, user_id: str, integration_id: str) -> list[ColumnElement[bool]]:
    """Which history entries of `integration_id` the caller may read (§10.3)."""
    where = [store.history_of(integration_id)]
    if rights.own_outgoing and not rights.all_outgoing:
        where.append(store.history_created_by(user_id))
    return where


async def manageable(
    ctx: Ctx, rights: Rights, kind: Kind, integration_id: str, user_id: str, *, method: str
) -> dict[str, Any] | None:
    """The integration `integration_id` as the update/delete/clear methods load it: any one with
    the kind's global permission, only the caller's own with the "own" one (None when there is no
    such document). Without either: `Unauthorized [not_authorized]` naming `method`."""
    if rights.manage_all(kind):
        return await store.get_integration(ctx.conn, integration_id)
    if rights.manage_own(kind):
        return await store.find_integration(
            ctx.conn, where=[store.with_id(integration_id), store.created_by(user_id)]
        )
    raise MeteorError("Unauthorized", "not_authorized", {"method": method})
