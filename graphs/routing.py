"""Conditional edges shared by the agents' graphs."""

from __future__ import annotations

from graphs.state import AgentState


def route_intent(state: AgentState) -> str:
    """Chit-chat goes straight to generation; everything else searches first."""
    return "generation" if state.get("intent") == "chit_chat" else "search"
