"""The Litestar application: routes, auth, rate limiting, error envelope, and what handlers
depend on, opened for the app's lifetime and injected one by one: ``settings``, ``store``,
``models``, ``run_dependencies`` (the three together, for agent runs), ``checkpointer``,
``conversations`` (sessions metadata), ``turn_locks``, ``uploads``, ``jobs`` (background
ingestion, on this process's store), ``graphs``, ``rooms`` (realtime signalling), ``chat_budget``
(its rate limit), ``token_issuer`` and ``transcriber`` (speech to text; the offline model loads
on first use)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from langgraph.checkpoint.base import BaseCheckpointSaver
from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.types import Receive, Scope, Send

from api.auth import TokenIssuer, build_jwt_auth
from api.errors import EXCEPTION_HANDLERS
from api.observability import serve_logged
from api.ratelimit import STORE_NAME, ChatBudget, build_rate_limit, client_address, limiter_first, trusted_networks
from api.ratelimit import build_store as build_rate_limit_store
from api.routes.auth import AuthController
from api.routes.catalog import CatalogController
from api.routes.chat import ChatController
from api.routes.completion import CompletionController
from api.routes.documents import DocumentsController, IngestionJobsController
from api.routes.feedback import FeedbackController
from api.routes.health import HealthController
from api.routes.openai_api import OpenAIController
from api.routes.realtime import realtime_socket
from api.routes.search import SearchController
from api.routes.transcription import TranscriptionController
from api.routes.sessions import SessionsController
from api.routes.upload_sessions import UploadSessionsController
from api.routes.web import swagger_plugin, web_routes
from api.security import schema_not_found_as_envelope, security_headers
from api.services.graphs import AgentGraphs, app_version
from api.services.jobs import IngestionJobs
from api.services.realtime import SignallingRooms
from api.services.turn_locks import TurnLocks, build_turn_locks
from api.sessions import open_checkpointer
from api.throttle import LoginThrottle
from graphs.dependencies import RunDependencies
from nodes.models.factory import ModelRegistry
from nodes.models.speech import build_transcriber
from retrievers import build_store, ocr
from retrievers.base import DocumentStore
from retrievers.ingestion import ocr_options
from retrievers.uploads import UploadSessionStore
from routeur.conversations import ConversationStore
from routeur.heap import frozen_start_up
from routeur.logs import configure_logging
from routeur.settings import Settings, get_settings

logger = logging.getLogger("routeur.api")

# Headers a browser script on an allowed origin may read (rate-limit state, when to retry).
EXPOSED_HEADERS = [
    "Retry-After",
    "RateLimit-Policy", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset",
    "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-Request-ID",
]  # fmt: skip


class RouteurApp(Litestar):
    """Litestar with every HTTP request and WebSocket served under ``api.observability``: a
    request id and a log line, wrapped around the whole app (authentication, rate limit, CORS,
    exception handling), so even an answer those produce carries the id."""

    client_address: Callable[[Scope], str | None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        if scope["type"] == "lifespan":
            await super().__call__(scope, receive, send)
            return
        await serve_logged(super().__call__, scope, receive, send, self.client_address)


def create_app(settings: Settings | None = None, *, models: ModelRegistry | None = None) -> Litestar:
    """The app for ``settings`` (the process's when omitted: ``routeur serve``). Every run it
    serves uses these settings and ``models`` (default: the registry these settings declare)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)
    models = models if models is not None else ModelRegistry(settings)
    models.check_default()
    if problems := settings.production_problems():
        raise RuntimeError("Refusing to start in production: " + "; ".join(problems))
    jwt_auth = build_jwt_auth(settings)
    rate_limit = build_rate_limit(settings)
    issuer = TokenIssuer(jwt_auth, settings.jwt_ttl_s)
    limits_store = build_rate_limit_store(settings)
    login_throttle = LoginThrottle(limits_store, settings.auth_failures_per_minute)
    chat_budget = ChatBudget(rate_limit, limits_store)
    transcriber = build_transcriber(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        store = await asyncio.to_thread(build_store, settings)
        # Whether scanned PDFs will be read, said once rather than discovered at the first refusal.
        logger.info(await asyncio.to_thread(ocr.status, ocr_options(settings)))
        try:
            # Load the embedding model now rather than on the first user's request.
            await store.search("warm-up", project_id="\x00warm-up", top_k=1, mode="dense")
            # Likewise the offline answerer's word vectors, which building the dependencies reads.
            run_dependencies = await asyncio.to_thread(RunDependencies.from_settings, settings, store, models)
            async with (
                open_checkpointer(settings) as checkpointer,
                ConversationStore.open(settings) as conversations,
                UploadSessionStore.open(settings.data_dir / "uploads.sqlite") as uploads,
                IngestionJobs.running(store, settings) as jobs,
            ):
                app.state.conversations = conversations
                app.state.turn_locks = build_turn_locks(settings)
                app.state.run_dependencies = run_dependencies
                app.state.checkpointer = checkpointer
                app.state.uploads = uploads
                app.state.jobs = jobs
                app.state.graphs = AgentGraphs(checkpointer)
                app.state.rooms = SignallingRooms(max_peers=settings.realtime_room_peers)
                with frozen_start_up():
                    yield
        finally:
            await asyncio.to_thread(store.close)

    app = RouteurApp(
        route_handlers=[
            HealthController,
            AuthController,
            CatalogController,
            CompletionController,
            ChatController,
            SessionsController,
            FeedbackController,
            DocumentsController,
            IngestionJobsController,
            UploadSessionsController,
            SearchController,
            OpenAIController,
            realtime_socket,
            TranscriptionController,
            *web_routes(),
        ],
        dependencies={
            "settings": Provide(lambda: settings, sync_to_thread=False),
            "models": Provide(lambda: models, sync_to_thread=False),
            "store": Provide(provide_store, sync_to_thread=False),
            "run_dependencies": Provide(provide_run_dependencies, sync_to_thread=False),
            "checkpointer": Provide(provide_checkpointer, sync_to_thread=False),
            "conversations": Provide(provide_conversations, sync_to_thread=False),
            "turn_locks": Provide(provide_turn_locks, sync_to_thread=False),
            "uploads": Provide(provide_uploads, sync_to_thread=False),
            "jobs": Provide(provide_jobs, sync_to_thread=False),
            "graphs": Provide(provide_graphs, sync_to_thread=False),
            "rooms": Provide(provide_rooms, sync_to_thread=False),
            "token_issuer": Provide(lambda: issuer, sync_to_thread=False),
            "login_throttle": Provide(lambda: login_throttle, sync_to_thread=False),
            "chat_budget": Provide(lambda: chat_budget, sync_to_thread=False),
            "transcriber": Provide(lambda: transcriber, sync_to_thread=False),
        },
        stores={STORE_NAME: limits_store},
        before_send=[security_headers],
        after_request=schema_not_found_as_envelope,
        lifespan=[lifespan],
        on_app_init=[jwt_auth.on_app_init, limiter_first(rate_limit)],
        exception_handlers=EXCEPTION_HANDLERS,
        logging_config=None,  # routeur.logs configures logging, one format for every logger
        request_max_body_size=settings.max_request_bytes,
        cors_config=CORSConfig(allow_origins=settings.cors_origins, expose_headers=EXPOSED_HEADERS) if settings.cors_origins else None,
        openapi_config=OpenAPIConfig(
            title=settings.title,
            version=app_version(),
            path="/schema",
            render_plugins=[JsonRenderPlugin(), swagger_plugin()],
        ),
        debug=False,
    )
    networks = trusted_networks(settings)
    # The request line names the address the rate limiter counts (the forwarded one behind a trusted proxy).
    app.client_address = lambda scope: client_address(app.request_class(scope), settings, networks)
    return app


# What the lifespan opened, one provider per dependency (handlers name only what they use).


def provide_run_dependencies(state: State) -> RunDependencies:
    return state.run_dependencies


def provide_store(state: State) -> DocumentStore:
    return state.run_dependencies.store


def provide_checkpointer(state: State) -> BaseCheckpointSaver:
    return state.checkpointer


def provide_conversations(state: State) -> ConversationStore:
    return state.conversations


def provide_turn_locks(state: State) -> TurnLocks:
    return state.turn_locks


def provide_uploads(state: State) -> UploadSessionStore:
    return state.uploads


def provide_jobs(state: State) -> IngestionJobs:
    return state.jobs


def provide_graphs(state: State) -> AgentGraphs:
    return state.graphs


def provide_rooms(state: State) -> SignallingRooms:
    return state.rooms
