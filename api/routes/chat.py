"""``/api/v1/chat`` and ``/api/v1/chat/stream`` — a Fess-style chat contract (JSON or SSE).

Sessions are LangGraph threads on the checkpointer; ``sessionId`` names the thread. The body may
be form fields or JSON, so it is read in a dependency rather than bound to one media type."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from langgraph.checkpoint.base import BaseCheckpointSaver
from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.exceptions import ValidationException
from litestar.response import ServerSentEvent

from api.auth import Principal
from api.errors import ERROR_RESPONSES
from api.schemas import ChatRequest, ChatResponse, ClearedResponse, SourceRef, check_session_id
from api.services.graphs import AgentGraphs
from api.services.turns import Turn, build_turn, complete_turn, thread_id
from api.sse import chat_stream, sse_response
from graphs.dependencies import RunDependencies

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
        self,
        turn_request: ChatRequest,
        run_dependencies: RunDependencies,
        checkpointer: BaseCheckpointSaver,
        graphs: AgentGraphs,
        request: Request[Principal, Any, Any],
    ) -> ChatResponse | ClearedResponse:
        session_id, cleared = await _session(turn_request, checkpointer, request.user)
        if cleared and not (turn_request.message or "").strip():
            return ClearedResponse(status="ok", sessionId=session_id, cleared=True)
        turn = _turn(turn_request, run_dependencies, graphs, request.user, session_id)
        result = await complete_turn(run_dependencies, turn)
        return ChatResponse(
            status="ok",
            sessionId=session_id,
            content=result.answer,
            sources=[SourceRef(title=s["title"], url=s["url"], file_id=s["file_id"], id=s["id"]) for s in result.sources],
            metadata={"model": turn.model, "agent": turn.agent.type, **result.metadata},
        )

    @post("/stream", responses=ERROR_RESPONSES, status_code=200, summary="Answer a message in a session, as Server-Sent Events")
    async def stream_post(
        self,
        turn_request: ChatRequest,
        run_dependencies: RunDependencies,
        checkpointer: BaseCheckpointSaver,
        graphs: AgentGraphs,
        request: Request[Principal, Any, Any],
    ) -> ServerSentEvent:
        return await _stream(turn_request, run_dependencies, checkpointer, graphs, request.user)

    @get("/stream", responses=ERROR_RESPONSES, summary="Answer a message in a session, as Server-Sent Events (query parameters)")
    async def stream_get(
        self,
        turn_request: ChatRequest,
        run_dependencies: RunDependencies,
        checkpointer: BaseCheckpointSaver,
        graphs: AgentGraphs,
        request: Request[Principal, Any, Any],
    ) -> ServerSentEvent:
        return await _stream(turn_request, run_dependencies, checkpointer, graphs, request.user)


async def _stream(
    turn_request: ChatRequest,
    dependencies: RunDependencies,
    checkpointer: BaseCheckpointSaver,
    graphs: AgentGraphs,
    principal: Principal,
) -> ServerSentEvent:
    session_id, _ = await _session(turn_request, checkpointer, principal)
    turn = _turn(turn_request, dependencies, graphs, principal, session_id)
    return sse_response(chat_stream(dependencies, turn, session_id))


async def _session(turn_request: ChatRequest, checkpointer: BaseCheckpointSaver, principal: Principal) -> tuple[str, bool]:
    """The turn's session id (issued when absent) and whether it was cleared first."""
    session_id = check_session_id(turn_request.sessionId) if turn_request.sessionId else uuid.uuid4().hex
    if turn_request.clear:
        if not turn_request.sessionId:
            raise ValidationException("clear=true needs a sessionId")
        await checkpointer.adelete_thread(thread_id(principal, session_id))
        return session_id, True
    return session_id, False


def _turn(turn_request: ChatRequest, dependencies: RunDependencies, graphs: AgentGraphs, principal: Principal, session_id: str) -> Turn:
    return build_turn(
        turn_request,
        principal=principal,
        dependencies=dependencies,
        graphs=graphs.sessions,
        thread_id=thread_id(principal, session_id),
    )
