"""The event protocol on the wire: one adapter per contract.

- Fess-style ``/api/v1/chat/stream``: named events ``session``, ``phase``, ``chunk``,
  ``sources``, ``done``, ``error`` (``session_events``, also sent on the realtime WebSocket).
- ``/completion`` with ``stream: true``: unnamed ``data:`` lines
  ``{"content", "done", "metadata"}``; the last has ``done: true`` and the full metadata.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import anyio
import msgspec
from litestar.background_tasks import BackgroundTask, BackgroundTasks
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Operation, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.response import Stream

from api.services.turns import Turn, run_turn, session_events
from graphs import events
from graphs.dependencies import RunDependencies

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_SEPARATOR = b"\r\n"


def _plain(value: Any) -> Any:
    """LangChain's text is a ``str`` subclass, which msgspec encodes only as a plain ``str``."""
    if isinstance(value, str):
        return str(value)
    raise NotImplementedError(f"Cannot encode {type(value).__name__} as JSON")


_json = msgspec.json.Encoder(enc_hook=_plain)


def sse_event(data: Any, event: str | None = None) -> bytes:
    """One Server-Sent Event as bytes, written once: an ``event:`` line when named, then ``data:``
    (compact UTF-8 JSON, one line; a ``str`` is sent as it is, e.g. ``[DONE]``), CRLF-separated as
    Litestar's ``ServerSentEventMessage`` writes it, for a fraction of its cost (StringIO, regexes
    and ``json.dumps`` on every one of a turn's events)."""
    if isinstance(data, str):
        body = b"".join(b"data: " + line.encode() + _SEPARATOR for line in _LINE_BREAK.split(data))
    else:
        body = b"data: " + _json.encode(data) + _SEPARATOR
    head = b"event: " + event.encode() + _SEPARATOR if event is not None else b""
    return head + body + _SEPARATOR


_END = object()
READ_AHEAD = 256
"""Events read ahead of the client at most (the graph's own queue holds as many)."""


async def coalesced(events_in: AsyncIterator[bytes], read_ahead: int = READ_AHEAD) -> AsyncGenerator[bytes, None]:
    """The same bytes, with the events that are ready together written together.

    Every write costs a system call and a pass through each middleware's ``send``; a model that
    answers faster than the socket is written (the extractive one produces a whole answer at
    once) gives tens of events in one go. The events are read in a task of their own, and each
    write takes all those already there: one at a time when they come one at a time (a remote
    model's tokens), so nothing waits. Closing the stream cancels the reading, and with it the
    run."""
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=read_ahead)
    failure: list[BaseException] = []

    async def pump() -> None:
        try:
            async for item in events_in:
                await queue.put(item)
        except Exception as exc:
            failure.append(exc)
        await queue.put(_END)

    task = asyncio.create_task(pump())
    try:
        while True:
            batch = [await queue.get()]
            while not queue.empty():
                batch.append(queue.get_nowait())
            ended = batch[-1] is _END
            if ended:
                batch.pop()
            if batch:
                yield b"".join(batch)
            if ended:
                break
        if failure:
            raise failure[0]
    finally:
        if not task.done():
            task.cancel()
        with anyio.CancelScope(shield=True), contextlib.suppress(BaseException):
            await task


def sse_response(events_out: AsyncIterator[bytes], on_close: Callable[[], Awaitable[None]] | None = None) -> Stream:
    """An SSE response of ready-made events (``sse_event``), written as they are ready
    (``coalesced``), that always closes its generator.

    When a client disconnects while Litestar is sending, it abandons the generator suspended at
    a ``yield``: nothing closes it until garbage collection, and the graph run (and its upstream
    model stream) goes on. Litestar still runs the background task after a disconnect, so the
    generator is closed there, which cancels the run at once; ``on_close`` (releasing the
    session's turn lock) runs after it. The close is a coroutine function of ours: Litestar takes
    the generator's bound ``aclose`` for a sync callable and would only call it in a worker
    thread, never awaiting the close it returns."""

    body = coalesced(events_out)

    async def close() -> None:
        await body.aclose()
        if isinstance(events_out, AsyncGenerator):  # never started when the response never was
            await events_out.aclose()

    tasks = [BackgroundTask(close), *([BackgroundTask(on_close)] if on_close else [])]
    return Stream(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache"},
        background=BackgroundTasks(tasks, run_in_task_group=False),
    )


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
    """A route that always answers Server-Sent Events: its 200 says so (Litestar documents a
    streamed return as an empty JSON body)."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse):
            ok.content = {"text/event-stream": OpenAPIMediaType(schema=SSE_EVENT)}


async def chat_stream(dependencies: RunDependencies, turn: Turn, session_id: str) -> AsyncIterator[bytes]:
    async with aclosing(session_events(dependencies, turn, session_id)) as named:
        async for name, data in named:
            yield sse_event(data, name)


async def completion_stream(dependencies: RunDependencies, turn: Turn) -> AsyncIterator[bytes]:
    base = {"model": turn.model, "agent": turn.agent.type}
    try:
        async for event, metrics in run_turn(dependencies, turn):
            name, data = event["event"], event["data"]
            if name == "chunk":
                yield sse_event({"content": data["content"], "done": False, "metadata": base})
            elif name == "done":
                final = {**base, "messageId": data["messageId"], "sources": data["sources"], **(metrics or {})}
                yield sse_event({"content": "", "done": True, "metadata": final})
            elif name == "error":
                yield sse_event({"content": "", "done": True, "error": data, "metadata": base})
    except Exception as exc:
        error = events.failure("stream", exc)["data"]
        yield sse_event({"content": "", "done": True, "error": error, "metadata": base})
