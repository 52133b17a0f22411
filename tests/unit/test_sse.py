"""Events on the wire (``api.sse``): the bytes clients parsed before, written once per event, and
a stream whose generator is closed (its run cancelled) when the response ends."""

from __future__ import annotations

import asyncio
import json

import pytest
from litestar.response import ServerSentEventMessage

from api.sse import coalesced, sse_event, sse_response


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


async def test_events_ready_together_are_written_together_and_in_order():
    burst = [sse_event({"content": f"w{n} "}, "chunk") for n in range(40)]

    async def fast():  # a whole answer at once, as the extractive model gives it
        for item in burst:
            yield item

    writes = [w async for w in coalesced(fast())]
    assert b"".join(writes) == b"".join(burst)
    assert len(writes) < 5


async def test_events_that_come_apart_are_written_at_once():
    async def slow():
        for n in range(3):
            await asyncio.sleep(0.02)
            yield sse_event({"content": n}, "chunk")

    writes = [w async for w in coalesced(slow())]
    assert writes == [sse_event({"content": n}, "chunk") for n in range(3)]


async def test_closing_the_stream_cancels_the_reading():
    cancelled = asyncio.Event()

    async def stuck():
        yield sse_event({"content": "first"}, "chunk")
        try:
            await asyncio.sleep(3600)  # a model that never answers
            yield b""
        finally:
            cancelled.set()

    body = coalesced(stuck())
    assert await anext(body) == sse_event({"content": "first"}, "chunk")
    await asyncio.wait_for(body.aclose(), timeout=5)
    assert cancelled.is_set()


async def test_a_failing_source_fails_the_stream_after_what_it_gave():
    async def failing():
        yield b"a"
        raise RuntimeError("boom")

    body = coalesced(failing())
    assert await anext(body) == b"a"
    with pytest.raises(RuntimeError, match="boom"):
        await anext(body)


def test_max_tokens_cuts_after_the_nth_word_whatever_the_chunks_hold():
    from api.services.openai_chat import _cut

    answer = "Le service écoute sur le port 7860 [1]."
    assert _cut(answer, None) == (answer, 8)
    assert _cut(answer, 3) == ("Le service écoute", 8)
    assert _cut(answer, 8) == (answer, 8) and _cut(answer, 7) == ("Le service écoute sur le port 7860", 8)
    assert _cut(" sur le", 0) == ("", 2) and _cut("\n", 0) == ("", 0)
    streamed, sent = [], 0
    for piece in ("Le", " service écoute sur", " le port"):  # one token, then tokens merged into chunks
        kept, words = _cut(piece, 4 - sent)
        sent += words
        streamed.append(kept)
    assert "".join(streamed) == "Le service écoute sur" and sent == 6
