"""One agent turn as the API runs it: the graph, its context from the request and the token,
the session thread, and the answer's metrics measured around the event stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from langgraph.graph.state import CompiledStateGraph
from litestar.exceptions import HTTPException
from markdown_it import MarkdownIt

from api.metrics import AnswerMetrics
from api.schemas import ChatRequest, CompletionRequest
from api.services import AppServices, Principal
from graphs.context import AgentContext
from graphs.events import Event, Source
from graphs.registry import get_agent, run_config
from graphs.streaming import stream_events
from retrievers.base import DocumentStore

_markdown = MarkdownIt("js-default")


@dataclass
class Turn:
    agent: str
    model: str
    graph: CompiledStateGraph
    graph_input: dict[str, Any]
    context: AgentContext
    thread_id: str | None = None


def thread_id(principal: Principal, session_id: str) -> str:
    """Sessions are namespaced by caller: another token cannot read or clear them."""
    return f"{principal.sub}:{session_id}"


def make_context(
    services: AppServices, request: CompletionRequest | ChatRequest, *, model: str, project_id: str
) -> AgentContext:
    settings = services.settings
    return AgentContext(
        model=model,
        temperature=0.2 if request.temperature is None else request.temperature,
        project_id=project_id,
        sources=list(request.sources or []),
        top_k=request.top_k or settings.top_k,
        max_search_rounds=settings.max_search_rounds,
    )


async def run_turn(services: AppServices, turn: Turn) -> AsyncIterator[tuple[Event, dict[str, Any] | None]]:
    """The turn's events; the ``done`` event comes with the answer's metrics."""
    async for item in measured_events(
        turn.graph,
        turn.graph_input,
        agent=turn.agent,
        context=turn.context,
        store=services.store,
        electricity_mix_zone=services.settings.electricity_mix_zone,
        thread_id=turn.thread_id,
    ):
        yield item


async def measured_events(
    graph: CompiledStateGraph,
    graph_input: dict[str, Any],
    *,
    agent: str,
    context: AgentContext,
    store: DocumentStore,
    electricity_mix_zone: str,
    thread_id: str | None = None,
) -> AsyncIterator[tuple[Event, dict[str, Any] | None]]:
    """A graph run's events, the ``done`` event paired with the answer's metrics: the API and
    the in-process evaluation measure answers the same way."""
    metrics = AnswerMetrics(electricity_mix_zone=electricity_mix_zone)
    config = run_config(
        get_agent(agent), context.max_search_rounds, thread_id=thread_id, callbacks=[metrics.collector], store=store
    )
    async for event in stream_events(graph, graph_input, context=context, config=config):
        if event["event"] == "chunk":
            metrics.mark_first_token()
        yield event, (metrics.finish() if event["event"] == "done" else None)


async def complete_turn(services: AppServices, turn: Turn) -> tuple[str, list[Source], dict[str, Any]]:
    """A whole turn for non-streaming routes: answer, sources, metrics; a failure is a 502."""
    answer, sources, metrics, error = "", [], {}, None
    async for event, figures in run_turn(services, turn):
        if event["event"] == "done":
            answer, sources, metrics = event["data"]["answer"], event["data"]["sources"], figures or {}
        elif event["event"] == "error":
            error = event["data"]
    if error is not None:
        raise HTTPException(status_code=502, detail=f"{error['phase']}: {error['message']}")
    return answer, sources, metrics


def render_html(markdown: str) -> str:
    """The answer as HTML, raw HTML in it escaped (FIELD_NOTES: ``js-default``)."""
    return _markdown.render(markdown)
