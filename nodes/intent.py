"""Intent analysis: what kind of message this is and what to search for.

V2 also rewrites the message as a standalone question, in the same model call."""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.messages import AnyMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from graphs import events
from graphs.context import AgentContext
from graphs.state import AgentState
from nodes import lexical, prompts
from nodes.runtime import context_of, dependencies, message_text, reports_errors, split_turn

HISTORY_TURNS = 6


class IntentAnalysis(BaseModel):
    intent: Literal["question", "follow_up", "chit_chat"]
    keywords: str = Field(description="Space-separated search keywords")


class IntentWithStandalone(IntentAnalysis):
    standalone_question: str = Field(description="The message rewritten to stand on its own")


@reports_errors("intent_analysis")
async def analyze_intent(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    return await _analyze(state, runtime, standalone=False)


@reports_errors("intent_analysis")
async def analyze_intent_standalone(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    return await _analyze(state, runtime, standalone=True)


async def _analyze(state: AgentState, runtime: Runtime[AgentContext], *, standalone: bool) -> dict[str, Any]:
    ctx = context_of(runtime)
    runtime.stream_writer(events.phase("intent_analysis", "start"))
    question, history = split_turn(state)
    models = (await dependencies()).models
    if models.is_offline(ctx.model):
        result = _heuristic(question, history)
    else:
        schema = IntentWithStandalone if standalone else IntentAnalysis
        model = models.structured(ctx.model, schema)
        result = await model.ainvoke(
            [SystemMessage(prompts.INTENT_STANDALONE_SYSTEM if standalone else prompts.INTENT_SYSTEM)]
            + history[-HISTORY_TURNS:]
            + [HumanMessage(question)]
        )
    if standalone:
        query = result.standalone_question.strip() or question
    elif result.intent == "follow_up":
        query = f"{question} {result.keywords}".strip()
    else:
        query = question
    runtime.stream_writer(
        events.phase("intent_analysis", "complete", intent=result.intent, keywords=result.keywords, query=query)
    )
    return {
        "question": question,
        "intent": result.intent,
        "keywords": result.keywords,
        "query": query,
        "queries": [query],
        "hits": [],
        "kept": [],
        "rounds": 0,
        "sources": [],
        "answer": "",
    }


def _heuristic(question: str, history: list[AnyMessage]) -> IntentWithStandalone:
    """Offline stand-in for the LLM: patterns for chit-chat, context words for follow-ups."""
    if lexical.is_chit_chat(question):
        return IntentWithStandalone(intent="chit_chat", keywords="", standalone_question=question)
    previous = next((message_text(m) for m in reversed(history) if isinstance(m, HumanMessage)), "")
    if lexical.is_follow_up(question, has_history=bool(previous)):
        # Even one naming its own subject ("Et sous Windows ?", "Et si l'une d'elles échoue ?")
        # leans on the previous question for the rest; the reranker weighs the words by rarity.
        words = lexical.content_words(f"{previous} {question}")
        return IntentWithStandalone(
            intent="follow_up", keywords=" ".join(words), standalone_question=f"{previous} — {question}"
        )
    return IntentWithStandalone(
        intent="question", keywords=" ".join(lexical.content_words(question)), standalone_question=question
    )
