"""Per-run settings, passed as LangGraph's runtime context (``context_schema``).

Studio shows these fields as the run's configuration; the API fills them from the request and
from the caller's token (project), never from the conversation. Only plain, serialisable knobs
belong here: the run's live dependencies travel apart (``graphs.dependencies``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from routeur.settings import Settings


@dataclass(kw_only=True)
class AgentContext:
    model: str = field(default="local-extractive", metadata={"description": "Chat model name from the catalog"})
    temperature: float = field(default=0.2, metadata={"description": "Sampling temperature"})
    project_id: str = field(default="default", metadata={"description": "Project whose documents are searched"})
    sources: list[str] = field(
        default_factory=list,
        metadata={"description": "File ids to restrict the search to; empty = the whole project"},
    )
    top_k: int = field(default=5, metadata={"description": "Chunks retrieved per search"})
    min_relevant: int = field(default=1, metadata={"description": "V2: relevant chunks needed before generating"})
    max_search_rounds: int = field(default=2, metadata={"description": "V2: extra searches with a reformulated query"})
    semantic_weight: float = field(
        default=0.0,
        metadata={"description": "Offline reranker: weight of the dense similarity order beside the lexical one (0: lexical only)"},
    )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        project_id: str,
        model: str | None = None,
        temperature: float | None = None,
        sources: list[str] | None = None,
        top_k: int | None = None,
    ) -> AgentContext:
        """The one place a run's context is built: what the caller chose, else the settings' defaults."""
        return cls(
            model=model or settings.default_model,
            temperature=0.2 if temperature is None else temperature,
            project_id=project_id,
            sources=list(sources or []),
            top_k=top_k or settings.top_k,
            max_search_rounds=settings.max_search_rounds,
            semantic_weight=settings.resolved_semantic_weight(),
        )
