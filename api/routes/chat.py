"""``/api/v1/chat`` and ``/api/v1/chat/stream`` — a Fess-style chat contract (JSON or SSE).

Sessions are LangGraph threads on the checkpointer; ``sessionId`` names the thread. The body may
be form fields or JSON, so it is read in a dependency rather than bound to one media type."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from langgraph.checkpoint.base import BaseCheckpointSaver
from litestar import Controller, Request, get, post
from litestar.datastructures import MultiDict
from litestar.di import NamedDependency, Provide
from litestar.exceptions import ValidationException
from litestar.response import Stream

from api.auth import Principal
from api.errors import ERROR_RESPONSES
from api.schemas import ChatRequest, ChatResponse, ClearedResponse, SourceRef, check_session_id
from api.services.graphs import AgentGraphs
from api.services.turn_locks import Lease, TurnLocks
from api.services.turns import SessionRecord, Turn, build_turn, complete_turn, thread_id
from api.sse import StreamOperation, chat_stream, sse_response
from graphs.dependencies import RunDependencies
from routeur.conversations import ConversationStore

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
    elif request.content_type[0] == "application/x-www-form-urlencoded":
        raw = _flatten(await read_urlencoded(request))
    else:
        raw = _flatten(await request.form())
    try:
        return msgspec.convert(raw, ChatRequest, strict=False)
    except msgspec.ValidationError as exc:
        raise ValidationException(f"Invalid request: {exc}") from None


async def read_urlencoded(request: Request[Any, Any, Any]) -> MultiDict:
    """A URL-encoded form decoded with its charset, UTF-8 when absent: ``curl -d "message=Quelle
    durée ?"`` sends raw UTF-8 bytes, which a Latin-1 reading garbles."""
    charset = request.content_type[1].get("charset", "utf-8")
    try:
        text = (await request.body()).decode(charset)
    except (LookupError, UnicodeDecodeError):
        raise ValidationException(f"The form body is not valid {charset}") from None
    return MultiDict(parse_qsl(text, keep_blank_values=True, encoding=charset))


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
        turn_request: NamedDependency[ChatRequest],
        run_dependencies: NamedDependency[RunDependencies],
        checkpointer: NamedDependency[BaseCheckpointSaver],
        graphs: NamedDependency[AgentGraphs],
        conversations: NamedDependency[ConversationStore],
        turn_locks: NamedDependency[TurnLocks],
        request: Request[Principal, Any, Any],
    ) -> ChatResponse | ClearedResponse:
        session_id, clear = _session_id(turn_request)
        if clear and not (turn_request.message or "").strip():
            await _clear(checkpointer, conversations, turn_locks, request.user, session_id)
            return ClearedResponse(status="ok", sessionId=session_id, cleared=True)
        turn = _turn(turn_request, run_dependencies, graphs, conversations, request.user, session_id)
        lease = await turn_locks.acquire(turn.thread_id or "")
        try:
            if clear:
                await _wipe(checkpointer, conversations, request.user, session_id)
            result = await complete_turn(run_dependencies, turn)
        finally:
            await lease.release()
        return ChatResponse(
            status="ok",
            sessionId=session_id,
            messageId=turn.message_id,
            content=result.answer,
            sources=[SourceRef(title=s["title"], url=s["url"], file_id=s["file_id"], id=s["id"]) for s in result.sources],
            metadata={"model": turn.model, "agent": turn.agent.type, **result.metadata},
        )

    @post(
        "/stream",
        responses=ERROR_RESPONSES,
        status_code=200,
        summary="Answer a message in a session, as Server-Sent Events",
        operation_class=StreamOperation,
    )
    async def stream_post(
        self,
        turn_request: NamedDependency[ChatRequest],
        run_dependencies: NamedDependency[RunDependencies],
        checkpointer: NamedDependency[BaseCheckpointSaver],
        graphs: NamedDependency[AgentGraphs],
        conversations: NamedDependency[ConversationStore],
        turn_locks: NamedDependency[TurnLocks],
        request: Request[Principal, Any, Any],
    ) -> Stream:
        return await _stream(turn_request, run_dependencies, checkpointer, graphs, conversations, turn_locks, request.user)

    @get(
        "/stream",
        responses=ERROR_RESPONSES,
        summary="Answer a message in a session, as Server-Sent Events (query parameters)",
        operation_class=StreamOperation,
    )
    async def stream_get(
        self,
        turn_request: NamedDependency[ChatRequest],
        run_dependencies: NamedDependency[RunDependencies],
        checkpointer: NamedDependency[BaseCheckpointSaver],
        graphs: NamedDependency[AgentGraphs],
        conversations: NamedDependency[ConversationStore],
        turn_locks: NamedDependency[TurnLocks],
        request: Request[Principal, Any, Any],
    ) -> Stream:
        return await _stream(turn_request, run_dependencies, checkpointer, graphs, conversations, turn_locks, request.user)


