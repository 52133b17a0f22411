"""Fake chat models for tests and benchmarks: scripted replies, native async streaming.

``ScriptedChatModel`` answers each call with the next scripted reply, which may be text (streamed
word by word, with usage on the last chunk) or a structured-output object (returned as a tool
call, so ``with_structured_output`` works as with a real provider). It records what it was asked
and how far each stream got, so tests can check prompts and cancellation.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import BaseModel, ConfigDict

from nodes.models.catalog import ModelSpec
from nodes.models.factory import ModelRegistry

Reply = str | BaseModel | Exception | Callable[[list[BaseMessage]], "str | BaseModel"]


class Fail:
    """A reply that streams ``after_words`` words, then raises ``error``."""

    def __init__(self, error: Exception, after_words: int = 0):
        self.error = error
        self.after_words = after_words


@dataclass
class Recorder:
    prompts: list[list[BaseMessage]] = field(default_factory=list)
    chunks_sent: int = 0
    streams_started: int = 0
    streams_finished: int = 0
    streams_cancelled: int = 0


class ScriptedChatModel(BaseChatModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    name_in_catalog: str = "fake"
    script: Any = None  # iterator of replies
    recorder: Recorder
    delay_s: float = 0.0
    prompt_tokens: int = 10

    @property
    def _llm_type(self) -> str:
        return "scripted-fake"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        return self

    def _next(self, messages: list[BaseMessage]) -> Any:
        self.recorder.prompts.append(list(messages))
        reply = next(self.script)
        if callable(reply) and not isinstance(reply, type):
            reply = reply(messages)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def _usage(self, words: int) -> UsageMetadata:
        return UsageMetadata(input_tokens=self.prompt_tokens, output_tokens=words, total_tokens=self.prompt_tokens + words)

    def _message(self, reply: Any) -> AIMessage:
        meta = {"model_name": self.name_in_catalog}
        if isinstance(reply, BaseModel):
            call = {"name": type(reply).__name__, "args": reply.model_dump(), "id": "call-1", "type": "tool_call"}
            return AIMessage(content="", tool_calls=[call], usage_metadata=self._usage(1), response_metadata=meta)
        text = str(reply)
        return AIMessage(content=text, usage_metadata=self._usage(len(text.split())), response_metadata=meta)

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        reply = self._next(messages)
        if isinstance(reply, Fail):
            raise reply.error
        return ChatResult(generations=[ChatGeneration(message=self._message(reply))])

    async def _agenerate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        return self._generate(messages, stop, run_manager, **kwargs)

    def _stream(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        raise NotImplementedError("ScriptedChatModel streams in async only")

    async def _astream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        reply = self._next(messages)
        failure = reply if isinstance(reply, Fail) else None
        if isinstance(reply, BaseModel):
            yield ChatGenerationChunk(message=AIMessageChunk(**self._message(reply).model_dump(exclude={"type"})))
            return
        text = " ".join(["mot"] * failure.after_words) if failure else str(reply)
        pieces = re.findall(r"\S+\s*", text)
        self.recorder.streams_started += 1
        try:
            for index, piece in enumerate(pieces):
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                last = index == len(pieces) - 1 and failure is None
                chunk = AIMessageChunk(
                    content=piece,
                    usage_metadata=self._usage(len(pieces)) if last else None,
                    response_metadata={"model_name": self.name_in_catalog} if last else {},
                )
                self.recorder.chunks_sent += 1
                if run_manager:
                    await run_manager.on_llm_new_token(piece)
                yield ChatGenerationChunk(message=chunk)
            if failure:
                raise failure.error
            self.recorder.streams_finished += 1
        except asyncio.CancelledError:
            self.recorder.streams_cancelled += 1
            raise


def install_fake_model(
    models: ModelRegistry,
    name: str,
    replies: list[Reply] | Callable[[], Iterator[Reply]],
    *,
    delay_s: float = 0.0,
    provider: str = "openai-compatible",
) -> Recorder:
    """Add ``name`` to ``models``, served by a scripted fake; returns its recorder.

    Each call to the factory (one per node) shares one script and one recorder, as one model
    would across an answer."""
    recorder = Recorder()
    script = iter(replies) if isinstance(replies, list) else replies()
    spec = ModelSpec(name=name, provider=provider, description="Scripted fake for tests", context_window=8192)  # type: ignore[arg-type]

    def factory(_spec: ModelSpec, _temperature: float) -> BaseChatModel:
        return ScriptedChatModel(name_in_catalog=name, script=script, recorder=recorder, delay_s=delay_s)

    models.add(spec, factory)
    return recorder


def remove_fake_model(models: ModelRegistry, name: str) -> None:
    models.remove(name)


def cycle(*replies: Reply) -> Callable[[], Iterator[Reply]]:
    return lambda: itertools.cycle(replies)


class CountingEmbeddings(DeterministicFakeEmbedding):
    """Hash embeddings (384-d) that count the texts they embed, to prove work was skipped."""

    documents_embedded: int = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.documents_embedded += len(texts)
        return super().embed_documents(texts)
