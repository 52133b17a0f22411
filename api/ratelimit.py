"""Rate limiting with Litestar's ``RateLimitConfig`` on the chat, completion and transcription routes (a transcription costs seconds of CPU).

Who is counted: an authenticated request by its token's subject (a verified token, so a caller
cannot rotate identities by forging them), with that client's own ``rate_limit_per_minute``
when ``ROUTEUR_CLIENTS`` gives one; any other request by its address. The address is the
socket peer, or, only when the peer is a configured trusted proxy, the right-most
``X-Forwarded-For`` hop that is not itself a trusted proxy (the left-most entries are whatever
the client wrote).

The store is in memory (one process) unless ``ROUTEUR_REDIS_URL`` is set: then every API process
counts in the same Redis. The limiter is moved in front of authentication so that floods of
unauthenticated requests are counted too. CORS preflights (``OPTIONS``) are never counted."""

from __future__ import annotations

import ipaddress
from time import time
from typing import Any

from litestar import Request
from litestar.config.app import AppConfig
from litestar.exceptions import TooManyRequestsException
from litestar.middleware.rate_limit import (
    DURATION_VALUES,
    CacheObject,
    RateLimitConfig,
    RateLimitMiddleware,
    get_remote_address,
)
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.types import Receive, Scope, Send

from api.auth import bearer_token, jwt_secret, verified_subject
from routeur.settings import Settings

LIMITED_PREFIXES = ("/completion", "/api/v1/chat", "/v1/chat", "/transcription")
STORE_NAME = "rate_limit"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(settings: Settings) -> list[Network]:
    return [ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies]


def client_address(request: Request[Any, Any, Any], settings: Settings, networks: list[Network]) -> str:
    """The client's address: the peer, unless the peer is a trusted proxy and forwarded
    headers are trusted; then the right-most forwarded hop outside the trusted proxies."""
    peer = get_remote_address(request)
    if not (settings.trust_forwarded_for and networks and _within(peer, networks)):
        return peer
    hops = [h.strip() for value in request.headers.getall("x-forwarded-for", []) for h in value.split(",")]
    for hop in reversed([h for h in hops if h]):
        if not _within(hop, networks):
            return hop
    return peer


def _within(address: str, networks: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def build_store(settings: Settings) -> Store:
    """Where limits and login failures are counted: Redis when configured, else this process."""
    if settings.redis_url is None:
        return MemoryStore()
    from litestar.stores.redis import RedisStore

    return RedisStore.with_client(url=settings.redis_url.get_secret_value(), namespace="routeur")


class ClientRateLimitMiddleware(RateLimitMiddleware):
    """Litestar's limiter with a limit per caller (``rate_limit_per_minute`` of its client) and
    the ``X-RateLimit-*`` names sent beside the ``RateLimit-*`` ones."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = scope["litestar_app"]
        request: Request[Any, Any, Any] = app.request_class(scope)
        if not await self.should_check_request(request=request):
            await self.app(scope, receive, send)
            return
        limit = self.config.limit_for(request)  # type: ignore[attr-defined]
        store = self.config.get_store_from_app(app)
        key = self.cache_key_from_request(request)
        async with self._lock:
            cache_object = await self.retrieve_cached_history(key, store)
            if len(cache_object.history) >= limit:
                raise TooManyRequestsException(headers=self.headers(cache_object, limit))
            await self.set_cached_history(key=key, cache_object=cache_object, store=store)
        send = self._send_with_headers(send, cache_object, limit)
        await self.app(scope, receive, send)

    def headers(self, cache_object: CacheObject, limit: int) -> dict[str, str]:
        window = DURATION_VALUES[self.unit]
        remaining = str(max(limit - len(cache_object.history), 0))
        reset = str(max(cache_object.reset - int(time()), 0))
        return {
            "RateLimit-Policy": f"{limit}; w={window}",
            "RateLimit-Limit": str(limit),
            "RateLimit-Remaining": remaining,
            "RateLimit-Reset": reset,
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": remaining,
            "X-RateLimit-Reset": reset,
        }

    def _send_with_headers(self, send: Send, cache_object: CacheObject, limit: int) -> Send:
        from litestar.datastructures import MutableScopeHeaders

        async def wrapped(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableScopeHeaders(message)
                for name, value in self.headers(cache_object, limit).items():
                    headers[name] = value
            await send(message)

        return wrapped


class ClientRateLimitConfig(RateLimitConfig):
    """``RateLimitConfig`` that knows each caller's limit (see ``ClientRateLimitMiddleware``)."""

    def __init__(self, settings: Settings, **kwargs: Any):
        super().__init__(**kwargs)
        self.settings = settings
        self.secret = jwt_secret(settings)

    def subject(self, request: Request[Any, Any, Any]) -> str | None:
        """The subject of a verified bearer token, or None (the auth middleware answers for those)."""
        token = bearer_token(request.headers.get("authorization", ""))
        if token is None:
            return None
        return verified_subject(token, self.secret)

    def limit_for(self, request: Request[Any, Any, Any]) -> int:
        return self.limit_for_subject(self.subject(request))

    def limit_for_subject(self, sub: str | None) -> int:
        client = self.settings.client(sub) if sub else None
        if client is not None and client.rate_limit_per_minute is not None:
            return client.rate_limit_per_minute
        return self.settings.rate_limit_per_minute


class ChatBudget:
    """The same per-caller limit for chat turns that come without an HTTP request (messages on the
    realtime WebSocket): counted in the same store under the same key as the caller's chat and
    completion requests, so a socket is no way around the limit."""

    def __init__(self, config: ClientRateLimitConfig, store: Store):
        self._limiter = ClientRateLimitMiddleware(app=_no_app, config=config)
        self._config = config
        self._store = store

    async def spend(self, sub: str) -> int | None:
        """Counts one turn for ``sub``; None when allowed, else the seconds until it would be."""
        limiter = self._limiter
        limit = self._config.limit_for_subject(sub)
        key = f"{type(limiter).__name__}::sub:{sub}"  # the key the middleware counts this caller under
        async with limiter._lock:
            cache_object = await limiter.retrieve_cached_history(key, self._store)
            if len(cache_object.history) >= limit:
                return max(cache_object.reset - int(time()), 1)
            await limiter.set_cached_history(key=key, cache_object=cache_object, store=self._store)
        return None


async def _no_app(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("ChatBudget's limiter only counts")


def build_rate_limit(settings: Settings) -> ClientRateLimitConfig:
    networks = trusted_networks(settings)

    async def is_limited(request: Request[Any, Any, Any]) -> bool:
        return request.method != "OPTIONS" and request.url.path.rstrip("/").startswith(LIMITED_PREFIXES)

    def identity(request: Request[Any, Any, Any]) -> str:
        sub = config.subject(request)
        return f"sub:{sub}" if sub else f"ip:{client_address(request, settings, networks)}"

    config = ClientRateLimitConfig(
        settings,
        rate_limit=("minute", settings.rate_limit_per_minute),
        check_throttle_handler=is_limited,
        identifier_for_request=identity,
        middleware_class=ClientRateLimitMiddleware,
        store=STORE_NAME,
    )
    return config


def limiter_first(config: RateLimitConfig):
    """An ``on_app_init`` hook, registered after the auth one, that installs the limiter
    outermost (the auth hook inserts its middleware first in the list too)."""

    def hook(app_config: AppConfig) -> AppConfig:
        app_config.middleware.insert(0, config.middleware)
        return app_config

    return hook