async def _stream(
    turn_request: ChatRequest,
    dependencies: RunDependencies,
    checkpointer: BaseCheckpointSaver,
    graphs: AgentGraphs,
    conversations: ConversationStore,
    turn_locks: TurnLocks,
    principal: Principal,
) -> Stream:
    """The session's lock is taken before the response starts (a conflict is a plain 409) and
    released when the stream ends or the client leaves."""
    session_id, clear = _session_id(turn_request)
    turn = _turn(turn_request, dependencies, graphs, conversations, principal, session_id)
    lease = await turn_locks.acquire(turn.thread_id or "")
    try:
        if clear:
            await _wipe(checkpointer, conversations, principal, session_id)
    except BaseException:
        await lease.release()
        raise
    return sse_response(_releasing(chat_stream(dependencies, turn, session_id), lease), on_close=lease.release)


async def _releasing(events: AsyncIterator[bytes], lease: Lease) -> AsyncIterator[bytes]:
    """Frees the session once the run is over (its checkpoint written) but before the stream's
    end reaches the client: a follow-up sent as soon as the stream ends must not find the session
    still held. A client that leaves early is freed by the response's ``on_close``."""
    async for message in events:
        yield message
    await lease.release()


def _session_id(turn_request: ChatRequest) -> tuple[str, bool]:
    """The turn's session id (issued when absent) and whether to clear it first."""
    session_id = check_session_id(turn_request.sessionId) if turn_request.sessionId else uuid.uuid4().hex
    if turn_request.clear and not turn_request.sessionId:
        raise ValidationException("clear=true needs a sessionId")
    return session_id, turn_request.clear


async def _clear(
    checkpointer: BaseCheckpointSaver, conversations: ConversationStore, turn_locks: TurnLocks, principal: Principal, session_id: str
) -> None:
    """Clearing waits its turn like any turn: never under a running one."""
    lease = await turn_locks.acquire(thread_id(principal, session_id))
    try:
        await _wipe(checkpointer, conversations, principal, session_id)
    finally:
        await lease.release()


async def _wipe(checkpointer: BaseCheckpointSaver, conversations: ConversationStore, principal: Principal, session_id: str) -> None:
    """The session's messages (checkpointer) and metadata (titles, message ids, feedback)."""
    await checkpointer.adelete_thread(thread_id(principal, session_id))
    await conversations.delete(principal.sub, session_id)


def _turn(
    turn_request: ChatRequest,
    dependencies: RunDependencies,
    graphs: AgentGraphs,
    conversations: ConversationStore,
    principal: Principal,
    session_id: str,
) -> Turn:
    return build_turn(
        turn_request,
        principal=principal,
        dependencies=dependencies,
        graphs=graphs.sessions,
        thread_id=thread_id(principal, session_id),
        session=SessionRecord(store=conversations, owner=principal.sub, session_id=session_id),
    )
