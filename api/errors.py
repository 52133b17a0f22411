"""Every error leaves the API in one envelope, ``{"status": "error", "message": ...}``,
with the right status code and, for 429, a ``Retry-After`` header."""

from __future__ import annotations

import logging
from typing import Any, Literal

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    TooManyRequestsException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from graphs.registry import UnknownAgentError
from nodes.models.catalog import UnknownModelError
from nodes.models.factory import ModelUnavailableError
from retrievers.base import StoreUnavailableError

logger = logging.getLogger("routeur.api")


class ErrorEnvelope(msgspec.Struct):
    """The body of every error response."""

    status: Literal["error"]
    message: str


_ERROR_DESCRIPTIONS = {
    400: "Invalid request (bad field, empty or oversized message, unknown model or agent, malformed JSON)",
    401: "Missing, invalid or expired bearer token",
    403: "The token may not use this project",
    404: "Not found",
    409: "A turn is already running in this session, the upload session is deactivated, or the name is taken (on_conflict=reject)",
    413: "Request or file too large",
    415: "Unsupported file type",
    429: "Rate limit exceeded (see Retry-After)",
    500: "Internal server error",
    502: "The model provider or an upstream dependency failed",
    503: "Not configured or not ready (missing provider key, vector store unavailable)",
}
ERROR_RESPONSES = {
    code: ResponseSpec(data_container=ErrorEnvelope, description=description, generate_examples=False)
    for code, description in _ERROR_DESCRIPTIONS.items()
}


def envelope(message: str, status_code: int, headers: dict[str, str] | None = None) -> Response[dict[str, Any]]:
    return Response({"status": "error", "message": message}, status_code=status_code, headers=headers)


_DECODE_ERRORS = ("JSON is malformed", "Input data was truncated", "trailing characters", "Expected `object`")


def _validation_message(exc: ValidationException) -> str:
    details = exc.extra if isinstance(exc.extra, list) else []
    parts = [
        f"{d.get('key')}: {d.get('message')}" if d.get("key") else str(d.get("message"))
        for d in details
        if isinstance(d, dict)
    ]
    text = "; ".join(parts) or exc.detail
    if any(marker in text for marker in _DECODE_ERRORS):
        return f"Malformed JSON body ({text})"
    return "Invalid request: " + text if parts else exc.detail


def http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    headers = dict(exc.headers or {})
    if isinstance(exc, TooManyRequestsException):
        headers.setdefault("Retry-After", headers.get("RateLimit-Reset", "60"))
        return envelope("Rate limit exceeded: too many requests, retry later", exc.status_code, headers)
    if isinstance(exc, ValidationException):
        return envelope(_validation_message(exc), exc.status_code, headers)
    if exc.status_code == 400 and exc.detail == "Request Entity Too Large":
        return _multipart_limit(exc, headers)
    message = exc.detail
    if exc.status_code == 400 and any(marker in message for marker in _DECODE_ERRORS):
        message = f"Malformed JSON body ({message})"
    if exc.status_code == 401 and message in ("", "Unauthorized"):
        message = "Missing or invalid bearer token"
    return envelope(message, exc.status_code, headers)


_MULTIPART_LIMITS = {
    "header": (400, "A multipart part's headers are too long (a file name or field name of thousands of characters?)"),
    "count": (413, "Too many parts in the multipart body: at most 1000 files and fields per request"),
}


def _multipart_limit(exc: HTTPException, headers: dict[str, str]) -> Response[dict[str, Any]]:
    """Litestar answers every multipart parser limit with 400 "Request Entity Too Large": say
    which one, with 413 for sizes and counts and 400 for malformed (oversized) headers."""
    reason = str(exc.__context__ or "")
    if "header" in reason:
        status, message = _MULTIPART_LIMITS["header"]
    elif "segment count" in reason:
        status, message = _MULTIPART_LIMITS["count"]
    else:
        status, message = 413, f"The multipart body is too large ({reason or 'a part exceeds the limit'})"
    return envelope(message, status, headers)


def recursion_handler(request: Request[Any, Any, Any], exc: RecursionError) -> Response[dict[str, Any]]:
    """Deeply nested JSON exhausts the decoder's recursion: the caller's input, 400."""
    return envelope("Malformed JSON body: nested too deeply", HTTP_400_BAD_REQUEST)


def undecodable_text_handler(request: Request[Any, Any, Any], exc: UnicodeDecodeError) -> Response[dict[str, Any]]:
    """Litestar decodes multipart parts without a filename as UTF-8 text: binary content there
    (a file sent without its filename) is the caller's malformed body, 400."""
    return envelope("Malformed request: a multipart field is not UTF-8 text (send files with a filename)", HTTP_400_BAD_REQUEST)


def store_unavailable_handler(request: Request[Any, Any, Any], exc: StoreUnavailableError) -> Response[dict[str, Any]]:
    return envelope(str(exc), HTTP_503_SERVICE_UNAVAILABLE)


def unknown_name_handler(request: Request[Any, Any, Any], exc: UnknownModelError | UnknownAgentError) -> Response[dict[str, Any]]:
    """A model or agent that does not exist is the caller's mistake: 400, with the valid names."""
    return envelope(str(exc), HTTP_400_BAD_REQUEST)


def model_unavailable_handler(request: Request[Any, Any, Any], exc: ModelUnavailableError) -> Response[dict[str, Any]]:
    """A model this deployment has not configured (no provider key): 503, not the caller's fault."""
    return envelope(str(exc), HTTP_503_SERVICE_UNAVAILABLE)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    logger.exception("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return envelope("Internal server error", HTTP_500_INTERNAL_SERVER_ERROR)


EXCEPTION_HANDLERS = {
    HTTPException: http_exception_handler,
    RecursionError: recursion_handler,
    UnicodeDecodeError: undecodable_text_handler,
    StoreUnavailableError: store_unavailable_handler,
    UnknownModelError: unknown_name_handler,
    UnknownAgentError: unknown_name_handler,
    ModelUnavailableError: model_unavailable_handler,
    Exception: internal_error_handler,
}
