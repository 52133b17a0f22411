"""A chat model for load tests and benchmarks: a fixed number of tokens at a fixed pace, no
network, native async streaming — so that what is measured is the service, not a provider.

Declare it in the extra-models file to use it from a server process (ours or ``langgraph dev``):
``{"name": "paced", "provider": "python", "factory": "nodes.models.testing:paced_model",
"options": {"tokens": 50, "delay_s": 0.01}}``. Structured-output calls (intent, grading) get a
valid answer at once: documentary intent, every passage relevant.
"""

from __future__ import annotations

import asyncio
import typing
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from nodes.models.catalog import ModelSpec


class PacedChatModel(BaseChatModel):
    model_name: str = "paced"
    tokens: int = 50
    delay_s: float = 0.0
    tool: Any = None  # the structured-output schema bound by with_structured_output

    @property
    def _llm_type(self) -> str:
        return "paced-fake"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> PacedChatModel:
        return self.model_copy(update={"tool": tools[0]})

    def _usage(self, output: int) -> UsageMetadata:
        return UsageMetadata(input_tokens=100, output_tokens=output, total_tokens=100 + output)

    def _structured(self, messages: list[BaseMessage]) -> AIMessage:
        question = next((m.text for m in reversed(messages) if isinstance(m, HumanMessage)), "")
        args = {name: _value(name, info.annotation, question) for name, info in self.tool.model_fields.items()}
        call = {"name": self.tool.__name__, "args": args, "id": "call-paced", "type": "tool_call"}
        return AIMessage(content="", tool_calls=[call], usage_metadata=self._usage(5), response_metadata={"model_name": self.model_name})

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        if self.tool is not None:
            return ChatResult(generations=[ChatGeneration(message=self._structured(messages))])
        text = "".join(f"tok{i} " for i in range(self.tokens))
        message = AIMessage(content=text, usage_metadata=self._usage(self.tokens), response_metadata={"model_name": self.model_name})
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        return self._generate(messages, stop, run_manager, **kwargs)

    def _stream(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        raise NotImplementedError("PacedChatModel streams in async only")

    async def _astream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        for i in range(self.tokens):
            await asyncio.sleep(self.delay_s)  # also yields to the loop at zero delay
            last = i == self.tokens - 1
            chunk = AIMessageChunk(
                content=f"tok{i} ",
                usage_metadata=self._usage(self.tokens) if last else None,
                response_metadata={"model_name": self.model_name} if last else {},
            )
            if run_manager:
                await run_manager.on_llm_new_token(chunk.text)
            yield ChatGenerationChunk(message=chunk)


def _value(name: str, annotation: Any, question: str) -> Any:
    if name == "relevant":
        return [1, 2, 3]
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)[0]
    return question


def paced_model(spec: ModelSpec, temperature: float) -> BaseChatModel:
    return PacedChatModel(model_name=spec.name, **spec.options)


__all__ = ["PacedChatModel", "paced_model"]
