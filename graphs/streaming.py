"""Running a graph for a consumer that may stop listening.

Breaking out of ``graph.astream`` does not stop the graph (FIELD_NOTES): the run lives in its own
task, events cross an ``asyncio.Queue``, and when the consumer leaves the task is cancelled and
awaited under a shielded cancel scope, which stops the model call upstream.

Consumers always get a well-formed protocol: a failure becomes one ``error`` event, then the end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from graphs import events
from graphs.context import AgentContext
from graphs.events import Event, Source

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
        stream = graph.astream(graph_input, config, context=context, stream_mode="custom")
        try:
            async for item in stream:
                failed = failed or item.get("event") == "error"
                await queue.put(item)
        except Exception as exc:
            if not failed:
                await queue.put(events.error("unknown", f"Agent run failed: {type(exc).__name__}: {exc}"[:300]))
        finally:
            # A cancellation that lands between two items leaves the generator suspended, and
            # LangGraph's node tasks (the model call) running on: close it explicitly.
            await stream.aclose()
        await queue.put(_END)

    task = asyncio.create_task(pump())
    try:
        while (item := await queue.get()) is not _END:
            yield item
            if item["event"] == "error":
                break
    finally:
        if not task.done():
            task.cancel()
        with anyio.CancelScope(shield=True), contextlib.suppress(BaseException):
            await task


@dataclass
class RunResult:
    """A whole run, assembled from its events (for non-streaming callers)."""

    answer: str = ""
    sources: list[Source] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    error: dict[str, str] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


async def run_to_completion(
    graph: CompiledStateGraph,
    graph_input: dict[str, Any],
    *,
    context: AgentContext,
    config: RunnableConfig | None = None,
) -> RunResult:
    result = RunResult()
    async for event in stream_events(graph, graph_input, context=context, config=config):
        result.events.append(event)
        if event["event"] == "done":
            result.answer = event["data"]["answer"]
            result.sources = event["data"]["sources"]
        elif event["event"] == "error":
            result.error = dict(event["data"])
    return result


def user_turn(message: str) -> dict[str, Any]:
    return {"messages": [HumanMessage(message)]}
