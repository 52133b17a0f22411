"""What the Routeur IA client returns and raises: typed results and a typed error hierarchy.

Results are msgspec Structs converted from the server's JSON, so a field the server renames or
drops fails loudly at the client instead of surfacing later as a ``KeyError``. Unknown fields are
ignored, so a newer server does not break an older client. ``metadata`` stays the server's dict:
its keys (metrics, pricing, emissions) grow with the server.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Sequence
from typing import Any, TypedDict

import httpx
import msgspec


class RouteurError(Exception):
    """Any failure of a client call. ``status_code`` is None when no HTTP response came back."""

    def __init__(self, message: str, *, status_code: int | None = None, response: httpx.Response | None = None):
        super().__init__(message if status_code is None else f"{status_code}: {message}")
        self.message = message
        self.status_code = status_code
        self.response = response


class BadRequestError(RouteurError):
    """400: a field the server refused (unknown model or agent, empty message, bad value)."""


class AuthenticationError(RouteurError):
    """401: missing, invalid or expired token, or wrong client credentials."""


class PermissionDeniedError(RouteurError):
    """403: the token may not use this project."""


class NotFoundError(RouteurError):
    """404: no such document, upload session or route."""


class PayloadTooLargeError(RouteurError):
    """413: a file or the whole request is over the server's limit."""


class UnsupportedMediaTypeError(RouteurError):
    """415: a file type the server cannot ingest."""


class ConflictError(RouteurError):
    """409: the name is taken (``on_conflict="reject"``), a turn is running, or the session is closed."""


class RateLimitError(RouteurError):
    """429 after the client's retries; ``retry_after`` is the server's advice in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(RouteurError):
    """5xx: the server failed (500), its model provider failed (502) or it is not ready (503)."""


class RouteurConnectionError(RouteurError):
    """The server could not be reached, or the connection broke before a response."""


class RouteurTimeoutError(RouteurConnectionError):
    """No response within the client's timeout."""


