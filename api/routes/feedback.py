"""``POST /api/v1/messages/{messageId}/feedback``: a like, a dislike (or neither) and a comment on
one answer of the caller's sessions. A later call replaces the earlier one; the history shows it;
with LangSmith configured (``LANGSMITH_API_KEY``) it also becomes feedback on the answer's run,
whose id is the message id, in the tracing project that run went to."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any

from litestar import Controller, Request, Response, post
from litestar.background_tasks import BackgroundTask
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody

from api.auth import Principal
from api.errors import ERROR_RESPONSES
from api.schemas import FeedbackOut, FeedbackRequest
from api.services.history import feedback_out
from routeur.conversations import ConversationStore, Feedback
from routeur.evaluation.experiments import langsmith_client

if TYPE_CHECKING:
    from langsmith import Client

logger = logging.getLogger("routeur.api")
LANGSMITH_KEY = "user_rating"


class FeedbackController(Controller):
    path = "/api/v1/messages"
    tags = ["sessions"]

    @post("/{message_id:str}/feedback", responses=ERROR_RESPONSES, status_code=200, summary="Rate an answer")
    async def rate(
        self, message_id: FromPath[str], data: JSONBody[FeedbackRequest], conversations: NamedDependency[ConversationStore], request: Request[Principal, Any, Any]
    ) -> Response[FeedbackOut]:
        if await conversations.turn(request.user.sub, message_id) is None:
            raise NotFoundException(f"No message '{message_id}'")
        comment = data.comment.strip() if data.comment and data.comment.strip() else None
        feedback = await conversations.set_feedback(message_id, data.rating, comment)
        out = feedback_out(feedback)
        assert out is not None
        return Response(out, background=BackgroundTask(send_to_langsmith, feedback))


async def send_to_langsmith(feedback: Feedback) -> None:
    """Best effort: LangSmith being down never loses the stored feedback."""
    if feedback.rating is None:
        return

    def send() -> None:
        client = langsmith_client()
        if client is None:
            return
        client.create_feedback(
            uuid.UUID(feedback.message_id),
            session_id=tracing_project_id(client),
            key=LANGSMITH_KEY,
            score=1.0 if feedback.rating == "like" else 0.0,
            value=feedback.rating,
            comment=feedback.comment,
            feedback_id=uuid.uuid4(),
        )

    try:
        await asyncio.to_thread(send)
    except Exception:
        logger.warning("Feedback on %s was stored but not sent to LangSmith", feedback.message_id, exc_info=True)


def tracing_project_id(client: Client) -> uuid.UUID:
    """The id of the project the server's runs are traced to: LangSmith locates a run by its
    project, and feedback without it is deprecated (refused by some deployments). The name is
    resolved the way the tracer resolves it (``LANGSMITH_PROJECT``, else ``default``); a project
    not created yet (its first run still queued) is created under that name, which the run then joins."""
    from langsmith.utils import LangSmithNotFoundError, get_tracer_project

    name = get_tracer_project() or "default"
    try:
        return client.read_project(project_name=name).id
    except LangSmithNotFoundError:
        return client.create_project(name, upsert=True).id
