"""Deterministic text heuristics for the offline path: intent, keywords, relevance.

Language, sentences and question-word coverage live one layer down (``retrievers.text``), shared
with the offline model.

They stand in for an LLM when the model is the offline default, so they must be predictable:
no randomness, no model, the same stems as the sparse retriever.
"""

from __future__ import annotations

import re

from retrievers.sparse import is_stopword, terms, tokens
from retrievers.text import WORD as _WORD

_CHIT_CHAT = re.compile(
    r"^\s*(bonjour|bonsoir|salut|coucou|hello|hi|hey|merci|thanks?|thank you|au revoir|bye|"
    r"goodbye|bonne (journée|soirée)|ça va|comment (ça|vas-tu|allez-vous)|how are you|"
    r"qui es[- ]tu|who are you|ok|d'accord|parfait|super|génial|great|cool)\b[\s!.,?]*"
    r"(.{0,40})$",
    re.IGNORECASE,
)
_FOLLOW_UP_START = re.compile(r"^\s*(et|mais|alors|donc|and|but|so|what about|et pour|et en)\b", re.IGNORECASE)
_ANAPHORA = frozenset("il elle ils elles ça cela celui celle ceux celles lui leur y en it its they them this that those".split())


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
    # Counted on the sparse tokens: elided words ("c'est", "m'aider") are split, so their stopword goes.
    return bool(match) and len(tokens(match.group(match.lastindex or 0) or "")) <= 2


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
