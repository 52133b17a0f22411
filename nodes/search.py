"""Search: the caller's project (and ``sources``, when given) bound every query.

The filters come from the run's context only, which the API fills from the caller's token; no
message content can widen them."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from graphs import events
from graphs.context import AgentContext
from graphs.state import AgentState
from nodes.runtime import context_of, dependencies, reports_errors
from retrievers.base import SearchMode


@reports_errors("search")
async def dense_search(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """V1: semantic search on the dense vectors."""
    return await _search(state, runtime, "dense")


@reports_errors("search")
async def hybrid_search(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """V2: dense + sparse (BM25-style) results fused with RRF."""
    return await _search(state, runtime, "hybrid")


async def _search(state: AgentState, runtime: Runtime[AgentContext], mode: SearchMode) -> dict[str, Any]:
    ctx = context_of(runtime)
    rounds = state.get("rounds", 0)
    runtime.stream_writer(
        events.phase("search", "start", keywords=state.get("keywords") or state["query"], query=state["query"], round=rounds or None)
    )
    store = (await dependencies()).store
    hits = await store.search(
        state["query"], project_id=ctx.project_id, sources=ctx.sources or None, top_k=ctx.top_k, mode=mode
    )
    runtime.stream_writer(events.phase("search", "complete", hits=len(hits), round=rounds or None))
    return {"hits": hits}

