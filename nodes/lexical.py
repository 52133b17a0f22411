"""Deterministic text heuristics for the offline path: intent, keywords, relevance, sentences.

They stand in for an LLM when the model is the offline default, so they must be predictable:
no randomness, no model, the same stems as the sparse retriever.
"""

from __future__ import annotations

import re
from typing import Literal

from retrievers.sparse import is_stopword, terms

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*", re.UNICODE)
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
_CHIT_CHAT = re.compile(
    r"^\s*(bonjour|bonsoir|salut|coucou|hello|hi|hey|merci|thanks?|thank you|au revoir|bye|"
    r"goodbye|bonne (journée|soirée)|ça va|comment (ça|vas-tu|allez-vous)|how are you|"
    r"qui es[- ]tu|who are you|ok|d'accord|parfait|super|génial|great|cool)\b[\s!.,?]*"
    r"(.{0,40})$",
    re.IGNORECASE,
)
_FOLLOW_UP_START = re.compile(r"^\s*(et|mais|alors|donc|and|but|so|what about|et pour|et en)\b", re.IGNORECASE)
_ANAPHORA = frozenset(
    "il elle ils elles ça cela celui celle ceux celles lui leur y en it its they them this that those".split()
)


def language(text: str) -> Literal["fr", "en"]:
    """Guess French or English from function words; French wins ties (the product's users)."""
    words = [w.lower() for w in _WORD.findall(text)]
    fr = sum(w in _FRENCH_MARKERS for w in words) + len(re.findall(r"[éèêàùçôî]", text.lower()))
    en = sum(w in _ENGLISH_MARKERS for w in words)
    return "en" if en > fr else "fr"


def content_words(text: str) -> list[str]:
    """Words a search engine needs, in order of appearance, without stopwords or repeats."""
    seen: set[str] = set()
    words: list[str] = []
    for word in _WORD.findall(text):
        key = word.lower()
        if len(key) < 2 or is_stopword(key) or key in seen:
            continue
        seen.add(key)
        words.append(word)
    return words


def is_chit_chat(text: str) -> bool:
    match = _CHIT_CHAT.match(text)
    return bool(match) and len(content_words(match.group(match.lastindex or 0) or "")) <= 2


def is_follow_up(text: str, has_history: bool) -> bool:
    if not has_history:
        return False
    words = [w.lower() for w in _WORD.findall(text)]
    return bool(_FOLLOW_UP_START.match(text)) or len(words) <= 4 or any(w in _ANAPHORA for w in words[:3])


def relevance(query: str, text: str) -> float:
    """Share of the query's stems found in ``text`` (0 when the query has no content stem)."""
    wanted = terms(query)
    if not wanted:
        return 0.0
    return len(wanted & terms(text)) / len(wanted)


def sentences(text: str) -> list[tuple[str, str]]:
    """``(heading, sentence)`` pairs of a passage: wrapped lines rejoined, list items and table
    rows kept whole, Markdown decoration dropped; ``heading`` is the section the sentence is in,
    context that the sentence itself often leaves implicit."""
    out: list[tuple[str, str]] = []
    heading = ""
    for block in re.split(r"\n\s*\n", text):
        items: list[str] = []
        for line in (line.strip() for line in block.splitlines()):
            if not line or re.match(r"^\|?\s*:?-{3,}", line):
                continue
            if match := re.match(r"^#+\s+(.*)", line):
                heading = match.group(1).strip()
                continue
            if re.match(r"^([-*+>]|\d+[.)])\s", line) or line.startswith("|") or not items:
                items.append(line)
            else:
                items[-1] += " " + line
        for item in items:
            item = re.sub(r"^([-*+>]|\d+[.)])\s*", "", item).replace("**", "").replace("`", "").strip(" |\t")
            item = re.sub(r"\s*\|\s*", " | ", item)
            out.extend((heading, part.strip()) for part in _SENTENCE_END.split(item) if len(_WORD.findall(part)) >= 3)
    return out
