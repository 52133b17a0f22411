"""Text analysis shared by the offline reranker, the offline evaluation and the extractive model.

One place for what "a question's words", "a passage's sentences" and "how much of the question a
text covers" mean, on the same stems as the sparse retriever, so that the stages below the graph
(the offline model) and the graph's own steps judge text alike. Deterministic: no model, no
randomness.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

from retrievers.chunking import MAX_HEADING_CHARS
from retrievers.sparse import word_stems

WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*", re.UNICODE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÀ-Ý«\"(])")

_FRENCH_MARKERS = frozenset(
    "le la les un une des du de est sont quel quelle quels quelles comment pourquoi quand où qui "
    "que quoi combien je tu il elle nous vous ils elles et ou mais avec pour dans sur par pas "
    "ce cette ces mon ma mes votre vos notre nos bonjour merci".split()
)
_ENGLISH_MARKERS = frozenset(
    "the a an is are was were what which who whom how why when where do does did can could "
    "i you he she we they it and or but with for in on by not this that these my your our "
    "hello thanks thank".split()
)

ANALYSIS_CACHE_SIZE = 32_768
"""Texts whose stems and sentences are kept per process. A turn's candidates are stored passages
that come back turn after turn (and again in the same turn: reranking, the abstention check and
the extractive answer read the same ones), so each is analysed once instead of every time. One
turn touches a few hundred texts (40 passages, their headings and sentences); 4,096 entries held
fewer than the 59 python-docs-fr questions bring back in turn (12,000), so a question asked
again found its passages evicted and re-analysed them all (offline V2: 50 → 29 ms of CPU per
turn, profiled). The whole 5,149-chunk corpus analysed takes 36,000 entries and 40 MB: this
bounds the caches near 35 MB."""

NOT_FOUND_FR = "Je n'ai rien trouvé à ce sujet dans vos documents."
NOT_FOUND_EN = "I found nothing about this in your documents."


def language(text: str) -> Literal["fr", "en"]:
    """Guess French or English from function words; French wins ties (the product's users)."""
    words = [w.lower() for w in WORD.findall(text)]
    fr = sum(w in _FRENCH_MARKERS for w in words) + len(re.findall(r"[éèêàùçôî]", text.lower()))
    en = sum(w in _ENGLISH_MARKERS for w in words)
    return "en" if en > fr else "fr"


def not_found(question: str) -> str:
    """The honest answer when the documents hold nothing for ``question``, in its language."""
    return NOT_FOUND_FR if language(question) == "fr" else NOT_FOUND_EN


def sentences(text: str) -> list[tuple[str, str]]:
    """``(heading, sentence)`` pairs of a passage: wrapped lines rejoined, list items and table
    rows kept whole, Markdown decoration dropped; ``heading`` is the section the sentence is in,
    context that the sentence itself often leaves implicit. A fresh list: callers may change it."""
    return list(_sentences(text))


@lru_cache(maxsize=ANALYSIS_CACHE_SIZE)
def _sentences(text: str) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    heading = ""
    for block in re.split(r"\n\s*\n", text):
        items: list[str] = []
        for line in (line.strip() for line in block.splitlines()):
            if not line or re.match(r"^\|?\s*:?-{3,}", line):
                continue
            if (match := re.match(r"^#+\s+(.*)", line)) and len(match.group(1).strip()) <= MAX_HEADING_CHARS:
                heading = match.group(1).strip()
                continue
            if match:  # a paragraph marked as a heading is text, as chunking reads it
                line = match.group(1).strip()
            if re.match(r"^([-*+>]|\d+[.)])\s", line) or line.startswith("|") or not items:
                items.append(line)
            else:
                items[-1] += " " + line
        for item in items:
            item = re.sub(r"^([-*+>]|\d+[.)])\s*", "", item).replace("**", "").replace("`", "").strip(" |\t")
            item = re.sub(r"\s*\|\s*", " | ", item)
            out.extend((heading, part.strip()) for part in _SENTENCE_END.split(item) if len(WORD.findall(part)) >= 3)
    return tuple(out)


def question_words(question: str) -> list[frozenset[str]]:
    """The question's distinct content words, each as its set of stems."""
    seen: list[frozenset[str]] = []
    for word in word_stems(question):
        if not any(word & other for other in seen):
            seen.append(word)
    return seen


@lru_cache(maxsize=1024)
def names(question: str) -> tuple[tuple[str, frozenset[str]], ...]:
    """The names a question uses — words written with a capital (``Flask``, ``AWS``, ``SQLite``)
    anywhere but at the start of a sentence — each with its stems. Cached: the offline evaluation
    asks it of every candidate passage of a turn."""
    found: list[tuple[str, frozenset[str]]] = []
    for match in WORD.finditer(question):
        word = match.group(0)
        sentence_start = not question[: match.start()].strip() or question[: match.start()].rstrip()[-1] in ".!?:"
        if sentence_start or not any(c.isupper() for c in word):
            continue
        stems = word_stems(word)
        if stems:
            found.append((word, stems[0]))
    return tuple(found)


@lru_cache(maxsize=ANALYSIS_CACHE_SIZE)
def stem_set(text: str) -> frozenset[str]:
    """Every stem of ``text``: a question word is in the text when one of its stems is. Cached
    (immutable, a pure function of the text)."""
    return frozenset().union(*word_stems(text)) if text else frozenset()


def rarity_weights(words: Sequence[frozenset[str]], texts: Sequence[frozenset[str]]) -> list[float]:
    """Each question word's weight among ``texts`` (BM25-like IDF): a word every text holds tells
    little about which one answers."""
    n = len(texts)
    frequency = [sum(1 for text in texts if word & text) for word in words]
    return [math.log(1 + (n + 1) / (df + 0.5)) for df in frequency]


def share(words: Sequence[frozenset[str]], weights: Sequence[float], found: frozenset[str]) -> float:
    """The weighted share of ``words`` that ``found`` holds, in [0, 1]."""
    total = sum(weights)
    return sum(w for word, w in zip(words, weights, strict=True) if word & found) / total if total else 0.0
