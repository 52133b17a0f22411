"""V2's reformulation: when too few hits were relevant, search again with another query."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime

from graphs import events
from graphs.context import AgentContext
from graphs.state import AgentState
from nodes import lexical, prompts
from nodes.runtime import context_of, dependencies, reports_errors


@reports_errors("rewrite")
async def reformulate(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = context_of(runtime)
    rounds = state.get("rounds", 0) + 1
    tried = state.get("queries", [state["query"]])
    runtime.stream_writer(events.phase("rewrite", "start", round=rounds))
    models = (await dependencies()).models
    if models.is_offline(ctx.model):
        query = _offline_variant(state, tried)
    else:
        model = models.chat(ctx.model, 0.3)
        reply = await model.ainvoke(
            [
                SystemMessage(prompts.REFORMULATION_SYSTEM.format(tried="; ".join(tried))),
                HumanMessage(state["question"]),
            ]
        )
        query = (reply.text or "").strip().strip('"') or state["query"]
    runtime.stream_writer(events.phase("rewrite", "complete", query=query, round=rounds))
    return {"query": query, "queries": tried + [query], "rounds": rounds}


def _offline_variant(state: AgentState, tried: list[str]) -> str:
    """Deterministic variants: bare keywords, then the question's content words, then the question."""
    candidates = [
        state.get("keywords", ""),
        " ".join(lexical.content_words(state["question"])),
        state["question"],
    ]
    return next((c for c in candidates if c and c not in tried), state["query"])
