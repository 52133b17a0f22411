"""Conditional edges shared by the agents' graphs.

Edges are coroutine functions, like the nodes, though they await nothing: LangGraph runs a plain
function of an async run in a worker thread, a thread hop (and a wait for a free worker under
load) for a dictionary lookup, several times a turn."""

from __future__ import annotations

from graphs.state import AgentState


async def route_intent(state: AgentState) -> str:
    """Chit-chat goes straight to generation; everything else searches first."""
    return "generation" if state.get("intent") == "chit_chat" else "search"
