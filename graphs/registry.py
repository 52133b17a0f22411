"""The agents this service offers, by the names API callers use (``V1``, ``V2``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer

from graphs.v1.graph import build_graph as build_v1
from graphs.v2.graph import build_graph as build_v2
from retrievers import STORE_CONFIG_KEY
from retrievers.base import DocumentStore

DEFAULT_AGENT = "V2"


@dataclass(frozen=True)
class AgentSpec:
    type: str
    description: str
    build: Callable[[Checkpointer], CompiledStateGraph]
    max_steps: int

    @property
    def name(self) -> str:
        return self.type


def _v2_steps(max_search_rounds: int) -> int:
    return 4 + 3 * max_search_rounds


AGENTS: dict[str, AgentSpec] = {
    "V1": AgentSpec("V1", "Current production orchestrated workflow", build_v1, max_steps=4),
    "V2": AgentSpec(
        "V2",
        "Isolated V2 workflow (default): standalone question, hybrid search, bounded re-search, honest not-found",
        build_v2,
        max_steps=_v2_steps(2),
    ),
}


class UnknownAgentError(KeyError):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name
        self.valid = list(AGENTS)

    def __str__(self) -> str:
        return f"Unknown agent '{self.name}'. Valid agents: {', '.join(self.valid)}"


def get_agent(name: str | None) -> AgentSpec:
    try:
        return AGENTS[name or DEFAULT_AGENT]
    except KeyError:
        raise UnknownAgentError(str(name)) from None


def recursion_limit(agent: AgentSpec, max_search_rounds: int) -> int:
    """Enough supersteps for the agent's longest path, and no more (FIELD_NOTES: N steps need N+1)."""
    steps = _v2_steps(max_search_rounds) if agent.type == "V2" else agent.max_steps
    return steps + 1


def run_config(
    agent: AgentSpec,
    context_rounds: int,
    *,
    thread_id: str | None = None,
    callbacks: list[Any] | None = None,
    run_name: str | None = None,
    store: DocumentStore | None = None,
) -> RunnableConfig:
    """Per-run config: a recursion limit fitted to the agent, the session thread, callbacks, and
    the document store to search (objects in ``configurable`` never reach checkpoints)."""
    config: RunnableConfig = {"recursion_limit": recursion_limit(agent, context_rounds)}
    configurable: dict[str, Any] = {}
    if thread_id:
        configurable["thread_id"] = thread_id
    if store is not None:
        configurable[STORE_CONFIG_KEY] = store
    if configurable:
        config["configurable"] = configurable
    if callbacks:
        config["callbacks"] = callbacks
    config["run_name"] = run_name or f"routeur-{agent.type}"
    config["metadata"] = {"agent": agent.type}
    return config
