"""The event protocol on the wire: one adapter per contract.

- Fess-style ``/api/v1/chat/stream``: named events ``session``, ``phase``, ``chunk``,
  ``sources``, ``done``, ``error`` (``session_events``, also sent on the realtime WebSocket).
- ``/completion`` with ``stream: true``: unnamed ``data:`` lines
  ``{"content", "done", "metadata"}``; the last has ``done: true`` and the full metadata.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from litestar.background_tasks import BackgroundTask, BackgroundTasks
from litestar.openapi.spec.enums import OpenAPIType
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Operation, Schema
from litestar.response import ServerSentEvent, ServerSentEventMessage

from api.services.turns import Turn, run_turn, session_events
from graphs import events
from graphs.dependencies import RunDependencies


def sse_response(
    events_out: AsyncGenerator[ServerSentEventMessage, None], on_close: Callable[[], Awaitable[None]] | None = None
) -> ServerSentEvent:
    """An SSE response that always closes its generator.

    When a client disconnects while Litestar is sending, it abandons the generator suspended at
    a ``yield``: nothing closes it until garbage collection, and the graph run (and its upstream
    model stream) goes on. Litestar still runs the background task after a disconnect, so the
    generator is closed there, which cancels the run at once; ``on_close`` (releasing the
    session's turn lock) runs after it."""
    tasks = [BackgroundTask(events_out.aclose), *([BackgroundTask(on_close)] if on_close else [])]
    return ServerSentEvent(events_out, background=BackgroundTasks(tasks, run_in_task_group=False))


# One Server-Sent Event as clients parse it: ``data`` holds the JSON the route describes.
SSE_EVENT = Schema(
    type=OpenAPIType.OBJECT,
    required=["data"],
    properties={
        "data": Schema(type=OpenAPIType.STRING, description="JSON text"),
        "event": Schema(type=OpenAPIType.STRING),
        "id": Schema(type=OpenAPIType.STRING),
        "retry": Schema(type=OpenAPIType.INTEGER),
    },
)


@dataclass
class JsonOrStreamOperation(Operation):
    """A route that answers JSON, or Server-Sent Events when the body asks ``stream: true``: its
    200 documents both media types, so clients and schema checkers know the stream exists."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse) and ok.content is not None:
            ok.content["text/event-stream"] = OpenAPIMediaType(schema=SSE_EVENT)


@dataclass
class StreamOperation(Operation):
    """A route that always answers Server-Sent Events: its 200 says so (Litestar documents an
    ``ServerSentEvent`` return as an empty JSON body)."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse):
            ok.content = {"text/event-stream": OpenAPIMediaType(schema=SSE_EVENT)}


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


async def chat_stream(dependencies: RunDependencies, turn: Turn, session_id: str) -> AsyncIterator[ServerSentEventMessage]:
    async with aclosing(session_events(dependencies, turn, session_id)) as named:
        async for name, data in named:
            yield ServerSentEventMessage(event=name, data=_json(data))


async def completion_stream(dependencies: RunDependencies, turn: Turn) -> AsyncIterator[ServerSentEventMessage]:
    base = {"model": turn.model, "agent": turn.agent.type}
    try:
        async for event, metrics in run_turn(dependencies, turn):
            name, data = event["event"], event["data"]
            if name == "chunk":
                yield ServerSentEventMessage(data=_json({"content": data["content"], "done": False, "metadata": base}))
            elif name == "done":
                final = {**base, "messageId": data["messageId"], "sources": data["sources"], **(metrics or {})}
                yield ServerSentEventMessage(data=_json({"content": "", "done": True, "metadata": final}))
            elif name == "error":
                yield ServerSentEventMessage(data=_json({"content": "", "done": True, "error": data, "metadata": base}))
    except Exception as exc:
        error = events.failure("stream", exc)["data"]
        yield ServerSentEventMessage(data=_json({"content": "", "done": True, "error": error, "metadata": base}))
