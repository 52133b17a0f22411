"""Evaluation: keep only the hits that help answer the question.

The search's candidates are reranked first (``nodes.rerank``); then an LLM grades the best ones in
one structured call, or, offline, the passages whose support clears a threshold are kept. Kept passages accumulate across V2's search rounds."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from graphs import events
from graphs.context import AgentContext
from graphs.state import AgentState
from nodes import prompts
from nodes.models.factory import ModelRegistry
from nodes.rerank import Scored, rerank
from nodes.runtime import context_of, dependencies, reports_errors
from retrievers.base import Hit

MIN_SUPPORT = 0.2
"""Offline: a passage is kept when it supports the question at least this much (``Scored.support``:
the share of the question's words it holds, rare words weighing more, with the best sentence's).
Chosen on the development sets (README, Relevance): below it, the questions the documents cannot
answer and the ones restricted to files that don't hold the answer get passages anyway."""
MIN_SHARE_OF_BEST = 0.6
"""Offline: passages far behind the best one are dropped, as a grader would."""


def supported(ranked: list[Scored], top_k: int) -> list[Hit]:
    """The reranked passages that support the question enough, best first, at most ``top_k``."""
    if not ranked:
        return []
    best = max(s.support for s in ranked)
    floor = max(MIN_SUPPORT, MIN_SHARE_OF_BEST * best)
    return [s.hit for s in ranked if s.support >= floor][: max(top_k, 1)]


class Relevance(BaseModel):
    relevant: list[int] = Field(description="Numbers of the passages that help answer the question")


@reports_errors("evaluation")
async def evaluate(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = context_of(runtime)
    runtime.stream_writer(events.phase("evaluation", "start"))
    ranked = rerank(state["query"], state.get("hits", []))
    models = (await dependencies()).models
    if not ranked:
        relevant: list[Hit] = []
    elif models.is_offline(ctx.model):
        relevant = supported(ranked, ctx.top_k)
    else:
        relevant = await _grade(models, ctx, state["query"], [s.hit for s in ranked[: max(ctx.top_k, 1)]])
    kept = _merge(state.get("kept", []), relevant)[: max(ctx.top_k, 1)]
    runtime.stream_writer(events.phase("evaluation", "complete", hits=len(ranked), kept=len(kept)))
    return {"kept": kept}


async def _grade(models: ModelRegistry, ctx: AgentContext, question: str, hits: list[Hit]) -> list[Hit]:
    grader = models.structured(ctx.model, Relevance)
    passages = "\n\n".join(f"[{i}] {h['title']}\n{h['text']}" for i, h in enumerate(hits, start=1))
    verdict = await grader.ainvoke(
        [SystemMessage(prompts.EVALUATION_SYSTEM), HumanMessage(f"Question: {question}\n\nPassages:\n{passages}")]
    )
    chosen = sorted({n for n in verdict.relevant if 1 <= n <= len(hits)})
    return [hits[n - 1] for n in chosen]


def _merge(previous: list[Hit], new: list[Hit]) -> list[Hit]:
    seen = {h["point_id"] for h in previous}
    return previous + [h for h in new if h["point_id"] not in seen]
