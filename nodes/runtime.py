"""What every node needs from LangGraph's runtime: its context, its dependencies, and error
reporting per phase."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.messages import AnyMessage, HumanMessage
from langgraph.config import get_config
from langgraph.errors import GraphBubbleUp
from langgraph.runtime import Runtime

from graphs import events
from graphs.context import AgentContext
from graphs.dependencies import RunDependencies, run_dependencies
from graphs.events import Phase
from graphs.state import AgentState

Node = Callable[[AgentState, Runtime[AgentContext]], Awaitable[dict[str, Any]]]


def context_of(runtime: Runtime[AgentContext]) -> AgentContext:
    """The run's context; Studio and SDK callers may send none or a plain dict."""
    ctx = runtime.context
    if ctx is None:
        return AgentContext()
    if isinstance(ctx, dict):
        return AgentContext(**ctx)
    return ctx


async def dependencies() -> RunDependencies:
    """The run's store, model registry and settings (``graphs.dependencies``)."""
    return await run_dependencies(get_config())


def reports_errors(phase_name: Phase) -> Callable[[Node], Node]:
    """Emit an ``error`` event naming the phase before a node's failure ends the run."""

    def decorate(node: Node) -> Node:
        @functools.wraps(node)
        async def wrapper(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
            try:
                return await node(state, runtime)
            except GraphBubbleUp:
                raise
            except Exception as exc:
                runtime.stream_writer(events.error(phase_name, public_message(phase_name, exc)))
                raise

        return wrapper

    return decorate


def public_message(phase_name: str, exc: BaseException) -> str:
    what = "LLM request failed" if phase_name == "generation" else f"{phase_name} failed"
    return events.exception_message(exc, what, with_type=False)


def message_text(message: AnyMessage) -> str:
    return message.content if isinstance(message.content, str) else message.text


def split_turn(state: AgentState) -> tuple[str, list[AnyMessage]]:
    """The latest user message and the conversation before it."""
    messages = state["messages"]
    for index in range(len(messages) - 1, -1, -1):
        if isinstance(messages[index], HumanMessage):
            return message_text(messages[index]), list(messages[:index])
    raise ValueError("The conversation has no user message")