_BY_STATUS: dict[int, type[RouteurError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    429: RateLimitError,
}


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds, whether given as a number or an HTTP date."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def error_from_response(response: httpx.Response) -> RouteurError:
    """The typed error for a non-2xx response, carrying the server's own message.

    The envelope ``{"status": "error", "message"}`` is the contract; ``detail`` (a framework's
    default body) and the raw text are fallbacks so a proxy's error page still says something."""
    message = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = str(body.get("message") or body.get("detail") or "")
    message = message or response.text.strip() or response.reason_phrase
    code = response.status_code
    if code == 429:
        return RateLimitError(message, retry_after=retry_after_seconds(response), status_code=code, response=response)
    kind = _BY_STATUS.get(code) or (ServerError if code >= 500 else RouteurError)
    return kind(message, status_code=code, response=response)


class _Result(msgspec.Struct, kw_only=True):
    pass


class TokenInfo(_Result):
    access_token: str
    token_type: str
    expires_in: int


class TokenClaims(_Result):
    """What ``/auth/verify`` says about the token in use."""

    valid: bool
    sub: str
    type: str
    exp: int
    projects: list[str]


class Health(_Result):
    status: str
    version: str
    title: str
    environment: str
    timestamp: str


class Check(_Result):
    ok: bool
    detail: str


class Readiness(_Result):
    status: str
    checks: dict[str, Check]

    @property
    def ready(self) -> bool:
        return self.status == "ready"


class ModelInfo(_Result):
    name: str
    provider: str
    description: str
    supports_streaming: bool
    context_window: int


class AgentInfo(_Result):
    type: str
    name: str
    description: str
    available: bool
    default: bool = False


class Usage(_Result):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Source(_Result):
    """A passage an answer cites; ``id`` is its citation number ([1], [2], ...)."""

    id: int
    file_id: str
    title: str
    url: str | None = None
    score: float | None = None
    snippet: str | None = None
    section: str | None = None
    page: int | None = None


class Completion(_Result):
    response: str
    model: str
    agent: str
    usage: Usage
    sources: list[Source]
    metadata: dict[str, Any]


class ChatAnswer(_Result):
    session_id: str = msgspec.field(name="sessionId")
    content: str
    sources: list[Source]
    metadata: dict[str, Any] = {}
    message_id: str | None = msgspec.field(default=None, name="messageId")


class SearchHit(_Result):
    file_id: str
    title: str
    url: str | None
    text: str
    score: float
    chunk_index: int


class SearchResult(_Result):
    query: str
    mode: str
    hits: list[SearchHit] = msgspec.field(name="results")
    total: int


class Document(_Result):
    """A stored document; ``filename``, ``size``, ``sha256`` and ``version`` are None for
    documents stored before the server recorded them."""

    file_id: str
    title: str
    url: str | None
    chunks: int
    created_at: str
    filename: str | None = None
    size: int | None = None
    sha256: str | None = None
    version: int | None = None


class _Page(_Result):
    """One page of a paged listing: ``items`` are declared by each listing."""

    total: int
    page: int
    page_size: int

    @property
    def has_next(self) -> bool:
        return self.page * self.page_size < self.total


class DocumentPage(_Page):
    items: list[Document]


class UploadedFile(_Result):
    """One file of an upload: ``status`` is "ingested" or "error" (then ``message`` says why);
    ``outcome`` is "created", "replaced" (``previous_chunks`` had the old version) or
    "unchanged" (same bytes: nothing re-embedded)."""

    filename: str
    status: str
    file_id: str | None = None
    title: str | None = None
    url: str | None = None
    chunks: int = 0
    status_code: int = 201
    message: str | None = None
    outcome: str | None = None
    previous_chunks: int | None = None
    version: int | None = None
    size: int | None = None
    sha256: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ingested"


class UploadResult(_Result):
    """An upload the server accepted: at least one file was ingested, the others say why not."""

    project_id: str
    files: list[UploadedFile]

    @property
    def failed(self) -> list[UploadedFile]:
        return [f for f in self.files if not f.ok]


class JobFile(_Result):
    """One file of an ingestion job: ``queued``, ``parsing``, ``embedding``, then ``indexed`` or
    ``error`` (``error`` says why, ``status_code`` as a synchronous upload would have answered)."""

    filename: str
    status: str
    size: int
    file_id: str | None = None
    title: str | None = None
    chunks: int = 0
    outcome: str | None = None
    previous_chunks: int | None = None
    version: int | None = None
    sha256: str | None = None
    error: str | None = None
    status_code: int | None = None

    def as_uploaded(self, url: str | None = None) -> UploadedFile:
        ok = self.status == "indexed"
        return UploadedFile(
            filename=self.filename, status="ingested" if ok else "error", file_id=self.file_id, title=self.title, url=url,
            chunks=self.chunks, status_code=self.status_code or (201 if ok else 500), message=self.error, outcome=self.outcome,
            previous_chunks=self.previous_chunks, version=self.version, size=self.size, sha256=self.sha256,
        )  # fmt: skip


class IngestionJob(_Result):
    """A background upload (the server answered 202): poll it until ``done``."""

    id: str
    project_id: str
    status: str
    created_at: str
    updated_at: str
    files: list[JobFile]
    counts: dict[str, int] = {}
    finished_at: str | None = None

    @property
    def done(self) -> bool:
        return self.status == "done"


class JobPage(_Page):
    """A page of a project's ingestion jobs, newest first."""

    items: list[IngestionJob]


def error_for_status(code: int, message: str) -> RouteurError:
    """The typed error a response with this status would have raised."""
    kind = _BY_STATUS.get(code) or (ServerError if code >= 500 else RouteurError)
    return kind(message, status_code=code)


class SessionFile(_Result):
    filename: str
    file_id: str | None
    title: str | None
    chunks: int
    status: str
    error: str | None
    added_at: str


class UploadSession(_Result):
    id: str
    project_id: str
    created_at: str
    files: list[SessionFile]
    documents: int


class TranscriptionUsage(_Result):
    """Billed by seconds of audio, like OpenAI's transcription usage."""

    seconds: float
    type: str = "duration"


class Transcription(_Result):
    """What was said; ``metadata`` has the timings (``real_time_factor``, ...)."""

    text: str
    language: str | None
    duration: float
    model: str
    usage: TranscriptionUsage
    metadata: dict[str, Any] = {}


class MeetingAction(_Result):
    task: str
    owner: str | None = None
    due: str | None = None


class MeetingReport(_Result):
    summary: str
    decisions: list[str]
    actions: list[MeetingAction]
    participants: list[str]


class StoredReport(_Result):
    """The minutes stored as a document of ``project_id`` (``store=True``)."""

    project_id: str
    file_id: str
    title: str
    chunks: int


class MeetingMinutes(_Result):
    """A meeting's minutes: ``text`` is the Markdown, ``report`` its parts, ``transcript`` what
    was said; ``report_model`` wrote the minutes, ``model`` transcribed the audio."""

    text: str
    language: str | None
    duration: float
    model: str
    report: MeetingReport
    report_model: str
    transcript: str
    project_id: str
    usage: TranscriptionUsage
    document: StoredReport | None = None
    metadata: dict[str, Any] = {}


class TranscriptionFormats(_Result):
    """The audio the server accepts, its limits and its transcription model."""

    supported_formats: list[str]
    max_file_size_mb: float
    max_duration_seconds: float
    model: str
    provider: str
    languages: str
    default_language: str | None = None


class TurnOptions(TypedDict, total=False):
    """A turn's agent settings; each is optional and the server's default applies when absent."""

    agent: str | None
    model: str | None
    temperature: float | None
    project_id: str | None
    sources: list[str] | None
    top_k: int | None


class CompletionOptions(TurnOptions, total=False):
    history: Sequence[dict[str, str] | tuple[str, str]] | None
    """The earlier turns, as ``{"role", "content"}`` dicts or ``(role, content)`` pairs."""


class ChatOptions(TurnOptions, total=False):
    session_id: str | None
    """The session to continue (from an earlier answer); none starts a new one."""


def convert(data: Any, kind: type[Any]) -> Any:
    """The server's JSON as a typed result; a shape mismatch is a client-visible error."""
    try:
        return msgspec.convert(data, kind, strict=False)
    except msgspec.ValidationError as exc:
        raise RouteurError(f"Unexpected response shape for {kind.__name__}: {exc}") from None
