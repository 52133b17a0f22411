"""What request handlers share for the life of the app, injected as the ``services`` dependency."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

from graphs.registry import AGENTS
from retrievers.base import DocumentStore
from retrievers.uploads import UploadSessionStore
from routeur.settings import Settings


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, from a verified token."""

    sub: str
    projects: tuple[str, ...]
    exp: int
    type: str = "access"

    def may_use(self, project_id: str) -> bool:
        return "*" in self.projects or project_id in self.projects


@dataclass
class AppServices:
    settings: Settings
    store: DocumentStore
    checkpointer: BaseCheckpointSaver
    uploads: UploadSessionStore
    graphs: dict[str, CompiledStateGraph] = field(default_factory=dict)
    stateless_graphs: dict[str, CompiledStateGraph] = field(default_factory=dict)
    version: str = field(default_factory=lambda: _version())

    def __post_init__(self) -> None:
        """Session routes run graphs on the checkpointer; ``/completion`` carries its own history."""
        if not self.graphs:
            self.graphs = {name: spec.build(self.checkpointer) for name, spec in AGENTS.items()}
        if not self.stateless_graphs:
            self.stateless_graphs = {name: spec.build(None) for name, spec in AGENTS.items()}


def _version() -> str:
    try:
        return version("routeur-ia")
    except PackageNotFoundError:
        return "0.0.0"
