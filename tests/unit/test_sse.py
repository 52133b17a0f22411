"""Events on the wire (``api.sse``): the bytes clients parsed before, written once per event, and
a stream whose generator is closed (its run cancelled) when the response ends."""

from __future__ import annotations

import asyncio
import json

from litestar.response import ServerSentEventMessage

from api.sse import sse_event, sse_response


class _Text(str):
    """LangChain hands text out as ``str`` subclasses."""


EVENTS = [
    ("session", {"sessionId": "abc"}),
    ("chunk", {"content": _Text("Le port par défaut est « 7860 » [1]\n")}),
    ("phase", {"phase": "search", "status": "complete", "hits": 3}),
    ("done", {"answer": 'a "quoted"\r\nline', "sources": [{"id": 1, "score": 0.731245, "page": None}], "metadata": {"ok": True}}),
    (None, {"content": "", "done": True, "metadata": {"model": "local-extractive"}}),
]


def test_each_event_is_the_bytes_litestar_wrote_from_stdlib_json():
    for name, data in EVENTS:
        before = ServerSentEventMessage(event=name, data=json.dumps(data, ensure_ascii=False, separators=(",", ":"))).encode()
        assert sse_event(data, name) == before


def test_each_event_parses_back_to_its_data():
    for name, data in EVENTS:
        lines = sse_event(data, name).decode().split("\r\n")
        assert lines[-2:] == ["", ""]  # a blank line ends the event
        assert lines[0] == (f"event: {name}" if name else lines[0])
        payload = [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]
        assert len(payload) == 1 and json.loads(payload[0]) == data


def test_text_data_goes_as_is_one_data_line_per_line():
    assert sse_event("[DONE]") == b"data: [DONE]\r\n\r\n"
    assert sse_event("a\nb") == ServerSentEventMessage(data="a\nb").encode()


async def test_the_response_closes_its_generator_then_runs_on_close():
    order: list[str] = []

    async def events():
        try:
            while True:
                yield sse_event({"content": "x"}, "chunk")
        finally:
            order.append("generator closed")

    async def on_close() -> None:
        order.append("on_close")

    stream = events()
    await anext(stream)  # suspended at a yield, as a client leaving mid-answer leaves it
    response = sse_response(stream, on_close=on_close)
    assert response.media_type == "text/event-stream" and response.headers["Cache-Control"] == "no-cache"
    assert response.background is not None
    await asyncio.wait_for(response.background(), timeout=5)
    assert order == ["generator closed", "on_close"]
