"""Request and response types of the chat routes, and the checks every turn passes before it
reaches a graph (empty or oversized message, unknown model or agent, project scope)."""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec
from litestar.exceptions import (
    HTTPException,
    PermissionDeniedException,
    ValidationException,
)

from api.services import AppServices, Principal
from graphs.registry import AGENTS, DEFAULT_AGENT
from nodes.models import ModelUnavailableError, ensure_available, get_catalog

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
MAX_SOURCES = 1000


class HistoryMessage(msgspec.Struct, forbid_unknown_fields=True):
    role: Literal["user", "assistant", "system"]
    content: str


class CompletionRequest(msgspec.Struct, forbid_unknown_fields=False):
    """Seed 000's ``/completion`` body."""

    message: str
    model: str | None = None
    agent: str = DEFAULT_AGENT
    stream: bool = False
    temperature: float | None = None
    conversation_history: list[HistoryMessage] = []
    project_id: str | None = None
    sources: list[str] | None = None
    top_k: int | None = None


class ChatRequest(msgspec.Struct, forbid_unknown_fields=False):
    """Seed 004's Fess-style chat body (form fields or JSON), plus the agent options."""

    message: str | None = None
    sessionId: str | None = None  # noqa: N815 - the wire contract's name
    clear: bool = False
    agent: str = DEFAULT_AGENT
    model: str | None = None
    temperature: float | None = None
    project_id: str | None = None
    sources: list[str] | None = None
    top_k: int | None = None


class Usage(msgspec.Struct):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class CompletionResponse(msgspec.Struct):
    response: str
    model: str
    agent: str
    usage: Usage
    sources: list[dict[str, Any]]
    metadata: dict[str, Any]


class SourceRef(msgspec.Struct):
    title: str
    url: str | None
    file_id: str
    id: int


class ChatResponse(msgspec.Struct):
    status: str
    sessionId: str  # noqa: N815
    content: str
    sources: list[SourceRef]
    metadata: dict[str, Any] | None = None


class ClearedResponse(msgspec.Struct):
    status: str
    sessionId: str  # noqa: N815
    cleared: bool


def check_turn(services: AppServices, request: CompletionRequest | ChatRequest) -> tuple[str, str, str]:
    """Reject what must never reach a graph; returns (message, model, agent) normalised."""
    settings = services.settings
    text = (request.message or "").strip()
    if not text:
        raise ValidationException("Message is required")
    if len(text) > settings.max_message_chars:
        raise ValidationException(f"Message is too long: {len(text)} characters, the limit is {settings.max_message_chars}")
    model_name = request.model or settings.default_model
    if model_name not in get_catalog():
        raise ValidationException(f"Unknown model '{model_name}'. Valid models: {', '.join(get_catalog().names())}")
    try:
        ensure_available(model_name, settings)
    except ModelUnavailableError as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from None
    agent_name = request.agent or DEFAULT_AGENT
    if agent_name not in AGENTS:
        raise ValidationException(f"Unknown agent '{agent_name}'. Valid agents: {', '.join(AGENTS)}")
    if request.temperature is not None and not 0.0 <= request.temperature <= 2.0:
        raise ValidationException("temperature must be between 0 and 2")
    if request.top_k is not None and not 1 <= request.top_k <= 50:
        raise ValidationException("top_k must be between 1 and 50")
    sources = request.sources
    if sources is not None and (len(sources) > MAX_SOURCES or not all(isinstance(s, str) and s for s in sources)):
        raise ValidationException(f"sources must be a list of at most {MAX_SOURCES} non-empty file ids")
    return text, model_name, agent_name


def resolve_project(principal: Principal, project_id: str | None) -> str:
    """The project a turn searches: asked for and allowed by the token, else the token's first."""
    if project_id is None:
        return next((p for p in principal.projects if p != "*"), "default")
    if not principal.may_use(project_id):
        raise PermissionDeniedException(f"This token may not use project '{project_id}'")
    return project_id


def check_session_id(session_id: str) -> str:
    if not SESSION_ID.match(session_id):
        raise ValidationException("sessionId must be 1-128 letters, digits, '-' or '_'")
    return session_id
