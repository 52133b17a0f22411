"""Conditional edges shared by the agents' graphs.

Plain functions, which LangGraph runs in a worker thread. As coroutine functions they would save
that hop, but then the query embedding's OpenMP threads, which spin while they wait, cost several
times more CPU on a busy machine (python-docs-fr, cold queries: 44-49 ms a turn over HTTP with
plain edges, 59-334 ms with coroutines): they stay plain until that threading is settled."""

from __future__ import annotations

from graphs.state import AgentState


def route_intent(state: AgentState) -> str:
    """Chit-chat goes straight to generation; everything else searches first."""
    return "generation" if state.get("intent") == "chit_chat" else "search"
