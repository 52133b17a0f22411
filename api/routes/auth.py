"""``/auth/token`` and ``/auth/verify``."""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException

from api.auth import DEV_SUBJECT, Principal, TokenIssuer
from api.errors import ERROR_RESPONSES
from api.ratelimit import client_address, trusted_networks
from api.schemas import TokenResponse, TokenUser, VerifyResponse
from api.throttle import LoginThrottle
from routeur.settings import Settings


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post("/token", responses=ERROR_RESPONSES, status_code=200, summary="Issue a bearer token")
    async def token(
        self, request: Request[Any, Any, Any], settings: NamedDependency[Settings], token_issuer: NamedDependency[TokenIssuer], login_throttle: NamedDependency[LoginThrottle]
    ) -> Response[TokenResponse]:
        """With client credentials (HTTP Basic, JSON or form fields): a token scoped to that
        client's projects. Without, in development only: a token for the development projects.
        Failures are throttled per client id and per address (429 with Retry-After)."""
        client_id, client_secret = await _credentials(request)
        if client_id or settings.environment == "production":
            keys = login_throttle.keys(client_id, client_address(request, settings, trusted_networks(settings)))
            await login_throttle.check(keys)
            client = settings.client(client_id)
            expected = client.secret.get_secret_value() if client else secrets.token_urlsafe(32)
            # Compared in constant time, and as long for an unknown id as for a known one.
            if not (hmac.compare_digest(client_secret.encode(), expected.encode()) and client):
                await login_throttle.failed(keys)
                raise NotAuthorizedException("Invalid client credentials")
            sub, projects = client.id, client.projects
        else:
            sub, projects = DEV_SUBJECT, settings.dev_projects
        body = TokenResponse(access_token=token_issuer.issue(sub, projects), token_type="bearer", expires_in=settings.jwt_ttl_s)
        return Response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    @get("/verify", responses=ERROR_RESPONSES, summary="Check a bearer token")
    async def verify(self, request: Request[Principal, Any, Any]) -> VerifyResponse:
        user = request.user
        return VerifyResponse(valid=True, user=TokenUser(sub=user.sub, type=user.type, exp=user.exp, projects=list(user.projects)))


async def _credentials(request: Request[Any, Any, Any]) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            client_id, _, client_secret = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise NotAuthorizedException("Malformed Basic credentials") from None
        return client_id, client_secret
    fields: Any = {}
    if request.content_type[0] == "application/json":
        try:
            fields = msgspec.json.decode(await request.body() or b"{}")
        except msgspec.DecodeError:
            raise NotAuthorizedException("Malformed credentials body") from None
    elif request.content_type[0] in ("application/x-www-form-urlencoded", "multipart/form-data"):
        fields = await request.form()
    if not isinstance(fields, dict) and not hasattr(fields, "get"):
        fields = {}
    return str(fields.get("client_id") or ""), str(fields.get("client_secret") or "")
