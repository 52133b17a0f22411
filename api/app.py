"""The Litestar application: routes, auth, rate limiting, error envelope, and the services
(store, checkpointer, compiled graphs) opened for the app's lifetime."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin

from api.auth import TokenIssuer, build_jwt_auth
from api.errors import EXCEPTION_HANDLERS
from api.ratelimit import build_rate_limit, limiter_first
from api.routes.auth import AuthController
from api.routes.catalog import CatalogController
from api.routes.chat import ChatController
from api.routes.completion import CompletionController
from api.routes.documents import DocumentsController
from api.routes.health import HealthController
from api.routes.search import SearchController
from api.routes.upload_sessions import UploadSessionsController
from api.routes.web import swagger_plugin, web_routes
from api.services import AppServices
from api.sessions import open_checkpointer
from retrievers import build_store
from retrievers.uploads import UploadSessionStore
from routeur.settings import Settings, get_settings

logger = logging.getLogger("routeur.api")


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    if problems := settings.production_problems():
        raise RuntimeError("Refusing to start in production: " + "; ".join(problems))
    jwt_auth = build_jwt_auth(settings)
    rate_limit = build_rate_limit(settings)
    issuer = TokenIssuer(jwt_auth, settings.jwt_ttl_s)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        store = await asyncio.to_thread(build_store, settings)
        try:
            # Load the embedding model now rather than on the first user's request.
            await store.search("warm-up", project_id="\x00warm-up", top_k=1, mode="dense")
            async with (
                open_checkpointer(settings) as checkpointer,
                UploadSessionStore.open(settings.data_dir / "uploads.sqlite") as uploads,
            ):
                app.state.services = AppServices(settings=settings, store=store, checkpointer=checkpointer, uploads=uploads)
                yield
        finally:
            await asyncio.to_thread(store.close)

    def services(state: State) -> AppServices:
        return state.services

    return Litestar(
        route_handlers=[
            HealthController,
            AuthController,
            CatalogController,
            CompletionController,
            ChatController,
            DocumentsController,
            UploadSessionsController,
            SearchController,
            *web_routes(),
        ],
        dependencies={
            "services": Provide(services, sync_to_thread=False),
            "token_issuer": Provide(lambda: issuer, sync_to_thread=False),
        },
        lifespan=[lifespan],
        on_app_init=[jwt_auth.on_app_init, limiter_first(rate_limit)],
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=settings.max_request_bytes,
        cors_config=CORSConfig(allow_origins=settings.cors_origins) if settings.cors_origins else None,
        openapi_config=OpenAPIConfig(
            title=settings.title,
            version=AppServices.__dataclass_fields__["version"].default_factory(),  # type: ignore[misc]
            path="/schema",
            render_plugins=[JsonRenderPlugin(), swagger_plugin()],
        ),
        debug=False,
    )
