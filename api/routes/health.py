"""``/health`` (liveness: status, version, title, environment, time) and ``/health/ready`` (can it answer right now?)."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime

from litestar import Controller, Response, get

from api.errors import ERROR_RESPONSES
from api.schemas import Check, HealthResponse, ReadinessResponse, RuntimeStats
from api.services.graphs import app_version
from nodes.models.factory import ModelRegistry, ModelUnavailableError
from retrievers.base import DocumentStore, StoreUnavailableError
from routeur.settings import Settings


def _rss_bytes() -> int | None:
    """Current resident memory (Linux ``/proc``); None where that is not available."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class HealthController(Controller):
    path = "/health"
    tags = ["health"]

    @get("/", responses=ERROR_RESPONSES, summary="Liveness")
    async def health(self, settings: Settings) -> HealthResponse:
        return HealthResponse(
            status="healthy",
            version=app_version(),
            title=settings.title,
            environment=settings.environment,
            timestamp=datetime.now(UTC).isoformat(),
        )

    @get("/stats", responses=ERROR_RESPONSES, summary="Runtime figures: live asyncio tasks and resident memory", sync_to_thread=False)
    def stats(self) -> RuntimeStats:
        return RuntimeStats(tasks=len(asyncio.all_tasks()), rss_bytes=_rss_bytes())

    @get("/ready", responses=ERROR_RESPONSES, summary="Readiness: vector store and default model provider")
    async def ready(self, store: DocumentStore, settings: Settings, models: ModelRegistry) -> Response[ReadinessResponse]:
        checks: dict[str, Check] = {}
        try:
            await store.ping()
            checks["vector_store"] = Check(ok=True, detail="reachable")
        except StoreUnavailableError as exc:
            checks["vector_store"] = Check(ok=False, detail=str(exc))
        model = settings.default_model
        try:
            models.ensure_available(model)
            checks["model_provider"] = Check(ok=True, detail=f"{model} is configured")
        except (ModelUnavailableError, KeyError) as exc:
            checks["model_provider"] = Check(ok=False, detail=str(exc))
        ready = all(c.ok for c in checks.values())
        return Response(ReadinessResponse(status="ready" if ready else "unavailable", checks=checks), status_code=200 if ready else 503)
