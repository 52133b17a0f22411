"""``/api/v1/chat`` and ``/api/v1/chat/stream`` — the Fess-style contract of seed 004.

Sessions are LangGraph threads on the checkpointer; ``sessionId`` names the thread. The body may
be form fields or JSON, so it is read in a dependency rather than bound to one media type."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from langchain_core.messages import HumanMessage
from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.exceptions import ValidationException
from litestar.response import ServerSentEvent

from api.errors import ERROR_RESPONSES
from api.runs import Turn, complete_turn, make_context, thread_id
from api.schemas import (
    ChatRequest,
    ChatResponse,
    ClearedResponse,
    SourceRef,
    check_session_id,
    check_turn,
    resolve_project,
)
from api.services import AppServices, Principal
from api.sse import chat_stream, sse_response

_LIST_FIELDS = ("sources",)


async def read_chat_request(request: Request[Principal, Any, Any]) -> ChatRequest:
    """Query string (GET), JSON, or form fields, validated into one ``ChatRequest``."""
    raw: Any
    if request.method == "GET":
        raw = _flatten(request.query_params)
    elif request.content_type[0] == "application/json":
        body = await request.body()
        try:
            raw = msgspec.json.decode(body) if body else {}
        except msgspec.DecodeError:
            raise ValidationException("Malformed JSON body") from None
        if not isinstance(raw, dict):
            raise ValidationException("The JSON body must be an object")
    else:
        raw = _flatten(await request.form())
    try:
        return msgspec.convert(raw, ChatRequest, strict=False)
    except msgspec.ValidationError as exc:
        raise ValidationException(f"Invalid request: {exc}") from None


def _flatten(fields: Any) -> dict[str, Any]:
    """Single values as strings; ``sources`` as a list (repeated, or comma-separated)."""
    out: dict[str, Any] = {}
    for key in fields:
        if key in _LIST_FIELDS:
            out[key] = [v.strip() for value in fields.getall(key) for v in str(value).split(",") if v.strip()]
        else:
            value = fields.get(key)
            out[key] = value if isinstance(value, str) else str(value)
    return out


class ChatController(Controller):
    path = "/api/v1/chat"
    tags = ["chat"]
    dependencies = {"turn_request": Provide(read_chat_request)}

    @post("/", responses=ERROR_RESPONSES, status_code=200, summary="Answer a message in a session")
    async def chat(
        self, turn_request: ChatRequest, services: AppServices, request: Request[Principal, Any, Any]
    ) -> ChatResponse | ClearedResponse:
        session_id, cleared = await self._session(turn_request, services, request.user)
        if cleared and not (turn_request.message or "").strip():
            return ClearedResponse(status="ok", sessionId=session_id, cleared=True)
        turn = self._turn(turn_request, services, request.user, session_id)
        answer, sources, metrics = await complete_turn(services, turn)
        return ChatResponse(
            status="ok",
            sessionId=session_id,
            content=answer,
            sources=[SourceRef(title=s["title"], url=s["url"], file_id=s["file_id"], id=s["id"]) for s in sources],
            metadata={"model": turn.model, "agent": turn.agent, **(metrics or {})},
        )

    @post("/stream", responses=ERROR_RESPONSES, status_code=200, summary="Answer a message in a session, as Server-Sent Events")
    async def stream_post(
        self, turn_request: ChatRequest, services: AppServices, request: Request[Principal, Any, Any]
    ) -> ServerSentEvent:
        return await self._stream(turn_request, services, request.user)

    @get("/stream", responses=ERROR_RESPONSES, summary="Answer a message in a session, as Server-Sent Events (query parameters)")
    async def stream_get(
        self, turn_request: ChatRequest, services: AppServices, request: Request[Principal, Any, Any]
    ) -> ServerSentEvent:
        return await self._stream(turn_request, services, request.user)

    async def _stream(self, turn_request: ChatRequest, services: AppServices, principal: Principal) -> ServerSentEvent:
        session_id, _ = await self._session(turn_request, services, principal)
        turn = self._turn(turn_request, services, principal, session_id)
        return sse_response(chat_stream(services, turn, session_id))

    async def _session(self, turn_request: ChatRequest, services: AppServices, principal: Principal) -> tuple[str, bool]:
        """The turn's session id (issued when absent) and whether it was cleared first."""
        session_id = check_session_id(turn_request.sessionId) if turn_request.sessionId else uuid.uuid4().hex
        if turn_request.clear:
            if not turn_request.sessionId:
                raise ValidationException("clear=true needs a sessionId")
            await services.checkpointer.adelete_thread(thread_id(principal, session_id))
            return session_id, True
        return session_id, False

    def _turn(self, turn_request: ChatRequest, services: AppServices, principal: Principal, session_id: str) -> Turn:
        message, model, agent = check_turn(services, turn_request)
        return Turn(
            agent=agent,
            model=model,
            graph=services.graphs[agent],
            graph_input={"messages": [HumanMessage(message)]},
            context=make_context(
                services, turn_request, model=model, project_id=resolve_project(principal, turn_request.project_id)
            ),
            thread_id=thread_id(principal, session_id),
        )
