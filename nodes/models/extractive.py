"""``local-extractive``: the offline default chat model.

It writes no new text: it picks the sentences of the provided sources most similar to the
question (shared stems, cosine-normalised) and cites each one. It reads the sources from the
generation prompt's ``<source id="n" title="...">`` layout (nodes/prompts.py), so it plugs into
the same node, callbacks and streaming as any LLM, and reports honest token counts.
"""

from __future__ import annotations

import html
import math
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from nodes import lexical, prompts
from retrievers.sparse import terms

MODEL_NAME = "local-extractive"
_SOURCE = re.compile(r'<source id="(\d+)" title="([^"]*)">\n?(.*?)\n?</source>', re.DOTALL)
_PIECE = re.compile(r"\S+\s*|\s+")
MIN_SHARE_OF_BEST = 0.6
HEADING_WEIGHT = 0.5


def _text(message: BaseMessage) -> str:
    return message.content if isinstance(message.content, str) else message.text


def extract_answer(
    question: str, passages: list[tuple[int, str, str]], max_sentences: int = 3, *, documentary: bool = True
) -> str:
    """Best cited sentences for ``question`` from ``(id, title, text)`` passages.

    A sentence scores by the question stems it shares — its own, and half for those of its
    section heading — each weighted by its rarity among the candidate sentences (a stem found
    everywhere tells little), normalised by the sentence's length; sentences that merely ask a
    question back are skipped."""
    french = lexical.language(question) == "fr"
    if not documentary:
        return _small_talk(question, french)
    wanted = terms(question)
    candidates = [
        (rank, source_id, sentence, terms(sentence), terms(heading) - terms(sentence))
        for rank, (source_id, _title, text) in enumerate(passages)
        for heading, sentence in lexical.sentences(text)
        if not sentence.rstrip().endswith("?")
    ]
    frequency = Counter(stem for *_, found, context in candidates for stem in (found | context) & wanted)
    scored: list[tuple[float, int, str]] = []
    for rank, source_id, sentence, found, context in candidates:
        if not found & wanted:
            continue

        def weight(stems: set[str]) -> float:
            return sum(math.log(1 + len(candidates) / frequency[stem]) for stem in stems & wanted)

        score = (weight(found) + HEADING_WEIGHT * weight(context)) / math.sqrt(len(found))
        scored.append((score - 0.01 * rank, source_id, sentence))
    scored.sort(key=lambda item: item[0], reverse=True)
    chosen: list[tuple[int, str]] = []
    seen: set[str] = set()
    for score, source_id, sentence in scored:
        if score < MIN_SHARE_OF_BEST * scored[0][0] or len(chosen) == max_sentences:
            break
        if sentence not in seen:
            seen.add(sentence)
            chosen.append((source_id, sentence))
    if not chosen:
        return prompts.NOT_FOUND_FR if french else prompts.NOT_FOUND_EN
    header = "D'après vos documents :" if french else "According to your documents:"
    return header + "\n\n" + "\n".join(f"- {sentence.rstrip()} [{source_id}]" for source_id, sentence in chosen)


def _small_talk(question: str, french: bool) -> str:
    if french:
        return (
            "Bonjour ! Je suis Routeur IA, en mode hors ligne : je réponds à vos questions en citant "
            "les passages de vos documents. Posez-moi une question sur vos documents."
        )
    return (
        "Hello! I am Routeur IA, running offline: I answer your questions by quoting the relevant "
        "passages of your documents. Ask me a question about your documents."
    )


class ExtractiveChatModel(BaseChatModel):
    """Extractive answerer with LangChain's chat-model interface (streams natively in async)."""

    @property
    def _llm_type(self) -> str:
        return MODEL_NAME

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": MODEL_NAME}

    def _answer(self, messages: list[BaseMessage]) -> tuple[str, UsageMetadata]:
        prompt = "\n".join(_text(m) for m in messages)
        question = next((_text(m) for m in reversed(messages) if isinstance(m, HumanMessage)), "")
        passages = [(int(i), html.unescape(t), html.unescape(body)) for i, t, body in _SOURCE.findall(prompt)]
        answer = extract_answer(question, passages, documentary="<sources>" in prompt)
        input_tokens = len(prompt.split())
        output_tokens = len(answer.split())
        usage = UsageMetadata(input_tokens=input_tokens, output_tokens=output_tokens, total_tokens=input_tokens + output_tokens)
        return answer, usage

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        answer, usage = self._answer(messages)
        message = AIMessage(content=answer, usage_metadata=usage, response_metadata={"model_name": MODEL_NAME})
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _pieces(self, messages: list[BaseMessage]) -> Iterator[ChatGenerationChunk]:
        answer, usage = self._answer(messages)
        pieces = _PIECE.findall(answer)
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content=piece,
                    usage_metadata=usage if last else None,
                    response_metadata={"model_name": MODEL_NAME} if last else {},
                    chunk_position="last" if last else None,
                )
            )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for piece in self._pieces(messages):
            if run_manager:
                run_manager.on_llm_new_token(piece.text, chunk=piece)
            yield piece

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for piece in self._pieces(messages):
            if run_manager:
                await run_manager.on_llm_new_token(piece.text, chunk=piece)
            yield piece
