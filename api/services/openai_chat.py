"""The agents behind OpenAI's chat-completions contract, so that any OpenAI client (the SDK,
LangChain's ``ChatOpenAI``, Open WebUI...) can use them as models.

Model ids name an agent and, optionally, the catalog model it answers with:
``routeur-v2`` (the V2 agent, the deployment's default model), ``routeur-v1``, and
``routeur-v2:<catalog model>`` / ``routeur-v1:<catalog model>``. The request's messages become
the turn: the last one (a ``user`` message) is the question, the ones before it the
conversation history, held to the same limits as ``/completion``'s.

The one event protocol is mapped onto OpenAI's wire: answer fragments are ``delta.content``
(citations ``[n]`` kept), and what OpenAI has no field for (phases, sources, the answer's id and
metrics) travels under the extension key ``routeur``, which OpenAI clients ignore."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from litestar.exceptions import NotFoundException, ValidationException

from api.schemas import (
    ChatCompletion,
    ChatCompletionChoice,
    ChatCompletionMessage,
    ChatCompletionRequest,
    HistoryMessage,
    OpenAIMessage,
    OpenAIModel,
    RouteurExtension,
    Usage,
)
from api.services.turns import Turn, check_history, run_turn
from graphs import events
from graphs.dependencies import RunDependencies
from graphs.events import RunResult
from graphs.registry import AGENTS
from nodes.models.factory import ModelRegistry, ModelUnavailableError

PREFIX = "routeur-"
OWNER = "routeur"
_STARTED = int(time.time())
_MESSAGE_TYPES: dict[str, type[BaseMessage]] = {"user": HumanMessage, "assistant": AIMessage, "system": SystemMessage}
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


class ModelNotFoundError(NotFoundException):
    """A model id that names no agent or no catalog model (OpenAI answers 404 for those)."""


@dataclass(frozen=True)
class ModelChoice:
    agent: str
    model: str | None


def model_id(agent: str, model: str | None = None) -> str:
    return f"{PREFIX}{agent.lower()}" + (f":{model}" if model else "")


def parse_model(name: str, models: ModelRegistry) -> ModelChoice:
    """The agent and catalog model a model id names, else ``ModelNotFoundError``."""
    agent_part, _, model = name.partition(":")
    agent = agent_part.removeprefix(PREFIX).upper() if agent_part.startswith(PREFIX) else ""
    if agent not in AGENTS or (model and model not in models) or (not model and ":" in name):
        raise ModelNotFoundError(f"The model '{name}' does not exist: GET /v1/models lists them ('{model_id('V2')}', '{model_id('V2')}:<model>')")
    return ModelChoice(agent=agent, model=model or None)


def list_models(models: ModelRegistry) -> list[OpenAIModel]:
    """Every agent, then every agent with each model this deployment can run (a model that needs
    a provider key nobody configured is left out)."""
    runnable = []
    for spec in models:
        try:
            models.ensure_available(spec.name)
        except ModelUnavailableError:
            continue
        runnable.append(spec)
    out = [
        OpenAIModel(id=model_id(name), object="model", created=_STARTED, owned_by=OWNER, description=f"{spec.name} agent: {spec.description}")
        for name, spec in AGENTS.items()
    ]
    for name in AGENTS:
        out += [
            OpenAIModel(id=model_id(name, s.name), object="model", created=_STARTED, owned_by=OWNER, description=f"{name} agent with {s.name}: {s.description}")
            for s in runnable
        ]
    return out


@dataclass(frozen=True)
class OpenAITurnRequest:
    """A chat-completions request as ``build_turn`` reads every chat-like body."""

    message: str | None
    model: str | None
    agent: str | None
    temperature: float | None
    project_id: str | None
    sources: list[str] | None
    top_k: int | None


@dataclass(frozen=True)
class PreparedTurn:
    request: OpenAITurnRequest
    history: list[HistoryMessage]
    max_tokens: int | None


def prepare(body: ChatCompletionRequest, dependencies: RunDependencies) -> PreparedTurn:
    """Check the body and split it into the question, the history and the agent options."""
    choice = parse_model(body.model, dependencies.models)
    if body.tools:
        raise ValidationException("tools: the agents answer from the project's documents and call no client tools")
    messages = [HistoryMessage(role=_role(m, i), content=_text(m, i)) for i, m in enumerate(body.messages)]  # type: ignore[arg-type]
    question = messages[-1]
    if question.role != "user":
        raise ValidationException(f"messages[{len(messages) - 1}]: the last message must be the user's question, not '{question.role}'")
    history = messages[:-1]
    try:
        check_history(history, dependencies.settings)
    except ValidationException as exc:
        raise ValidationException(exc.detail.replace("conversation_history", "messages")) from None
    project_id, sources = _extensions(body)
    return PreparedTurn(
        request=OpenAITurnRequest(
            message=question.content,
            model=choice.model,
            agent=choice.agent,
            temperature=body.temperature,
            project_id=project_id,
            sources=sources,
            top_k=body.top_k,
        ),
        history=history,
        max_tokens=body.max_completion_tokens or body.max_tokens,
    )


def _role(message: OpenAIMessage, index: int) -> str:
    if message.role not in _ROLES:
        raise ValidationException(f"messages[{index}]: role '{message.role}' is not accepted: the agents call no client tools")
    return _ROLES[message.role]


def _text(message: OpenAIMessage, index: int) -> str:
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    parts = []
    for part in message.content:
        if part.type != "text" or part.text is None:
            raise ValidationException(f"messages[{index}]: only text content is accepted, not '{part.type}'")
        parts.append(part.text)
    return "\n".join(parts)


def _extensions(body: ChatCompletionRequest) -> tuple[str | None, list[str] | None]:
    """``project_id`` and ``sources`` from the top level or from ``metadata`` (never two different values)."""
    metadata = body.metadata or {}
    meta_project = metadata.get("project_id") or None
    meta_sources = [s.strip() for s in metadata["sources"].split(",") if s.strip()] if metadata.get("sources") else None
    if body.project_id and meta_project and body.project_id != meta_project:
        raise ValidationException("project_id and metadata.project_id differ")
    if body.sources is not None and meta_sources is not None and body.sources != meta_sources:
        raise ValidationException("sources and metadata.sources differ")
    return body.project_id or meta_project, body.sources if body.sources is not None else meta_sources


def as_message(message: HistoryMessage) -> BaseMessage:
    return _MESSAGE_TYPES[message.role](message.content)


def usage(metrics: dict[str, Any] | None) -> Usage:
    """Every model call of the turn (intent, grading, answer), as OpenAI counts a request's tokens."""
    figures = (metrics or {}).get("usage") or {}
    return Usage(
        prompt_tokens=figures.get("input_tokens", 0),
        completion_tokens=figures.get("output_tokens", 0),
        total_tokens=figures.get("total_tokens", 0),
    )


