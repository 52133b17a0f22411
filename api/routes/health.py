"""``/health`` (liveness: status, version, title, environment, time) and ``/health/ready`` (can it answer right now?)."""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import UTC, datetime

from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency

from api.errors import ERROR_RESPONSES
from api.schemas import Check, HealthResponse, ReadinessResponse, RuntimeStats
from api.services.graphs import app_version
from nodes.models.factory import ModelRegistry, ModelUnavailableError
from retrievers.base import StoreUnavailableError
from routeur.settings import Settings

logger = logging.getLogger("routeur.api")


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
    async def health(self, settings: NamedDependency[Settings]) -> HealthResponse:
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
    async def ready(self, state: State, settings: NamedDependency[Settings], models: NamedDependency[ModelRegistry]) -> Response[ReadinessResponse]:
        """200 when every check passes, else 503 with each check's reason: never a 500, whatever
        a check raises (a readiness probe must be able to tell "not ready" from "broken route")."""
        checks = {"vector_store": await _store_check(state), "model_provider": _model_check(settings, models)}
        ready = all(c.ok for c in checks.values())
        return Response(ReadinessResponse(status="ready" if ready else "unavailable", checks=checks), status_code=200 if ready else 503)


async def _store_check(state: State) -> Check:
    dependencies = getattr(state, "run_dependencies", None)
    if dependencies is None:
        return Check(ok=False, detail="starting: the vector store is not open yet")
    try:
        await dependencies.store.ping()
    except StoreUnavailableError as exc:
        return Check(ok=False, detail=str(exc))
    except Exception as exc:
        logger.exception("Readiness: the vector store check failed")
        return Check(ok=False, detail=f"vector store check failed: {type(exc).__name__}: {exc}")
    return Check(ok=True, detail="reachable")


def _model_check(settings: Settings, models: ModelRegistry) -> Check:
    model = settings.default_model
    try:
        models.ensure_available(model)
    except (ModelUnavailableError, KeyError) as exc:
        return Check(ok=False, detail=str(exc))
    except Exception as exc:
        logger.exception("Readiness: the model provider check failed")
        return Check(ok=False, detail=f"model check failed: {type(exc).__name__}: {exc}")
    return Check(ok=True, detail=f"{model} is configured")
