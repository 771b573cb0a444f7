"""`chat.*` endpoints (core-api.md §9)."""

from __future__ import annotations

from typing import Any

from fastapi import Body as BodyParam
from starlette.responses import Response

from hookhub.api.deps import CallerDep, HubDep
from hookhub.api.envelope import ok
from hookhub.api.routing import StrictBody, json_body, make_router
from hookhub.services import chat
from hookhub.services.documents import message_doc
from hookhub.services.errors import Failure

router = make_router("chat")


def _epoch_ms(hub: HubDep) -> int:
    return int(hub.clock().timestamp() * 1000)


_POST_MESSAGE_BODY = {
    "type": "object",
    "description": "`roomId` or `channel` (`#name`, `@username`, an id, or a list of them) and the message",
    "properties": {
        "roomId": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "channel": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "text": {"type": "string"},
        "alias": {"type": "string"},
        "emoji": {"type": "string"},
        "avatar": {"type": "string"},
        "attachments": {"type": "array", "items": {"type": "object"}},
        "tmid": {"type": "string"},
        "customFields": {"type": "object"},
    },
}
_SEND_MESSAGE_BODY = {
    "type": "object",
    "required": ["message"],
    "properties": {
        "message": {
            "type": "object",
            "required": ["rid"],
            "properties": {
                "rid": {"type": "string"},
                "_id": {"type": "string"},
                "msg": {"type": "string"},
                "tmid": {"type": "string"},
                "alias": {"type": "string"},
                "emoji": {"type": "string"},
                "avatar": {"type": "string"},
                "attachments": {"type": "array", "items": {"type": "object"}},
                "customFields": {"type": "object"},
            },
        },
        "previewUrls": {"type": "array", "items": {"type": "string"}},
    },
}


@router.post(
    "/api/v1/chat.postMessage",
    summary="Post a message to a channel, group or user",
    openapi_extra=json_body(_POST_MESSAGE_BODY, required=True),
)
async def post_message(
    hub: HubDep, caller: CallerDep, body: dict[str, Any] = BodyParam(default_factory=dict)
) -> Response:
    async with hub.tx() as ctx:
        posted = await chat.post_message(ctx, caller.user, body)
    first = posted[0]
    return ok({"ts": _epoch_ms(hub), "channel": first.channel, "message": message_doc(first.message)})


@router.post(
    "/api/v1/chat.sendMessage",
    summary="Send a client-built message to a room",
    openapi_extra=json_body(_SEND_MESSAGE_BODY, required=True),
)
async def send_message(hub: HubDep, caller: CallerDep, body: Any = BodyParam(default=None)) -> Response:
    async with hub.tx() as ctx:
        row = await chat.send_message(ctx, caller.user, body)
    return ok({"message": message_doc(row)})


class UpdateBody(StrictBody):
    roomId: str
    msgId: str
    text: str
    previewUrls: list[str] | None = None
    customFields: dict[str, Any] | None = None


@router.post("/api/v1/chat.update", summary="Edit a message's text")
async def update(hub: HubDep, caller: CallerDep, body: UpdateBody) -> Response:
    async with hub.tx() as ctx:
        row = await chat.update_message(
            ctx, caller.user, body.roomId, body.msgId, body.text, body.customFields, body.previewUrls
        )
    return ok({"message": message_doc(row)})


class DeleteBody(StrictBody):
    roomId: str
    msgId: str
    asUser: bool | None = None


@router.post("/api/v1/chat.delete", summary="Delete a message")
async def delete(hub: HubDep, caller: CallerDep, body: DeleteBody) -> Response:
    async with hub.tx() as ctx:
        row = await chat.delete_message(ctx, caller.user, body.roomId, body.msgId, as_user=bool(body.asUser))
    doc = message_doc(row)
    return ok(
        {
            "_id": row["id"],
            "ts": str(_epoch_ms(hub)),
            "message": {"_id": doc["_id"], "rid": doc["rid"], "u": doc["u"]},
        }
    )


@router.get("/api/v1/chat.getMessage", summary="One message by id")
async def get_message(hub: HubDep, caller: CallerDep, msgId: str | None = None) -> Response:
    if not msgId:
        raise Failure('The "msgId" query parameter must be provided.')
    async with hub.tx(write=False) as ctx:
        row = await chat.get_message(ctx, caller.user, msgId)
    return ok({"message": message_doc(row)})
