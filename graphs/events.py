"""The event protocol, defined once: graphs emit it, the API maps it to its wire formats, tests
and clients parse it.

On LangGraph's custom stream every event is a dict ``{"event": <name>, "data": {...}}`` so that it
maps one-to-one onto a named Server-Sent Event and survives JSON round trips (``langgraph dev``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired

from pydantic import TypeAdapter
from typing_extensions import TypedDict

Phase = Literal["intent_analysis", "rewrite", "search", "evaluation", "generation"]
PhaseStatus = Literal["start", "complete"]
Intent = Literal["question", "chit_chat", "follow_up"]

PHASE_MESSAGES: dict[str, str] = {
    "intent_analysis": "Analyzing user intent...",
    "rewrite": "Reformulating the search query...",
    "search": "Searching documents...",
    "evaluation": "Evaluating search results...",
    "generation": "Generating the answer...",
}


class Source(TypedDict):
    """A passage the answer may cite; ``id`` is its citation number ([1], [2], ...)."""

    id: int
    file_id: str
    title: str
    url: str | None
    score: float
    snippet: str
    section: NotRequired[str]
    """The passage's heading path in its document (``Guide › Installation``), when it has one."""
    page: NotRequired[int | None]
    """1-based page of paginated documents (PDF)."""


class PhaseData(TypedDict):
    phase: Phase
    status: PhaseStatus
    message: NotRequired[str]
    intent: NotRequired[Intent]
    keywords: NotRequired[str]
    query: NotRequired[str]
    hits: NotRequired[int]
    kept: NotRequired[int]
    round: NotRequired[int]


class ChunkData(TypedDict):
    content: str


class SourcesData(TypedDict):
    sources: list[Source]


class DoneData(TypedDict):
    answer: str
    sources: list[Source]
    # Added by the API on the wire: the session, the answer as HTML, and the answer's metrics.
    sessionId: NotRequired[str]
    messageId: NotRequired[str]  # the answer's stable id (history, feedback)
    htmlContent: NotRequired[str]
    content: NotRequired[str]
    metadata: NotRequired[dict[str, Any]]


class ErrorData(TypedDict):
    phase: str
    message: str


class SessionData(TypedDict):
    sessionId: str


class PhaseEvent(TypedDict):
    event: Literal["phase"]
    data: PhaseData


class ChunkEvent(TypedDict):
    event: Literal["chunk"]
    data: ChunkData


class SourcesEvent(TypedDict):
    event: Literal["sources"]
    data: SourcesData


class DoneEvent(TypedDict):
    event: Literal["done"]
    data: DoneData


class ErrorEvent(TypedDict):
    event: Literal["error"]
    data: ErrorData


class SessionEvent(TypedDict):
    """Sent by the API only, first on a session's stream."""

    event: Literal["session"]
    data: SessionData


Event = PhaseEvent | ChunkEvent | SourcesEvent | DoneEvent | ErrorEvent
"""What a graph emits."""
StreamEvent = SessionEvent | Event
"""What a client of the streaming API receives."""
EVENT_NAMES = ("phase", "chunk", "sources", "done", "error")

_event_adapter: TypeAdapter[StreamEvent] = TypeAdapter(StreamEvent)


def parse_event(raw: Any) -> StreamEvent:
    """Validate a decoded event (from the custom stream, an SDK, a JSON line or an SSE message)."""
    return _event_adapter.validate_python(raw)


def phase(name: Phase, status: PhaseStatus, **extras: Any) -> PhaseEvent:
    data: dict[str, Any] = {"phase": name, "status": status}
    if status == "start":
        data["message"] = PHASE_MESSAGES[name]
    data.update({k: v for k, v in extras.items() if v is not None})
    return {"event": "phase", "data": data}  # type: ignore[typeddict-item]


def chunk(content: str) -> ChunkEvent:
    return {"event": "chunk", "data": {"content": content}}


def sources(items: list[Source]) -> SourcesEvent:
    return {"event": "sources", "data": {"sources": items}}


def done(answer: str, items: list[Source]) -> DoneEvent:
    return {"event": "done", "data": {"answer": answer, "sources": items}}


def error(phase_name: str, message: str) -> ErrorEvent:
    return {"event": "error", "data": {"phase": phase_name, "message": message}}


MESSAGE_CHARS = 300


def exception_message(exc: BaseException, what: str | None = None, *, with_type: bool = True) -> str:
    """An exception as an event's one-line message: ``[what: ][Type: ]detail``, bounded."""
    lines = str(exc).strip().splitlines()
    detail = lines[0] if lines else ""
    if with_type or not detail:
        detail = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return (f"{what}: {detail}" if what else detail)[:MESSAGE_CHARS]


def failure(phase_name: str, exc: BaseException, what: str | None = None, *, with_type: bool = True) -> ErrorEvent:
    """The ``error`` event reporting ``exc`` in ``phase_name``."""
    return error(phase_name, exception_message(exc, what, with_type=with_type))


@dataclass
class RunResult:
    """A whole run assembled from its events — the one collector every non-streaming consumer
    (API routes, evaluation targets, tests) uses. ``metadata`` holds the answer's metrics when
    the stream is measured."""

    answer: str = ""
    sources: list[Source] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    error: dict[str, str] | None = None
    events: list[Any] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    def add(self, event: Any, metadata: dict[str, Any] | None = None) -> None:
        self.events.append(event)
        if event["event"] == "done":
            self.answer, self.sources = event["data"]["answer"], event["data"]["sources"]
            self.metadata = metadata if metadata is not None else dict(event["data"].get("metadata") or {})
        elif event["event"] == "error":
            self.error = dict(event["data"])
