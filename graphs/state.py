"""The agents' state. Per-turn fields are reset by the first node: the checkpointer keeps every
field of a thread across turns, only ``messages`` is meant to accumulate. The search's
candidates (``hits``, the largest field) are also emptied by the last node, generation, so a
session's checkpoint does not carry them between turns."""

from __future__ import annotations

from typing import Annotated, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

from graphs.events import Intent, Source
from retrievers.base import Hit


class InputState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


class AgentState(InputState, total=False):
    question: str
    intent: Intent
    keywords: str
    query: str
    queries: list[str]
    hits: list[Hit]
    kept: list[Hit]
    rounds: int
    sources: list[Source]
    answer: str


class OutputState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    answer: str
    sources: list[Source]
    intent: Intent
