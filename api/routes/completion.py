"""``POST /completion`` — seed 000's contract. Stateless: the caller sends the history."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from litestar import Controller, Request, post
from litestar.response import Response

from api.errors import ERROR_RESPONSES
from api.runs import Turn, complete_turn, make_context
from api.schemas import (
    CompletionRequest,
    CompletionResponse,
    Usage,
    check_turn,
    resolve_project,
)
from api.services import AppServices, Principal
from api.sse import completion_stream, sse_response

_ROLES: dict[str, type[BaseMessage]] = {"user": HumanMessage, "assistant": AIMessage, "system": SystemMessage}


class CompletionController(Controller):
    path = "/completion"
    tags = ["completion"]

    @post("/", responses=ERROR_RESPONSES, status_code=200, summary="Answer one message (JSON, or SSE with stream: true)")
    async def complete(
        self, data: CompletionRequest, services: AppServices, request: Request[Principal, Any, Any]
    ) -> Response[CompletionResponse]:
        message, model, agent = check_turn(services, data)
        history = [_ROLES[m.role](m.content) for m in data.conversation_history]
        turn = Turn(
            agent=agent,
            model=model,
            graph=services.stateless_graphs[agent],
            graph_input={"messages": [*history, HumanMessage(message)]},
            context=make_context(services, data, model=model, project_id=resolve_project(request.user, data.project_id)),
        )
        if data.stream:
            return sse_response(completion_stream(services, turn))  # type: ignore[return-value]

        answer, sources, metrics = await complete_turn(services, turn)
        usage = metrics.get("usage") or {}
        return Response(
            CompletionResponse(
                response=answer,
                model=model,
                agent=agent,
                usage=Usage(
                    prompt_tokens=usage.get("input_tokens", 0),
                    completion_tokens=usage.get("output_tokens", 0),
                    total_tokens=usage.get("total_tokens", 0),
                ),
                sources=list(sources),
                metadata={"message_count": len(history) + 2, **metrics},
            )
        )