def _extension(turn: Turn, sources: list[Any], phases: list[dict[str, Any]], metrics: dict[str, Any] | None) -> RouteurExtension:
    return RouteurExtension(
        agent=turn.agent.type,
        model=turn.model,
        messageId=turn.message_id,
        sources=[dict(s) for s in sources],
        phases=phases,
        metadata=dict(metrics or {}),
    )


def completion(turn: Turn, result: RunResult, *, requested_model: str, max_tokens: int | None) -> ChatCompletion:
    """A finished turn as OpenAI's ``chat.completion``."""
    answer, words = _cut(result.answer, max_tokens)
    truncated = max_tokens is not None and words > max_tokens
    phases = [dict(e["data"]) for e in result.events if e["event"] == "phase"]
    return ChatCompletion(
        id=completion_id(turn),
        object="chat.completion",
        created=int(time.time()),
        model=requested_model,
        choices=[
            ChatCompletionChoice(
                index=0,
                message=ChatCompletionMessage(role="assistant", content=answer),
                finish_reason="length" if truncated else "stop",
            )
        ],
        usage=usage(result.metadata),
        routeur=_extension(turn, result.sources, phases, result.metadata),
    )


_WORD = re.compile(r"\S+")


def _cut(text: str, room: int | None) -> tuple[str, int]:
    """``text`` up to the end of its ``room``-th word (all of it when ``room`` is None or it has
    fewer), and its number of words. ``max_tokens`` counts words: a chunk carries whatever the
    model produced while the previous event was sent, one token or a whole answer."""
    words = list(_WORD.finditer(text))
    if room is not None and room <= 0:
        return "", len(words)
    if room is None or len(words) <= room:
        return text, len(words)
    return text[: words[room - 1].end()], len(words)


def completion_id(turn: Turn) -> str:
    return f"chatcmpl-{turn.message_id}"


DONE = "[DONE]"


async def completion_chunks(
    dependencies: RunDependencies, turn: Turn, *, requested_model: str, include_usage: bool, max_tokens: int | None
) -> AsyncIterator[dict[str, Any] | str]:
    """The turn as OpenAI's ``chat.completion.chunk`` objects, then ``[DONE]``.

    The first chunk (the assistant role) goes out before the run starts; every ``phase`` and
    ``sources`` event is an empty delta carrying ``routeur: {"event", "data"}``; the last chunk
    has the finish reason and ``routeur`` with the ``done`` event (answer id, sources,
    metrics). With ``include_usage``, every chunk has ``usage: null`` and one more chunk with no
    choices carries the usage, as OpenAI sends it. A failure after the start is an ``error``
    object, which the OpenAI SDK raises as ``APIError``."""
    base = {"id": completion_id(turn), "object": "chat.completion.chunk", "created": int(time.time()), "model": requested_model, "system_fingerprint": None}
    null_usage = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], **null_usage, **extra}

    yield chunk({"role": "assistant", "content": ""})
    sent = 0
    phases: list[dict[str, Any]] = []
    try:
        async with aclosing(run_turn(dependencies, turn)) as stream:
            async for event, metrics in stream:
                name, data = event["event"], event["data"]
                if name == "chunk":
                    kept, words = _cut(data["content"], None if max_tokens is None else max(max_tokens - sent, 0))
                    sent += words
                    if kept:
                        yield chunk({"content": kept})
                elif name in ("phase", "sources"):
                    if name == "phase":
                        phases.append(dict(data))
                    yield chunk({}, routeur={"event": name, "data": data})
                elif name == "done":
                    finish = "length" if max_tokens is not None and sent > max_tokens else "stop"
                    extension = _extension(turn, data["sources"], phases, metrics)
                    yield chunk({}, finish, routeur={"event": "done", "data": extension})
                    if include_usage:
                        yield {**base, "choices": [], "usage": usage(metrics)}
                elif name == "error":
                    yield error_chunk(data["phase"], data["message"])
    except Exception as exc:  # the stream has started: report it in the stream, then end it
        failure = events.failure("stream", exc)["data"]
        yield error_chunk(failure["phase"], failure["message"])
    yield DONE


def error_chunk(phase: str, message: str) -> dict[str, Any]:
    return {"error": {"message": f"{phase}: {message}", "type": "server_error", "code": "agent_error", "param": None}}
