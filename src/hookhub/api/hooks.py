"""`/hooks/...`: incoming webhook execution and the Zapier helper routes (webhook-runtime.md §2.1).

The path is split from the raw request path so that percent-encoded `/` in old base64 tokens
(`%2F`) stays inside its segment instead of adding one. This is the hot path: no FastAPI body
parsing, one transaction per request (two around a script, which runs outside both: runtime.incoming).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from hookhub import metrics
from hookhub.api.deps import HubDep
from hookhub.api.envelope import json_response
from hookhub.runtime import hook_fast_path, incoming
from hookhub.runtime.rate_limit import RateLimited, RateLimiter
from hookhub.services.errors import Failure, HookhubError, InvalidParams, NotFound, NotLoggedIn

router = APIRouter(tags=["hooks"])

# Rocket.Chat mounts /hooks with CORS enabled: browsers may post from any origin.
_CORS = {"access-control-allow-origin": "*"}
_NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}

# helper name -> the one method it answers
_HELPERS = {"info": "GET", "sample": "GET", "add": "POST", "remove": "POST"}


class PayloadTooLarge(HookhubError):
    status = 413

    def __init__(self, limit: int) -> None:
        super().__init__("payload too large")
        self.limit = limit

    def body(self) -> dict[str, Any]:
        return {
            "success": False,
            "error": f"Request body too large: at most {self.limit} bytes are accepted",
        }


def _limiter(request: Request) -> RateLimiter:
    """The process's hook rate limiter, created with the app's first hook call."""
    limiter: RateLimiter | None = getattr(request.app.state, "hook_rate_limiter", None)
    if limiter is None:
        limiter = RateLimiter()
        request.app.state.hook_rate_limiter = limiter
    return limiter


def _segments(request: Request) -> list[str]:
    path = _raw_path(request)
    rest = path.split("/hooks/", 1)[1] if "/hooks/" in path else ""
    return [unquote(part, errors="replace") for part in rest.split("/")]


def _url(request: Request) -> str:
    query = request.scope.get("query_string", b"")
    path: str = request.scope["path"]
    return f"{path}?{query.decode('latin-1')}" if query else path


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _raw_path(request: Request) -> str:
    raw: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
    return raw.split(b"?", 1)[0].decode("latin-1")


def _host(request: Request) -> str:
    """The Host header, else the server address (from the scope: building `request.url` costs
    more than the rest of a fast-path hook call on the event loop)."""
    host = request.headers.get("host")
    if host:
        return host
    server = request.scope.get("server")
    if not server:
        return "localhost"
    name, port = server
    default = {"http": 80, "https": 443}.get(request.scope.get("scheme", "http"))
    return f"{name}:{port}" if port is not None and port != default else str(name)


def _headers(request: Request) -> dict[str, str]:
    """Every request header for the script: lower-cased names, repeated headers joined with
    ", " (Node's `IncomingMessage.headers`)."""
    out: dict[str, str] = {}
    for name, value in request.headers.items():
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def _call(
    request: Request, integration_id: str, token: str, body: bytes, user_id_segment: str | None = None
) -> incoming.HookCall:
    key = request.headers.get("idempotency-key") or request.headers.get("webhook-id")
    path = _raw_path(request)
    query = request.scope.get("query_string", b"").decode("latin-1")
    full_url = f"{request.scope.get('scheme', 'http')}://{_host(request)}{path}" + (
        f"?{query}" if query else ""
    )
    return incoming.HookCall(
        integration_id=integration_id,
        token=token,
        method=request.method,
        url=_url(request),
        client_ip=request.client.host if request.client else "",
        content_type=request.headers.get("content-type", ""),
        raw_body=body,
        idempotency_key=key,
        path=path,
        query_string=query,
        full_url=full_url,
        headers=_headers(request),
        user_id_segment=user_id_segment,
    )


async def hooks(request: Request, hub: HubDep, path: str) -> Response:
    headers: dict[str, str] = dict(_CORS)
    segments = _segments(request)
    # a hook call (not a Zapier helper) is counted by outcome (hookhub.metrics)
    counted = not (len(segments) in (3, 4) and segments[0] in _HELPERS)
    try:
        response = await _dispatch(request, hub, headers, segments)
    except HookhubError as exc:
        if counted:
            metrics.record_hook(*refusal(exc))
        return json_response(exc.body(), exc.status, {**headers, **getattr(exc, "headers", {})})
    except Exception:
        if counted:
            metrics.record_hook("refused", "internal_error")
        raise
    if counted:
        metrics.record_hook("duplicate" if incoming.REPLAYED_HEADER in headers else "posted")
    return response


# Refusals by their error text, where that is a sentence rather than a code.
_REASONS = {
    incoming.INVALID_HOOK: "invalid_token",
    incoming.OVERRIDE_DISABLED: "override_disabled",
    incoming.PAYLOAD_NOT_OBJECT: "payload_not_object",
}
# An error code of hookhub's own (`invalid-channel`, `error-message-size-exceeded`): the reason.
_CODE = re.compile(r"[a-z][a-z0-9_-]{1,47}")


def refusal(exc: HookhubError) -> tuple[metrics.HookOutcome, str]:
    """The outcome and reason a refused hook call is counted under. Reasons come from a bounded
    set: hookhub's error codes and a few names; a script's own error value (any text) is
    `script_error`, and anything else is named by its status."""
    if isinstance(exc, RateLimited):
        return "rate_limited", ""
    if isinstance(exc, incoming.ScriptRefusal):
        return "refused", "script_error"
    if isinstance(exc, PayloadTooLarge):
        return "refused", "payload_too_large"
    if isinstance(exc, incoming.ServiceUnavailable):
        return "refused", "disabled"
    if isinstance(exc, NotLoggedIn):
        return "refused", "invalid_user"
    if isinstance(exc, InvalidParams):
        return "refused", "invalid_params"
    error = getattr(exc, "error", None)
    if isinstance(error, str):
        known = _REASONS.get(error)
        if known is not None:
            return "refused", known
        if isinstance(exc, Failure) and _CODE.fullmatch(error):
            return "refused", error.replace("-", "_")
    if isinstance(exc, NotFound):
        return "refused", "not_found"
    return "refused", f"status_{exc.status}"


_HOOKS_SUMMARY = "Execute an incoming webhook, or a Zapier helper (info, sample, add, remove)"
_HOOKS_DESCRIPTION = (
    "`/hooks/<integrationId>/<token>` and the legacy `/hooks/<integrationId>/<anything>/<token>` "
    "post the body as a message; `/hooks/{info|sample|add|remove}/<integrationId>/[<anything>/]<token>` "
    "are the Zapier helpers."
)
# one route per method, so each has an operation id of its own in the OpenAPI document
for _method in ("GET", "POST"):
    router.add_api_route(
        "/hooks/{path:path}",
        hooks,
        methods=[_method],
        operation_id=f"hooks_{_method.lower()}",
        summary=_HOOKS_SUMMARY,
        description=_HOOKS_DESCRIPTION,
    )


async def _dispatch(request: Request, hub: HubDep, headers: dict[str, str], segments: list[str]) -> Response:
    if not segments or not all(segments) or len(segments) > 4:
        raise NotFound()
    body = await _read_body(request, hub.settings.hooks_max_body_bytes)
    limiter = _limiter(request)
    if len(segments) in (3, 4) and segments[0] in _HELPERS:
        name = segments[0]
        if request.method != _HELPERS[name]:
            raise NotFound()
        call = _call(request, segments[1], segments[-1], body)
        return await _helper(name, hub, limiter, call, headers)
    if len(segments) == 2:
        call = _call(request, segments[0], segments[1], body)
    elif len(segments) == 3:
        # the middle segment (historically a user id or name) is ignored
        call = _call(request, segments[0], segments[2], body, user_id_segment=segments[1])
    else:
        raise NotFound()
    answer = await hook_fast_path.execute(hub, limiter, call, headers)
    return json_response(answer.body, answer.status, headers)


async def _helper(
    name: str, hub: HubDep, limiter: RateLimiter, call: incoming.HookCall, headers: dict[str, str]
) -> Response:
    if name == "add":
        created = await incoming.zapier_add(hub, limiter, call, headers)
        return json_response({**created, "success": True}, 200, headers)
    if name == "remove":
        await incoming.zapier_remove(hub, limiter, call, headers)
        return json_response({"success": True}, 200, headers)
    await incoming.open_helper(hub, limiter, call, headers)
    if name == "info":
        return json_response({"success": True}, 200, headers)
    sample = incoming.sample_data(int(hub.clock().timestamp() * 1000))
    return Response(
        content=orjson.dumps(sample),
        media_type="application/json",
        headers={**_NO_STORE, **headers},
    )


class HooksGateway:
    """Serves GET and POST under `/hooks/` before the router sees them.

    Matching a path against every API route and solving the endpoint's dependencies cost more
    than an incoming hook's whole work once its writes are batched (`runtime.hook_fast_path`);
    here the path prefix decides. The route above stays registered: it documents the endpoint
    and serves HEAD."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in ("GET", "POST")
            and scope["path"].startswith("/hooks/")
        ):
            request = Request(scope, receive)
            response = await hooks(request, request.app.state.hub, "")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


@router.api_route("/hooks/{path:path}", methods=["PUT", "DELETE", "PATCH"], include_in_schema=False)
async def no_such_hook_method(path: str) -> Response:
    """Rocket.Chat has no PUT/DELETE/PATCH hook routes: its framework answers 404."""
    raise NotFound()
