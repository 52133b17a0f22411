"""What the server says about its work: a request id on every response, one log line per request
and one per agent turn.

The request wrapper sits outside everything else in the app — authentication, the rate limiter,
CORS and Litestar's own exception handling — so a 401 from the auth middleware, a 429 from the
limiter, a 404 from the router or a 413 from the body reader carries ``X-Request-ID`` and gets
its line like any answer. An incoming ``X-Request-ID`` (from a proxy or the caller) is kept when
it is a plain token of at most 128 characters; anything else is replaced by a fresh id.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Receive, Scope, Send

from graphs.events import Event
from routeur.logs import annotate, log_context, log_event

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,127}")
_ERROR_BODY_BYTES = 4096
_QUIET_ROUTES = ("/health", "/health/ready")

request_logger = logging.getLogger("routeur.request")
turn_logger = logging.getLogger("routeur.turn")

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def request_id_for(scope: Scope) -> str:
    """The caller's ``X-Request-ID`` when it is sane (no spaces, quotes or control characters,
    ≤ 128 characters), else a new one."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"x-request-id":
            candidate = value.decode("latin-1").strip()
            if _SANE_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def _error_reason(body: bytes, content_type: str) -> str | None:
    """The error envelope's message (every error answer is ``{"status": "error", "message"}``)."""
    if not body:
        return None
    if "json" in content_type:
        try:
            decoded = json.loads(body)
            message = decoded.get("message") or decoded.get("detail")
            return str(message) if message else None
        except (ValueError, AttributeError):
            pass
    return body[:200].decode("utf-8", "replace")


async def serve_logged(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, address: Callable[[Scope], str | None] | None = None
) -> None:
    """Run ``app`` for one HTTP request or WebSocket with a request id (context and response
    header), then write the request's line; ``address`` gives the caller's address (behind a
    trusted proxy, the forwarded one), default the socket peer."""
    request_id = request_id_for(scope)
    scope.setdefault("state", {})["request_id"] = request_id
    started = time.perf_counter()
    seen: dict[str, Any] = {"status": None, "content_type": "", "body": bytearray()}

    async def send_with_id(message: Message) -> None:
        kind = message["type"]
        if kind in ("http.response.start", "websocket.accept"):
            message.setdefault("headers", [])
            headers = MutableScopeHeaders(message)
            headers[REQUEST_ID_HEADER] = request_id
            seen["status"] = message.get("status", 101)
            seen["content_type"] = headers.get("content-type") or ""
        elif kind == "http.response.body" and (seen["status"] or 0) >= 400:
            room = _ERROR_BODY_BYTES - len(seen["body"])
            if room > 0:
                seen["body"] += message.get("body", b"")[:room]
        elif kind == "websocket.close":
            seen["close_code"] = message.get("code", 1000)
        await send(message)

    with log_context(request_id=request_id) as context:
        failure: str | None = None
        try:
            await app(scope, receive, send_with_id)
        except BaseException as exc:
            failure = type(exc).__name__
            raise
        finally:
            _write_request_line(scope, context, seen, started, failure, address)


def _address(scope: Scope, address: Callable[[Scope], str | None] | None) -> str | None:
    peer = (scope.get("client") or (None,))[0]
    if address is None:
        return peer
    try:
        return address(scope) or peer
    except Exception:  # a log line must never fail a request
        return peer


def _write_request_line(
    scope: Scope, context: dict[str, Any], seen: dict[str, Any], started: float, failure: str | None, address: Callable[[Scope], str | None] | None
) -> None:
    status = seen["status"] if seen["status"] is not None else (500 if failure else None)
    user = scope.get("user")
    error = context.get("error")
    if status is not None and status >= 400:
        error = _error_reason(bytes(seen["body"]), seen["content_type"]) or error
    route = scope.get("path_template") or scope.get("path")
    fields = {
        "method": scope.get("method", "WEBSOCKET" if scope["type"] == "websocket" else None),
        "route": route,
        "path": scope.get("path") if route != scope.get("path") else None,
        "status": status,
        "close_code": seen.get("close_code"),
        "caller": getattr(user, "sub", None),
        "address": _address(scope, address),
        "project": (scope.get("path_params") or {}).get("project_id") or context.get("project"),
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
        "error": error or failure,
    }
    if status is None or status >= 500:
        level = logging.ERROR
    elif status >= 400:
        level = logging.WARNING
    elif route in _QUIET_ROUTES:
        level = logging.DEBUG  # health probes every few seconds would drown the rest
    else:
        level = logging.INFO
    # The context adds the request id and what the request annotated (agent, model).
    log_event(request_logger, level, "request", **fields)


async def logged_turn(
    events: AsyncIterator[tuple[Event, dict[str, Any] | None]], *, agent: str, model: str, project: str, message_id: str
) -> AsyncIterator[tuple[Event, dict[str, Any] | None]]:
    """Pass a turn's ``(event, metrics)`` through and write its line when it ends: answered,
    failed (with the failing phase and reason) or cancelled (the client left)."""
    annotate(agent=agent, model=model, project=project)
    started = time.perf_counter()
    outcome, figures, error = "cancelled", None, None
    try:
        async with aclosing(events):
            async for event, metrics in events:
                if event["event"] == "done":
                    outcome, figures = "answered", metrics
                elif event["event"] == "error":
                    outcome, error = "error", f"{event['data'].get('phase')}: {event['data'].get('message')}"
                    annotate(error=error)
                yield event, metrics
        if outcome == "cancelled":
            outcome = "ended"
    finally:
        usage = (figures or {}).get("usage") or {}
        log_event(
            turn_logger,
            logging.WARNING if outcome == "error" else logging.INFO,
            "turn",
            message_id=message_id,
            agent=agent,
            model=model,
            project=project,
            outcome=outcome,
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            time_to_first_token_ms=_ms((figures or {}).get("time_to_first_token_s")),
            input_tokens=usage.get("input_tokens"),
            output_tokens=usage.get("output_tokens"),
            error=error,
        )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)
