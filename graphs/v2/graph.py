"""Agent V2 — the default.

intent_analysis (+ standalone question) → (chit-chat: generation) | search (hybrid) → evaluation
→ too few relevant hits and rounds left? rewrite → search again : generation (grounded)

A reformulation equal to a query already searched is not searched again (same hits, same
evaluation): the loop goes on to the next reformulation, or to generation when no round is left.
"""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Checkpointer

from graphs.context import AgentContext
from graphs.routing import route_intent
from graphs.state import AgentState, InputState, OutputState
from nodes.evaluation import evaluate
from nodes.generation import generate_grounded
from nodes.intent import analyze_intent_standalone
from nodes.rewrite import reformulate
from nodes.runtime import context_of
from nodes.search import hybrid_search


async def route_evaluation(state: AgentState, runtime: Runtime[AgentContext]) -> str:
    ctx = context_of(runtime)
    if len(state.get("kept", [])) >= ctx.min_relevant or state.get("rounds", 0) >= ctx.max_search_rounds:
        return "generation"
    return "rewrite"


async def route_rewrite(state: AgentState, runtime: Runtime[AgentContext]) -> str:
    if state["query"] not in state.get("queries", [])[:-1]:
        return "search"
    return "generation" if state.get("rounds", 0) >= context_of(runtime).max_search_rounds else "rewrite"


def build_graph(checkpointer: Checkpointer = None) -> CompiledStateGraph:
    builder = StateGraph(AgentState, context_schema=AgentContext, input_schema=InputState, output_schema=OutputState)
    builder.add_node("intent_analysis", analyze_intent_standalone)
    builder.add_node("search", hybrid_search)
    builder.add_node("evaluation", evaluate)
    builder.add_node("rewrite", reformulate)
    builder.add_node("generation", generate_grounded)
    builder.add_edge(START, "intent_analysis")
    builder.add_conditional_edges("intent_analysis", route_intent, ["search", "generation"])
    builder.add_edge("search", "evaluation")
    builder.add_conditional_edges("evaluation", route_evaluation, ["rewrite", "generation"])
    builder.add_conditional_edges("rewrite", route_rewrite, ["search", "rewrite", "generation"])
    builder.add_edge("generation", END)
    return builder.compile(checkpointer=checkpointer, name="V2")


graph = build_graph()
