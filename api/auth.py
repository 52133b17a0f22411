"""Bearer-token authentication with Litestar's ``JWTAuth``.

A token carries the caller (``sub``) and the projects it may search (``projects``). In
development the secret is generated once and kept under the data dir, so tokens survive restarts;
in production a configured secret is required (``Settings.production_problems``). Tokens travel
in ``Authorization: Bearer`` only, except on the realtime WebSocket, which browsers open without
headers: there ``?token=`` is accepted too."""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Self

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.authentication import AuthenticationResult
from litestar.security.jwt import JWTAuth, JWTAuthenticationMiddleware, Token

from api.routes.web import PUBLIC_PATHS as WEB_PATHS
from routeur.settings import Settings


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, from a verified token."""

    sub: str
    projects: tuple[str, ...]
    exp: int
    type: str = "access"

    def may_use(self, project_id: str) -> bool:
        return "*" in self.projects or project_id in self.projects


JWT_ALGORITHM = "HS256"
PUBLIC_PATHS = ["^/health$", "^/health/ready$", "^/schema", "^/auth/token$", *WEB_PATHS]
DEV_SUBJECT = "user"
"""The subject of development tokens (issued without credentials, never in production)."""


def jwt_secret(settings: Settings) -> str:
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value()
    if settings.environment == "production":
        raise RuntimeError("ROUTEUR_JWT_SECRET is required in production")
    path = settings.data_dir / ".jwt_secret"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def bearer_token(header: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive), else
    None: ``Token <jwt>`` or a bare JWT is not a bearer credential."""
    scheme, _, token = header.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


REALTIME_PATHS = ("/realtime/ws",)
"""WebSocket routes that also take the token as ``?token=``: a browser's ``WebSocket`` cannot
send an ``Authorization`` header."""


def websocket_query_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The ``token`` query parameter, only on a realtime WebSocket handshake that sends no
    ``Authorization`` header: every HTTP route stays bearer-header only."""
    if connection.scope["type"] != "websocket" or connection.scope["path"] not in REALTIME_PATHS:
        return None
    if "authorization" in connection.headers:
        return None
    return connection.query_params.get("token") or None


VERIFIED_TOKENS = 4096
"""Distinct tokens whose verification a process remembers (least recently used first out)."""


class VerifiedToken(Token):
    """Litestar's token, its signature verified once per process for each exact token text.

    A client sends the same token with every request until it expires, and each request needs it
    twice (the rate limiter counts by subject before authentication runs): verifying the same
    bytes again cannot give another answer, so only the expiry is checked again on each use. A
    token that fails verification is never remembered."""

    @classmethod
    def decode(
        cls,
        encoded_token: str,
        secret: str,
        algorithm: str,
        audience: str | Sequence[str] | None = None,
        issuer: str | Sequence[str] | None = None,
        require_claims: Sequence[str] | None = None,
        verify_exp: bool = True,
        verify_nbf: bool = True,
        strict_audience: bool = False,
    ) -> Self:
        if not verify_exp:
            return super().decode(encoded_token, secret, algorithm, audience, issuer, require_claims, verify_exp, verify_nbf, strict_audience)
        token = _verified(cls, encoded_token, secret, algorithm, _frozen(audience), _frozen(issuer), _frozen(require_claims), verify_nbf, strict_audience)
        if token.exp <= datetime.now(UTC):
            raise NotAuthorizedException("Invalid token")
        return token


def _frozen(value: str | Sequence[str] | None) -> str | tuple[str, ...] | None:
    return value if value is None or isinstance(value, str) else tuple(value)


@lru_cache(maxsize=VERIFIED_TOKENS)
def _verified(cls: type[VerifiedToken], encoded_token: str, secret: str, algorithm: str, *options: Any) -> VerifiedToken:
    audience, issuer, require_claims, verify_nbf, strict_audience = options
    return super(VerifiedToken, cls).decode(encoded_token, secret, algorithm, audience, issuer, require_claims, True, verify_nbf, strict_audience)


def verified_subject(encoded_token: str, secret: str) -> str | None:
    """The subject of a valid token, else None."""
    try:
        return VerifiedToken.decode(encoded_token, secret, JWT_ALGORITHM).sub or None
    except NotAuthorizedException:
        return None


class BearerAuthenticationMiddleware(JWTAuthenticationMiddleware):
    """Litestar's JWT middleware, plus the realtime socket's query token (``websocket_query_token``)."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        if (token := websocket_query_token(connection)) is not None:
            return await self.authenticate_token(encoded_token=token, connection=connection)
        return await super().authenticate_request(connection)


def current_projects(settings: Settings, sub: str, granted: Sequence[str]) -> tuple[str, ...] | None:
    """What a token for ``sub`` may use *now*: the projects it was granted that its client still
    has. None when the caller no longer exists (client removed, or a development token on a
    production server), so removing a client or a project takes effect on the next request,
    not when its tokens expire."""
    client = settings.client(sub)
    if client is not None:
        allowed = client.projects
    elif sub == DEV_SUBJECT and settings.environment == "development":
        allowed = settings.dev_projects
    else:
        return None
    if "*" in allowed:
        return tuple(granted)
    if "*" in granted:
        return tuple(allowed)
    return tuple(p for p in granted if p in allowed)


def principal_retriever(settings: Settings):
    """Litestar's ``retrieve_user_handler``: the token is valid (signature, expiry) when this
    runs; it still has to be a bearer access token (or the realtime socket's query token) of a
    caller that exists today."""

    async def retrieve_principal(token: Token, connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
        extras = token.extras or {}
        if extras.get("type", "access") != "access":
            return None
        if bearer_token(connection.headers.get("authorization", "")) is None and websocket_query_token(connection) is None:
            return None
        projects = current_projects(settings, token.sub, extras.get("projects", ()))
        if projects is None:
            return None
        return Principal(sub=token.sub, projects=projects, exp=int(token.exp.timestamp()), type="access")

    return retrieve_principal


def build_jwt_auth(settings: Settings) -> JWTAuth[Principal]:
    return JWTAuth[Principal](
        token_secret=jwt_secret(settings),
        algorithm=JWT_ALGORITHM,
        token_cls=VerifiedToken,
        retrieve_user_handler=principal_retriever(settings),
        exclude=PUBLIC_PATHS,
        authentication_middleware_class=BearerAuthenticationMiddleware,
        default_token_expiration=timedelta(seconds=settings.jwt_ttl_s),
        description="Bearer token from POST /auth/token",
    )


class TokenIssuer:
    """Signs access tokens with the app's JWT configuration (injected into the auth routes)."""

    def __init__(self, auth: JWTAuth[Principal], ttl_s: int):
        self._auth = auth
        self.ttl_s = ttl_s

    def issue(self, sub: str, projects: list[str], ttl_s: int | None = None) -> str:
        return self._auth.create_token(
            identifier=sub,
            token_expiration=timedelta(seconds=self.ttl_s if ttl_s is None else ttl_s),
            token_extras={"type": "access", "projects": list(projects)},
        )


def project_scope_guard(connection: ASGIConnection[Any, Principal, Any, Any], _: BaseRouteHandler) -> None:
    """Routes under ``/projects/{project_id}`` serve only the projects the token names."""
    project_id = connection.path_params.get("project_id")
    if project_id is not None and not connection.user.may_use(project_id):
        raise PermissionDeniedException(f"This token may not use project '{project_id}'")
