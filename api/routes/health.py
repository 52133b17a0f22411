"""``/health`` (liveness, seed 000's shape) and ``/health/ready`` (can it answer right now?)."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime

import msgspec
from litestar import Controller, Response, get

from api.errors import ERROR_RESPONSES
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


class RuntimeStats(msgspec.Struct):
    tasks: int
    rss_bytes: int | None


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
    async def health(self, services: AppServices) -> HealthResponse:
        settings = services.settings
        return HealthResponse(
            status="healthy",
            version=services.version,
            title=settings.title,
            environment=settings.environment,
            timestamp=datetime.now(UTC).isoformat(),
        )

    @get("/stats", responses=ERROR_RESPONSES, summary="Runtime figures: live asyncio tasks and resident memory", sync_to_thread=False)
    def stats(self) -> RuntimeStats:
        return RuntimeStats(tasks=len(asyncio.all_tasks()), rss_bytes=_rss_bytes())

    @get("/ready", responses=ERROR_RESPONSES, summary="Readiness: vector store and default model provider")
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
