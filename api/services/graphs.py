"""The agents' compiled graphs for the life of the app, injected as the ``graphs`` dependency."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

from graphs.registry import AGENTS


@dataclass
class AgentGraphs:
    """Session routes run graphs on the checkpointer; ``/completion`` carries its own history."""

    checkpointer: BaseCheckpointSaver
    sessions: dict[str, CompiledStateGraph] = field(default_factory=dict)
    stateless: dict[str, CompiledStateGraph] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.sessions:
            self.sessions = {name: spec.build(self.checkpointer) for name, spec in AGENTS.items()}
        if not self.stateless:
            self.stateless = {name: spec.build(None) for name, spec in AGENTS.items()}


def app_version() -> str:
    try:
        return version("routeur-ia")
    except PackageNotFoundError:
        return "0.0.0"
