"""Rate limiting with Litestar's ``RateLimitConfig`` on the chat and completion routes.

The store is in memory (one process); several workers share limits through a Redis store:
``RateLimitConfig(..., store="redis")`` with a ``RedisStore`` registered in the app's stores.
The limiter is moved in front of authentication so that floods of unauthenticated requests are
counted too (otherwise the JWT middleware runs first and rejects them uncounted)."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.config.app import AppConfig
from litestar.middleware.rate_limit import RateLimitConfig, get_remote_address

from routeur.settings import Settings

LIMITED_PREFIXES = ("/completion", "/api/v1/chat")


def build_rate_limit(settings: Settings) -> RateLimitConfig:
    async def is_limited(request: Request[Any, Any, Any]) -> bool:
        return request.url.path.rstrip("/").startswith(LIMITED_PREFIXES)

    def client_of(request: Request[Any, Any, Any]) -> str:
        if settings.trust_forwarded_for and (forwarded := request.headers.get("x-forwarded-for")):
            return forwarded.split(",")[0].strip()
        return get_remote_address(request)

    return RateLimitConfig(
        rate_limit=("minute", settings.rate_limit_per_minute),
        check_throttle_handler=is_limited,
        identifier_for_request=client_of,
    )


def limiter_first(config: RateLimitConfig):
    """An ``on_app_init`` hook, registered after the auth one, that installs the limiter
    outermost (the auth hook inserts its middleware first in the list too)."""

    def hook(app_config: AppConfig) -> AppConfig:
        app_config.middleware.insert(0, config.middleware)
        return app_config

    return hook
