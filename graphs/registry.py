"""The agents this service offers, by the names API callers use (``V1``, ``V2``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer

from graphs.v1.graph import build_graph as build_v1
from graphs.v2.graph import build_graph as build_v2

if TYPE_CHECKING:
    from graphs.dependencies import RunDependencies

DEFAULT_AGENT = "V2"
"""The agent of a request that names none when no settings say otherwise (``Settings.default_agent``)."""


@dataclass(frozen=True)
class AgentSpec:
    type: str
    description: str
    build: Callable[[Checkpointer], CompiledStateGraph]
    steps: Callable[[int], int]
    """Supersteps of the agent's longest path, given its extra search rounds."""

    @property
    def name(self) -> str:
        return self.type

    def recursion_limit(self, max_search_rounds: int) -> int:
        """Enough supersteps for the longest path, and no more: LangGraph stops a run when its
        step count reaches the limit, so a path of N steps needs a limit of N + 1."""
        return self.steps(max_search_rounds) + 1


AGENTS: dict[str, AgentSpec] = {
    "V1": AgentSpec("V1", "Earlier workflow, kept for comparison: intent, dense search, evaluation, cited answer", build_v1, steps=lambda _rounds: 4),
    "V2": AgentSpec(
        "V2",
        "Standalone question, hybrid search, bounded re-search, honest not-found",
        build_v2,
        steps=lambda rounds: 4 + 3 * rounds,
    ),
}


class UnknownAgentError(KeyError):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name
        self.valid = list(AGENTS)

    def __str__(self) -> str:
        return f"Unknown agent '{self.name}'. Valid agents: {', '.join(self.valid)}"


def get_agent(name: str | None, default: str = DEFAULT_AGENT) -> AgentSpec:
    try:
        return AGENTS[name or default]
    except KeyError:
        raise UnknownAgentError(str(name)) from None


def run_config(
    agent: AgentSpec,
    context_rounds: int,
    *,
    thread_id: str | None = None,
    callbacks: list[Any] | None = None,
    run_name: str | None = None,
    dependencies: RunDependencies | None = None,
) -> RunnableConfig:
    """Per-run config: a recursion limit fitted to the agent, the session thread, callbacks, and
    the run's dependencies (objects in ``configurable`` never reach checkpoints)."""
    config: RunnableConfig = {"recursion_limit": agent.recursion_limit(context_rounds)}
    configurable: dict[str, Any] = {}
    if thread_id:
        configurable["thread_id"] = thread_id
    if dependencies is not None:
        configurable.update(dependencies.configurable())
    if configurable:
        config["configurable"] = configurable
    if callbacks:
        config["callbacks"] = callbacks
    config["run_name"] = run_name or f"routeur-{agent.type}"
    config["metadata"] = {"agent": agent.type}
    return config
