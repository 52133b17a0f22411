"""Evaluation: keep only the hits that help answer the question.

An LLM grades the passages in one structured call; the offline default keeps passages sharing
enough stems with the question. Kept passages accumulate across V2's search rounds."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from graphs import events
from graphs.context import AgentContext
from graphs.state import AgentState
from nodes import lexical, prompts
from nodes.models.factory import ModelRegistry
from nodes.runtime import context_of, dependencies, reports_errors
from retrievers.base import Hit

MIN_OFFLINE_RELEVANCE = 0.3


class Relevance(BaseModel):
    relevant: list[int] = Field(description="Numbers of the passages that help answer the question")


@reports_errors("evaluation")
async def evaluate(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = context_of(runtime)
    runtime.stream_writer(events.phase("evaluation", "start"))
    hits = state.get("hits", [])
    question = f"{state['query']} {state.get('keywords', '')}"
    models = (await dependencies()).models
    if not hits:
        relevant: list[Hit] = []
    elif models.is_offline(ctx.model):
        relevant = [h for h in hits if lexical.relevance(question, h["text"]) >= MIN_OFFLINE_RELEVANCE]
    else:
        relevant = await _grade(models, ctx, state["query"], hits)
    kept = _merge(state.get("kept", []), relevant)[: max(ctx.top_k, 1)]
    runtime.stream_writer(events.phase("evaluation", "complete", hits=len(hits), kept=len(kept)))
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
