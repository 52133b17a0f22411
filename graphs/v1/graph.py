"""Agent V1 — the production workflow.

intent_analysis → (chit-chat: generation) | search (dense) → evaluation → generation
"""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer

from graphs.context import AgentContext
from graphs.routing import route_intent
from graphs.state import AgentState, InputState, OutputState
from nodes.evaluation import evaluate
from nodes.generation import generate
from nodes.intent import analyze_intent
from nodes.search import dense_search


def build_graph(checkpointer: Checkpointer = None) -> CompiledStateGraph:
    builder = StateGraph(AgentState, context_schema=AgentContext, input_schema=InputState, output_schema=OutputState)
    builder.add_node("intent_analysis", analyze_intent)
    builder.add_node("search", dense_search)
    builder.add_node("evaluation", evaluate)
    builder.add_node("generation", generate)
    builder.add_edge(START, "intent_analysis")
    builder.add_conditional_edges("intent_analysis", route_intent, ["search", "generation"])
    builder.add_edge("search", "evaluation")
    builder.add_edge("evaluation", "generation")
    builder.add_edge("generation", END)
    return builder.compile(checkpointer=checkpointer, name="V1")


graph = build_graph()
