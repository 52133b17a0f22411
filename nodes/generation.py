"""Generation: stream a cited answer from the kept passages, then report ``done``.

V2 refuses to answer a documentary question without a relevant passage: it says so honestly
instead of letting the model improvise."""

from __future__ import annotations

import html
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)
from langgraph.runtime import Runtime

from graphs import events
from graphs.context import AgentContext
from graphs.events import Source
from graphs.state import AgentState
from nodes import prompts
from nodes.intent import HISTORY_TURNS
from nodes.runtime import context_of, dependencies, reports_errors, split_turn
from retrievers.base import Hit
from retrievers.text import not_found

SNIPPET_CHARS = 300


@reports_errors("generation")
async def generate(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """V1: always asks the model, with whatever passages were kept."""
    return await _generate(state, runtime, grounded=False)


@reports_errors("generation")
async def generate_grounded(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """V2: answers documentary questions only from relevant passages."""
    return await _generate(state, runtime, grounded=True)


def to_sources(kept: list[Hit]) -> list[Source]:
    return [
        Source(
            id=n,
            file_id=h["file_id"],
            title=h["title"],
            url=h["url"],
            score=round(float(h["score"]), 6),
            snippet=h["text"][:SNIPPET_CHARS],
            section=h.get("section") or "",
            page=h.get("page"),
        )
        for n, h in enumerate(kept, start=1)
    ]


def format_sources(kept: list[Hit]) -> str:
    """Each passage with its document title and, when known, its section and page: context the
    passage's own sentences often leave implicit."""
    return "\n".join(f"<source {_attributes(n, h)}>\n{h['text']}\n</source>" for n, h in enumerate(kept, start=1))


def _attributes(n: int, hit: Hit) -> str:
    attributes = {"id": str(n), "title": hit["title"], "section": hit.get("section") or "", "page": str(hit.get("page") or "")}
    return " ".join(f'{key}="{html.escape(value, quote=True)}"' for key, value in attributes.items() if value)


async def _generate(state: AgentState, runtime: Runtime[AgentContext], *, grounded: bool) -> dict[str, Any]:
    ctx = context_of(runtime)
    write = runtime.stream_writer
    question, history = split_turn(state)
    chit_chat = state.get("intent") == "chit_chat"
    kept = [] if chit_chat else state.get("kept", [])
    cited = to_sources(kept)
    if not chit_chat:
        write(events.sources(cited))
    write(events.phase("generation", "start"))

    if grounded and not chit_chat and not kept:
        answer = not_found(question)
        write(events.chunk(answer))
        message = AIMessage(content=answer)
    else:
        system = prompts.CHIT_CHAT_SYSTEM if chit_chat else prompts.GENERATION_SYSTEM.format(sources=format_sources(kept))
        prompt: list[BaseMessage] = [SystemMessage(system), *history[-HISTORY_TURNS:], HumanMessage(question)]
        model = await (await dependencies()).models.achat(ctx.model, ctx.temperature)
        pieces: list[AIMessageChunk] = []
        async for piece in model.astream(prompt):
            if text := piece.text:
                write(events.chunk(text))
            pieces.append(piece)
        # Merged once: adding each piece to a running sum rebuilt the whole message every token.
        streamed = pieces[0] + pieces[1:] if pieces else None
        answer = streamed.text if streamed is not None else ""
        message = AIMessage(
            content=answer,
            id=streamed.id if streamed is not None else None,
            usage_metadata=streamed.usage_metadata if streamed is not None else None,
            response_metadata=streamed.response_metadata if streamed is not None else {},
        )

    write(events.phase("generation", "complete"))
    write(events.done(answer, cited))
    # The search's candidates served this turn only: emptied, a session's checkpoint (written
    # when the run ends) no longer carries 40 passages into every later turn (37 KB → 6 KB on the demo set).
    return {"answer": answer, "sources": cited, "messages": [message], "hits": []}
