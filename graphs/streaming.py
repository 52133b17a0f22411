"""Running a graph for a consumer that may stop listening.

Breaking out of ``graph.astream`` does not stop the graph (its node tasks run on until the
generator is closed, and a consumer that just stops iterating never closes it): the run lives in its own
task, events cross an ``asyncio.Queue``, and when the consumer leaves the task is cancelled and
awaited under a shielded cancel scope, which stops the model call upstream.

Consumers always get a well-formed protocol: a failure becomes one ``error`` event, then the end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import anyio
from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from graphs import events
from graphs.context import AgentContext
from graphs.dependencies import RunDependencies
from graphs.events import Event, RunResult
from graphs.registry import AgentSpec, run_config

__all__ = ["RunResult", "measured_events", "run_to_completion", "stream_events", "user_turn"]

_END = object()
QUEUE_SIZE = 256


async def stream_events(
    graph: CompiledStateGraph,
    graph_input: dict[str, Any],
    *,
    context: AgentContext,
    config: RunnableConfig | None = None,
) -> AsyncIterator[Event]:
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=QUEUE_SIZE)

    async def pump() -> None:
        failed = False
        # A session's checkpoint is written once, when the run ends, not after every step (about
        # 25 SQLite commits a turn otherwise); a turn is one request, never resumed midway.
        durability = {"durability": "exit"} if graph.checkpointer else {}
        stream = graph.astream(graph_input, config, context=context, stream_mode="custom", **durability)
        try:
            async for item in stream:
                failed = failed or item.get("event") == "error"
                await queue.put(item)
        except Exception as exc:
            if not failed:
                await queue.put(events.failure("unknown", exc, "Agent run failed"))
        finally:
            # A cancellation that lands between two items leaves the generator suspended, and
            # LangGraph's node tasks (the model call) running on: close it explicitly.
            await stream.aclose()
        await queue.put(_END)

    task = asyncio.create_task(pump())
    try:
        following: Any = None
        while (item := following if following is not None else await queue.get()) is not _END:
            following = None
            if item["event"] == "chunk" and not queue.empty():
                item, following = _merged_chunks(item, queue)
            yield item
            if item["event"] == "error":
                break
    finally:
        if not task.done():
            task.cancel()
        with anyio.CancelScope(shield=True), contextlib.suppress(BaseException):
            await task


def _merged_chunks(first: Event, queue: asyncio.Queue[Any]) -> tuple[Event, Any]:
    """``first`` and the chunks queued right behind it as one chunk, and the item after them
    (None when the queue ran dry). A model faster than its consumer (the extractive one writes a
    whole answer at once) gives tens of chunks in one go: each layer above (metrics, logs,
    session, SSE) then handles one event instead of one per word; tokens that come one at a time
    still go out one at a time."""
    parts = [first["data"]["content"]]
    while not queue.empty():
        item = queue.get_nowait()
        if item is _END or item["event"] != "chunk":
            return events.chunk("".join(parts)), item
        parts.append(item["data"]["content"])
    return events.chunk("".join(parts)), None


async def run_to_completion(
    graph: CompiledStateGraph,
    graph_input: dict[str, Any],
    *,
    context: AgentContext,
    config: RunnableConfig | None = None,
) -> RunResult:
    result = RunResult()
    async for event in stream_events(graph, graph_input, context=context, config=config):
        result.add(event)
    return result


async def measured_events(
    graph: CompiledStateGraph,
    graph_input: dict[str, Any],
    *,
    agent: AgentSpec,
    context: AgentContext,
    dependencies: RunDependencies,
    thread_id: str | None = None,
    run_id: UUID | None = None,
) -> AsyncIterator[tuple[Event, dict[str, Any] | None]]:
    """A graph run's events, the ``done`` event paired with the answer's metrics: the API, the
    CLI and the in-process evaluation measure answers the same way. ``run_id`` names the root
    run (tracing, feedback)."""
    from nodes.models.metrics import AnswerMetrics

    metrics = AnswerMetrics(electricity_mix_zone=dependencies.settings.electricity_mix_zone, catalog=dependencies.models.catalog)
    config = run_config(agent, context.max_search_rounds, thread_id=thread_id, callbacks=[metrics.collector], dependencies=dependencies)
    if run_id is not None:
        config["run_id"] = run_id
    async for event in stream_events(graph, graph_input, context=context, config=config):
        if event["event"] == "chunk":
            metrics.mark_first_token()
        yield event, (metrics.finish() if event["event"] == "done" else None)


def user_turn(message: str) -> dict[str, Any]:
    return {"messages": [HumanMessage(message)]}
