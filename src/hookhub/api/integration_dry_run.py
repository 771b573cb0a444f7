"""`POST /api/v1/integrations.dryRun` (hookhub extension, issue #7): run an integration script in
the sandbox against a sample request without posting, storing or sending anything. The rules live
in `hookhub.services.integrations.dry_run`; this module is HTTP only."""

from __future__ import annotations

from typing import Any

from fastapi import Body as BodyParam
from starlette.responses import Response

from hookhub.api.deps import CallerDep, HubDep
from hookhub.api.envelope import ok
from hookhub.api.routing import json_body, make_router
from hookhub.services.integrations import dry_run

router = make_router("integrations")


@router.post(
    "/api/v1/integrations.dryRun",
    summary="Run an integration script against a sample request, posting nothing (hookhub extension)",
    openapi_extra=json_body(
        {
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {"enum": ["webhook-incoming", "webhook-outgoing"]},
                "script": {"type": "string"},
                "integrationId": {"type": "string"},
                "request": {"type": "object", "description": "A sample request (see the description)"},
            },
        },
        required=True,
    ),
)
async def integrations_dry_run(
    hub: HubDep, caller: CallerDep, body: Any = BodyParam(default=None)
) -> Response:
    """Body: `type` (`webhook-incoming` | `webhook-outgoing`), `script` (optional with
    `integrationId`: the stored script is used), `integrationId` (optional), `request` (optional
    sample: incoming `{headers, body, query, url}`, outgoing the payload fields of a sendMessage
    event plus `event` and `url`).

    Incoming runs `process_incoming_request` with the request object /hooks would build; outgoing
    runs `prepare_outgoing_request` with the default request the engine would build. Scripts'
    `fetch` is refused, nothing is posted or stored, the server's script limits apply.

    Answer: `status` (`ok`, `error`, `timeout`, `out_of_memory`, `compile_error`, `disabled`),
    `result` (the method's value), `error` ("Name: message"), `logs` (`[{level, text}]`),
    `scriptError` (`{name, message, stack, line, column}`, only when the script does not compile
    or load) and, for incoming scripts, `outcome` (`{kind, content, response, user, error}`: what
    /hooks would do). Needs the permission to create an integration of the type (403), and with
    `integrationId` the right to manage that integration (the integrations.get rule)."""
    wanted = dry_run.parse_request(body)
    answer = await dry_run.dry_run(hub, caller.user, wanted)
    return ok(answer)
