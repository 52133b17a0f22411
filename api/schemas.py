"""Every request and response body of the API, in one module. Range limits are typed
(``msgspec.Meta``), so they are checked on decoding and published in the OpenAPI schema."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec
from litestar.datastructures import UploadFile
from litestar.exceptions import ValidationException
from litestar.params import Parameter

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
MAX_SOURCES = 1000
PAGE_SIZE_MAX = 200
MAX_TITLE = 200
MAX_URL = 2048

PageNumber = Annotated[int, Parameter(ge=1)]
PageSize = Annotated[int, Parameter(ge=1, le=PAGE_SIZE_MAX)]
"""Query parameters of the paged listings (documents, jobs, sessions)."""

TopK = Annotated[int, msgspec.Meta(ge=1, le=50, description="Chunks retrieved per search")]
Temperature = Annotated[float, msgspec.Meta(ge=0.0, le=2.0, description="Sampling temperature")]
FileId = Annotated[str, msgspec.Meta(min_length=1)]
Sources = Annotated[
    list[FileId], msgspec.Meta(max_length=MAX_SOURCES, description="File ids to restrict the search to (at most 1000)")
]


# -- turns -----------------------------------------------------------------------------------


class HistoryMessage(msgspec.Struct, forbid_unknown_fields=True):
    role: Literal["user", "assistant", "system"]
    content: str


class CompletionRequest(msgspec.Struct, forbid_unknown_fields=False):
    """The ``/completion`` body: one message, the history the caller keeps, the agent options."""

    message: str
    model: str | None = None
    agent: str | None = None
    stream: bool = False
    temperature: Temperature | None = None
    conversation_history: list[HistoryMessage] = []
    project_id: str | None = None
    sources: Sources | None = None
    top_k: TopK | None = None


class ChatRequest(msgspec.Struct, forbid_unknown_fields=False):
    """The Fess-style chat body (form fields or JSON): a message in a session, plus the agent options."""

    message: str | None = None
    sessionId: str | None = None  # noqa: N815 - the wire contract's name
    clear: bool = False
    agent: str | None = None
    model: str | None = None
    temperature: Temperature | None = None
    project_id: str | None = None
    sources: Sources | None = None
    top_k: TopK | None = None


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
    messageId: str  # noqa: N815 - the answer's stable id (history, feedback)
    content: str
    sources: list[SourceRef]
    metadata: dict[str, Any] | None = None


class ClearedResponse(msgspec.Struct):
    status: str
    sessionId: str  # noqa: N815
    cleared: bool


def check_session_id(session_id: str) -> str:
    if not SESSION_ID.match(session_id):
        raise ValidationException("sessionId must be 1-128 letters, digits, '-' or '_'")
    return session_id


# -- auth -----------------------------------------------------------------------------


class TokenResponse(msgspec.Struct):
    access_token: str
    token_type: str
    expires_in: int


class TokenUser(msgspec.Struct):
    sub: str
    type: str
    exp: int
    projects: list[str]


class VerifyResponse(msgspec.Struct):
    valid: bool
    user: TokenUser


# -- catalog --------------------------------------------------------------------------


class ModelInfo(msgspec.Struct):
    name: str
    provider: str
    description: str
    supports_streaming: bool
    context_window: int


class ModelList(msgspec.Struct):
    models: list[ModelInfo]
    total: int


class AgentInfo(msgspec.Struct):
    type: str
    name: str
    description: str
    available: bool
    default: bool = False  # the agent of requests that name none (ROUTEUR_DEFAULT_AGENT)


class AgentList(msgspec.Struct):
    agents: list[AgentInfo]
    total: int


# -- health ---------------------------------------------------------------------------


class HealthResponse(msgspec.Struct):
    status: str
    version: str
    title: str
    environment: str
    timestamp: str


class Check(msgspec.Struct):
    ok: bool
    detail: str


class ReadinessResponse(msgspec.Struct):
    status: str
    checks: dict[str, Check]


class RuntimeStats(msgspec.Struct):
    tasks: int
    rss_bytes: int | None


# -- documents ------------------------------------------------------------------------


@dataclass
class UploadForm:
    files: list[UploadFile] = field(default_factory=list)
    file: UploadFile | None = None
    title: str | None = None
    url: str | None = None

    def uploads(self) -> list[UploadFile]:
        found = [*self.files, *([self.file] if self.file else [])]
        if not found:
            raise ValidationException("No file in the request: send multipart field 'files' (or 'file')")
        if len(found) > 1 and (self.title or self.url):
            raise ValidationException("title and url apply to a single file")
        self.title = " ".join(self.title.split())[:MAX_TITLE] or None if self.title else None
        self.url = check_source_url(self.url)
        return found


def check_source_url(url: str | None) -> str | None:
    """A document's link is shown to users and rendered by UIs: only absolute ``http(s)`` URLs
    (``javascript:`` or ``data:`` would be stored script)."""
    if url is None or not url.strip():
        return None
    url = url.strip()
    parsed = urlsplit(url)
    if parsed.scheme.lower() not in ("http", "https") or not parsed.netloc or len(url) > MAX_URL or any(c in url for c in "\r\n\t <>\"'"):
        raise ValidationException(f"url must be an absolute http(s) URL of at most {MAX_URL} characters")
    return url


class FileResult(msgspec.Struct):
    """One file of a synchronous upload. ``outcome``: ``created``, ``replaced`` (the previous
    version had ``previous_chunks``) or ``unchanged`` (same bytes: nothing parsed or embedded)."""

    filename: str
    status: str
    file_id: str | None = None
    title: str | None = None
    url: str | None = None
    chunks: int = 0
    status_code: int = 201
    message: str | None = None
    outcome: Literal["created", "replaced", "unchanged"] | None = None
    previous_chunks: int | None = None
    version: int | None = None
    size: int | None = None
    sha256: str | None = None


class UploadResponse(msgspec.Struct):
    project_id: str
    files: list[FileResult]


class DocumentInfo(msgspec.Struct):
    """A stored document; ``filename``, ``size`` (bytes), ``sha256`` and ``version`` (1, then one
    more per replacement) are null for documents stored before they were recorded."""

    id: str
    file_id: str
    title: str
    url: str | None
    chunks: int
    created_at: str
    filename: str | None = None
    size: int | None = None
    sha256: str | None = None
    version: int | None = None


class DocumentPage(msgspec.Struct):
    items: list[DocumentInfo]
    total: int
    page: int
    page_size: int


class Deleted(msgspec.Struct):
    file_id: str
    deleted: bool
    chunks: int


class JobFileInfo(msgspec.Struct):
    """One file of an ingestion job: ``queued``, ``parsing``, ``embedding``, then ``indexed``
    (with its ``outcome``) or ``error`` (with ``error``, the reason, and ``status_code``)."""

    filename: str
    status: Literal["queued", "parsing", "embedding", "indexed", "error"]
    size: int
    file_id: str | None = None
    title: str | None = None
    chunks: int = 0
    outcome: Literal["created", "replaced", "unchanged"] | None = None
    previous_chunks: int | None = None
    version: int | None = None
    sha256: str | None = None
    error: str | None = None
    status_code: int | None = None
    updated_at: str = ""


class JobDetails(msgspec.Struct):
    """An ingestion job: ``queued`` (no file started), ``running``, or ``done`` (every file
    ``indexed`` or ``error``)."""

    id: str
    project_id: str
    status: Literal["queued", "running", "done"]
    created_at: str
    updated_at: str
    finished_at: str | None
    on_conflict: str
    files: list[JobFileInfo]
    counts: dict[str, int]


class JobPage(msgspec.Struct):
    """A project's ingestion jobs, newest first."""

    items: list[JobDetails]
    total: int
    page: int
    page_size: int


