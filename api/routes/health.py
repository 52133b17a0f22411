"""``/health`` (liveness, seed 000's shape) and ``/health/ready`` (can it answer right now?)."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from litestar import Controller, Response, get

from api.services import AppServices
from nodes.models import ModelUnavailableError, ensure_available
from retrievers.base import StoreUnavailableError


class HealthResponse(msgspec.Struct):
    status: str
    version: str
    title: str
    environment: str
    timestamp: str


class Check(msgspec.Struct):
    ok: bool
    detail: str


class ReadinessResponse(msgspec.Struct):
    status: str
    checks: dict[str, Check]


class HealthController(Controller):
    path = "/health"
    tags = ["health"]

    @get("/", summary="Liveness")
    async def health(self, services: AppServices) -> HealthResponse:
        settings = services.settings
        return HealthResponse(
            status="healthy",
            version=services.version,
            title=settings.title,
            environment=settings.environment,
            timestamp=datetime.now(UTC).isoformat(),
        )

    @get("/ready", summary="Readiness: vector store and default model provider")
    async def ready(self, services: AppServices) -> Response[ReadinessResponse]:
        checks: dict[str, Check] = {}
        try:
            await services.store.ping()
            checks["vector_store"] = Check(ok=True, detail="reachable")
        except StoreUnavailableError as exc:
            checks["vector_store"] = Check(ok=False, detail=str(exc))
        model = services.settings.default_model
        try:
            ensure_available(model, services.settings)
            checks["model_provider"] = Check(ok=True, detail=f"{model} is configured")
        except (ModelUnavailableError, KeyError) as exc:
            checks["model_provider"] = Check(ok=False, detail=str(exc))
        ready = all(c.ok for c in checks.values())
        return Response(ReadinessResponse(status="ready" if ready else "unavailable", checks=checks), status_code=200 if ready else 503)
