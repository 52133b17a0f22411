"""``POST /completion`` — one message in, one answer out. Stateless: the caller sends the history."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.response import Response

from api.auth import Principal
from api.errors import ERROR_RESPONSES
from api.schemas import CompletionRequest, CompletionResponse, Usage
from api.services.graphs import AgentGraphs
from api.services.turns import build_turn, check_history, complete_turn
from api.sse import JsonOrStreamOperation, completion_stream, sse_response
from graphs.dependencies import RunDependencies

_ROLES: dict[str, type[BaseMessage]] = {"user": HumanMessage, "assistant": AIMessage, "system": SystemMessage}


class CompletionController(Controller):
    path = "/completion"
    tags = ["completion"]

    @post(
        "/",
        responses=ERROR_RESPONSES,
        status_code=200,
        summary="Answer one message (JSON, or SSE with stream: true)",
        operation_class=JsonOrStreamOperation,
    )
    async def complete(
        self,
        data: JSONBody[CompletionRequest],
        run_dependencies: NamedDependency[RunDependencies],
        graphs: NamedDependency[AgentGraphs],
        request: Request[Principal, Any, Any],
    ) -> Response[CompletionResponse]:
        check_history(data.conversation_history, run_dependencies.settings)
        history = [_ROLES[m.role](m.content) for m in data.conversation_history]
        turn = build_turn(data, principal=request.user, dependencies=run_dependencies, graphs=graphs.stateless, history=history)
        if data.stream:
            return sse_response(completion_stream(run_dependencies, turn))  # type: ignore[return-value]

        result = await complete_turn(run_dependencies, turn)
        usage = result.metadata.get("usage") or {}
        return Response(
            CompletionResponse(
                response=result.answer,
                model=turn.model,
                agent=turn.agent.type,
                usage=Usage(
                    prompt_tokens=usage.get("input_tokens", 0),
                    completion_tokens=usage.get("output_tokens", 0),
                    total_tokens=usage.get("total_tokens", 0),
                ),
                sources=list(result.sources),
                metadata={"message_count": len(history) + 2, **result.metadata},
            )
        )