# -- upload sessions ------------------------------------------------------------------


class SessionFile(msgspec.Struct):
    filename: str
    file_id: str | None
    title: str | None
    chunks: int
    status: str
    error: str | None
    added_at: str


class SessionDetails(msgspec.Struct):
    id: str
    project_id: str
    created_at: str
    files: list[SessionFile]
    documents: int
    active: bool = True


class SessionsDeactivated(msgspec.Struct):
    project_id: str
    deactivated: int
    ids: list[str]


class SessionDeleted(msgspec.Struct):
    id: str
    deleted: bool
    documents_deleted: int


# -- search ---------------------------------------------------------------------------


class SearchRequest(msgspec.Struct, forbid_unknown_fields=True):
    query: str
    sources: Sources = []
    top_k: TopK = 5
    mode: Literal["dense", "sparse", "hybrid"] = "hybrid"


class SearchHit(msgspec.Struct):
    file_id: str
    title: str
    url: str | None
    text: str
    score: float
    chunk_index: int


class SearchResponse(msgspec.Struct):
    query: str
    mode: str
    results: list[SearchHit]
    total: int


# -- conversations --------------------------------------------------------------------


class FeedbackRequest(msgspec.Struct, forbid_unknown_fields=True):
    rating: Literal["like", "dislike"] | None
    comment: Annotated[str, msgspec.Meta(max_length=4000)] | None = None


class FeedbackOut(msgspec.Struct):
    messageId: str  # noqa: N815
    rating: Literal["like", "dislike"] | None
    comment: str | None
    updated_at: str


class HistoryEntry(msgspec.Struct, omit_defaults=True):
    id: str
    role: Literal["user", "assistant"]
    content: str
    created_at: str | None = None
    sources: list[dict[str, Any]] | None = None
    agent: str | None = None
    model: str | None = None
    feedback: FeedbackOut | None = None


class SessionSummary(msgspec.Struct):
    sessionId: str  # noqa: N815
    title: str
    created_at: str
    updated_at: str
    messages: int


class SessionPage(msgspec.Struct):
    sessions: list[SessionSummary]
    total: int
    page: int
    page_size: int


class SessionHistory(msgspec.Struct):
    sessionId: str  # noqa: N815
    title: str
    created_at: str
    updated_at: str
    messages: list[HistoryEntry]


