"""``local-extractive``: the offline default chat model.

It writes no new text: it picks the sentences of the provided sources most similar to the
question (shared stems, cosine-normalised; with word vectors, also words close in meaning) and
cites each one. It reads the sources from the generation prompt's
``<source id="n" title="..." section="...">`` layout (nodes/prompts.py), so it plugs into
the same node, callbacks and streaming as any LLM, and reports honest token counts.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from retrievers.text import NOT_FOUND_EN, NOT_FOUND_FR, language, question_words, sentences, stem_set
from retrievers.word_vectors import WordVectors

MODEL_NAME = "local-extractive"
_SOURCE = re.compile(r'<source id="(\d+)" title="([^"]*)"(?: section="([^"]*)")?(?: page="\d+")?>\n?(.*?)\n?</source>', re.DOTALL)
_PIECE = re.compile(r"\S+\s*|\s+")
MIN_SHARE_OF_BEST = 0.6
HEADING_WEIGHT = 0.5


def _text(message: BaseMessage) -> str:
    return message.content if isinstance(message.content, str) else message.text


def extract_answer(
    question: str,
    passages: list[tuple[int, str, str]] | list[tuple[int, str, str, str]],
    max_sentences: int = 3,
    *,
    documentary: bool = True,
    vectors: WordVectors | None = None,
) -> str:
    """Best cited sentences for ``question`` from ``(id, title, text)`` or ``(id, title, section,
    text)`` passages (best passage first).

    A sentence scores by the share of the question's words it holds — each word weighted by its
    rarity among the candidate sentences, a word of its heading (the passage's section path, or a
    heading inside the passage) counting ``HEADING_WEIGHT`` — slightly less for long sentences and
    for later passages. Sentences that merely ask a question back are skipped; a sentence that
    leans on the previous one ("Cela…", "Elle…", or a few words only) brings it along, one that
    announces a list (":") brings the next.

    With ``vectors``, the sentences ranked so are ranked again by how closely their words (and
    their heading's) mean the question's (``WordVectors.coverage``), and the two rankings are
    fused (``SEMANTIC_WEIGHT``, ``RANK_FUSION_K``): a sentence that says the question's words
    in other words moves up among those that share some of them."""
    french = language(question) == "fr"
    if not documentary:
        return _small_talk(question, french)
    wanted = question_words(question)
    candidates: list[_Candidate] = []
    for rank, passage in enumerate(passages):
        source_id, title, section, text = passage if len(passage) == 4 else (passage[0], passage[1], "", passage[2])
        items = sentences(text)
        position = 0
        stems = [stem_set(sentence) for _, sentence in items]
        for index, (heading, sentence) in enumerate(items):
            position = position + 1 if index and items[index - 1][0] == heading else 0
            context = stem_set(" ".join((title, section, heading)))
            near = frozenset().union(*(stems[j] for j in (index - 1, index + 1) if 0 <= j < len(items) and items[j][0] == heading))
            candidates.append(_Candidate(rank, source_id, index, sentence, stems[index], context, items, position, near))
    frequency = [sum(1 for c in candidates if word & (c.found | c.context)) for word in wanted]
    weights = [math.log(1 + len(candidates) / df) if df else 0.0 for df in frequency]
    total = sum(weights)
    scored: list[tuple[float, _Candidate]] = []
    for candidate in candidates:
        if candidate.sentence.rstrip().endswith("?") or total == 0:
            continue
        own = sum(w for word, w in zip(wanted, weights, strict=True) if word & candidate.found)
        context = sum(w for word, w in zip(wanted, weights, strict=True) if word & candidate.context and not word & candidate.found)
        if own == 0 and context < MIN_HEADING_SHARE * total:
            continue
        near = sum(w for word, w in zip(wanted, weights, strict=True) if word & candidate.near and not word & (candidate.found | candidate.context))
        length = len(candidate.sentence.split())
        score = (own + HEADING_WEIGHT * context + NEIGHBOUR_WEIGHT * near) / total / (1 + max(0, length - LONG_SENTENCE_WORDS) / LONG_SENTENCE_WORDS)
        score /= (1 + PASSAGE_RANK_PENALTY * candidate.rank) * (1 + SECTION_POSITION_PENALTY * candidate.position)
        scored.append((score, candidate))
    if vectors is not None and len(scored) > 1:
        scored = _fuse(question, scored, vectors)
    scored.sort(key=lambda item: item[0], reverse=True)
    chosen: list[tuple[int, str]] = []
    seen: set[tuple[int, int]] = set()
    for score, candidate in scored:
        if score < MIN_SHARE_OF_BEST * scored[0][0] or len(chosen) >= max_sentences:
            break
        for index in _with_neighbours(candidate, best=not chosen):
            key = (candidate.source_id, index)
            if key not in seen:
                seen.add(key)
                chosen.append((candidate.source_id, candidate.items[index][1]))
    if not chosen:
        return NOT_FOUND_FR if french else NOT_FOUND_EN
    header = "D'après vos documents :" if french else "According to your documents:"
    return header + "\n\n" + "\n".join(f"- {sentence.rstrip()} [{source_id}]" for source_id, sentence in chosen)


_ELLIPTIC_START = re.compile(
    r"^(cela|ceci|ça|ce|cette|ces|cet|il|elle|ils|elles|celui-ci|celle-ci|dans ce cas|de même|en revanche|"
    r"par conséquent|donc|ainsi|sinon|this|that|these|it|they|otherwise|in that case)\b",
    re.IGNORECASE,
)
ELLIPTIC_WORDS = 6
LONG_SENTENCE_WORDS = 30
PASSAGE_RANK_PENALTY = 0.1
SECTION_POSITION_PENALTY = 0.05
BEST_SENTENCE_SUCCESSORS = 1
"""The sentence that matches the question best often restates it ("insertions at the head of a
list are slow"), and the next one of its section answers it ("use collections.deque"): it comes
along."""
"""Documentation answers the question its heading asks first: a section's first sentences weigh a
little more (lead bias)."""
NEIGHBOUR_WEIGHT = 0.5
"""A question word missing from the sentence but held by its neighbours in the same section counts
this much: the sentence that answers often follows (or precedes) the one that names the
question's terms, and should not lose to a sentence elsewhere that merely restates them."""
MIN_HEADING_SHARE = 0.5
"""A sentence sharing no word with the question is still a candidate when its section heading holds
this share of the question: the heading asked it, the sentence answers it in other words."""


SEMANTIC_WEIGHT = 0.4
"""Share of the word-vector ranking in the fused rank of a sentence (the lexical one has the
rest). Chosen on the python-docs-fr and demo sets with ``RANK_FUSION_K``: 0.35–0.4 with k 10–15
answered the same questions (three more on python-docs-fr, the same on demo); 0.45 lost one on
each set (and gained another on python-docs-fr)."""
RANK_FUSION_K = 10
"""Reciprocal-rank constant: fusing ranks rather than scores, the two signals need no common
scale (coverage scores crowd between 0.3 and 0.7, lexical ones spread over [0, 1])."""


def _fuse(question: str, scored: list[tuple[float, _Candidate]], vectors: WordVectors) -> list[tuple[float, _Candidate]]:
    """Weighted reciprocal-rank fusion of the lexical scores with the word-vector coverage of
    each sentence with its heading (ties keep the passages' order: deterministic)."""
    texts = [f"{c.items[c.index][0]} : {c.sentence}" if c.items[c.index][0] else c.sentence for _, c in scored]
    coverage = vectors.coverage(question, texts)
    lexical_rank = {i: r for r, i in enumerate(sorted(range(len(scored)), key=lambda i: scored[i][0], reverse=True))}
    semantic_rank = {i: r for r, i in enumerate(sorted(range(len(scored)), key=lambda i: coverage[i], reverse=True))}
    return [
        ((1 - SEMANTIC_WEIGHT) / (RANK_FUSION_K + lexical_rank[i]) + SEMANTIC_WEIGHT / (RANK_FUSION_K + semantic_rank[i]), candidate)
        for i, (_, candidate) in enumerate(scored)
    ]


@dataclass(frozen=True)
class _Candidate:
    rank: int
    source_id: int
    index: int
    sentence: str
    found: frozenset[str]
    context: frozenset[str]
    items: list[tuple[str, str]]
    position: int
    """The sentence's place in its section (0: the first after the heading)."""
    near: frozenset[str]
    """The stems of its neighbours in the same section."""


def _with_neighbours(candidate: _Candidate, *, best: bool = False) -> list[int]:
    """The sentence's index, with its predecessor when it is elliptic and its successor when it
    announces what follows; the best sentence also brings the next one of its section
    (``BEST_SENTENCE_SUCCESSORS``)."""
    indices = [candidate.index]
    text = candidate.sentence.strip()
    if candidate.index > 0 and (_ELLIPTIC_START.match(text) or len(text.split()) < ELLIPTIC_WORDS):
        indices.insert(0, candidate.index - 1)
    following = candidate.index + 1
    same_section = following < len(candidate.items) and candidate.items[following][0] == candidate.items[candidate.index][0]
    if following < len(candidate.items) and (text.endswith(":") or (best and BEST_SENTENCE_SUCCESSORS and same_section)):
        indices.append(following)
    return indices


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

    word_vectors: WordVectors | None = None
    """Loaded once by whoever builds the model (``ModelRegistry``); ``None``: lexical choice only."""

    @property
    def _llm_type(self) -> str:
        return MODEL_NAME

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": MODEL_NAME}

    def _answer(self, messages: list[BaseMessage]) -> tuple[str, UsageMetadata]:
        prompt = "\n".join(_text(m) for m in messages)
        question = next((_text(m) for m in reversed(messages) if isinstance(m, HumanMessage)), "")
        passages = [(int(i), html.unescape(t), html.unescape(sec), html.unescape(body)) for i, t, sec, body in _SOURCE.findall(prompt)]
        answer = extract_answer(question, passages, documentary="<sources>" in prompt, vectors=self.word_vectors)
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
