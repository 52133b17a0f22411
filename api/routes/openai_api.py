"""``/v1``: the agents behind OpenAI's API (``GET /v1/models``, ``POST /v1/chat/completions``).

Same token, rate limit and answer metrics as the other chat routes; every error, including the
authentication and rate-limit ones raised before the handler, leaves in OpenAI's shape
``{"error": {"message", "type", "code"}}`` with the status the rest of the API gives it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from litestar import Controller, HttpMethod, Request, Response, get, post, route
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody

from api.auth import Principal
from api.disconnect import unless_disconnected
from api.errors import EXCEPTION_HANDLERS
from api.schemas import ChatCompletion, ChatCompletionRequest, OpenAIError, OpenAIModel, OpenAIModelList
from api.services import openai_chat
from api.services.graphs import AgentGraphs
from api.services.turns import build_turn, complete_turn
from api.sse import JsonOrStreamOperation, sse_event, sse_response
from graphs.dependencies import RunDependencies
from nodes.models.factory import ModelRegistry

# OpenAI's error types and codes for the statuses this API answers.
_KINDS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", "project_forbidden"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    409: ("invalid_request_error", "conflict"),
    413: ("invalid_request_error", "request_too_large"),
    415: ("invalid_request_error", "unsupported_media_type"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    502: ("server_error", "upstream_error"),
    503: ("server_error", "service_unavailable"),
}


def openai_error(request: Request[Any, Any, Any], exc: Exception) -> Response[OpenAIError]:
    """The app's own handler decides status, message and headers (``Retry-After``...); only the
    body's shape changes."""
    handler = next(EXCEPTION_HANDLERS[cls] for cls in type(exc).__mro__ if cls in EXCEPTION_HANDLERS)
    answer = handler(request, exc)  # type: ignore[operator]
    status = answer.status_code
    kind, code = _KINDS.get(status, ("server_error", "internal_error"))
    param = None
    if isinstance(exc, openai_chat.ModelNotFoundError):
        code, param = "model_not_found", "model"
    body = {"error": {"message": answer.content["message"], "type": kind, "code": code, "param": param}}
    return Response(body, status_code=status, headers=dict(answer.headers))  # type: ignore[arg-type]


OPENAI_ERROR_RESPONSES = {
    status: ResponseSpec(data_container=OpenAIError, description=f"{kind} ({code})", generate_examples=False)
    for status, (kind, code) in _KINDS.items()
}


async def _sse(chunks: AsyncIterator[dict[str, Any] | str]) -> AsyncIterator[bytes]:
    async with aclosing(chunks) as stream:  # type: ignore[type-var]
        async for item in stream:
            yield sse_event(item)


class OpenAIController(Controller):
    path = "/v1"
    tags = ["openai-compatible"]
    exception_handlers = {cls: openai_error for cls in EXCEPTION_HANDLERS}  # type: ignore[misc]

    @get("/models", responses=OPENAI_ERROR_RESPONSES, summary="The agents as OpenAI models")
    async def list_models(self, models: NamedDependency[ModelRegistry]) -> OpenAIModelList:
        return OpenAIModelList(object="list", data=openai_chat.list_models(models))

    @get("/models/{model_id:str}", responses=OPENAI_ERROR_RESPONSES, summary="One model")
    async def retrieve_model(self, model_id: FromPath[str], models: NamedDependency[ModelRegistry]) -> OpenAIModel:
        openai_chat.parse_model(model_id, models)
        found = next((m for m in openai_chat.list_models(models) if m.id == model_id), None)
        if found is None:
            raise openai_chat.ModelNotFoundError(f"The model '{model_id}' cannot run on this deployment (its provider is not configured)")
        return found

    @route(
        "/{path:path}",
        http_method=[HttpMethod.GET, HttpMethod.POST, HttpMethod.PUT, HttpMethod.PATCH, HttpMethod.DELETE],
        include_in_schema=False,
    )
    async def not_served(self, path: FromPath[str]) -> None:
        """OpenAI endpoints the agents do not serve (embeddings, images...): OpenAI's 404."""
        raise NotFoundException(f"/v1{path} is not served here: the agents answer GET /v1/models and POST /v1/chat/completions")

    @post(
        "/chat/completions",
        responses=OPENAI_ERROR_RESPONSES,
        status_code=200,
        summary="Answer a conversation (JSON, or chat.completion.chunk Server-Sent Events with stream: true)",
        operation_class=JsonOrStreamOperation,
    )
    async def chat_completions(
        self,
        data: JSONBody[ChatCompletionRequest],
        run_dependencies: NamedDependency[RunDependencies],
        graphs: NamedDependency[AgentGraphs],
        request: Request[Principal, Any, Any],
    ) -> Response[ChatCompletion]:
        prepared = openai_chat.prepare(data, run_dependencies)
        turn = build_turn(
            prepared.request,
            principal=request.user,
            dependencies=run_dependencies,
            graphs=graphs.stateless,
            history=[openai_chat.as_message(m) for m in prepared.history],
        )
        if data.stream:
            chunks = openai_chat.completion_chunks(
                run_dependencies,
                turn,
                requested_model=data.model,
                include_usage=bool(data.stream_options and data.stream_options.include_usage),
                max_tokens=prepared.max_tokens,
            )
            return sse_response(_sse(chunks))  # type: ignore[return-value]
        result = await unless_disconnected(request, complete_turn(run_dependencies, turn))
        return Response(openai_chat.completion(turn, result, requested_model=data.model, max_tokens=prepared.max_tokens))
