"""One agent turn as the API runs it. ``build_turn`` is the one place a request becomes a
``Turn`` (checked message, model, agent, project; the context from the app's settings); the
turn then runs with the app's ``RunDependencies``, measured as every surface measures answers."""

from __future__ import annotations

import uuid
from contextlib import aclosing
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from langchain_core.messages import BaseMessage, HumanMessage
from langgraph.graph.state import CompiledStateGraph
from litestar.exceptions import HTTPException, PermissionDeniedException, ValidationException
from markdown_it_pyrs import MarkdownIt

from api.auth import Principal
from api.observability import logged_turn
from graphs import events, streaming
from graphs.context import AgentContext
from graphs.dependencies import RunDependencies
from graphs.events import Event, RunResult
from graphs.registry import AgentSpec, get_agent
from routeur.conversations import ConversationStore, TurnRecord, now
from routeur.settings import Settings

MARKDOWN_RULES = [
    "blockquote", "code", "fence", "heading", "hr", "lheading", "list", "paragraph", "reference",
    "autolink", "backticks", "emphasis", "entity", "escape", "image", "link", "newline", "strikethrough", "table",
]  # fmt: skip
"""CommonMark with tables and strikethrough, without its two raw-HTML rules: raw HTML in an
answer is escaped as text, never rendered (the model's text is untrusted)."""
_markdown = MarkdownIt("zero").enable_many(MARKDOWN_RULES)


class TurnRequest(Protocol):
    """What every chat-like body carries (``CompletionRequest``, ``ChatRequest``, new surfaces)."""

    message: str | None
    model: str | None
    agent: str | None
    temperature: float | None
    project_id: str | None
    sources: list[str] | None
    top_k: int | None


@dataclass(frozen=True)
class SessionRecord:
    """Where a session turn's metadata goes once answered."""

    store: ConversationStore
    owner: str
    session_id: str


@dataclass
class Turn:
    agent: AgentSpec
    model: str
    graph: CompiledStateGraph
    graph_input: dict[str, Any]
    context: AgentContext
    thread_id: str | None = None
    history: list[BaseMessage] = field(default_factory=list)
    # The answer's stable id: ``messageId`` in every ``done`` event, the id of its run (LangSmith
    # feedback goes to that run), and the history's ``id`` of the answer.
    message_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    question: str = ""
    request_sources: list[str] = field(default_factory=list)
    asked_at: str = field(default_factory=now)
    session: SessionRecord | None = None


def question_id(message_id: str) -> str:
    """The checkpointed user message's id: the answer's id, suffixed, so history pairs them."""
    return f"{message_id}.question"


def build_turn(
    request: TurnRequest,
    *,
    principal: Principal,
    dependencies: RunDependencies,
    graphs: dict[str, CompiledStateGraph],
    history: Sequence[BaseMessage] = (),
    thread_id: str | None = None,
    session: SessionRecord | None = None,
) -> Turn:
    """Reject what must never reach a graph, then assemble the turn. An unknown model or agent
    (400) and an unconfigured provider (503) raise their own errors, mapped in ``api.errors``."""
    settings = dependencies.settings
    text = (request.message or "").strip()
    if not text:
        raise ValidationException("Message is required")
    if len(text) > settings.max_message_chars:
        raise ValidationException(f"Message is too long: {len(text)} characters, the limit is {settings.max_message_chars}")
    model = request.model or settings.default_model
    dependencies.models.ensure_available(model)
    agent = get_agent(request.agent, settings.default_agent)
    context = AgentContext.from_settings(
        settings,
        project_id=resolve_project(principal, request.project_id),
        model=model,
        temperature=request.temperature,
        sources=request.sources,
        top_k=request.top_k,
    )
    message_id = str(uuid.uuid4())
    return Turn(
        agent=agent,
        model=model,
        graph=graphs[agent.type],
        graph_input={"messages": [*history, HumanMessage(text, id=question_id(message_id))]},
        context=context,
        thread_id=thread_id,
        history=list(history),
        message_id=message_id,
        question=text,
        request_sources=list(request.sources or []),
        session=session,
    )


def resolve_project(principal: Principal, project_id: str | None) -> str:
    """The project a turn searches: asked for and allowed by the token, else the token's first
    (``default`` only for a token that may use every project; a token with none gets 403)."""
    if project_id is None:
        if not principal.projects:
            raise PermissionDeniedException("This token may not use any project")
        return next((p for p in principal.projects if p != "*"), "default")
    if not principal.may_use(project_id):
        raise PermissionDeniedException(f"This token may not use project '{project_id}'")
    return project_id


