"""Conditional edges shared by the agents' graphs.

Coroutine functions: LangGraph runs a plain function in a worker thread, one hop per edge and
turn. While queries were embedded by torch, whose OpenMP threads spin while they wait, removing
those hops made turns erratic on a busy machine; queries now run on ONNX Runtime on one thread, and
the hops are gone without that cost (docs/performance.md, Per-turn cost)."""

from __future__ import annotations

from graphs.state import AgentState


async def route_intent(state: AgentState) -> str:
    """Chit-chat goes straight to generation; everything else searches first."""
    return "generation" if state.get("intent") == "chit_chat" else "search"
