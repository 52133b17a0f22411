"""Response headers every answer carries: no MIME sniffing anywhere, and a strict
Content-Security-Policy on HTML (no inline script, nothing from another origin), so a page the
API serves cannot be turned into a script host even if a document's text slips into it."""

from __future__ import annotations

from litestar import Response
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import MediaType
from litestar.status_codes import HTTP_404_NOT_FOUND
from litestar.types import Message, Scope

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
DOCS_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace(
    "script-src 'self'; style-src 'self'", "script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'"
)
"""The API docs pages (``/schema/...``) start Swagger UI with an inline script and show only the
OpenAPI schema, never a document's text: they alone may run inline code, and only this origin's."""


async def security_headers(message: Message, scope: Scope) -> None:
    """Litestar ``before_send`` hook."""
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders(message)
    headers["X-Content-Type-Options"] = "nosniff"
    if (headers.get("content-type") or "").startswith("text/html"):
        docs = str(scope.get("path", "")).startswith("/schema")
        headers["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY if docs else CONTENT_SECURITY_POLICY
        headers["X-Frame-Options"] = "DENY"


async def schema_not_found_as_envelope(response: Response) -> Response:
    """Litestar answers an unknown ``/schema/...`` path with an HTML 404 page: every other
    route answers in the JSON error envelope, and so do these (``after_request`` hook; a
    coroutine function, since Litestar runs a plain one in a worker thread for every response)."""
    if response.status_code == HTTP_404_NOT_FOUND and response.media_type == MediaType.HTML:
        body = b'{"status":"error","message":"Not found"}'
        return Response(body, status_code=HTTP_404_NOT_FOUND, media_type=MediaType.JSON)
    return response
