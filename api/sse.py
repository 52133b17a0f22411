"""The event protocol on the wire: one adapter per contract.

- Fess-style ``/api/v1/chat/stream``: named events ``session``, ``phase``, ``chunk``,
  ``sources``, ``done``, ``error`` (``chat_events``, also sent on the realtime WebSocket).
- ``/completion`` with ``stream: true``: unnamed ``data:`` lines
  ``{"content", "done", "metadata"}``; the last has ``done: true`` and the full metadata.
"""

from __future__ import annotations

import json
from contextlib import aclosing
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any

from litestar.background_tasks import BackgroundTask, BackgroundTasks
from litestar.response import ServerSentEvent, ServerSentEventMessage

from api.services.turns import Turn, render_html, run_turn
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


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


async def chat_events(dependencies: RunDependencies, turn: Turn, session_id: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """The session routes' events as ``(name, data)``: ``session`` first, then the turn's events,
    its ``done`` completed with the session, the answer as HTML and the metrics; a failure after
    the start becomes one ``error`` event. The SSE route and the realtime WebSocket send exactly these."""
    yield "session", {"sessionId": session_id}
    try:
        async for event, metrics in run_turn(dependencies, turn):
            name, data = event["event"], dict(event["data"])
            if name == "done":
                data = {
                    "sessionId": session_id,
                    "messageId": data["messageId"],
                    "htmlContent": render_html(data["answer"]),
                    "answer": data["answer"],
                    "content": data["answer"],
                    "sources": data["sources"],
                    "metadata": {"model": turn.model, "agent": turn.agent.type, **(metrics or {})},
                }
            yield name, data
    except Exception as exc:  # the stream has started: report, then end cleanly
        yield "error", dict(events.failure("stream", exc)["data"])


async def chat_stream(dependencies: RunDependencies, turn: Turn, session_id: str) -> AsyncIterator[ServerSentEventMessage]:
    async with aclosing(chat_events(dependencies, turn, session_id)) as named:
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
