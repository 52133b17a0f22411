"""A session's history: its messages from the checkpointer, each answer joined to its metadata
(stable id, sources, agent, model, feedback) from the conversation store.

A user message is checkpointed with the id ``<answer id>.question``, so the answer that follows
it is found by id, never by position: a turn that failed before answering shifts nothing."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.checkpoint.base import BaseCheckpointSaver

from api.schemas import FeedbackOut, HistoryEntry
from routeur.conversations import Feedback, TurnRecord

SUFFIX = ".question"


async def checkpointed_messages(checkpointer: BaseCheckpointSaver, thread: str) -> list[BaseMessage]:
    saved = await checkpointer.aget_tuple({"configurable": {"thread_id": thread, "checkpoint_ns": ""}})
    if saved is None:
        return []
    return list(saved.checkpoint.get("channel_values", {}).get("messages", []))


def feedback_out(feedback: Feedback | None) -> FeedbackOut | None:
    if feedback is None:
        return None
    return FeedbackOut(messageId=feedback.message_id, rating=feedback.rating, comment=feedback.comment, updated_at=feedback.updated_at)


def history(messages: list[BaseMessage], turns: list[TurnRecord]) -> list[HistoryEntry]:
    by_id = {t.message_id: t for t in turns}
    out: list[HistoryEntry] = []
    current: TurnRecord | None = None
    for message in messages:
        if isinstance(message, HumanMessage):
            mid = message.id or ""
            current = by_id.get(mid[: -len(SUFFIX)]) if mid.endswith(SUFFIX) else None
            out.append(HistoryEntry(id=mid, role="user", content=_text(message), created_at=current.asked_at if current else None))
        elif isinstance(message, AIMessage):
            if current is None:
                out.append(HistoryEntry(id=message.id or "", role="assistant", content=_text(message)))
                continue
            out.append(
                HistoryEntry(
                    id=current.message_id,
                    role="assistant",
                    content=_text(message),
                    created_at=current.answered_at,
                    sources=current.sources,
                    agent=current.agent,
                    model=current.model,
                    feedback=feedback_out(current.feedback),
                )
            )
            current = None
    return out


def _text(message: BaseMessage) -> str:
    content: Any = message.content
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