class SessionRename(msgspec.Struct, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class ConversationDeleted(msgspec.Struct):
    sessionId: str  # noqa: N815
    deleted: bool


# -- OpenAI-compatible API ------------------------------------------------------------

MaxTokens = Annotated[int, msgspec.Meta(ge=1, description="Most answer tokens sent back (finish_reason length beyond)")]


class ContentPart(msgspec.Struct, forbid_unknown_fields=False):
    """One part of a multi-part message; only ``text`` parts are understood."""

    type: str
    text: str | None = None


class OpenAIMessage(msgspec.Struct, forbid_unknown_fields=False):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None


class StreamOptions(msgspec.Struct, forbid_unknown_fields=False):
    include_usage: bool = False


class ChatCompletionRequest(msgspec.Struct, forbid_unknown_fields=False):
    """OpenAI's chat-completions body, plus the agent options as extension fields: ``project_id``,
    ``sources`` and ``top_k`` at the top level, or ``project_id`` / ``sources`` (comma-separated)
    in ``metadata`` (a string map, as OpenAI defines it). Fields OpenAI clients send that do not
    apply to an agent (``user``, ``seed``, ``tool_choice``...) are ignored."""

    model: str
    messages: Annotated[list[OpenAIMessage], msgspec.Meta(min_length=1)]
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: Temperature | None = None
    max_tokens: MaxTokens | None = None
    max_completion_tokens: MaxTokens | None = None
    n: Annotated[int, msgspec.Meta(ge=1, le=1)] | None = None
    metadata: dict[str, str] | None = None
    project_id: str | None = None
    sources: Sources | None = None
    top_k: TopK | None = None
    tools: list[dict[str, Any]] | None = None


class ChatCompletionMessage(msgspec.Struct):
    role: Literal["assistant"]
    content: str


class ChatCompletionChoice(msgspec.Struct):
    index: int
    message: ChatCompletionMessage
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class RouteurExtension(msgspec.Struct):
    """What OpenAI's shape has no field for, under one key OpenAI clients ignore."""

    agent: str
    model: str
    messageId: str  # noqa: N815 - the answer's stable id, as on the other routes
    sources: list[dict[str, Any]]
    phases: list[dict[str, Any]]
    metadata: dict[str, Any]


class ChatCompletion(msgspec.Struct):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatCompletionChoice]
    usage: Usage
    routeur: RouteurExtension
    system_fingerprint: None = None


class OpenAIModel(msgspec.Struct):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    description: str


class OpenAIModelList(msgspec.Struct):
    object: Literal["list"]
    data: list[OpenAIModel]


class OpenAIErrorDetail(msgspec.Struct):
    message: str
    type: str
    code: str | None
    param: str | None = None


class OpenAIError(msgspec.Struct):
    """The body of every error under ``/v1``, OpenAI's shape."""

    error: OpenAIErrorDetail


# -- realtime WebSocket ---------------------------------------------------------------


class RealtimeMessage(msgspec.Struct, forbid_unknown_fields=False):
    """The payload of a ``message``: a turn in a session, as on ``/api/v1/chat/stream``."""

    text: str | None = None
    sessionId: str | None = None  # noqa: N815
    agent: str | None = None
    model: str | None = None
    temperature: Temperature | None = None
    project_id: str | None = None
    sources: Sources | None = None
    top_k: TopK | None = None

    @property
    def message(self) -> str | None:
        return self.text


class RealtimeJoin(msgspec.Struct, forbid_unknown_fields=False):
    room: Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
    project_id: str | None = None


# -- transcription ----------------------------------------------------------------------------

Language = Annotated[str, msgspec.Meta(pattern=r"^[a-z]{2,3}$", description="ISO-639-1 code of the spoken language, e.g. fr")]


@dataclass
class TranscriptionForm:
    file: UploadFile | None = None


@dataclass
class MeetingForm:
    file: UploadFile | None = None
    project_id: str | None = None
    max_duration_seconds: float | None = None
    store: bool = False
    model: str | None = None


class TranscriptionUsage(msgspec.Struct):
    """Billed like OpenAI's transcription usage: by seconds of audio."""

    seconds: float
    type: str = "duration"


class TranscriptionResponse(msgspec.Struct):
    text: str
    language: str | None
    duration: float
    model: str
    usage: TranscriptionUsage
    metadata: dict[str, Any]


class MeetingAction(msgspec.Struct):
    task: str
    owner: str | None
    due: str | None


class MeetingReportBody(msgspec.Struct):
    summary: str
    decisions: list[str]
    actions: list[MeetingAction]
    participants: list[str]


class StoredReport(msgspec.Struct):
    project_id: str
    file_id: str
    title: str
    chunks: int


class MeetingResponse(msgspec.Struct):
    text: str  # the minutes, in Markdown
    language: str | None
    duration: float
    model: str  # the transcription model
    report: MeetingReportBody
    report_model: str  # the chat model that wrote the minutes
    transcript: str
    project_id: str
    document: StoredReport | None
    usage: TranscriptionUsage
    metadata: dict[str, Any]


class SupportedFormats(msgspec.Struct):
    supported_formats: list[str]
    max_file_size_mb: float
    max_duration_seconds: float
    model: str
    provider: str
    languages: str
    default_language: str | None