def check_history(history: Sequence[Any], settings: Settings) -> None:
    """The history a client sends is held to the limits of its message: each message, the
    total and the count are bounded, and ``system`` turns (which would override the agent's
    instructions) are refused unless the deployment allows them."""
    if len(history) > settings.max_history_messages:
        raise ValidationException(f"conversation_history has {len(history)} messages, the limit is {settings.max_history_messages}")
    total = 0
    for index, message in enumerate(history):
        if message.role == "system" and not settings.allow_client_system_messages:
            raise ValidationException(f"conversation_history[{index}]: the system role is not accepted from clients")
        if len(message.content) > settings.max_message_chars:
            raise ValidationException(
                f"conversation_history[{index}] is too long: {len(message.content)} characters, the limit is {settings.max_message_chars}"
            )
        total += len(message.content)
    if total > settings.max_history_chars:
        raise ValidationException(f"conversation_history totals {total} characters, the limit is {settings.max_history_chars}")


def thread_id(principal: Principal, session_id: str) -> str:
    """Sessions are namespaced by caller: another token cannot read or clear them."""
    return f"{principal.sub}:{session_id}"


async def run_turn(dependencies: RunDependencies, turn: Turn) -> AsyncIterator[tuple[Event, dict[str, Any] | None]]:
    """The turn's events; the ``done`` event carries the answer's ``messageId`` (every surface's
    done event is built from this one) and comes with the answer's metrics. A session turn is
    recorded before its ``done`` goes out, so the id is usable (feedback) as soon as it is seen.
    The turn writes its log line when it ends (``api.observability``)."""
    events = streaming.measured_events(
        turn.graph,
        turn.graph_input,
        agent=turn.agent,
        context=turn.context,
        dependencies=dependencies,
        thread_id=turn.thread_id,
        run_id=uuid.UUID(turn.message_id),
    )
    logged = logged_turn(events, agent=turn.agent.type, model=turn.model, project=turn.context.project_id, message_id=turn.message_id)
    async with aclosing(logged):
        async for event, figures in logged:
            if event["event"] == "done":
                event = {"event": "done", "data": {**event["data"], "messageId": turn.message_id}}
                if turn.session is not None:
                    await _record(turn, event["data"])
            yield event, figures


async def session_events(dependencies: RunDependencies, turn: Turn, session_id: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """The session routes' events as ``(name, data)``: ``session`` first, then the turn's events,
    its ``done`` completed with the session, the answer as HTML and the metrics; a failure after
    the start becomes one ``error`` event. The SSE route and the realtime WebSocket send exactly these."""
    yield "session", {"sessionId": session_id}
    try:
        async for event, metrics in run_turn(dependencies, turn):
            name, data = event["event"], dict(event["data"])
            if name == "done":
                data = {
                    "sessionId": session_id,
                    "messageId": data["messageId"],
                    "htmlContent": render_html(data["answer"]),
                    "answer": data["answer"],
                    "content": data["answer"],
                    "sources": data["sources"],
                    "metadata": {"model": turn.model, "agent": turn.agent.type, **(metrics or {})},
                }
            yield name, data
    except Exception as exc:  # the stream has started: report, then end cleanly
        yield "error", dict(events.failure("stream", exc)["data"])


async def _record(turn: Turn, data: dict[str, Any]) -> None:
    session = turn.session
    assert session is not None
    await session.store.record_turn(
        session.owner,
        TurnRecord(
            message_id=turn.message_id,
            session_id=session.session_id,
            question=turn.question,
            answer=data["answer"],
            asked_at=turn.asked_at,
            answered_at=now(),
            agent=turn.agent.type,
            model=turn.model,
            project_id=turn.context.project_id,
            request_sources=turn.request_sources,
            sources=list(data["sources"]),
        ),
    )


async def complete_turn(dependencies: RunDependencies, turn: Turn) -> RunResult:
    """A whole turn for non-streaming routes (answer, sources, metrics); a failure is a 502."""
    result = RunResult()
    async for event, figures in run_turn(dependencies, turn):
        result.add(event, figures)
    if result.error is not None:
        raise HTTPException(status_code=502, detail=f"{result.error['phase']}: {result.error['message']}")
    return result


def render_html(markdown: str) -> str:
    """The answer as HTML, raw HTML in it escaped. markdown-it's Rust port renders in tens of
    microseconds what its Python one took a millisecond for, on every answer."""
    return _markdown.render(markdown, xhtml=False)
