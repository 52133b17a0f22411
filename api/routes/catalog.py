"""``/models`` and ``/agents``: what callers may put in ``model`` and ``agent``."""

from __future__ import annotations

import msgspec
from litestar import Controller, get

from api.errors import ERROR_RESPONSES
from graphs.registry import AGENTS
from nodes.models import get_catalog


class ModelInfo(msgspec.Struct):
    name: str
    provider: str
    description: str
    supports_streaming: bool
    context_window: int


class ModelList(msgspec.Struct):
    models: list[ModelInfo]
    total: int


class AgentInfo(msgspec.Struct):
    type: str
    name: str
    description: str
    available: bool


class AgentList(msgspec.Struct):
    agents: list[AgentInfo]
    total: int


class CatalogController(Controller):
    tags = ["catalog"]

    @get("/models", responses=ERROR_RESPONSES, summary="Chat models")
    async def models(self) -> ModelList:
        models = [
            ModelInfo(
                name=s.name,
                provider=s.provider,
                description=s.description,
                supports_streaming=s.supports_streaming,
                context_window=s.context_window,
            )
            for s in get_catalog()
        ]
        return ModelList(models=models, total=len(models))

    @get("/agents", responses=ERROR_RESPONSES, summary="Agents")
    async def agents(self) -> AgentList:
        agents = [AgentInfo(type=a.type, name=a.name, description=a.description, available=True) for a in AGENTS.values()]
        return AgentList(agents=agents, total=len(agents))
