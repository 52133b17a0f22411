"""``/models`` and ``/agents``: what callers may put in ``model`` and ``agent``."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency

from api.errors import ERROR_RESPONSES
from api.schemas import AgentInfo, AgentList, ModelInfo, ModelList
from graphs.registry import AGENTS
from nodes.models.factory import ModelRegistry
from routeur.settings import Settings


class CatalogController(Controller):
    tags = ["catalog"]

    @get("/models", responses=ERROR_RESPONSES, summary="Chat models")
    async def models(self, models: NamedDependency[ModelRegistry]) -> ModelList:
        models = [
            ModelInfo(
                name=s.name,
                provider=s.provider,
                description=s.description,
                supports_streaming=s.supports_streaming,
                context_window=s.context_window,
            )
            for s in models
        ]
        return ModelList(models=models, total=len(models))

    @get("/agents", responses=ERROR_RESPONSES, summary="Agents")
    async def agents(self, settings: NamedDependency[Settings]) -> AgentList:
        agents = [
            AgentInfo(type=a.type, name=a.name, description=a.description, available=True, default=a.type == settings.default_agent)
            for a in AGENTS.values()
        ]
        return AgentList(agents=agents, total=len(agents))
