"""A local OpenAI-compatible chat server for tests: real HTTP, real SSE, scripted behaviour.

The model name picks the behaviour of generation calls (structured-output calls, which carry
``tools``, always get a valid tool call):
- ``stub-ok``: streams a short cited answer;
- ``stub-fail``: streams 3 words, then breaks the stream with an error;
- ``stub-slow``: streams 400 words at 50 ms each (for disconnect tests);
- ``stub-error``: answers HTTP 500 before any token;
- ``stub-hang``: never answers (the client's timeout must fire);
- ``stub-stall``: streams 2 words, then stalls forever;
- ``stub-paced``: streams 20 words at 30 ms each (for concurrency tests).
``POST /v1/audio/transcriptions`` (multipart, as OpenAI's) answers a fixed French sentence for
model ``stub-whisper`` (with the language, in verbose_json, named as OpenAI names it) and 500 for
``stub-error``; ``TRANSCRIPTION_REQUESTS`` keeps what each request sent.
``GET /stats`` reports what was sent, whether the client went away, and the most streams ever
open at once (``max_concurrent_streams``; ``POST /stats/reset-peak`` restarts it from now).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import uvicorn
from litestar import Litestar, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, JSONBody
from litestar.response import Stream

STATS: dict[str, int] = {
    "requests": 0,
    "chunks_sent": 0,
    "streams_cancelled": 0,
    "streams_finished": 0,
    "active_streams": 0,
    "max_concurrent_streams": 0,
}


def _chunk(model: str, content: str | None = None, finish: str | None = None, usage: dict | None = None) -> bytes:
    body: dict[str, Any] = {
        "id": "chatcmpl-stub",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [] if usage else [{"index": 0, "delta": {"content": content} if content is not None else {}, "finish_reason": finish}],
    }
    if usage:
        body["usage"] = usage
    return f"data: {json.dumps(body)}\n\n".encode()


def _tool_reply(model: str, request: dict[str, Any]) -> dict[str, Any]:
    tool = request["tools"][0]["function"]
    properties = tool.get("parameters", {}).get("properties", {})
    question = next((m["content"] for m in reversed(request["messages"]) if m["role"] == "user"), "")
    if "relevant" in properties:
        args: dict[str, Any] = {"relevant": [1]}
    elif "decisions" in properties:
        args = {
            "summary": "Résumé du stub : " + question.split(".")[0].strip(),
            "decisions": ["Le stub a pris une décision."],
            "actions": [{"task": "Relire le compte rendu", "owner": "Stub", "due": "lundi"}],
            "participants": ["Stub"],
        }
    elif "verdict" in properties:
        args = _verdict(question)
    else:
        args = {"intent": "question", "keywords": question}
        if "standalone_question" in properties:
            args["standalone_question"] = question
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": tool["name"], "arguments": json.dumps(args)}}],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25},
    }


def _verdict(prompt: str) -> dict[str, str]:
    """The evaluation judge's grade: correct when the answer states every expected fact."""
    facts = prompt.split("Expected facts: ", 1)[1].split("\n", 1)[0]
    answer = prompt.split("Answer to grade: ", 1)[1].casefold()
    found = facts == "(none)" or all(fact.strip().casefold() in answer for fact in facts.split(";"))
    return {"reasoning": "stub judge", "verdict": "correct" if found else "incorrect"}


async def _stream(model: str) -> AsyncIterator[bytes]:
    words = {
        "stub-ok": "Le service écoute sur le port 7860 [1].".split(),
        "stub-fail": ["un", "deux", "trois"],
        "stub-stall": ["un", "deux"],
        "stub-paced": ["mot"] * 20,
    }.get(model, ["mot"] * 400)
    delay = {"stub-slow": 0.05, "stub-paced": 0.03}.get(model, 0.0)
    STATS["active_streams"] += 1
    STATS["max_concurrent_streams"] = max(STATS["max_concurrent_streams"], STATS["active_streams"])
    try:
        for index, word in enumerate(words):
            if delay:
                await asyncio.sleep(delay)
            STATS["chunks_sent"] += 1
            yield _chunk(model, word if index == 0 else " " + word)
        if model == "stub-stall":
            await asyncio.sleep(3600)
        if model == "stub-fail":
            raise RuntimeError("stub provider crashed mid-stream")
        yield _chunk(model, finish="stop")
        yield _chunk(model, usage={"prompt_tokens": 30, "completion_tokens": len(words), "total_tokens": 30 + len(words)})
        yield b"data: [DONE]\n\n"
        STATS["streams_finished"] += 1
    except asyncio.CancelledError:
        STATS["streams_cancelled"] += 1
        raise
    finally:
        STATS["active_streams"] -= 1


@post("/v1/chat/completions")
async def completions(data: JSONBody[dict[str, Any]]) -> Any:
    STATS["requests"] += 1
    model = data["model"]
    if data.get("tools"):
        return _tool_reply(model, data)
    if model == "stub-error":
        return Response({"error": {"message": "stub internal error", "type": "server_error"}}, status_code=500)
    if model == "stub-hang":
        await asyncio.sleep(3600)
    return Stream(_stream(model), media_type="text/event-stream")


STUB_TRANSCRIPT = "Bonjour, ceci est la transcription du serveur de test."
TRANSCRIPTION_REQUESTS: list[dict[str, Any]] = []


@post("/v1/audio/transcriptions")
async def transcriptions(data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]) -> Any:
    upload = data.get("file")
    content = await upload.read() if upload is not None else b""
    fields = {k: v for k, v in data.items() if isinstance(v, str)}
    TRANSCRIPTION_REQUESTS.append({**fields, "filename": getattr(upload, "filename", None), "bytes": len(content)})
    if fields.get("model") == "stub-error":
        return Response({"error": {"message": "stub transcription failure", "type": "server_error"}}, status_code=500)
    if fields.get("response_format") == "verbose_json":
        return {"task": "transcribe", "language": "french", "duration": 1.5, "text": STUB_TRANSCRIPT, "segments": []}
    return {"text": STUB_TRANSCRIPT}


@get("/stats")
async def stats() -> dict[str, int]:
    return STATS


@post("/stats/reset-peak", status_code=200)
async def reset_peak() -> dict[str, int]:
    STATS["max_concurrent_streams"] = STATS["active_streams"]
    return STATS


class StubServer:
    """Runs the stub with uvicorn in a background thread on a free loopback port."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        config = uvicorn.Config(Litestar([completions, transcriptions, stats, reset_peak]), host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def models_file_entries(self, timeout_s: float = 2.0, max_retries: int = 1) -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "base_url": self.base_url,
                "input_eur_per_mtok": 1.0,
                "output_eur_per_mtok": 2.0,
                "timeout_s": timeout_s,
                "max_retries": max_retries,
            }
            for name in ("stub-ok", "stub-fail", "stub-slow", "stub-error", "stub-hang", "stub-stall", "stub-paced")
        ]

    def __enter__(self) -> StubServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("stub server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
