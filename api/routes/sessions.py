"""``/api/v1/sessions``: a caller's conversations — list, read back, rename, delete. Sessions
are keyed by the token's subject: another caller's session id is simply not found (404)."""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from litestar import Controller, Request, delete, get, patch
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath, JSONBody

from api.auth import Principal
from api.errors import ERROR_RESPONSES
from api.schemas import (
    ConversationDeleted,
    PageNumber,
    PageSize,
    SessionHistory,
    SessionPage,
    SessionRename,
    SessionSummary,
    check_session_id,
)
from api.services.history import checkpointed_messages, history
from api.services.turn_locks import TurnLocks, holding
from api.services.turns import thread_id
from routeur.conversations import Conversation, ConversationStore


class SessionsController(Controller):
    path = "/api/v1/sessions"
    tags = ["sessions"]

    @get("/", responses=ERROR_RESPONSES, summary="The caller's sessions, most recently updated first")
    async def list_sessions(
        self,
        conversations: NamedDependency[ConversationStore],
        request: Request[Principal, Any, Any],
        page: PageNumber = 1,
        page_size: PageSize = 20,
    ) -> SessionPage:
        found, total = await conversations.list(request.user.sub, page=page, page_size=page_size)
        return SessionPage(sessions=[_summary(c) for c in found], total=total, page=page, page_size=page_size)

    @get("/{session_id:str}", responses=ERROR_RESPONSES, summary="A session's messages, answers with their sources and feedback")
    async def read_session(
        self, session_id: FromPath[str], conversations: NamedDependency[ConversationStore], checkpointer: NamedDependency[BaseCheckpointSaver], request: Request[Principal, Any, Any]
    ) -> SessionHistory:
        conversation = await _owned(conversations, request.user, session_id)
        messages = await checkpointed_messages(checkpointer, thread_id(request.user, session_id))
        turns = await conversations.turns(request.user.sub, session_id)
        return SessionHistory(
            sessionId=conversation.session_id,
            title=conversation.title,
            created_at=conversation.created_at,
            updated_at=conversation.updated_at,
            messages=history(messages, turns),
        )

    @patch("/{session_id:str}", responses=ERROR_RESPONSES, summary="Rename a session")
    async def rename_session(
        self, session_id: FromPath[str], data: JSONBody[SessionRename], conversations: NamedDependency[ConversationStore], request: Request[Principal, Any, Any]
    ) -> SessionSummary:
        await _owned(conversations, request.user, session_id)
        title = " ".join(data.title.split())
        if not title:
            raise ValidationException("title must not be blank")
        await conversations.rename(request.user.sub, session_id, title)
        return _summary(await _owned(conversations, request.user, session_id))

    @delete("/{session_id:str}", responses=ERROR_RESPONSES, status_code=200, summary="Delete a session, its messages and feedback")
    async def delete_session(
        self,
        session_id: FromPath[str],
        conversations: NamedDependency[ConversationStore],
        checkpointer: NamedDependency[BaseCheckpointSaver],
        turn_locks: NamedDependency[TurnLocks],
        request: Request[Principal, Any, Any],
    ) -> ConversationDeleted:
        await _owned(conversations, request.user, session_id)
        thread = thread_id(request.user, session_id)
        async with holding(turn_locks, thread):  # never under a running turn
            await checkpointer.adelete_thread(thread)
            await conversations.delete(request.user.sub, session_id)
        return ConversationDeleted(sessionId=session_id, deleted=True)


async def _owned(conversations: ConversationStore, principal: Principal, session_id: str) -> Conversation:
    check_session_id(session_id)
    conversation = await conversations.get(principal.sub, session_id)
    if conversation is None:
        raise NotFoundException(f"No session '{session_id}'")
    return conversation


def _summary(conversation: Conversation) -> SessionSummary:
    return SessionSummary(
        sessionId=conversation.session_id,
        title=conversation.title,
        created_at=conversation.created_at,
        updated_at=conversation.updated_at,
        messages=2 * conversation.turns,
    )
